"""A proxy that holds under abuse (issue 16, parts 2 and 3): header allow-lists in both directions, and resource
bounds — header-read timeout against slowloris, 10,000 idle connections, per-customer concurrency limits, a bound on
one SSE event and on the bytes decoded for the meter.

A loopback upstream of this file's own plays an OpenAI-compatible provider (`/acme/...`, and `/acmepass/...` with
`ratelimit_headers: pass`): it answers with the operator-account headers real providers send, can wait before
answering, and can send a body compressed or in any shape."""

from __future__ import annotations

import gzip
import json
import resource
import selectors
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

import httpx
import pytest

from conftest import PROVIDER_KEY, RETIRED_MODELS_PRICED, QuietHandler, running_tollgate, serve_in_background, Simulator, Tollgate

# What OpenAI's and Anthropic's edges answer with besides the body: the operator's account, its shared quota, cookies
# and edge internals. None of it is the customer's business.
ACCOUNT_HEADERS = {
    "openai-organization": "org-operator",
    "openai-project": "proj_operator",
    "anthropic-organization-id": "0b1c-operator",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-remaining-tokens": "1999000",
    "anthropic-ratelimit-tokens-remaining": "79000",
    "set-cookie": "__cf_bm=operator-session; path=/; HttpOnly",
    "cf-ray": "8f00aa-SJC",
    "server": "cloudflare",
    "x-envoy-upstream-service-time": "120",
}

# Long enough for the 10,000 connections below to be opened and accepted (a loaded CI machine, a debug build).
HEADER_TIMEOUT_S = 12
EVENT_BOUND = 65536
DECODED_BOUND = 1 << 20


def chat_body(content: str = "hello", usage: bool = True) -> dict:
    body = {
        "id": "chatcmpl-abuse",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    return body


class Upstream:
    """Answers every POST with `reply` (status, headers, body); waits `delay` seconds first; keeps what it got."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.reply: tuple[int, dict[str, str], bytes] = (200, {"content-type": "application/json"}, b"{}")
        self.delay = 0.0
        upstream = self

        class Handler(QuietHandler):

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                upstream.received.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
                if upstream.delay:
                    time.sleep(upstream.delay)
                status, headers, payload = upstream.reply
                self.send_response(status)
                for name, value in {**ACCOUNT_HEADERS, "x-request-id": "req_abuse", **headers}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server, self.origin = serve_in_background(Handler)

    def json(self, body: dict, **headers: str) -> None:
        self.reply = (200, {"content-type": "application/json", **headers}, json.dumps(body).encode())


@pytest.fixture(scope="module")
def upstream() -> Iterable[Upstream]:
    server = Upstream()
    yield server
    server.server.shutdown()


@pytest.fixture(scope="module")
def proxy(sim: Simulator, upstream: Upstream, log_dir: Path) -> Iterable[Tollgate]:
    extra = (
        f'  acme: {{base_url: "{upstream.origin}", api_key: "{PROVIDER_KEY}"}}\n'
        f'  acmepass: {{base_url: "{upstream.origin}", api_key: "{PROVIDER_KEY}", ratelimit_headers: pass}}\n'
        + RETIRED_MODELS_PRICED
        + f"proxy: {{header_read_timeout_s: {HEADER_TIMEOUT_S}, max_concurrent_per_customer: 2, "
        f"max_meter_event_bytes: {EVENT_BOUND}, max_meter_decoded_bytes: {DECODED_BOUND}}}\n"
    )
    with running_tollgate(sim.origin, log_dir / "abuse", extra, "abuse-a") as tollgate:
        yield tollgate


def post(proxy: Tollgate, prefix: str, body: dict, key: str | None = None, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{proxy.origin}/{prefix}/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {key or proxy.key}", **headers},
        timeout=15,
    )


REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_account_headers_are_not_returned(proxy: Tollgate, upstream: Upstream) -> None:
    upstream.json(chat_body())
    response = post(proxy, "acme", REQUEST)
    assert response.status_code == 200, response.text
    leaked = {name for name in ACCOUNT_HEADERS if name in response.headers}
    assert not leaked, f"the client saw the operator's headers {leaked}"
    assert response.headers["x-request-id"] == "req_abuse"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["usage"]["total_tokens"] == 12


def test_ratelimit_headers_pass_when_configured(proxy: Tollgate, upstream: Upstream) -> None:
    upstream.json(chat_body())
    response = post(proxy, "acmepass", REQUEST)
    assert response.status_code == 200, response.text
    assert response.headers["x-ratelimit-remaining-requests"] == "9999"
    assert response.headers["anthropic-ratelimit-tokens-remaining"] == "79000"
    assert "openai-organization" not in response.headers and "set-cookie" not in response.headers


def test_client_cannot_pick_the_operators_organization(proxy: Tollgate, upstream: Upstream) -> None:
    upstream.json(chat_body())
    response = post(
        proxy,
        "acme",
        REQUEST,
        **{
            "OpenAI-Organization": "org-victim",
            "OpenAI-Project": "proj_victim",
            "Idempotency-Key": "retry-1",
            "Cookie": "session=1",
            "X-Forwarded-For": "10.1.2.3",
            "OpenAI-Beta": "assistants=v2",
        },
    )
    assert response.status_code == 200, response.text
    sent = upstream.received[-1]["headers"]
    for name in ("openai-organization", "openai-project", "cookie", "x-forwarded-for"):
        assert name not in sent, f"{name} reached the provider"
    assert sent.get("idempotency-key") != "retry-1", "the client's Idempotency-Key went upstream as is"
    assert sent["openai-beta"] == "assistants=v2"
    assert sent["authorization"] == f"Bearer {PROVIDER_KEY}"


def test_customer_over_its_concurrency_limit_gets_429_while_others_are_served(
    proxy: Tollgate, upstream: Upstream
) -> None:
    upstream.json(chat_body())
    other = proxy.create_key("abuse-b")
    mark = proxy.mark()
    upstream.delay = 1.5
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            slow = [pool.submit(post, proxy, "acme", REQUEST) for _ in range(2)]
            time.sleep(0.5)  # both are in flight upstream
            refused = post(proxy, "acme", REQUEST)
            served = pool.submit(post, proxy, "acme", REQUEST, other)
            statuses = [future.result().status_code for future in slow]
            other_status = served.result().status_code
    finally:
        upstream.delay = 0
    assert statuses == [200, 200]
    assert other_status == 200, "another customer is served"
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "concurrency_limit" and "abuse-a" in error["message"]
    events = proxy.new_events(mark, count=4)
    assert sorted(event["status"] for event in events) == [200, 200, 200, 429]
    # The slots were given back: the customer is served again.
    assert post(proxy, "acme", REQUEST).status_code == 200


def test_sse_event_over_the_bound_reaches_the_client_and_is_metered_as_estimated(
    proxy: Tollgate, upstream: Upstream
) -> None:
    def chunk(delta: dict, usage: dict | None = None) -> bytes:
        body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}] if delta else []}
        if usage is not None:
            body["usage"] = usage
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    stream = (
        chunk({"role": "assistant", "content": "a"})
        + chunk({"content": "x" * (4 * EVENT_BOUND)})
        + chunk({}, {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14})
        + b"data: [DONE]\n\n"
    )
    upstream.reply = (200, {"content-type": "text/event-stream"}, stream)
    mark = proxy.mark()
    body = {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}
    response = post(proxy, "acme", body)
    assert response.status_code == 200
    assert response.content == stream, "the client gets every byte, untouched"
    event = proxy.one_new_event(mark)
    assert event["estimated"] is True
    assert f"over {EVENT_BOUND} bytes" in (event["note"] or "")
    assert event["status"] == 200


def test_decompression_bomb_is_bounded_and_metered_as_estimated(proxy: Tollgate, upstream: Upstream) -> None:
    body = chat_body()
    body["padding"] = " " * (16 * DECODED_BOUND)
    compressed = gzip.compress(json.dumps(body).encode())
    assert len(compressed) < 64 * 1024
    upstream.reply = (200, {"content-type": "application/json", "content-encoding": "gzip"}, compressed)
    mark = proxy.mark()
    with httpx.stream(
        "POST", f"{proxy.origin}/acme/v1/chat/completions", json=REQUEST, timeout=15,
        headers={"authorization": f"Bearer {proxy.key}", "accept-encoding": "gzip"},
    ) as response:
        raw = b"".join(response.iter_raw())
    assert response.status_code == 200
    assert raw == compressed, "the client gets the compressed bytes as sent"
    event = proxy.one_new_event(mark)
    assert event["estimated"] is True
    assert "bound" in (event["note"] or "")


def raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def test_slowloris_and_ten_thousand_idle_connections_do_not_stop_a_normal_client(
    proxy: Tollgate, upstream: Upstream
) -> None:
    idle_count = 10_000
    if raise_fd_limit(idle_count + 1000) < idle_count + 500:
        pytest.skip("the file-descriptor limit is too low for 10,000 connections")
    upstream.json(chat_body())
    host, port = proxy.origin.removeprefix("http://").split(":")
    # Slowloris: a request head that never completes, one header byte at a time.
    slow = socket.create_connection((host, int(port)), timeout=5)
    slow.sendall(b"POST /acme/v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    opened = time.monotonic()
    idle: list[socket.socket] = []
    try:
        # Opened all at once (non-blocking connects), as a flood would be.
        for _ in range(idle_count):
            connection = socket.socket()
            connection.setblocking(False)
            connection.connect_ex((host, int(port)))
            idle.append(connection)
        selector = selectors.DefaultSelector()
        for connection in idle:
            selector.register(connection, selectors.EVENT_WRITE)
        pending, deadline = idle_count, time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                selector.unregister(key.fileobj)
                pending -= 1
        selector.close()
        failed = sum(1 for connection in idle if connection.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0)
        assert pending == 0 and failed == 0, f"{pending} connections pending, {failed} failed"
        print(f"{idle_count} connections opened in {time.monotonic() - opened:.1f}s")
        for connection in idle:
            connection.setblocking(True)
        # The proxy accepts them all (they queue in its backlog first); then they sit open and idle.
        warmup = time.monotonic()
        assert httpx.get(proxy.origin + "/healthz", timeout=HEADER_TIMEOUT_S).status_code == 200
        print(f"accepted within {time.monotonic() - warmup:.1f}s")
        started = time.monotonic()
        response = post(proxy, "acme", REQUEST)
        served_in = time.monotonic() - started
        assert response.status_code == 200, response.text
        # Served (within the client's timeout, like every wait in this suite: nothing asserts on speed).
        print(f"a normal request next to {idle_count} idle connections: {served_in:.2f}s")
        # The slowloris keeps trickling; it is cut at the header-read timeout all the same.
        closed = False
        slow.settimeout(0.5)
        deadline = time.monotonic() + HEADER_TIMEOUT_S + 10
        while time.monotonic() < deadline:
            try:
                slow.sendall(b"X")
                if slow.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        elapsed = time.monotonic() - opened
        assert closed, "the slowloris connection was never closed"
        assert elapsed >= HEADER_TIMEOUT_S - 0.5, f"closed after {elapsed:.1f}s, before the timeout"
        # The idle connections were closed too, not kept for ever.
        sample = idle[:: idle_count // 20]
        deadline = time.monotonic() + HEADER_TIMEOUT_S + 20
        for connection in sample:
            connection.settimeout(max(0.1, deadline - time.monotonic()))
            assert connection.recv(1) == b"", "an idle connection got data"
        assert post(proxy, "acme", REQUEST).status_code == 200
    finally:
        slow.close()
        for connection in idle:
            connection.close()
