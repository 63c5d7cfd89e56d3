"""The official `anthropic` SDK, first against the simulator's Messages API alone (it must parse everything the
simulator sends, and raise its own exception classes for its errors), then through Tollgate on the native path and
under /anthropic: results equal to direct calls, one exact event per inference, count_tokens never billed, errors
raised as the SDK's own exceptions, upstream failures metered."""

from __future__ import annotations

import json
import uuid
from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from conftest import (
    HTTP_TIMEOUT,
    PROVIDER_KEY,
    Simulator,
    Tollgate,
    check_event,
    event_classes,
    usage_classes,
    zero_classes,
)

MODEL = "claude-haiku-4-5"
SERVED = "claude-haiku-4-5-20251001"
SYSTEM = "Be brief."
MESSAGES = [{"role": "user", "content": "Tell me, what is a token meter?"}]
REPLY = "Hello! You said: Tell me, what is a token meter?"
# 3 for "Be brief.", 3 framing + 9 for the question, 3 for the reply primer.
PROMPT_TOKENS = 3 + (3 + 9) + 3
# Hello | ! | You | said | : | Tell | me | , | what | is | a | token | meter | ?
REPLY_TOKENS = 14
THINKING = {"type": "enabled", "budget_tokens": 1024}
# Tollgate routes the native path and the /anthropic prefix to the same provider.
PREFIXES = ["", "/anthropic"]
HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}


def request(**extra: Any) -> dict[str, Any]:
    """The arguments of the suite's usual Messages request, with `extra` on top."""
    return {"model": MODEL, "max_tokens": 2048, "system": SYSTEM, "messages": MESSAGES, **extra}


def cached_system(ttl: str | None = None) -> list[dict]:
    """A system prompt long enough to be cached (over 1024 tokens), unique to the call, marked with cache_control."""
    control: dict[str, str] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    text = f"Context {uuid.uuid4().hex}: " + " ".join(f"fact{i}" for i in range(1100))
    return [{"type": "text", "text": text, "cache_control": control}]


@pytest.fixture
def claude(sim: Simulator) -> anthropic.Anthropic:
    """An `anthropic` client for the simulator."""
    return sim.anthropic_client()


# --- the simulator alone -----------------------------------------------------------------------------------------


def test_plain_message(claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.create(**request())
    message = raw.parse()
    assert raw.headers["request-id"].startswith("req_")
    assert message.model == SERVED and message.type == "message" and message.role == "assistant"
    assert [block.type for block in message.content] == ["text"] and message.content[0].text == REPLY
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (PROMPT_TOKENS, REPLY_TOKENS)
    assert usage.cache_creation_input_tokens == usage.cache_read_input_tokens == 0
    assert usage.cache_creation.ephemeral_5m_input_tokens == usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert usage.service_tier == "standard" and usage.output_tokens_details is None
    # Same request, same message: ids derive from the content.
    assert claude.messages.create(**request()).model_dump() == message.model_dump()


def test_stream_event_sequence_and_final_message(claude: anthropic.Anthropic, sim: Simulator) -> None:
    events = list(claude.messages.create(**request(), stream=True))
    types = [event.type for event in events]
    assert types[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start, delta = events[0], events[-2]
    assert start.message.usage.input_tokens == PROMPT_TOKENS and start.message.usage.output_tokens == 1
    assert start.message.stop_reason is None and start.message.content == []
    assert delta.delta.stop_reason == "end_turn" and delta.usage.output_tokens == REPLY_TOKENS
    assert delta.usage.input_tokens == PROMPT_TOKENS
    text = "".join(event.delta.text for event in events if event.type == "content_block_delta")
    assert text == REPLY
    # The SDK's accumulated message is the plain one.
    with claude.messages.stream(**request()) as stream:
        assert stream.get_final_message().model_dump() == claude.messages.create(**request()).model_dump()
    # On the wire: `event:` lines, and Anthropic's ping (after the first block starts).
    raw = httpx.post(
        sim.origin + "/v1/messages", json=request(stream=True), headers={**HEADERS, "x-api-key": PROVIDER_KEY},
        timeout=HTTP_TIMEOUT,
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    frames = raw.text.split("\n\n")
    assert frames[0].startswith("event: message_start\ndata: {")
    assert frames[2] == 'event: ping\ndata: {"type": "ping"}'
    assert frames[-2] == 'event: message_stop\ndata: {"type":"message_stop"}' and frames[-1] == ""


def test_thinking_plain_and_stream(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(**request(thinking=THINKING))
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.text == REPLY
    details = message.usage.output_tokens_details
    assert details.thinking_tokens > 0
    assert message.usage.output_tokens == details.thinking_tokens + REPLY_TOKENS
    events = list(claude.messages.create(**request(thinking=THINKING), stream=True))
    deltas = [event.delta for event in events if event.type == "content_block_delta"]
    assert "".join(delta.thinking for delta in deltas if delta.type == "thinking_delta") == thinking.thinking
    assert [delta.signature for delta in deltas if delta.type == "signature_delta"] == [thinking.signature]
    assert events[-2].usage.output_tokens_details.thinking_tokens == details.thinking_tokens
    with claude.messages.stream(**request(thinking=THINKING)) as stream:
        assert stream.get_final_message().model_dump() == message.model_dump()


def test_max_tokens_cuts_the_reply(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(**request(max_tokens=5))
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 5
    assert message.content[0].text == "Hello! You said:"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 100}}, "greater than or equal to 1024"),
        ({"thinking": {"type": "enabled", "budget_tokens": 4096}}, "`max_tokens` must be greater than"),
        ({"messages": []}, "at least one message"),
    ],
)
def test_invalid_requests(claude: anthropic.Anthropic, changes: dict, message: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        claude.messages.create(**{**request(), **changes})
    assert raised.value.body["type"] == "error" and raised.value.body["error"]["type"] == "invalid_request_error"
    assert message in raised.value.body["error"]["message"]


def test_unknown_model(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as raised:
        claude.messages.create(**request(model="gpt-4o"))
    assert raised.value.body["error"] == {"type": "not_found_error", "message": "model: gpt-4o"}


def test_count_tokens(claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(model=MODEL, system=SYSTEM, messages=MESSAGES)
    assert counted.input_tokens == PROMPT_TOKENS
    # The whole prompt, cached or not.
    system = cached_system()
    created = claude.messages.create(**request(system=system))
    total = claude.messages.count_tokens(model=MODEL, system=system, messages=MESSAGES).input_tokens
    assert total == created.usage.input_tokens + created.usage.cache_creation_input_tokens


def test_prompt_cache_writes_then_reads(claude: anthropic.Anthropic) -> None:
    system = cached_system()
    first = claude.messages.create(**request(system=system)).usage
    second = claude.messages.create(**request(system=system)).usage
    prefix = first.cache_creation_input_tokens
    assert prefix > 1024 and first.cache_read_input_tokens == 0
    assert first.cache_creation.ephemeral_5m_input_tokens == prefix and first.cache_creation.ephemeral_1h_input_tokens == 0
    assert (second.cache_read_input_tokens, second.cache_creation_input_tokens) == (prefix, 0)
    assert first.input_tokens == second.input_tokens == (3 + 9) + 3
    # A one-hour breakpoint writes into the 1h bucket.
    hour = claude.messages.create(**request(system=cached_system("1h"))).usage
    assert hour.cache_creation.ephemeral_1h_input_tokens == hour.cache_creation_input_tokens > 1024
    # Too short a prefix is never cached.
    short = [{"type": "text", "text": "Short and unique " + uuid.uuid4().hex, "cache_control": {"type": "ephemeral"}}]
    assert claude.messages.create(**request(system=short)).usage.cache_creation_input_tokens == 0
    # Without cache_control, x-sim-cached-tokens reports reads.
    read = claude.messages.create(**request(), extra_headers={"x-sim-cached-tokens": "5"}).usage
    assert (read.input_tokens, read.cache_read_input_tokens) == (PROMPT_TOKENS - 5, 5)


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_faults(claude: anthropic.Anthropic, status: int, error_type: type, kind: str) -> None:
    with pytest.raises(error_type) as raised:
        claude.messages.create(**request(), extra_headers={"x-sim-error": str(status)})
    assert raised.value.status_code == status
    body = raised.value.body
    assert set(body) == {"type", "error", "request_id"} and body["error"]["type"] == kind
    assert raised.value.request_id == body["request_id"]
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "1"


def test_keys_and_version(sim: Simulator) -> None:
    with pytest.raises(anthropic.AuthenticationError) as raised:
        sim.anthropic_client(key="sk-ant-wrong").messages.create(**request())
    assert raised.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}

    def post(headers: dict[str, str]) -> httpx.Response:
        return httpx.post(sim.origin + "/v1/messages", json=request(), headers=headers, timeout=HTTP_TIMEOUT)

    missing = post({"anthropic-version": "2023-06-01"})
    assert missing.status_code == 401 and missing.json()["error"]["message"] == "x-api-key header is required"
    assert post({**HEADERS, "x-api-key": PROVIDER_KEY}).status_code == 200
    unversioned = post({"x-api-key": PROVIDER_KEY})
    assert unversioned.status_code == 400 and "anthropic-version" in unversioned.json()["error"]["message"]
    unknown = httpx.post(sim.origin + "/v1/messages/nope", json={}, headers={**HEADERS, "x-api-key": PROVIDER_KEY})
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"


def test_cut_stream_raises(claude: anthropic.Anthropic) -> None:
    received = []
    with pytest.raises(httpx2.HTTPError) as raised:
        for event in claude.messages.create(**request(), stream=True, extra_headers={"x-sim-cut-after": "4"}):
            received.append(event.type)
    assert "incomplete" in str(raised.value)
    assert received == ["message_start", "content_block_start", "content_block_delta"]


# --- through Tollgate --------------------------------------------------------------------------------------------


def check_anthropic_event(event: dict, *, stream: bool, usage: Any, served: str = SERVED) -> None:
    """An Anthropic inference event: the right labels and exactly the token classes `usage` reports."""
    check_event(event, model=MODEL, served_model=served, stream=stream, route="anthropic.messages", provider="anthropic")
    assert event_classes(event) == usage_classes(usage, "anthropic")


def upstream_messages(sim: Simulator) -> list[dict]:
    """The Messages requests the simulator received."""
    return [entry for entry in sim.requests() if entry["path"].startswith("/v1/messages")]


@pytest.mark.proxy
@pytest.mark.parametrize("prefix", PREFIXES)
def test_plain_through_tollgate(claude: anthropic.Anthropic, tollgate: Tollgate, sim: Simulator, prefix: str) -> None:
    want = claude.messages.create(**request(thinking=THINKING))
    sim.clear_requests()
    mark = tollgate.mark()
    got = tollgate.anthropic_client(prefix=prefix).messages.create(**request(thinking=THINKING))
    assert got.model_dump() == want.model_dump()

    event = tollgate.one_new_event(mark)
    check_anthropic_event(event, stream=False, usage=want.usage)
    assert event["reasoning_tokens"] == want.usage.output_tokens_details.thinking_tokens > 0
    assert event["output_tokens"] == want.usage.output_tokens

    # Upstream: the native path, the provider's key, never the virtual key.
    upstream = upstream_messages(sim)
    assert [entry["path"] for entry in upstream] == ["/v1/messages"]
    assert upstream[0]["headers"].get("x-api-key") == PROVIDER_KEY
    assert tollgate.key not in json.dumps(upstream[0]), "the virtual key leaked upstream"
    assert upstream[0]["headers"].get("anthropic-version"), "anthropic-version was not forwarded"


@pytest.mark.proxy
@pytest.mark.parametrize("prefix", PREFIXES)
def test_stream_through_tollgate(claude: anthropic.Anthropic, tollgate: Tollgate, prefix: str) -> None:
    want = [event.model_dump() for event in claude.messages.create(**request(thinking=THINKING), stream=True)]
    mark = tollgate.mark()
    proxied = tollgate.anthropic_client(prefix=prefix)
    got = [event.model_dump() for event in proxied.messages.create(**request(thinking=THINKING), stream=True)]
    assert got == want

    final = want[-2]["usage"]
    start = want[0]["message"]["usage"]
    event = tollgate.one_new_event(mark)
    check_anthropic_event(event, stream=True, usage={**start, **{k: v for k, v in final.items() if v is not None}})
    assert event["output_tokens"] == final["output_tokens"] and event["reasoning_tokens"] == final["output_tokens_details"]["thinking_tokens"]

    # The SDK's stream helper accumulates the same message through Tollgate.
    with proxied.messages.stream(**request()) as stream:
        assert stream.get_final_message().model_dump() == claude.messages.create(**request()).model_dump()


@pytest.mark.proxy
def test_raw_stream_bytes_and_x_api_key(sim: Simulator, tollgate: Tollgate) -> None:
    """The virtual key is also accepted as x-api-key (how other clients send it); the SSE bytes pass unchanged."""
    body = request(stream=True)
    direct = httpx.post(
        sim.origin + "/v1/messages", json=body, headers={**HEADERS, "x-api-key": PROVIDER_KEY}, timeout=HTTP_TIMEOUT
    )
    mark = tollgate.mark()
    proxied = httpx.post(
        tollgate.origin + "/anthropic/v1/messages", json=body, headers={**HEADERS, "x-api-key": tollgate.key},
        timeout=HTTP_TIMEOUT,
    )
    assert proxied.status_code == 200 and proxied.content == direct.content
    assert tollgate.one_new_event(mark)["input_tokens"] == PROMPT_TOKENS


@pytest.mark.proxy
def test_prompt_cache_classes_through_tollgate(claude: anthropic.Anthropic, tollgate: Tollgate) -> None:
    proxied = tollgate.anthropic_client()
    # A new 1-hour prefix through Tollgate: written.
    system = cached_system("1h")
    mark = tollgate.mark()
    written = proxied.messages.create(**request(system=system)).usage
    event = tollgate.one_new_event(mark)
    check_anthropic_event(event, stream=False, usage=written)
    assert event["cache_write_tokens"] == event["cache_write_1h_tokens"] == written.cache_creation_input_tokens > 1024
    # The same prefix again, streamed: read. The direct call after it reads too, and reports the same usage.
    mark = tollgate.mark()
    events = list(proxied.messages.create(**request(system=system), stream=True))
    read = events[0].message.usage
    assert read.cache_read_input_tokens == written.cache_creation_input_tokens and read.cache_creation_input_tokens == 0
    event = tollgate.one_new_event(mark)
    assert event_classes(event) == {
        "input_tokens": read.input_tokens, "cache_read_tokens": read.cache_read_input_tokens, "cache_write_tokens": 0,
        "output_tokens": events[-2].usage.output_tokens, "reasoning_tokens": 0,
    }
    assert claude.messages.create(**request(system=system)).usage.cache_read_input_tokens == read.cache_read_input_tokens


@pytest.mark.proxy
@pytest.mark.parametrize("prefix", PREFIXES)
def test_count_tokens_is_not_billed(claude: anthropic.Anthropic, tollgate: Tollgate, prefix: str) -> None:
    want = claude.messages.count_tokens(model=MODEL, system=SYSTEM, messages=MESSAGES)
    proxied = tollgate.anthropic_client(prefix=prefix)
    mark = tollgate.mark()
    got = proxied.messages.count_tokens(model=MODEL, system=SYSTEM, messages=MESSAGES)
    assert got.model_dump() == want.model_dump()
    # One inference after it: the only new event is the inference's.
    proxied.messages.create(**request())
    event = tollgate.one_new_event(mark)
    assert event["output_tokens"] == REPLY_TOKENS and event["route"] == "anthropic.messages"


@pytest.mark.proxy
@pytest.mark.parametrize("prefix", PREFIXES)
def test_bad_virtual_key(sim: Simulator, tollgate: Tollgate, prefix: str) -> None:
    sim.clear_requests()
    with pytest.raises(anthropic.AuthenticationError) as raised:
        tollgate.anthropic_client(key="tg-not-a-real-key", prefix=prefix).messages.create(**request())
    assert raised.value.status_code == 401
    body = raised.value.body
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error" and body["error"]["message"]
    assert sim.requests() == [], "a request with a bad key reached the upstream"


@pytest.mark.proxy
@pytest.mark.parametrize(("status", "error_type"), [(529, anthropic.OverloadedError), (429, anthropic.RateLimitError)])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_error_reaches_the_sdk(
    claude: anthropic.Anthropic, tollgate: Tollgate, status: int, error_type: type, stream: bool
) -> None:
    fault = {"x-sim-error": str(status)}
    with pytest.raises(error_type) as want:
        claude.messages.create(**request(stream=stream), extra_headers=fault)
    mark = tollgate.mark()
    with pytest.raises(error_type) as got:
        tollgate.anthropic_client().messages.create(**request(stream=stream), extra_headers=fault)
    assert got.value.status_code == status
    assert got.value.body == want.value.body

    event = tollgate.one_new_event(mark)
    assert event["status"] == status and event["provider"] == "anthropic" and event["model"] == MODEL
    assert event_classes(event) == zero_classes()


@pytest.mark.proxy
def test_upstream_cut_mid_stream_is_recorded(tollgate: Tollgate) -> None:
    mark = tollgate.mark()
    received = []
    # Whether the proxy aborts the client connection too or ends the body early is left open: either way the
    # client never sees the message end.
    try:
        stream = tollgate.anthropic_client().messages.create(
            **request(), stream=True, extra_headers={"x-sim-cut-after": "4"}
        )
        for event in stream:
            received.append(event.type)
    except httpx2.HTTPError:
        pass
    assert "message_stop" not in received and len(received) <= 3

    event = tollgate.one_new_event(mark)
    assert event["stream"] is True and event["provider"] == "anthropic"
    # message_start arrived before the cut: its input side is the real one.
    assert event["input_tokens"] == PROMPT_TOKENS
    assert event["note"], "the event does not say the stream was cut"
