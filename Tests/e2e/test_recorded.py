"""Real recorded OpenAI bodies, replayed by the simulator behind the proxy: the client gets them unchanged and
the event has the served model and token classes the recording's `expected` says."""

from __future__ import annotations

import json

import pytest

from conftest import RECORDED_DIR, TOKEN_CLASSES, Tollgate, event_classes, raw_post

pytestmark = pytest.mark.proxy

CASES = sorted(path.name for path in RECORDED_DIR.iterdir() if (path / "case.json").exists())


def reports_no_usage(case: dict) -> bool:
    """A successful response that carries no usage at all (a stream without include_usage)."""
    return case["response"]["status"] == 200 and not any(case["expected"][name] for name in TOKEN_CLASSES)


@pytest.mark.parametrize("name", CASES)
def test_recorded_case(tollgate: Tollgate, name: str) -> None:
    folder = RECORDED_DIR / name
    case = json.loads((folder / "case.json").read_text())
    recorded = (folder / case["response"]["body_file"]).read_bytes()
    expected = case["expected"]

    mark = tollgate.mark()
    response = raw_post(
        tollgate.origin + case["request"]["path"], case["request"]["body"], tollgate.key, {"x-sim-replay": name}
    )
    assert response.status == case["response"]["status"]
    assert response.decoded() == recorded, "the client did not get the recorded body unchanged"

    event = tollgate.one_new_event(mark)
    assert event["status"] == case["response"]["status"]
    assert event["stream"] is case["stream"]
    assert event["served_model"] == expected["model"]
    if reports_no_usage(case) and event["estimated"]:
        # The upstream reported nothing, so an estimate is the best a meter can do; it must say so.
        assert event["output_tokens"] > 0 or event["input_tokens"] > 0
    else:
        assert event_classes(event) == {name: expected[name] for name in TOKEN_CLASSES}
