"""Through the proxy, the SDK must get exactly what it gets from the upstream directly, and every inference
must be metered once with the token classes the upstream reported."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from conftest import (
    MESSAGES,
    PROVIDER_KEY,
    Simulator,
    Tollgate,
    check_event,
    event_classes,
    usage_classes,
)

pytestmark = pytest.mark.proxy

CACHED = {"x-sim-cached-tokens": "5"}


def dumps(items: Any) -> list[dict]:
    """model_dump() of every item of an SDK stream or page."""
    return [item.model_dump() for item in items]


def test_chat_plain(direct: openai.OpenAI, proxied: openai.OpenAI, tollgate: Tollgate) -> None:
    # A reasoning model with cached prompt tokens, so every token class is non-trivial.
    want = direct.chat.completions.create(model="gpt-5-mini", messages=MESSAGES, extra_headers=CACHED)
    mark = tollgate.mark()
    got = proxied.chat.completions.create(model="gpt-5-mini", messages=MESSAGES, extra_headers=CACHED)
    assert got.model_dump() == want.model_dump()

    event = tollgate.one_new_event(mark)
    check_event(event, model="gpt-5-mini", served_model=want.model, stream=False, route="openai.chat")
    assert event_classes(event) == usage_classes(want.usage, "chat")
    assert event["cache_read_tokens"] == 5 and event["reasoning_tokens"] == 16


def test_chat_stream_without_include_usage(
    direct: openai.OpenAI, proxied: openai.OpenAI, tollgate: Tollgate, sim: Simulator
) -> None:
    """The proxy asks the upstream for usage, meters it, and hides it: the client sees the stream it asked for."""
    want = dumps(direct.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=CACHED))
    reference = list(direct.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}, extra_headers=CACHED
    ))[-1].usage

    sim.clear_requests()
    mark = tollgate.mark()
    got = dumps(proxied.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=CACHED))
    assert got == want
    assert all(chunk["usage"] is None for chunk in got), "a chunk carries usage the client did not ask for"
    assert all(chunk["choices"] for chunk in got), "the client got the usage chunk it did not ask for"

    event = tollgate.one_new_event(mark)
    check_event(event, model="gpt-4o-mini", served_model=want[0]["model"], stream=True, route="openai.chat")
    assert event_classes(event) == usage_classes(reference, "chat")

    # What went upstream: the injected option and the provider's key, never the client's virtual key.
    upstream = [entry for entry in sim.requests() if entry["path"] == "/v1/chat/completions"]
    assert len(upstream) == 1
    assert json.loads(upstream[0]["body"])["stream_options"]["include_usage"] is True
    assert upstream[0]["headers"]["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert tollgate.key not in json.dumps(upstream[0]), "the virtual key leaked upstream"


def test_chat_stream_with_include_usage(direct: openai.OpenAI, proxied: openai.OpenAI, tollgate: Tollgate) -> None:
    kwargs: dict[str, Any] = dict(model="gpt-5-nano", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    want = dumps(direct.chat.completions.create(**kwargs))
    mark = tollgate.mark()
    got = dumps(proxied.chat.completions.create(**kwargs))
    assert got == want
    assert got[-1]["choices"] == [] and got[-1]["usage"] is not None

    event = tollgate.one_new_event(mark)
    check_event(event, model="gpt-5-nano", served_model=want[0]["model"], stream=True, route="openai.chat")
    assert event_classes(event) == usage_classes(want[-1]["usage"], "chat")


def test_completions_plain_and_stream(direct: openai.OpenAI, proxied: openai.OpenAI, tollgate: Tollgate) -> None:
    kwargs: dict[str, Any] = dict(model="babbage-002", prompt="def fib(n): return n", max_tokens=40)
    want = direct.completions.create(**kwargs)
    mark = tollgate.mark()
    got = proxied.completions.create(**kwargs)
    assert got.model_dump() == want.model_dump()
    event = tollgate.one_new_event(mark)
    check_event(event, model="babbage-002", served_model=want.model, stream=False, route="openai.completions")
    assert event_classes(event) == usage_classes(want.usage, "completions")

    want_chunks = dumps(direct.completions.create(**kwargs, stream=True))
    reference = list(direct.completions.create(**kwargs, stream=True, stream_options={"include_usage": True}))[-1].usage
    mark = tollgate.mark()
    got_chunks = dumps(proxied.completions.create(**kwargs, stream=True))
    assert got_chunks == want_chunks
    assert all(chunk["usage"] is None for chunk in got_chunks)
    event = tollgate.one_new_event(mark)
    check_event(event, model="babbage-002", served_model=want.model, stream=True, route="openai.completions")
    assert event_classes(event) == usage_classes(reference, "completions")


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_embeddings(direct: openai.OpenAI, proxied: openai.OpenAI, tollgate: Tollgate, encoding_format: str) -> None:
    kwargs: dict[str, Any] = dict(
        model="text-embedding-3-small", input=["metered tokens", "one more"], dimensions=64, encoding_format=encoding_format
    )
    want = direct.embeddings.create(**kwargs)
    mark = tollgate.mark()
    got = proxied.embeddings.create(**kwargs)
    # warnings=False: with base64 the SDK keeps the string in a field typed list[float], and pydantic warns.
    assert got.model_dump(warnings=False) == want.model_dump(warnings=False)

    event = tollgate.one_new_event(mark)
    check_event(event, model="text-embedding-3-small", served_model=want.model, stream=False, route="openai.embeddings")
    assert event_classes(event) == usage_classes({"prompt_tokens": want.usage.prompt_tokens}, "embeddings")
    assert event["output_tokens"] == 0


def test_responses_plain(direct: openai.OpenAI, proxied: openai.OpenAI, tollgate: Tollgate) -> None:
    kwargs: dict[str, Any] = dict(model="gpt-5-mini", input="What does a meter measure?", instructions="Be brief.",
                                  extra_headers=CACHED)
    want = direct.responses.create(**kwargs)
    mark = tollgate.mark()
    got = proxied.responses.create(**kwargs)
    assert got.model_dump() == want.model_dump()

    event = tollgate.one_new_event(mark)
    check_event(event, model="gpt-5-mini", served_model=want.model, stream=False, route="openai.responses")
    assert event_classes(event) == usage_classes(want.usage, "responses")


def test_responses_stream(direct: openai.OpenAI, proxied: openai.OpenAI, tollgate: Tollgate) -> None:
    kwargs: dict[str, Any] = dict(
        model="gpt-4o-mini", input=[{"role": "user", "content": "What does a meter measure?"}], stream=True
    )
    want = dumps(direct.responses.create(**kwargs))
    mark = tollgate.mark()
    got = dumps(proxied.responses.create(**kwargs))
    assert got == want
    assert got[-1]["type"] == "response.completed"

    event = tollgate.one_new_event(mark)
    final = want[-1]["response"]
    check_event(event, model="gpt-4o-mini", served_model=final["model"], stream=True, route="openai.responses")
    assert event_classes(event) == usage_classes(final["usage"], "responses")


def test_models_list(direct: openai.OpenAI, proxied: openai.OpenAI) -> None:
    assert dumps(proxied.models.list()) == dumps(direct.models.list())

