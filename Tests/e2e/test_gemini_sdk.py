"""The official `google-genai` SDK, first against the simulator's Gemini API alone (it must parse everything the
simulator sends, and raise its own errors for its failures), then through Tollgate on the native /v1beta paths and
under /gemini: results equal to direct calls, one exact event per inference, countTokens never billed, errors raised
as the SDK's own, upstream failures metered. Also the JSON-array stream (no alt=sse) and ?key= with raw HTTP."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import httpx2
import pytest
from google import genai
from google.genai import errors
from google.genai import types

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

MODEL = "gemini-2.5-flash"
SYSTEM = "Be brief."
QUESTION = "Tell me, what is a token meter?"
REPLY = "Hello! You said: Tell me, what is a token meter?"
PROMPT_TOKENS = 3 + 9  # "Be brief." and the question; Gemini adds no framing
REPLY_TOKENS = 14
EMBEDDING_MODEL = "gemini-embedding-2"
# Tollgate routes the native paths and the /gemini prefix to the same provider.
PREFIXES = ["", "/gemini"]
KEY_HEADERS = {"x-goog-api-key": PROVIDER_KEY}


def config(headers: dict[str, str] | None = None, **fields: Any) -> types.GenerateContentConfig:
    """The suite's usual generation config, with simulator directives sent as headers."""
    options = types.HttpOptions(headers=headers) if headers else None
    return types.GenerateContentConfig(system_instruction=SYSTEM, http_options=options, **fields)


def thinking(budget: int = 64, include: bool = True) -> types.ThinkingConfig:
    """A thinking config."""
    return types.ThinkingConfig(thinking_budget=budget, include_thoughts=include)


def dump(response: Any) -> dict:
    """An SDK response without its HTTP details (date, content length), which differ between any two calls."""
    return response.model_dump(exclude={"sdk_http_response"})


def generate_body(**extra: Any) -> dict:
    """A raw generateContent body."""
    return {
        "contents": [{"role": "user", "parts": [{"text": QUESTION}]}],
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        **extra,
    }


@pytest.fixture
def gemini(sim: Simulator) -> genai.Client:
    """A `google-genai` client for the simulator (v1beta)."""
    return sim.gemini_client()


# --- the simulator alone -----------------------------------------------------------------------------------------


def test_generate_plain(gemini: genai.Client) -> None:
    response = gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config())
    assert response.text == REPLY
    assert response.model_version == MODEL and response.response_id
    candidate = response.candidates[0]
    assert candidate.finish_reason == types.FinishReason.STOP and candidate.index == 0
    usage = response.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count) == (PROMPT_TOKENS, REPLY_TOKENS)
    assert usage.total_token_count == PROMPT_TOKENS + REPLY_TOKENS
    assert usage.thoughts_token_count is None and usage.cached_content_token_count is None
    assert [(item.modality, item.token_count) for item in usage.prompt_tokens_details] == [("TEXT", PROMPT_TOKENS)]
    again = gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config())
    assert dump(again) == dump(response)


def test_generate_thinking(gemini: genai.Client) -> None:
    shown = gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config(thinking_config=thinking()))
    thought, text = shown.candidates[0].content.parts
    assert thought.thought is True and thought.text and text.text == REPLY
    usage = shown.usage_metadata
    assert usage.thoughts_token_count > 0 and usage.candidates_token_count == REPLY_TOKENS
    assert usage.total_token_count == PROMPT_TOKENS + REPLY_TOKENS + usage.thoughts_token_count
    hidden = gemini.models.generate_content(
        model=MODEL, contents=QUESTION, config=config(thinking_config=thinking(include=False))
    )
    assert [part.text for part in hidden.candidates[0].content.parts] == [REPLY]
    assert hidden.usage_metadata.thoughts_token_count == usage.thoughts_token_count
    capped = gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config(thinking_config=thinking(5)))
    assert capped.usage_metadata.thoughts_token_count == 5
    off = gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config(thinking_config=thinking(0)))
    assert off.usage_metadata.thoughts_token_count is None


def test_max_output_tokens_and_cached_tokens(gemini: genai.Client) -> None:
    capped = gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config(max_output_tokens=5))
    assert capped.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert capped.text == "Hello! You said:" and capped.usage_metadata.candidates_token_count == 5
    cached = gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config({"x-sim-cached-tokens": "4"}))
    usage = cached.usage_metadata
    assert usage.cached_content_token_count == 4 and usage.prompt_token_count == PROMPT_TOKENS
    assert [(item.modality, item.token_count) for item in usage.cache_tokens_details] == [("TEXT", 4)]


def test_stream_sse(gemini: genai.Client, sim: Simulator) -> None:
    plain = gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config(thinking_config=thinking()))
    chunks = list(gemini.models.generate_content_stream(model=MODEL, contents=QUESTION, config=config(thinking_config=thinking())))
    assert len(chunks) > 3
    assert chunks[0].candidates[0].content.parts[0].thought is True
    assert "".join(chunk.text or "" for chunk in chunks[1:]) == REPLY
    assert [chunk.candidates[0].finish_reason for chunk in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    # Running totals: candidates grow, everything else is there from the first chunk.
    counts = [chunk.usage_metadata.candidates_token_count or 0 for chunk in chunks]
    assert counts == sorted(counts) and counts[-1] == REPLY_TOKENS
    assert dump(chunks[-1].usage_metadata) == dump(plain.usage_metadata)
    assert {chunk.response_id for chunk in chunks} == {plain.response_id}
    # On the wire: one-line events with ": " after keys, separated by \r\n\r\n.
    raw = httpx.post(
        sim.origin + f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", json=generate_body(), headers=KEY_HEADERS,
        timeout=HTTP_TIMEOUT,
    )
    assert raw.headers["content-type"] == "text/event-stream"
    events = raw.content.split(b"\r\n\r\n")
    assert events[-1] == b"" and all(event.startswith(b'data: {"candidates": [{') for event in events[:-1])


def test_stream_json_array(sim: Simulator) -> None:
    """Without alt=sse the stream is one JSON array, its elements indented and written one by one."""
    path = f"/v1beta/models/{MODEL}:streamGenerateContent"
    array = httpx.post(sim.origin + path, json=generate_body(), headers=KEY_HEADERS, timeout=HTTP_TIMEOUT)
    assert array.headers["content-type"] == "application/json; charset=UTF-8"
    assert array.content.startswith(b'[{\n  "candidates": [') and array.content.endswith(b"\n}\n]")
    assert b"\n}\n,\r\n{\n" in array.content
    sse = httpx.post(sim.origin + path + "?alt=sse", json=generate_body(), headers=KEY_HEADERS, timeout=HTTP_TIMEOUT)
    events = [json.loads(event[len(b"data: "):]) for event in sse.content.split(b"\r\n\r\n") if event]
    assert json.loads(array.content) == events


def test_count_tokens(gemini: genai.Client, sim: Simulator) -> None:
    assert gemini.models.count_tokens(model=MODEL, contents=QUESTION).total_tokens == 9
    whole = httpx.post(
        sim.origin + f"/v1beta/models/{MODEL}:countTokens",
        json={"generateContentRequest": {"model": f"models/{MODEL}", **generate_body()}}, headers=KEY_HEADERS,
        timeout=HTTP_TIMEOUT,
    ).json()
    assert whole == {"totalTokens": PROMPT_TOKENS, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}]}


def test_embeddings(gemini: genai.Client, sim: Simulator) -> None:
    response = gemini.models.embed_content(
        model="gemini-embedding-001", contents=["hello world", "bye"], config=types.EmbedContentConfig(output_dimensionality=8)
    )
    assert [len(item.values) for item in response.embeddings] == [8, 8]
    assert math.isclose(sum(value * value for value in response.embeddings[0].values), 1.0, rel_tol=1e-5)
    assert response.metadata is None
    full = gemini.models.embed_content(model="gemini-embedding-001", contents="hello world")
    assert len(full.embeddings[0].values) == 3072
    single = httpx.post(
        sim.origin + f"/v1beta/models/{EMBEDDING_MODEL}:embedContent",
        json={"content": {"parts": [{"text": "hello world"}]}, "outputDimensionality": 4}, headers=KEY_HEADERS,
        timeout=HTTP_TIMEOUT,
    ).json()
    assert len(single["embedding"]["values"]) == 4
    assert single["usageMetadata"] == {"promptTokenCount": 2, "promptTokenDetails": [{"modality": "TEXT", "tokenCount": 2}]}


def test_models(gemini: genai.Client) -> None:
    names = [model.name for model in gemini.models.list()]
    assert f"models/{MODEL}" in names
    assert gemini.models.get(model=MODEL).display_name == "Gemini 2.5 Flash"
    with pytest.raises(errors.ClientError) as raised:
        gemini.models.get(model="no-such-model")
    assert raised.value.code == 404 and raised.value.status == "NOT_FOUND"
    with pytest.raises(errors.ClientError) as raised:
        gemini.models.generate_content(model="no-such-model", contents=QUESTION)
    assert raised.value.code == 404 and "is not found for API version v1beta" in raised.value.message


@pytest.mark.parametrize(
    ("status", "error_type", "name"),
    [
        (400, errors.ClientError, "INVALID_ARGUMENT"),
        (401, errors.ClientError, "UNAUTHENTICATED"),
        (403, errors.ClientError, "PERMISSION_DENIED"),
        (404, errors.ClientError, "NOT_FOUND"),
        (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
        (500, errors.ServerError, "INTERNAL"),
        (503, errors.ServerError, "UNAVAILABLE"),
    ],
)
def test_faults(gemini: genai.Client, status: int, error_type: type, name: str) -> None:
    with pytest.raises(error_type) as raised:
        gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config({"x-sim-error": str(status)}))
    assert (raised.value.code, raised.value.status) == (status, name)
    assert set(raised.value.details["error"]) == {"code", "message", "status"}


def test_keys(sim: Simulator) -> None:
    wrong = sim.gemini_client(key="AIza-wrong")
    with pytest.raises(errors.ClientError) as raised:
        wrong.models.generate_content(model=MODEL, contents=QUESTION)
    assert (raised.value.code, raised.value.status) == (400, "INVALID_ARGUMENT")
    assert raised.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    url = sim.origin + f"/v1beta/models/{MODEL}:generateContent"
    missing = httpx.post(url, json=generate_body(), timeout=HTTP_TIMEOUT)
    assert missing.status_code == 403 and missing.json()["error"]["status"] == "PERMISSION_DENIED"
    assert missing.text.startswith('{\n  "error": {\n    "code": 403,') and missing.text.endswith("}\n")
    assert httpx.post(url + f"?key={PROVIDER_KEY}", json=generate_body(), timeout=HTTP_TIMEOUT).status_code == 200


def test_api_version_v1(sim: Simulator) -> None:
    """google-genai 3.x defaults to API version v1: /v1/models/MODEL:generateContent."""
    client = sim.gemini_client(api_version="v1")
    assert client.models.generate_content(model=MODEL, contents=QUESTION).text == "Hello! You said: " + QUESTION


def test_cut_stream_raises(gemini: genai.Client) -> None:
    received = []
    with pytest.raises(httpx2.HTTPError):
        for chunk in gemini.models.generate_content_stream(
            model=MODEL, contents=QUESTION, config=config({"x-sim-cut-after": "2"})
        ):
            received.append(chunk.text)
    assert "".join(received) == "Hello! You said: Tell"


# --- through Tollgate --------------------------------------------------------------------------------------------


def check_gemini_event(event: dict, *, route: str, stream: bool, usage: Any, model: str = MODEL) -> None:
    """A Gemini event: the right labels and exactly the token classes `usage` (usageMetadata) reports."""
    check_event(event, model=model, served_model=model, stream=stream, route=route, provider="gemini")
    assert event_classes(event) == usage_classes(usage, "gemini")


def upstream_gemini(sim: Simulator) -> list[dict]:
    """The Gemini requests the simulator received."""
    return [entry for entry in sim.requests() if "/models/" in entry["path"] and ":" in entry["path"]]


# Thinking shown and cached prompt tokens, so that every canonical class Gemini has is non-zero.
RICH = {"x-sim-cached-tokens": "4"}


@pytest.mark.proxy
@pytest.mark.parametrize("prefix", PREFIXES)
def test_plain_through_tollgate(gemini: genai.Client, tollgate: Tollgate, sim: Simulator, prefix: str) -> None:
    want = gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config(RICH, thinking_config=thinking()))
    sim.clear_requests()
    mark = tollgate.mark()
    proxied = tollgate.gemini_client(prefix=prefix)
    got = proxied.models.generate_content(model=MODEL, contents=QUESTION, config=config(RICH, thinking_config=thinking()))
    assert dump(got) == dump(want)

    event = tollgate.one_new_event(mark)
    check_gemini_event(event, route="gemini.generateContent", stream=False, usage=want.usage_metadata)
    assert event["cache_read_tokens"] == 4 and event["reasoning_tokens"] == want.usage_metadata.thoughts_token_count > 0

    # Upstream: the native path, the provider's key, never the virtual key.
    upstream = upstream_gemini(sim)
    assert [entry["path"] for entry in upstream] == [f"/v1beta/models/{MODEL}:generateContent"]
    assert upstream[0]["headers"].get("x-goog-api-key") == PROVIDER_KEY
    assert tollgate.key not in json.dumps(upstream[0]), "the virtual key leaked upstream"


@pytest.mark.proxy
@pytest.mark.parametrize("prefix", PREFIXES)
def test_stream_through_tollgate(gemini: genai.Client, tollgate: Tollgate, prefix: str) -> None:
    want = [dump(chunk) for chunk in gemini.models.generate_content_stream(
        model=MODEL, contents=QUESTION, config=config(RICH, thinking_config=thinking())
    )]
    mark = tollgate.mark()
    proxied = tollgate.gemini_client(prefix=prefix)
    got = [dump(chunk) for chunk in proxied.models.generate_content_stream(
        model=MODEL, contents=QUESTION, config=config(RICH, thinking_config=thinking())
    )]
    assert got == want

    event = tollgate.one_new_event(mark)
    check_gemini_event(event, route="gemini.streamGenerateContent", stream=True, usage=want[-1]["usage_metadata"])
    assert event["output_tokens"] == REPLY_TOKENS + want[-1]["usage_metadata"]["thoughts_token_count"]


@pytest.mark.proxy
@pytest.mark.parametrize("prefix", PREFIXES)
def test_json_array_stream_through_tollgate(sim: Simulator, tollgate: Tollgate, prefix: str) -> None:
    path = f"/v1beta/models/{MODEL}:streamGenerateContent"
    body = generate_body(generationConfig={"thinkingConfig": {"thinkingBudget": 32}})
    direct = httpx.post(sim.origin + path, json=body, headers=KEY_HEADERS, timeout=HTTP_TIMEOUT)
    mark = tollgate.mark()
    proxied = httpx.post(
        tollgate.origin + prefix + path, json=body, headers={"x-goog-api-key": tollgate.key}, timeout=HTTP_TIMEOUT
    )
    assert proxied.status_code == 200 and proxied.content == direct.content
    usage = json.loads(direct.content)[-1]["usageMetadata"]
    event = tollgate.one_new_event(mark)
    check_gemini_event(event, route="gemini.streamGenerateContent", stream=True, usage=usage)
    assert event["reasoning_tokens"] == usage["thoughtsTokenCount"] > 0


@pytest.mark.proxy
def test_key_in_query_through_tollgate(sim: Simulator, tollgate: Tollgate) -> None:
    """?key=VIRTUAL is accepted, and replaced: upstream sees the provider's key and the virtual key nowhere."""
    path = f"/v1beta/models/{MODEL}:streamGenerateContent"
    direct = httpx.post(sim.origin + path + "?alt=sse", json=generate_body(), headers=KEY_HEADERS, timeout=HTTP_TIMEOUT)
    sim.clear_requests()
    mark = tollgate.mark()
    proxied = httpx.post(tollgate.origin + path + f"?alt=sse&key={tollgate.key}", json=generate_body(), timeout=HTTP_TIMEOUT)
    assert proxied.status_code == 200 and proxied.content == direct.content
    assert tollgate.one_new_event(mark)["output_tokens"] == REPLY_TOKENS
    upstream = upstream_gemini(sim)
    assert len(upstream) == 1 and tollgate.key not in json.dumps(upstream[0]), "the virtual key leaked upstream"
    assert "alt=sse" in upstream[0]["path"]
    assert upstream[0]["headers"].get("x-goog-api-key") == PROVIDER_KEY or f"key={PROVIDER_KEY}" in upstream[0]["path"]


@pytest.mark.proxy
@pytest.mark.parametrize("prefix", PREFIXES)
def test_count_tokens_is_not_billed(gemini: genai.Client, tollgate: Tollgate, prefix: str) -> None:
    want = gemini.models.count_tokens(model=MODEL, contents=QUESTION)
    proxied = tollgate.gemini_client(prefix=prefix)
    mark = tollgate.mark()
    got = proxied.models.count_tokens(model=MODEL, contents=QUESTION)
    assert dump(got) == dump(want)
    # One inference after it: the only new event is the inference's.
    proxied.models.generate_content(model=MODEL, contents=QUESTION)
    event = tollgate.one_new_event(mark)
    assert event["route"] == "gemini.generateContent" and event["output_tokens"] == REPLY_TOKENS


@pytest.mark.proxy
def test_embeddings_through_tollgate(gemini: genai.Client, tollgate: Tollgate, sim: Simulator) -> None:
    contents = ["hello world", "token meters count tokens"]
    embed = types.EmbedContentConfig(output_dimensionality=16)
    want = gemini.models.embed_content(model=EMBEDDING_MODEL, contents=contents, config=embed)
    proxied = tollgate.gemini_client()
    mark = tollgate.mark()
    got = proxied.models.embed_content(model=EMBEDDING_MODEL, contents=contents, config=embed)
    assert dump(got) == dump(want)
    event = tollgate.one_new_event(mark)
    check_event(
        event, model=EMBEDDING_MODEL, served_model=EMBEDDING_MODEL, stream=False, route="gemini.batchEmbedContents",
        provider="gemini",
    )
    assert event_classes(event) == {**zero_classes(), "input_tokens": 2 + 4}

    path = f"/v1beta/models/{EMBEDDING_MODEL}:embedContent"
    body = {"content": {"parts": [{"text": "hello world"}]}, "outputDimensionality": 4}
    direct = httpx.post(sim.origin + path, json=body, headers=KEY_HEADERS, timeout=HTTP_TIMEOUT)
    mark = tollgate.mark()
    single = httpx.post(tollgate.origin + path, json=body, headers={"x-goog-api-key": tollgate.key}, timeout=HTTP_TIMEOUT)
    assert single.status_code == 200 and single.json() == direct.json()
    event = tollgate.one_new_event(mark)
    assert event["route"] == "gemini.embedContent" and event_classes(event) == {**zero_classes(), "input_tokens": 2}


@pytest.mark.proxy
@pytest.mark.parametrize("prefix", PREFIXES)
def test_bad_virtual_key(sim: Simulator, tollgate: Tollgate, prefix: str) -> None:
    sim.clear_requests()
    client = tollgate.gemini_client(key="tg-not-a-real-key", prefix=prefix)
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=MODEL, contents=QUESTION)
    assert raised.value.code == 401 and raised.value.status == "UNAUTHENTICATED" and raised.value.message
    assert sim.requests() == [], "a request with a bad key reached the upstream"


@pytest.mark.proxy
@pytest.mark.parametrize(("status", "error_type"), [(429, errors.ClientError), (500, errors.ServerError)])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_error_reaches_the_sdk(
    gemini: genai.Client, tollgate: Tollgate, status: int, error_type: type, stream: bool
) -> None:
    fault = config({"x-sim-error": str(status)})

    def call(client: genai.Client) -> None:
        if stream:
            list(client.models.generate_content_stream(model=MODEL, contents=QUESTION, config=fault))
        else:
            client.models.generate_content(model=MODEL, contents=QUESTION, config=fault)

    with pytest.raises(error_type) as want:
        call(gemini)
    mark = tollgate.mark()
    proxied = tollgate.gemini_client()
    with pytest.raises(error_type) as got:
        call(proxied)
    assert (got.value.code, got.value.status, got.value.details) == (want.value.code, want.value.status, want.value.details)

    event = tollgate.one_new_event(mark)
    assert event["status"] == status and event["provider"] == "gemini" and event["model"] == MODEL
    assert event_classes(event) == zero_classes()


@pytest.mark.proxy
def test_upstream_cut_mid_stream_is_recorded(tollgate: Tollgate) -> None:
    mark = tollgate.mark()
    proxied = tollgate.gemini_client()
    received = []
    # Whether the proxy aborts the client connection too or ends the body early is left open.
    try:
        for chunk in proxied.models.generate_content_stream(
            model=MODEL, contents=QUESTION, config=config({"x-sim-cut-after": "2"})
        ):
            received.append(chunk.text)
    except httpx2.HTTPError:
        pass
    assert "".join(received) in ("Hello! You said: Tell", "Hello! You said:", "")

    event = tollgate.one_new_event(mark)
    assert event["stream"] is True and event["provider"] == "gemini"
    # The chunks that arrived carried running totals: the last one seen is what was used.
    assert event["input_tokens"] == PROMPT_TOKENS
    assert event["note"], "the event does not say the stream was cut"


@pytest.mark.proxy
@pytest.mark.parametrize("prefix", PREFIXES)
def test_default_api_version_through_tollgate(gemini: genai.Client, tollgate: Tollgate, prefix: str) -> None:
    """google-genai's default API version (v1): /v1/models/MODEL:generateContent, natively and under /gemini."""
    proxied = tollgate.gemini_client(prefix=prefix, api_version="v1")
    mark = tollgate.mark()
    got = proxied.models.generate_content(model=MODEL, contents=QUESTION, config=config())
    assert dump(got) == dump(gemini.models.generate_content(model=MODEL, contents=QUESTION, config=config()))
    check_gemini_event(tollgate.one_new_event(mark), route="gemini.generateContent", stream=False, usage=got.usage_metadata)
