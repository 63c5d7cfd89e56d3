"""Real recorded provider bodies, replayed by the simulator behind the proxy: the client gets them unchanged and
the event has the served model and token classes the recording's `expected` says.

Each case goes to its own provider: on the native path when the provider has one (OpenAI's /v1/..., Anthropic's
/v1/messages, Gemini's /v1beta/...), and under the provider's prefix (/NAME + the recorded path) for every provider.
The client's key travels where that provider's SDK puts it."""

from __future__ import annotations

import json

import pytest

from conftest import RECORDED_DIR, TOKEN_CLASSES, Tollgate, event_classes, raw_post

pytestmark = pytest.mark.proxy

CASES = sorted(path.name for path in RECORDED_DIR.iterdir() if (path / "case.json").exists())

# Providers whose native paths Tollgate routes without a prefix.
NATIVE = {"openai", "anthropic", "gemini"}


def load(name: str) -> dict:
    """A case's case.json."""
    return json.loads((RECORDED_DIR / name / "case.json").read_text())


def routes() -> list[tuple[str, str]]:
    """(case, prefix) pairs: the native path ("") where the provider has one, and its /NAME prefix always."""
    pairs = []
    for name in CASES:
        provider = load(name)["provider"]
        if provider in NATIVE:
            pairs.append((name, ""))
        pairs.append((name, "/" + provider))
    return pairs


def key_headers(case: dict, key: str) -> dict[str, str]:
    """The recorded request headers, plus the virtual key where the provider's SDK sends its key."""
    headers = dict(case["request"].get("headers") or {})
    provider = case["provider"]
    if provider == "anthropic":
        headers["x-api-key"] = key
        headers.setdefault("anthropic-version", "2023-06-01")
    elif provider == "gemini":
        headers["x-goog-api-key"] = key
    else:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def reports_no_usage(case: dict) -> bool:
    """A successful response that carries no usage at all (a stream without include_usage)."""
    return case["response"]["status"] == 200 and not any(case["expected"][name] for name in TOKEN_CLASSES)


@pytest.mark.parametrize(("name", "prefix"), routes())
def test_recorded_case(tollgate: Tollgate, name: str, prefix: str) -> None:
    folder = RECORDED_DIR / name
    case = load(name)
    recorded = (folder / case["response"]["body_file"]).read_bytes()
    expected = case["expected"]

    mark = tollgate.mark()
    response = raw_post(
        tollgate.origin + prefix + case["request"]["path"], case["request"]["body"], None,
        {**key_headers(case, tollgate.key), "x-sim-replay": name},
    )
    assert response.status == case["response"]["status"]
    assert response.decoded() == recorded, "the client did not get the recorded body unchanged"

    event = tollgate.one_new_event(mark)
    assert event["provider"] == case["provider"]
    assert event["route"] == case["api"]
    assert event["status"] == case["response"]["status"]
    assert event["stream"] is case["stream"]
    assert event["served_model"] == expected["model"]
    if reports_no_usage(case) and event["estimated"]:
        # The upstream reported nothing, so an estimate is the best a meter can do; it must say so.
        assert event["output_tokens"] > 0 or event["input_tokens"] > 0
    else:
        assert event_classes(event) == {name: expected[name] for name in TOKEN_CLASSES}
