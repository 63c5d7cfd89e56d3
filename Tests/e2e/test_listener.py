"""The proxy listener at the socket (issue 17): Tollgate's own HTTP/1.1 connection handling on NIO, driven with raw
sockets — pipelined requests answered in order, a body larger than what the listener buffers streamed through,
`Connection: close`, a body over the limit refused without reading it all, a client leaving mid-body, idle
connections closed, connections closed on shutdown once their response has ended, the connection cap (a closed
client's place freed at once), half-closed clients, and a response head sent alone when its body is slow to come."""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid
from pathlib import Path

from conftest import CUSTOMER, running_tollgate, Simulator, start_tollgate, stop_process, Tollgate
from stub_upstream import StubUpstream

MESSAGES = [{"role": "user", "content": "Say hi"}]


def connect(origin: str) -> socket.socket:
    host, port = origin.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=15)


def request(path: str, key: str, body: bytes, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: tollgate\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def chat(content: str = "Say hi") -> bytes:
    return json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}).encode()


class Reader:
    """Reads HTTP/1.1 responses one after the other from a socket (sized or chunked bodies)."""

    def __init__(self, sock: socket.socket) -> None:
        self.file = sock.makefile("rb")

    def response(self) -> tuple[int, dict[str, str], bytes]:
        status, headers = self.head()
        return status, headers, self.body(headers)

    def head(self) -> tuple[int, dict[str, str]]:
        """The next response's status and headers (by lowercased name)."""
        status_line = self.file.readline()
        assert status_line, "the connection closed before a response"
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, value = line.decode().split(":", 1)
            headers[name.strip().lower()] = value.strip()
        return status, headers

    def body(self, headers: dict[str, str]) -> bytes:
        """The body of the response whose `headers` were just read."""
        if "content-length" in headers:
            body = self.file.read(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while (size := int(self.file.readline().strip(), 16)) > 0:
                body += self.file.read(size)
                self.file.readline()
            self.file.readline()
        else:
            body = self.file.read()
        return body

    def closed(self) -> bool:
        return self.file.read(1) == b""


def test_pipelined_requests_are_answered_in_order(tollgate: Tollgate) -> None:
    with connect(tollgate.origin) as sock:
        sock.sendall(request("/v1/chat/completions", tollgate.key, chat("first"))
                     + request("/v1/chat/completions", tollgate.key, chat("second")))
        reader = Reader(sock)
        first, second = reader.response(), reader.response()
    assert first[0] == 200 and second[0] == 200
    assert first[1]["x-tollgate-event-id"] != second[1]["x-tollgate-event-id"]
    for status, headers, body in (first, second):
        assert json.loads(body)["usage"]["prompt_tokens"] > 0
        assert "date" in headers


def test_requests_back_to_back_on_one_connection(tollgate: Tollgate) -> None:
    # Each request is sent the moment the response before it is complete: the next request's head reaches the
    # listener while the task that answered the one before is still finishing.
    mark = tollgate.mark()
    with connect(tollgate.origin) as sock:
        reader = Reader(sock)
        for index in range(300):
            sock.sendall(request("/v1/chat/completions", tollgate.key, chat(f"request {index}")))
            status, headers, body = reader.response()
            assert status == 200, body[:300]
    assert len(tollgate.new_events(mark, count=300)) == 300


def test_body_larger_than_the_listener_buffer_streams_through(tollgate: Tollgate, sim: Simulator) -> None:
    # 3 MiB: more than the listener keeps waiting for its reader (1 MiB), so reading pauses and resumes on the way.
    content = "a" * (3 << 20)
    body = chat(content)
    mark = tollgate.mark()
    with connect(tollgate.origin) as sock:
        sock.sendall(request("/v1/chat/completions", tollgate.key, body))
        status, headers, answer = Reader(sock).response()
    assert status == 200, answer[:300]
    assert tollgate.one_new_event(mark)["status"] == 200
    # The provider got the whole body, byte for byte.
    received = [entry for entry in sim.requests() if entry["path"] == "/v1/chat/completions"][-1]
    assert received["body"].encode() == body


def test_connection_close_is_honoured(tollgate: Tollgate) -> None:
    with connect(tollgate.origin) as sock:
        sock.sendall(request("/v1/chat/completions", tollgate.key, chat(), extra="Connection: close\r\n"))
        reader = Reader(sock)
        status, _, _ = reader.response()
        assert status == 200
        assert reader.closed()


def test_a_body_over_the_limit_is_refused_without_reading_it(sim: Simulator, tmp_path: Path) -> None:
    with running_tollgate(sim.origin, tmp_path, "proxy: {max_request_body_bytes: 4096}\n", CUSTOMER) as proxy:
        with connect(proxy.origin) as sock:
            # A head announcing 100 MB and the first 64 KiB of it: the answer comes without the rest being sent.
            sock.sendall(request("/v1/chat/completions", proxy.key, b"")[:-2].replace(
                b"Content-Length: 0", b"Content-Length: 100000000") + b"\r\n" + b"x" * 65536)
            status, _, answer = Reader(sock).response()
        assert status == 413
        assert json.loads(answer)["error"]["code"] == "request_too_large"
        # The proxy is none the worse for it.
        with connect(proxy.origin) as sock:
            sock.sendall(request("/v1/chat/completions", proxy.key, chat()))
            assert Reader(sock).response()[0] == 200


def test_a_client_leaving_mid_body_costs_nothing(tollgate: Tollgate) -> None:
    mark = tollgate.mark()
    for _ in range(20):
        with connect(tollgate.origin) as sock:
            sock.sendall(request("/v1/chat/completions", tollgate.key, b"")[:-2].replace(
                b"Content-Length: 0", b"Content-Length: 5000") + b"\r\n" + b'{"model": "gpt-4o-mini", "mess')
    time.sleep(1)
    # Nothing went upstream, nothing was metered, and the proxy still answers.
    assert [event for event in tollgate.events() if event["id"] not in mark] == []
    with connect(tollgate.origin) as sock:
        sock.sendall(request("/v1/chat/completions", tollgate.key, chat()))
        assert Reader(sock).response()[0] == 200


def test_idle_connections_are_closed(sim: Simulator, tmp_path: Path) -> None:
    with running_tollgate(sim.origin, tmp_path, "proxy: {idle_timeout_s: 1}\n", f"idle-{uuid.uuid4().hex[:6]}") as proxy:
        with connect(proxy.origin) as sock:
            sock.sendall(request("/v1/chat/completions", proxy.key, chat()))
            reader = Reader(sock)
            assert reader.response()[0] == 200
            started = time.monotonic()
            assert reader.closed()
            assert 0.5 < time.monotonic() - started < 5


def test_shutdown_closes_idle_connections_and_ends_responses_first(sim: Simulator, tmp_path: Path) -> None:
    proxy = start_tollgate(sim.origin, tmp_path / "quiesce")
    try:
        key = proxy.create_key(f"quiesce-{uuid.uuid4().hex[:6]}")
        idle = connect(proxy.origin)
        idle.sendall(request("/v1/chat/completions", key, chat()))
        idle_reader = Reader(idle)
        assert idle_reader.response()[0] == 200
        # A slow answer in progress, and a second request pipelined behind it.
        busy = connect(proxy.origin)
        slow = json.dumps({"model": "gpt-4o-mini", "stream": True, "messages": MESSAGES}).encode()
        busy.sendall(request("/v1/chat/completions", key, slow, extra="x-sim-delay-ms: 100\r\n")
                     + request("/v1/chat/completions", key, chat("behind")))
        time.sleep(0.3)
        proxy.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        # The idle connection closes at once (not at the end of the 30 s shutdown grace); the slow response ends whole,
        # then its connection closes (the request waiting behind it is not served).
        assert idle_reader.closed()
        assert time.monotonic() - signalled < 10
        busy_reader = Reader(busy)
        status, _, body = busy_reader.response()
        assert status == 200 and body.rstrip().endswith(b"data: [DONE]")
        assert busy_reader.closed()
        assert proxy.proc.wait(timeout=20) == 0, proxy.stderr()
        assert [event["status"] for event in proxy.events()] == [200, 200]
    finally:
        stop_process(proxy.proc)


def test_a_client_that_closes_frees_its_place_under_the_connection_cap(sim: Simulator, tmp_path: Path) -> None:
    # proxy.max_connections: 2. A third connection waits in the accept queue, and is served as soon as one of the
    # first two closes (not at the idle timeout: the listener closes a connection whose client has closed at once).
    with running_tollgate(sim.origin, tmp_path, "proxy: {max_connections: 2, idle_timeout_s: 60}\n", f"cap-{uuid.uuid4().hex[:6]}") as proxy:
        first, second = connect(proxy.origin), connect(proxy.origin)
        for sock in (first, second):
            sock.sendall(request("/v1/chat/completions", proxy.key, chat()))
            assert Reader(sock).response()[0] == 200
        with connect(proxy.origin) as third:
            third.sendall(request("/v1/chat/completions", proxy.key, chat()))
            third.settimeout(1)
            try:
                waited = third.recv(1) == b""
            except TimeoutError:
                waited = True
            assert waited, "the third connection was served over the cap"
            first.close()
            third.settimeout(10)
            started = time.monotonic()
            assert Reader(third).response()[0] == 200
            assert time.monotonic() - started < 5
        second.close()


def test_a_half_closed_client_gets_every_answer_then_the_connection_closes(tollgate: Tollgate) -> None:
    # The client sends two requests and shuts its side down (SHUT_WR), as some clients do after their last request:
    # both are answered, in order, then the listener closes the connection.
    with connect(tollgate.origin) as sock:
        sock.sendall(request("/v1/chat/completions", tollgate.key, chat("one")) + request("/v1/chat/completions", tollgate.key, chat("two")))
        sock.shutdown(socket.SHUT_WR)
        reader = Reader(sock)
        assert reader.response()[0] == 200
        assert reader.response()[0] == 200
        assert reader.closed()


def test_a_head_without_its_body_leaves_after_a_short_wait(sim: Simulator, tmp_path: Path) -> None:
    """A response head waits for its first body bytes to leave in one write with them, but only briefly: when the
    provider sends its head and then thinks, the client gets the status at once (within the 2 ms wait, not when the
    body comes), for every response on a keep-alive connection; a body that follows its head at once is unaffected."""
    fixture = Path(__file__).resolve().parents[1] / "TollgateCoreTests/Fixtures/recorded/deepseek-chat-json-reasoner"
    body = (fixture / "response.body").read_bytes()
    stub = StubUpstream()
    stub.reply = (200, "application/json", body)
    entry = f'  deepseek: {{base_url: "{stub.origin}", api_key: "sk-stub"}}\n'
    try:
        with running_tollgate(sim.origin, tmp_path, entry, "cust-head") as proxy:
            sock = connect(proxy.origin)
            reader = Reader(sock)
            sent = request("/deepseek/chat/completions", proxy.key, json.dumps({"model": "deepseek-reasoner", "messages": MESSAGES}).encode())
            for pause in (0.8, 0.0, 0.8, 0.8):
                stub.head_pause = pause
                started = time.monotonic()
                sock.sendall(sent)
                status, headers = reader.head()
                head_after = time.monotonic() - started
                assert status == 200, status
                # The whole body, so that the next request goes on the same connection.
                assert reader.body(headers), "the body never came"
                body_after = time.monotonic() - started
                if pause:
                    assert head_after < 0.4 < body_after, (pause, head_after, body_after)
            sock.close()
    finally:
        stub.close()
