"""Revenue integrity: nothing billable leaves Tollgate unmetered, and a customer cannot talk its bill down.

A customer holding an ordinary virtual key tries every way around the meter it can think of (other paths and
methods, escaped and duplicated members, encodings, old api-versions, unpriced models). A counting upstream records
what reached it: every attempt that carried upstream work has exactly one event with a non-zero price, or it was
refused before it reached the upstream. Then bursts of 500 concurrent requests whose prompts cost more than their
bytes (an image; a reference to a stored response) against a balance worth about 50: the charge exceeds the balance
by at most one request's price.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Iterable

import httpx
import pytest

from conftest import PROVIDER_KEY, QuietHandler, after_key_change, running_tollgate, serve_in_background, Tollgate

pytestmark = pytest.mark.proxy

MESSAGES = [{"role": "user", "content": "Say hello."}]


class CountingUpstream:
    """An OpenAI-compatible upstream that answers any method and path, counts what reached it, and bills
    `prompt_tokens` input tokens per request (as a provider bills an image or a stored response, whatever the body's
    size). A stream carries usage only when the request asked for it."""

    def __init__(self, prompt_tokens: int = 19) -> None:
        self.received: list[dict] = []
        self.prompt_tokens = prompt_tokens
        self.lock = threading.Lock()
        upstream = self

        class Handler(QuietHandler):

            def handle_any(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with upstream.lock:
                    upstream.received.append(
                        {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body})
                    serial = len(upstream.received)
                try:
                    request = json.loads(body) if body else {}
                except ValueError:
                    request = {}
                usage = {"prompt_tokens": upstream.prompt_tokens, "completion_tokens": 10,
                         "total_tokens": upstream.prompt_tokens + 10}
                if self.path.startswith("/v1/images/"):
                    payload = json.dumps({"created": 1, "data": [{"url": "https://example.com/cat.png"}]}).encode()
                    content_type = "application/json"
                elif self.path.startswith("/v1/audio/speech"):
                    payload, content_type = b"ID3\x03\x00" + bytes(200), "audio/mpeg"
                elif isinstance(request, dict) and request.get("stream") is True:
                    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024-07-18",
                             "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
                    events = [chunk]
                    if (request.get("stream_options") or {}).get("include_usage"):
                        chunk["usage"] = None
                        events.append({**chunk, "choices": [], "usage": usage})
                    payload = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
                    content_type = "text/event-stream"
                elif self.path.startswith("/v1/responses"):
                    payload = json.dumps({
                        "id": f"resp_{serial}", "object": "response", "created_at": 1, "status": "completed",
                        "model": request.get("model", "gpt-4o"), "output": [], "usage": {
                            "input_tokens": upstream.prompt_tokens, "output_tokens": 10,
                            "total_tokens": upstream.prompt_tokens + 10}}).encode()
                    content_type = "application/json"
                else:
                    payload = json.dumps({
                        "id": f"chatcmpl-{serial}", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
                        "usage": usage}).encode()
                    content_type = "application/json"
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = handle_any  # noqa: N815

        self.server, self.origin = serve_in_background(Handler)

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def close(self) -> None:
        self.server.shutdown()


AZURE = (
    '  azure: {{base_url: "{origin}", api_key: "{key}", deployments: {{prod-4o: gpt-4o-2024-08-06}}}}\n'
)


@pytest.fixture(scope="module")
def upstream() -> Iterable[CountingUpstream]:
    server = CountingUpstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def proxy(upstream: CountingUpstream, log_dir: Path) -> Iterable[Tollgate]:
    entry = AZURE.format(origin=upstream.origin, key=PROVIDER_KEY)
    with running_tollgate(upstream.origin, log_dir / "tollgate-integrity", entry, "cust-integrity") as tollgate:
        yield tollgate


def send(proxy: Tollgate, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> httpx.Response:
    all_headers = {"Authorization": f"Bearer {proxy.key}", "content-type": "application/json", **(headers or {})}
    with httpx.Client(timeout=10.0) as client:
        return client.request(method, proxy.origin + path, content=body, headers=all_headers)


def chat_body(**members: object) -> bytes:
    return json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, **members}).encode()


# (method, path, raw body, extra headers): each tried with a valid key.
ATTEMPTS = [
    # Paths without a metered route, and stored data of every customer of the provider account.
    ("POST", "/v1/images/generations", b'{"model":"dall-e-3","prompt":"a cat"}', {}),
    ("POST", "/v1/audio/speech", b'{"model":"tts-1","input":"hello","voice":"alloy"}', {}),
    ("POST", "/v1/batches", b'{"input_file_id":"file-1","endpoint":"/v1/chat/completions"}', {}),
    ("POST", "/v1/realtime/client_secrets", b'{"session":{"type":"realtime","model":"gpt-realtime"}}', {}),
    ("POST", "/v1/realtime/sessions", b'{"model":"gpt-4o-realtime-preview"}', {}),
    ("POST", "/v1/assistants", b'{"model":"gpt-4o"}', {}),
    ("POST", "/v1/threads/runs", b'{"assistant_id":"a"}', {}),
    ("POST", "/v1/fine_tuning/jobs", b'{"model":"gpt-4o-mini","training_file":"f"}', {}),
    ("POST", "/v1/vector_stores", b"{}", {}),
    ("POST", "/v1/uploads", b"{}", {}),
    ("GET", "/v1/chat/completions", None, {}),
    ("GET", "/v1/files", None, {}),
    ("DELETE", "/v1/models/ft:gpt-4o-mini:acme", None, {}),
    # Wrong methods on an inference route.
    ("PUT", "/v1/chat/completions", chat_body(), {}),
    ("PATCH", "/v1/chat/completions", chat_body(), {}),
    ("DELETE", "/v1/chat/completions", None, {}),
    ("OPTIONS", "/v1/chat/completions", None, {}),
    # Path spellings.
    ("POST", "/v1//chat/completions", chat_body(), {}),
    ("POST", "/v1/chat/completions/", chat_body(), {}),
    ("POST", "/v1/%63hat/completions", chat_body(), {}),
    ("POST", "/v1/chat/./completions", chat_body(), {}),
    ("POST", "/v1/chat/x/../completions", chat_body(), {}),
    ("POST", "/v1/chat%2Fcompletions", chat_body(), {}),
    ("POST", "/V1/CHAT/COMPLETIONS", chat_body(), {}),
    ("POST", "/v1/chat/completions?stream=true", chat_body(), {}),
    # Escaped and duplicated members.
    ("POST", "/v1/chat/completions", b'{"mod\\u0065l":"gpt-4o","messages":[{"role":"user","content":"hi"}]}', {}),
    ("POST", "/v1/chat/completions", b'{"model":"gpt-4o-mini","messages":[],"stre\\u0061m":true}', {}),
    ("POST", "/v1/chat/completions", b'{"model":"gpt-4o-mini","model":"o3-pro","messages":[]}', {}),
    ("POST", "/v1/chat/completions", b'{"model":"gpt-4o-mini","messages":[],"stream":true,'
     b'"stream_options":{"include_usage":true,"include_usage":false}}', {}),
    ("POST", "/v1/chat/completions", b'{"model":"gpt-4o-mini","messages":[],"max_tokens":5,"max_tokens":100000}', {}),
    ("POST", "/v1/chat/completions", b'{"model":"gpt-4o-mini","messages":[],"stream":true,"stream":false}', {}),
    ("POST", "/v1/chat/completions", b'{"model":"gpt-4o-mini","messages":[],"max_tokens":1e3}', {}),
    ("POST", "/v1/chat/completions", b'{"model":"gpt-4o-mini","messages":[],"max_tokens":"16"}', {}),
    ("POST", "/v1/chat/completions", b'{"model":"gpt-4o-mini","messages":[],"stream":true,"stream_options":null}', {}),
    # Encodings the meter cannot read.
    ("POST", "/v1/chat/completions", chat_body(), {"accept-encoding": "zstd"}),
    ("POST", "/v1/chat/completions", chat_body(stream=True), {"accept-encoding": "*"}),
    ("POST", "/v1/chat/completions", chat_body(), {"accept-encoding": "identity;q=0, zstd"}),
    # Models nothing prices, and no model at all.
    ("POST", "/v1/chat/completions", chat_body(model="free-model-9000"), {}),
    ("POST", "/v1/chat/completions", json.dumps({"messages": MESSAGES}).encode(), {}),
    # Azure: an old api-version (no usage in streams), and a body that names a cheaper model than the deployment.
    ("POST", "/azure/openai/deployments/prod-4o/chat/completions?api-version=2024-06-01", chat_body(stream=True),
     {"api-key": "{key}"}),
    ("POST", "/azure/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21", chat_body(model="gpt-4o-mini"),
     {"api-key": "{key}"}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), ATTEMPTS)
def test_every_way_around_the_meter_is_metered_or_refused(
    proxy: Tollgate, upstream: CountingUpstream, method: str, path: str, body: bytes | None, headers: dict
) -> None:
    headers = {name: value.replace("{key}", proxy.key) for name, value in headers.items()}
    mark = proxy.mark()
    before = upstream.count()
    response = send(proxy, method, path, body, headers)
    reached = upstream.count() - before
    if reached == 0:
        # Refused, or answered by Tollgate itself from the meter (the caller's own stored objects): no upstream work.
        if response.status_code < 400:
            assert method == "GET" and response.json()["object"] == "list" and response.json()["data"] == [], response.text
        else:
            assert "error" in response.json() or "message" in response.json()
        return
    assert reached == 1
    events = proxy.new_events(mark, count=1)
    assert len(events) == 1, f"{method} {path}: {response.status_code} reached the upstream, events: {events}"
    event = events[0]
    if 200 <= response.status_code < 300:
        assert Decimal(event["price"]) > 0, f"{method} {path}: served for nothing: {event}"
    received = upstream.received[-1]
    encoding = {k.lower(): v for k, v in received["headers"].items()}.get("accept-encoding", "")
    assert all(part.split(";")[0].strip() in ("gzip", "deflate", "br", "identity", "") for part in encoding.split(",")), encoding


def test_escapes_read_as_the_provider_reads_them(proxy: Tollgate, upstream: CountingUpstream) -> None:
    """`mod\\u0065l` is model: the event names the model the provider served and bills it at that model's rate."""
    mark = proxy.mark()
    body = b'{"mod\\u0065l":"o3-pro","messages":[{"role":"user","content":"hi"}],"stre\\u0061m":true}'
    response = send(proxy, "POST", "/v1/chat/completions", body)
    assert response.status_code == 200
    sent = json.loads(upstream.received[-1]["body"])
    assert sent["stream_options"] == {"include_usage": True}, "the usage opt-in was added to the escaped stream"
    assert "usage" not in response.text.replace('"usage":null', ""), "the client did not ask for usage and gets none"
    event = proxy.one_new_event(mark)
    assert event["model"] == "o3-pro" and not event["estimated"] and event["input_tokens"] == 19


def test_duplicates_are_refused_naming_the_member(proxy: Tollgate, upstream: CountingUpstream) -> None:
    before = upstream.count()
    response = send(proxy, "POST", "/v1/chat/completions", b'{"model":"gpt-4o-mini","mod\\u0065l":"o3-pro","messages":[]}')
    assert response.status_code == 400 and upstream.count() == before
    error = response.json()["error"]
    assert error["code"] == "duplicate_member" and "'model'" in error["message"]


def test_unpriced_model_is_refused_naming_it(proxy: Tollgate, upstream: CountingUpstream) -> None:
    before = upstream.count()
    response = send(proxy, "POST", "/v1/chat/completions", chat_body(model="free-model-9000"))
    assert response.status_code == 400 and upstream.count() == before
    error = response.json()["error"]
    assert error["code"] == "model_not_priced" and "free-model-9000" in error["message"]


def test_complete_answer_without_usage_bills_the_worst_case(proxy: Tollgate, upstream: CountingUpstream) -> None:
    """An Azure api-version that takes no usage opt-in: the stream ends normally with no usage; the event is billed
    the admission worst case (flagged estimated, with the reason), not a low estimate."""
    mark = proxy.mark()
    response = send(
        proxy, "POST", "/azure/openai/deployments/prod-4o/chat/completions?api-version=2024-06-01",
        chat_body(stream=True, max_tokens=300), {"api-key": proxy.key})
    assert response.status_code == 200 and "data: [DONE]" in response.text
    event = proxy.one_new_event(mark)
    assert event["estimated"] and "worst case" in event["note"]
    assert event["model"] == "gpt-4o-2024-08-06", "the deployment decides the model"
    assert event["output_tokens"] == 300 and event["input_tokens"] >= len(chat_body(stream=True, max_tokens=300))


# --- bursts ---------------------------------------------------------------------------------------------------------

TINY_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
IMAGE_BODY = json.dumps({
    "model": "gpt-4o", "max_tokens": 16,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                              {"type": "image_url", "image_url": {"url": TINY_PNG}}]}],
}).encode()
def reference_body(previous: str) -> bytes:
    """A Responses request continuing from a stored response of the caller's: the provider bills the stored context."""
    return json.dumps({"model": "gpt-4o", "max_output_tokens": 16, "previous_response_id": previous, "input": "More."}).encode()


def stored_response(proxy: Tollgate, key: str) -> str:
    """A stored response of the key's customer, created through Tollgate (so it is theirs to continue from)."""
    response = httpx.post(proxy.origin + "/v1/responses", json={"model": "gpt-4o", "input": "Remember this."},
                          headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def burst(proxy: Tollgate, path: str, body: bytes, n: int = 500) -> list[int]:
    def one(_: int) -> int:
        with httpx.Client(timeout=60.0) as client:
            return client.post(proxy.origin + path, content=body, headers={
                "Authorization": f"Bearer {proxy.key}", "content-type": "application/json"}).status_code

    with ThreadPoolExecutor(max_workers=100) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.parametrize(
    ("kind", "path", "billed_prompt_tokens"), [("image", "/v1/chat/completions", 1_000), ("reference", "/v1/responses", 20_000)]
)
def test_a_burst_whose_prompts_cost_more_than_their_bytes_cannot_overspend(
    tmp_path: Path, kind: str, path: str, billed_prompt_tokens: int
) -> None:
    """Each ~250-byte request is billed as `billed_prompt_tokens` prompt tokens by the provider (an image, a stored
    response); 500 run at once against a balance worth about 50: the charge exceeds the balance by at most one
    request's price."""
    upstream = CountingUpstream(prompt_tokens=billed_prompt_tokens)
    try:
        with running_tollgate(upstream.origin, tmp_path, "", f"burst-{kind}") as proxy:
            probe = proxy.create_key("probe")
            body = IMAGE_BODY if kind == "image" else reference_body(stored_response(proxy, probe))
            burst_body = IMAGE_BODY if kind == "image" else reference_body(stored_response(proxy, proxy.key))
            proxy.cli("credits", "grant", "--customer", "probe", "--amount", "100")
            response = httpx.post(proxy.origin + path, content=body,
                                  headers={"Authorization": f"Bearer {probe}", "content-type": "application/json"})
            assert response.status_code == 200, response.text
            price = Decimal([e for e in proxy.events() if e["customer"] == "probe"][-1]["price"])
            seeded = {e["id"] for e in proxy.events()}
            assert price > 0
            grant = price * 50
            proxy.cli("credits", "grant", "--customer", f"burst-{kind}", "--amount", str(grant))
            # The burst's key was used before its customer had credits: on PostgreSQL a replica may take up to a
            # second to see that it now has (docs/SCALING.md); on SQLite the next request does.
            after_key_change()
            before = upstream.count()
            statuses = burst(proxy, path, burst_body)
            admitted = statuses.count(200)
            assert admitted >= 1 and statuses.count(402) == 500 - admitted, sorted(set(statuses))
            assert upstream.count() - before == admitted, "a refused request never reaches the provider"
            events = [e for e in proxy.events() if e["customer"] == f"burst-{kind}" and e["id"] not in seeded]
            charged = sum((Decimal(e["price"]) for e in events), Decimal(0))
            assert charged <= grant + price, f"{kind}: charged {charged} against a balance of {grant} ({admitted} admitted)"
            assert all(not e["estimated"] for e in events if e["status"] == 200)
    finally:
        upstream.close()
