"""Byte-level transparency: what the client reads off the wire through the proxy is what the upstream sent,
compression included."""

from __future__ import annotations

import json

import pytest

from conftest import DIRECT_KEY, MESSAGES, Simulator, Tollgate, event_classes, raw_post, sse_data, usage_classes

pytestmark = pytest.mark.proxy

GZIP = {"Accept-Encoding": "gzip"}


def test_gzip_json_passes_through_untouched(sim: Simulator, tollgate: Tollgate) -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES}
    want = raw_post(sim.base_url + "/chat/completions", body, DIRECT_KEY, GZIP)
    assert want.headers.get("content-encoding") == "gzip", "the simulator should have compressed this"
    mark = tollgate.mark()
    got = raw_post(tollgate.base_url + "/chat/completions", body, tollgate.key, GZIP)
    assert got.status == want.status == 200
    assert got.headers.get("content-encoding") == want.headers.get("content-encoding")
    assert got.raw == want.raw

    usage = json.loads(want.decoded())["usage"]
    event = tollgate.one_new_event(mark)
    assert event["served_model"] == "gpt-4o-2024-08-06"
    assert event_classes(event) == usage_classes(usage, "chat")


def test_stream_bytes_without_include_usage(sim: Simulator, tollgate: Tollgate) -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}
    want = raw_post(sim.base_url + "/chat/completions", body, DIRECT_KEY, GZIP)
    reference = raw_post(
        sim.base_url + "/chat/completions", {**body, "stream_options": {"include_usage": True}}, DIRECT_KEY, GZIP
    )
    mark = tollgate.mark()
    got = raw_post(tollgate.base_url + "/chat/completions", body, tollgate.key, GZIP)
    assert got.status == want.status == 200
    assert got.headers.get("content-encoding") == want.headers.get("content-encoding") is None
    assert got.raw == want.raw, "stream bytes differ from the upstream's stream without include_usage"
    assert b'"usage"' not in got.raw

    usage = json.loads(sse_data(reference.raw)[-2])["usage"]
    event = tollgate.one_new_event(mark)
    assert event["stream"] is True
    assert event_classes(event) == usage_classes(usage, "chat")
