"""The `tollgate events` export itself."""

from __future__ import annotations

import json

import pytest

from conftest import MESSAGES, Tollgate, raw_post

pytestmark = pytest.mark.proxy


def test_jsonl_is_one_object_per_line(tollgate: Tollgate) -> None:
    # A recorded body whose usage is pretty-printed, so an event that copies raw usage would span lines.
    raw_post(tollgate.base_url + "/chat/completions", {"model": "gpt-5-nano", "messages": MESSAGES}, tollgate.key,
             {"x-sim-replay": "openai-chat-json-basic"})
    tollgate.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    lines = [line for line in tollgate.events_output().split("\n") if line.strip()]
    assert lines
    for number, line in enumerate(lines, 1):
        try:
            assert isinstance(json.loads(line), dict)
        except json.JSONDecodeError as error:
            pytest.fail(f"line {number} of `tollgate events --format jsonl` is not a JSON object ({error}): {line[:200]!r}")


def test_event_id_header_and_provider_request_id(tollgate: Tollgate) -> None:
    # The client gets the id of the event its response is metered under; the event keeps the provider's request id,
    # which the OpenAI SDK exposes as `_request_id`: both let a customer match a charge to their own logs.
    mark = tollgate.mark()
    raw = tollgate.client().chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    event_id = raw.headers.get("x-tollgate-event-id")
    completion = raw.parse()
    event = tollgate.one_new_event(mark)
    assert event_id == event["id"]
    assert completion._request_id and completion._request_id.startswith("req_")
    assert event["request_id"] == completion._request_id
    assert "request_id" in tollgate.cli("events", "--format", "csv").stdout.splitlines()[0].split(",")
