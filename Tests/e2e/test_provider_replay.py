"""Every recorded and hand-made response of the providers the simulator does not speak (Bedrock InvokeModel,
Cohere, Ollama, Groq, Mistral, DeepSeek, Cerebras, xAI, OpenRouter, Hugging Face, Azure), replayed by a stub upstream
behind Tollgate under each provider's own prefix: the client gets the provider's bytes, the provider gets the
provider key and never the virtual key, and the event has the served model and token classes the case expects.
Then the official `cohere` and `ollama` Python clients, plain and streaming, through Tollgate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import cohere
import ollama
import pytest

from conftest import PROVIDER_KEY, RETIRED_MODELS_PRICED, Simulator, Tollgate, event_classes, raw_post, running_tollgate
from stub_upstream import StubUpstream

pytestmark = pytest.mark.proxy

FIXTURES = Path(__file__).resolve().parents[1] / "TollgateCoreTests" / "Fixtures"
PROVIDERS = ["azure", "bedrock", "cerebras", "cohere", "deepseek", "groq", "huggingface", "mistral", "ollama", "openrouter", "xai"]


def load_cases() -> dict[str, tuple[dict, bytes]]:
    cases = {}
    for folder in sorted([*FIXTURES.joinpath("recorded").iterdir(), *FIXTURES.joinpath("handmade").iterdir()]):
        case_file = folder / "case.json"
        if not case_file.exists():
            continue
        case = json.loads(case_file.read_text())
        if case["provider"] in PROVIDERS:
            cases[case["id"]] = (case, (folder / case["response"]["body_file"]).read_bytes())
    return cases


CASES = load_cases()


@pytest.fixture(scope="module")
def stub() -> Iterable[StubUpstream]:
    server = StubUpstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def proxy(sim: Simulator, stub: StubUpstream, log_dir: Path) -> Iterable[Tollgate]:
    entries = "".join(f'  {name}: {{base_url: "{stub.origin}", api_key: "{PROVIDER_KEY}"}}\n' for name in PROVIDERS)
    with running_tollgate(sim.origin, log_dir / "tollgate-replay", entries + RETIRED_MODELS_PRICED, "cust-replay") as tollgate:
        yield tollgate


def test_every_provider_has_cases() -> None:
    assert {case["provider"] for case, _ in CASES.values()} == set(PROVIDERS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_replayed_under_the_provider_prefix(proxy: Tollgate, stub: StubUpstream, name: str) -> None:
    case, body = CASES[name]
    stub.reply = (case["response"]["status"], case["response"]["content_type"], body)
    stub.chunk = 11
    mark = proxy.mark()
    sent = json.dumps(case["request"]["body"]).encode()
    response = raw_post(proxy.origin + "/" + case["provider"] + case["request"]["path"], sent, proxy.key)
    assert response.status == case["response"]["status"]
    forwarded = stub.received[-1]
    assert forwarded["path"] == case["request"]["path"]
    assert proxy.key not in json.dumps(forwarded["headers"]), "the virtual key reached the provider"
    if case["provider"] == "ollama":
        assert "authorization" not in {name.lower() for name in forwarded["headers"]}, "a local server gets no key"
    else:
        assert PROVIDER_KEY in json.dumps(forwarded["headers"]), "the provider key was not sent"
    if forwarded["body"] == sent:
        # Nothing was asked of the provider on the client's behalf: the client gets its bytes exactly.
        assert response.decoded() == body
    event = proxy.one_new_event(mark)
    expected = case["expected"]
    assert event["provider"] == case["provider"]
    assert event["route"] == case["api"]
    assert event["stream"] is case["stream"]
    assert event["served_model"] == expected["model"]
    assert event_classes(event) == {key: expected[key] for key in event_classes(event)}
    assert not event["estimated"]


def cohere_client(proxy: Tollgate) -> cohere.ClientV2:
    return cohere.ClientV2(api_key=proxy.key, base_url=proxy.origin + "/cohere")


def test_cohere_sdk_plain_and_streaming(proxy: Tollgate, stub: StubUpstream) -> None:
    case, body = CASES["cohere-chat-json-basic"]
    stub.reply = (200, "application/json", body)
    mark = proxy.mark()
    answer = cohere_client(proxy).chat(model="command-r7b-12-2024", messages=[{"role": "user", "content": "Hi"}])
    assert answer.usage.billed_units.output_tokens == case["expected"]["output_tokens"]
    assert stub.last_headers()["authorization"] == f"Bearer {PROVIDER_KEY}"
    event = proxy.one_new_event(mark)
    assert (event["input_tokens"], event["output_tokens"]) == (case["expected"]["input_tokens"], case["expected"]["output_tokens"])

    case, body = CASES["cohere-chat-stream-basic"]
    stub.reply = (200, "text/event-stream", body)
    mark = proxy.mark()
    events = list(cohere_client(proxy).chat_stream(model="command-a-03-2025", messages=[{"role": "user", "content": "Hi"}]))
    end = [item for item in events if item.type == "message-end"]
    assert end and end[-1].delta.usage.billed_units.output_tokens == case["expected"]["output_tokens"]
    event = proxy.one_new_event(mark)
    assert event["stream"] is True
    assert event["output_tokens"] == case["expected"]["output_tokens"]


def test_cohere_sdk_bad_key_is_cohere_shaped(proxy: Tollgate) -> None:
    with pytest.raises(cohere.errors.UnauthorizedError):
        cohere.ClientV2(api_key="tg_wrong", base_url=proxy.origin + "/cohere").chat(
            model="command-a-03-2025", messages=[{"role": "user", "content": "Hi"}]
        )


def ollama_client(proxy: Tollgate, key: str | None = None) -> ollama.Client:
    return ollama.Client(host=proxy.origin + "/ollama", headers={"Authorization": f"Bearer {key or proxy.key}"})


def test_ollama_sdk_plain_and_streaming(proxy: Tollgate, stub: StubUpstream) -> None:
    case, body = CASES["ollama-chat-json-basic"]
    stub.reply = (200, "application/json", body)
    mark = proxy.mark()
    answer = ollama_client(proxy).chat(model="llama3.2", messages=[{"role": "user", "content": "Hi"}], stream=False)
    assert answer.eval_count == case["expected"]["output_tokens"]
    event = proxy.one_new_event(mark)
    assert event["output_tokens"] == case["expected"]["output_tokens"]

    case, body = CASES["ollama-chat-ndjson-stream"]
    stub.reply = (200, "application/x-ndjson", body)
    stub.chunk = 5
    mark = proxy.mark()
    parts = list(ollama_client(proxy).chat(model="llama3.2", messages=[{"role": "user", "content": "Hi"}], stream=True))
    assert parts[-1].done and parts[-1].eval_count == case["expected"]["output_tokens"]
    event = proxy.one_new_event(mark)
    assert event["stream"] is True
    assert (event["input_tokens"], event["output_tokens"]) == (case["expected"]["input_tokens"], case["expected"]["output_tokens"])


def test_ollama_sdk_bad_key_raises(proxy: Tollgate) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        ollama_client(proxy, "tg_wrong").chat(model="llama3.2", messages=[{"role": "user", "content": "Hi"}], stream=False)
    assert raised.value.status_code == 401
    assert "unknown or revoked" in raised.value.error
