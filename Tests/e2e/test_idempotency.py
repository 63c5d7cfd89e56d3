"""Retries billed once: `Idempotency-Key` (issue 16, part 1).

A request whose first attempt completed gets the stored response replayed byte for byte, with no upstream call and no
second charge; a duplicate while the first is in flight waits for it (or gets 409 once `in_flight_wait_s` passed); the
same key with another body gets 422; keys are per customer and never reach the provider as the client sent them.

The upstream here is a stub that numbers its answers (so a second upstream call would show in the bytes) and can hold
them back (to have a first attempt in flight, or abandoned by its client while the provider still generates).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

import anthropic
import httpx
import openai
import pytest

from conftest import MESSAGES, QuietHandler, raw_post, serve_in_background, Simulator, start_tollgate, stop_process, Tollgate

MODEL = "gpt-4o-mini"


class NumberedUpstream:
    """An OpenAI chat completions upstream: answer N carries `chatcmpl-N` and N in its text, `hold` keeps answers back
    until `release()`, `fail_next` answers the next request 500."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next = False
        upstream = self

        class Handler(QuietHandler):

            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with upstream.lock:
                    upstream.received.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                    serial = len(upstream.received)
                    fail, upstream.fail_next = upstream.fail_next, False
                upstream.gate.wait(30)
                if fail:
                    payload = json.dumps({"error": {"message": "overloaded", "type": "server_error", "code": None}}).encode()
                    self.send_response(500)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                request = json.loads(body)
                usage = {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
                text = f"answer {serial} " + "x" * int(request.get("metadata", {}).get("pad", "0"))
                if request.get("stream"):
                    chunk = {"id": f"chatcmpl-{serial}", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024-07-18",
                             "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}], "usage": None}
                    final = {**chunk, "choices": [], "usage": usage}
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for event in (chunk, final):
                        data = b"data: " + json.dumps(event).encode() + b"\n\n"
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    self.wfile.write(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
                    return
                payload = json.dumps({
                    "id": f"chatcmpl-{serial}", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": usage,
                }).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.send_header("x-request-id", f"req_{serial}")
                self.end_headers()
                self.wfile.write(payload)

        self.server, self.origin = serve_in_background(Handler)

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()


@pytest.fixture(scope="module")
def upstream() -> Iterable[NumberedUpstream]:
    stub = NumberedUpstream()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def proxy(upstream: NumberedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterable[Tollgate]:
    directory = tmp_path_factory.mktemp("idempotency")
    tollgate = start_tollgate(
        upstream.origin, directory,
        extra_config="idempotency: {in_flight_wait_s: 10, max_response_bytes: 4096}\nproxy: {disconnect_drain_s: 30}\n")
    tollgate.key = tollgate.create_key("cust-idem")
    yield tollgate
    stop_process(tollgate.proc)


def body(stream: bool = False, pad: int = 0, content: str = "Tell me, what is a token meter?") -> dict:
    request = {"model": MODEL, "messages": [{"role": "user", "content": content}], "metadata": {"pad": str(pad)}}
    if stream:
        request.update(stream=True, stream_options={"include_usage": True})
    return request


def post(proxy: Tollgate, request: dict, key: str | None, idempotency_key: str | None) -> object:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return raw_post(proxy.base_url + "/chat/completions", request, key or proxy.key, headers)


def events_by_id(proxy: Tollgate) -> dict[str, dict]:
    return {event["id"]: event for event in proxy.events()}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_retry_is_replayed_byte_for_byte_and_charged_once(proxy: Tollgate, upstream: NumberedUpstream, stream: bool) -> None:
    key = f"retry-{uuid.uuid4()}"
    calls = upstream.count()
    first = post(proxy, body(stream), None, key)
    second = post(proxy, body(stream), None, key)
    assert first.status == second.status == 200
    assert upstream.count() == calls + 1, "the retry must not reach the provider"
    assert second.raw == first.raw, "a replay is the first response, byte for byte"
    assert second.headers["content-type"] == first.headers["content-type"]
    if stream:
        assert first.headers["content-type"].startswith("text/event-stream")
    assert second.headers["idempotent-replayed"] == "true"
    original_id = first.headers["x-tollgate-event-id"]
    assert second.headers["x-tollgate-replay-of"] == original_id
    events = events_by_id(proxy)
    original, replay = events[original_id], events[second.headers["x-tollgate-event-id"]]
    assert original["price"] != "0" and original["input_tokens"] == 20 and original["output_tokens"] == 10
    assert replay["replay_of"] == original_id
    assert replay["price"] == "0" and replay["cost"] == "0"
    assert replay["input_tokens"] == 0 and replay["output_tokens"] == 0
    assert replay["status"] == 200 and "idempotent retry" in replay["note"]


def test_the_sdk_reads_a_replayed_stream_as_a_stream(proxy: Tollgate, upstream: NumberedUpstream) -> None:
    client = proxy.client()
    key = f"sdk-{uuid.uuid4()}"
    texts = []
    for _ in range(2):
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True},
            extra_headers={"Idempotency-Key": key})
        chunks = list(stream)
        texts.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
        assert chunks[-1].usage.total_tokens == 30
    assert texts[0] == texts[1] and texts[0].startswith("answer ")


def test_keys_are_per_customer_and_never_forwarded_as_sent(proxy: Tollgate, upstream: NumberedUpstream) -> None:
    other = proxy.create_key("cust-idem-other")
    key = f"shared-{uuid.uuid4()}"
    calls = upstream.count()
    mine = post(proxy, body(), None, key)
    theirs = post(proxy, body(), other, key)
    assert mine.status == theirs.status == 200
    assert upstream.count() == calls + 2, "two customers' requests are two requests, whatever their keys"
    assert mine.raw != theirs.raw and "idempotent-replayed" not in theirs.headers
    sent = [request["headers"] for request in upstream.received[-2:]]
    upstream_keys = [next(v for k, v in headers.items() if k.lower() == "idempotency-key") for headers in sent]
    assert all(value.startswith("tg-") and key not in value for value in upstream_keys)
    assert upstream_keys[0] != upstream_keys[1], "the provider sees a different key per customer"


def test_the_same_key_with_another_body_is_refused(proxy: Tollgate, upstream: NumberedUpstream) -> None:
    key = f"reused-{uuid.uuid4()}"
    assert post(proxy, body(content="first question"), None, key).status == 200
    calls = upstream.count()
    again = post(proxy, body(content="another question"), None, key)
    assert again.status == 422
    assert json.loads(again.raw)["error"]["code"] == "idempotency_key_reused"
    assert upstream.count() == calls
    with pytest.raises(openai.UnprocessableEntityError):
        proxy.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "a third"}], extra_headers={"Idempotency-Key": key})


def test_concurrent_duplicates_reach_the_provider_once(proxy: Tollgate, upstream: NumberedUpstream) -> None:
    key = f"burst-{uuid.uuid4()}"
    calls = upstream.count()
    upstream.hold()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(post, proxy, body(), None, key)]
            time.sleep(0.5)
            futures += [pool.submit(post, proxy, body(), None, key) for _ in range(5)]
            time.sleep(0.5)
            upstream.release()
            responses = [future.result() for future in futures]
    finally:
        upstream.release()
    assert upstream.count() == calls + 1
    assert [r.status for r in responses] == [200] * 6
    assert len({r.raw for r in responses}) == 1, "every duplicate gets the one response"
    assert sum(1 for r in responses if r.headers.get("idempotent-replayed") == "true") == 5


def test_a_duplicate_waits_only_so_long_then_gets_409(upstream: NumberedUpstream, tmp_path: Path) -> None:
    tollgate = start_tollgate(upstream.origin, tmp_path, extra_config="idempotency: {in_flight_wait_s: 0.3}\n")
    try:
        tollgate.key = tollgate.create_key("cust-idem-409")
        key = f"slow-{uuid.uuid4()}"
        upstream.hold()
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(post, tollgate, body(), None, key)
            time.sleep(0.5)
            calls = upstream.count()
            duplicate = post(tollgate, body(), None, key)
            upstream.release()
            assert first.result().status == 200
        assert duplicate.status == 409 and duplicate.headers["retry-after"] == "1"
        assert json.loads(duplicate.raw)["error"]["code"] == "idempotency_key_in_use"
        assert upstream.count() == calls
        # Once the first is done, the retry gets its response.
        assert post(tollgate, body(), None, key).raw == first.result().raw
    finally:
        upstream.release()
        stop_process(tollgate.proc)


def test_an_abandoned_first_attempt_is_billed_once_and_replayed_to_the_retry(proxy: Tollgate, upstream: NumberedUpstream) -> None:
    """The classic dispute: the client times out while the provider generates, and retries. The first attempt is
    drained and billed; the retry gets its answer, with no second inference and no second charge."""
    key = f"timeout-{uuid.uuid4()}"
    calls = upstream.count()
    mark = proxy.mark()
    upstream.hold()
    try:
        with pytest.raises(httpx.ReadTimeout):
            with httpx.Client(timeout=httpx.Timeout(30, read=0.5)) as client:
                client.post(proxy.base_url + "/chat/completions", content=json.dumps(body()).encode(),
                            headers={"Authorization": f"Bearer {proxy.key}", "Idempotency-Key": key,
                                     "Content-Type": "application/json"})
        with ThreadPoolExecutor(max_workers=1) as pool:
            retry = pool.submit(post, proxy, body(), None, key)
            time.sleep(0.3)
            upstream.release()
            retried = retry.result()
    finally:
        upstream.release()
    assert retried.status == 200 and retried.headers["idempotent-replayed"] == "true"
    assert upstream.count() == calls + 1
    new = proxy.new_events(mark, count=2)
    charged = [event for event in new if event["price"] != "0"]
    # (499 when Tollgate saw the client leave; a one-piece body written into a closed connection can show 200.)
    assert len(charged) == 1 and charged[0]["status"] in (200, 499) and charged[0]["output_tokens"] == 10
    assert [event["replay_of"] for event in new if event["replay_of"]] == [charged[0]["id"]]
    assert json.loads(retried.raw)["usage"]["total_tokens"] == 30


def test_a_failed_first_attempt_leaves_the_key_free(proxy: Tollgate, upstream: NumberedUpstream) -> None:
    key = f"failed-{uuid.uuid4()}"
    upstream.fail_next = True
    calls = upstream.count()
    assert post(proxy, body(), None, key).status == 500
    retried = post(proxy, body(), None, key)
    assert retried.status == 200 and "idempotent-replayed" not in retried.headers
    assert upstream.count() == calls + 2, "a failed attempt is not replayed: the retry runs"


def test_a_response_over_the_size_limit_is_not_run_twice(proxy: Tollgate, upstream: NumberedUpstream) -> None:
    key = f"large-{uuid.uuid4()}"
    first = post(proxy, body(pad=8000), None, key)
    assert first.status == 200 and len(first.raw) > 4096
    calls = upstream.count()
    again = post(proxy, body(pad=8000), None, key)
    assert again.status == 422
    error = json.loads(again.raw)["error"]
    assert error["code"] == "idempotent_response_not_stored" and first.headers["x-tollgate-event-id"] in error["message"]
    assert upstream.count() == calls


@pytest.mark.parametrize("value", ["", "a b", "x" * 256])
def test_a_malformed_key_is_refused(proxy: Tollgate, upstream: NumberedUpstream, value: str) -> None:
    calls = upstream.count()
    response = post(proxy, body(), None, value) if value else raw_post(
        proxy.base_url + "/chat/completions", body(), proxy.key, {"Idempotency-Key": ""})
    assert response.status == 400 and json.loads(response.raw)["error"]["code"] == "invalid_idempotency_key"
    assert upstream.count() == calls


def test_replays_survive_a_restart(upstream: NumberedUpstream, tmp_path: Path) -> None:
    tollgate = start_tollgate(upstream.origin, tmp_path)
    try:
        tollgate.key = tollgate.create_key("cust-idem-restart")
        key = f"restart-{uuid.uuid4()}"
        first = post(tollgate, body(), None, key)
    finally:
        stop_process(tollgate.proc)
    calls = upstream.count()
    again = start_tollgate(upstream.origin, tmp_path)
    try:
        again.key = tollgate.key
        replayed = post(again, body(), None, key)
        assert replayed.status == 200 and replayed.raw == first.raw
        assert upstream.count() == calls
    finally:
        stop_process(again.proc)


def test_an_anthropic_stream_is_replayed_to_the_sdk(tollgate: Tollgate, sim: Simulator) -> None:
    """Another family through its own SDK: the `anthropic` client's retried stream gets the first stream's events."""
    claude = tollgate.anthropic_client()
    key = f"claude-{uuid.uuid4()}"
    sim.clear_requests()
    request = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Say hi."}]}
    runs = [
        [event.model_dump() for event in claude.messages.create(**request, stream=True, extra_headers={"Idempotency-Key": key})]
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and runs[0][-1]["type"] == "message_stop"
    assert len(sim.requests()) == 1
    with pytest.raises(anthropic.UnprocessableEntityError):
        claude.messages.create(**{**request, "max_tokens": 65}, extra_headers={"Idempotency-Key": key})
