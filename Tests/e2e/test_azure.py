"""Azure OpenAI through Tollgate with the official `openai` SDK's AzureOpenAI client: deployment paths and the
api-key header, the provider key in place of the virtual key, the recorded Azure body metered exactly, and the
usage opt-in added only for api-versions that accept it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import httpx
import openai
import pytest

from conftest import PROVIDER_KEY, Simulator, Tollgate, event_classes, running_tollgate
from stub_upstream import StubUpstream

pytestmark = pytest.mark.proxy

CASE = Path(__file__).resolve().parents[1] / "TollgateCoreTests" / "Fixtures" / "recorded" / "azure-chat-json-basic"
CHUNK = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06",'
CONTENT = CHUNK + b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n'
FINISH = CHUNK + b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
USAGE = CHUNK + b'"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}\n\n'
DONE = b"data: [DONE]\n\n"
# What Azure streams with include_usage (the usage chunk) and without it.
STREAM_WITH_USAGE = CONTENT + FINISH + USAGE + DONE
STREAM_WITHOUT_USAGE = CONTENT + FINISH + DONE


@pytest.fixture(scope="module")
def stub() -> Iterable[StubUpstream]:
    server = StubUpstream()
    yield server
    server.close()


@pytest.fixture(scope="module")
def azure(sim: Simulator, stub: StubUpstream, log_dir: Path) -> Iterable[Tollgate]:
    entry = (
        f'  azure: {{base_url: "{stub.origin}", api_key: "{PROVIDER_KEY}", '
        "deployments: {prod-4o: gpt-4o-2024-08-06}}\n"
    )
    with running_tollgate(sim.origin, log_dir / "tollgate-azure", entry, "cust-azure") as proxy:
        yield proxy


def client(proxy: Tollgate, api_version: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=proxy.origin + "/azure", api_key=proxy.key, api_version=api_version, max_retries=0
    )


def test_recorded_azure_body_through_the_sdk(azure: Tollgate, stub: StubUpstream) -> None:
    case = json.loads((CASE / "case.json").read_text())
    stub.reply = (200, "application/json", (CASE / "response.body").read_bytes())
    mark = azure.mark()
    answer = client(azure, "2024-10-21").chat.completions.create(
        model="gpt-5-nano", messages=[{"role": "user", "content": "Hello!"}]
    )
    assert answer.usage.completion_tokens == case["expected"]["output_tokens"]
    forwarded = stub.received[-1]
    assert forwarded["path"] == "/openai/deployments/gpt-5-nano/chat/completions?api-version=2024-10-21"
    headers = stub.last_headers()
    assert headers["api-key"] == PROVIDER_KEY
    assert azure.key not in json.dumps(forwarded["headers"])
    event = azure.one_new_event(mark)
    assert event["provider"] == "azure"
    assert event["served_model"] == case["expected"]["model"]
    assert event_classes(event) == {name: case["expected"][name] for name in event_classes(event)}


@pytest.mark.parametrize(("api_version", "injected"), [("2024-10-21", True), ("2024-06-01", False)])
def test_usage_opt_in_only_for_versions_that_accept_it(
    azure: Tollgate, stub: StubUpstream, api_version: str, injected: bool
) -> None:
    stub.reply = (200, "text/event-stream", STREAM_WITH_USAGE if injected else STREAM_WITHOUT_USAGE)
    mark = azure.mark()
    chunks = list(
        client(azure, api_version).chat.completions.create(
            model="prod-4o", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi"
    assert all(chunk.usage is None for chunk in chunks), "the client did not ask for usage and gets none"
    sent = json.loads(stub.received[-1]["body"])
    assert ("stream_options" in sent) is injected
    event = azure.one_new_event(mark)
    assert event["model"] == "gpt-4o-2024-08-06", "the deployment decides the model"
    if injected:
        assert (event["input_tokens"], event["output_tokens"], event["estimated"]) == (9, 2, False)
    else:
        assert event["estimated"], "without usage from Azure the event is an estimate, and says so"


def test_deployment_without_model_in_body_is_priced_as_its_model(azure: Tollgate, stub: StubUpstream) -> None:
    stub.reply = (200, "application/json", (CASE / "response.body").read_bytes())
    mark = azure.mark()
    response = httpx.post(
        azure.origin + "/azure/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21",
        headers={"api-key": azure.key},
        json={"messages": [{"role": "user", "content": "Hello!"}]},
    )
    assert response.status_code == 200
    event = azure.one_new_event(mark)
    assert event["model"] == "gpt-4o-2024-08-06"
    assert event["cost"] not in (None, "0", "0.000000000000000")


def test_bad_virtual_key_is_an_openai_shaped_401(azure: Tollgate) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.AzureOpenAI(
            azure_endpoint=azure.origin + "/azure", api_key="tg_wrong", api_version="2024-10-21", max_retries=0
        ).chat.completions.create(model="prod-4o", messages=[{"role": "user", "content": "Hi"}])
