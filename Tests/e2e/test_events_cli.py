"""The `tollgate events` export itself."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import MESSAGES, Tollgate, meter_sql, raw_post, start_tollgate, stop_process

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


def test_meter_prune_drops_old_months_and_keeps_their_report(sim, tmp_path: Path) -> None:
    # Two events moved five months back (and the rollups rebuilt from them), one of this month: pruning everything
    # before four months ago deletes the old two (a partition dropped on PostgreSQL), keeps the month's report, and
    # refuses to touch the last three months.
    proxy = start_tollgate(sim.origin, tmp_path)
    try:
        proxy.key = proxy.create_key("prune-co")
        for _ in range(3):
            proxy.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        events = proxy.events()
        assert len(events) == 3
        now = datetime.now(timezone.utc)
        def months_back(count: int) -> datetime:
            index = now.year * 12 + now.month - 1 - count
            return datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)
        old, cutoff, recent = months_back(5), months_back(4), months_back(1)
        for index, event in enumerate(events[:2]):
            meter_sql(tmp_path, "UPDATE events SET ts_ms = ? WHERE id = ?", (int(old.timestamp() * 1000) + 3_600_000 + index, event["id"]))
        proxy.cli("report", "rebuild")
        period = old.strftime("%Y-%m")
        def old_month_report() -> dict:
            return json.loads(proxy.cli("report", "margin", "--period", period, "--format", "json").stdout)["totals"]
        before = old_month_report()
        assert before["requests"] == 2

        dry_run = proxy.cli("meter", "prune", "--before", cutoff.strftime("%Y-%m")).stdout
        assert f"{period}: 2 events" in dry_run and "would delete 2 events" in dry_run
        assert len(proxy.events()) == 3
        refused = proxy.cli("meter", "prune", "--before", recent.strftime("%Y-%m"), "--yes", check=False)
        assert refused.returncode != 0 and "are kept" in refused.stderr

        deleted = proxy.cli("meter", "prune", "--before", cutoff.strftime("%Y-%m"), "--yes").stdout
        assert "deleted 2 events" in deleted
        assert [event["id"] for event in proxy.events()] == [events[2]["id"]]
        assert old_month_report() == before
        proxy.cli("report", "rebuild")
        assert old_month_report() == before
        assert f"events before {cutoff.strftime('%Y-%m')}" in proxy.cli("meter", "info").stdout
        # The proxy goes on metering.
        proxy.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert len(proxy.events()) == 2
    finally:
        stop_process(proxy.proc)
