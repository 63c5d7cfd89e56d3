"""The soak test's smoke run (issue 16, part 7): a few hundred mixed requests through `bench/soak.py`'s harness with a
fixed seed — client disconnects, upstream cuts and slow answers, retries with and without `Idempotency-Key`, a
`kill -9` of the proxy in the middle — and then the meter's invariants: one event per completed inference, no double
charge for a key, the ledger explains the balance, no reservation left, events written once.

The full run (thousands of requests) is `bench/soak.py`; its figures are in bench/README.md ("Soak").
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, TOLLGATE_BIN, QuietHandler, serve_in_background

sys.path.insert(0, str(REPO_ROOT / "bench"))
import soak  # noqa: E402  (bench/ is not a package)

pytestmark = pytest.mark.proxy

OPERATIONS = 250
SEED = 7


def test_soak_smoke_invariants_hold(tmp_path: Path) -> None:
    if not TOLLGATE_BIN.exists():
        pytest.fail(f"tollgate binary not found at {TOLLGATE_BIN}", pytrace=False)
    report = soak.run(OPERATIONS, SEED, workers=4, binary=TOLLGATE_BIN, directory=tmp_path, kill_at=0.5, drain_s=5.0,
                      wait_s=2.0, slow_scale=0.5, quiet=True, keep_state=True)
    state = report.pop("state")
    summary = {k: v for k, v in report.items() if k != "violations"}
    checker_catches_tampering(state)
    assert not report["violations"], (
        "soak invariants violated:\n" + json.dumps(report["violations"], indent=1) + "\nreport:\n" + json.dumps(summary, indent=1))
    # The run exercised what it is meant to: the kill and restart, replays, upstream faults, client disconnects.
    assert report["kills"] == 1 and report["final_stop_exit"] == 0
    assert report["replay_events"] > 0 and report["retries_with_key"] > 0 and report["retries_without_key"] > 0
    assert {"cut", "slow", "e500"} <= set(report["upstream_by_behaviour"])
    assert report["requests_by_outcome"].get("abandoned", 0) > 0
    assert report["ops_completed"] > OPERATIONS * 0.8


def checker_catches_tampering(state: tuple) -> None:
    """The checks are not vacuous: a meter with a charged answer written twice, a hold released without a ledger line
    and a reservation left open fails invariants 1, 2, 3 and 4."""
    proxy, stub, clients, kill_times = state
    db = sqlite3.connect(proxy.db_path)
    db.row_factory = sqlite3.Row
    calls = {c.request_id: c for c in stub.calls}
    charged = [dict(r) for r in db.execute(
        "SELECT * FROM events WHERE customer_id = ? AND idempotency_key IS NOT NULL AND replay_of IS NULL AND status = 200 "
        "AND request_id IS NOT NULL AND CAST(price AS REAL) > 0", [soak.CREDIT_CUSTOMER])]
    event = next(e for e in charged
                 if calls[e["request_id"]].behaviour in soak.COMPLETE_BEHAVIOURS and calls[e["request_id"]].wrote_all)
    copy = {**event, "id": "evt_tampered", "end_user": "tampered"}  # the same answer charged a second time
    db.execute(f"INSERT INTO events ({', '.join(copy)}) VALUES ({', '.join('?' * len(copy))})", list(copy.values()))
    db.execute("DELETE FROM ledger WHERE seq = (SELECT MAX(seq) FROM ledger WHERE kind = 'release')")
    db.execute("INSERT INTO reservations (id, account, customer_id, key_id, amount, tokens, limits, instance, created_ms) "
               "VALUES ('rsv_tampered', NULL, ?, 'key_x', '0', 0, '[]', 'ins_gone', 0)", [soak.PLAIN_CUSTOMER])
    db.commit()
    db.close()
    violations, _ = soak.check(proxy.db_path, proxy, stub, clients, kill_times)
    for invariant in ("1 one event per completed inference", "2 no double charge", "3 ledger explains balance",
                      "4 no reservation left"):
        assert violations.count(invariant), f"the check of '{invariant}' missed the tampering: {dict(violations.items)}"


# --- found by the soak: a cut-short answer kept for replay ----------------------------------------------------------

import socket  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import httpx  # noqa: E402

from conftest import start_tollgate, stop_process  # noqa: E402


class EarlyEndUpstream:
    """Answer 1 sends a few pieces slowly, then ends *cleanly* before its end (a stream's chunked body terminated
    before the usage chunk and `[DONE]`; a plain body delimited by the connection's close, half a JSON document);
    later answers are complete."""

    def __init__(self) -> None:
        self.count = 0
        upstream = self

        class Handler(QuietHandler):

            def do_POST(self) -> None:  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers["content-length"])))
                upstream.count += 1
                serial = upstream.count
                usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
                if request.get("stream"):
                    base = {"id": f"chatcmpl-{serial}", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024-07-18"}
                    piece = b"data: " + json.dumps({**base, "choices": [{"index": 0, "delta": {"content": "hello " * 40},
                                                                          "finish_reason": None}], "usage": None}).encode() + b"\n\n"
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    pieces = [piece] * 4 if serial == 1 else [
                        piece, b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n", b"data: [DONE]\n\n"]
                    for index, data in enumerate(pieces):
                        if serial == 1 and index:
                            time.sleep(0.4)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                payload = json.dumps({
                    "id": f"chatcmpl-{serial}", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello " * 40}, "finish_reason": "stop"}],
                    "usage": usage}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                if serial > 1:
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_header("connection", "close")
                self.end_headers()
                for index in range(4):
                    self.wfile.write(payload[index * 10:(index + 1) * 10])
                    self.wfile.flush()
                    time.sleep(0.4)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        self.server, self.origin = serve_in_background(Handler)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_answer_cut_short_after_the_client_left_is_not_replayed(stream: bool, tmp_path: Path) -> None:
    upstream = EarlyEndUpstream()
    proxy = start_tollgate(upstream.origin, tmp_path, extra_config="proxy: {disconnect_drain_s: 10}\n")
    try:
        proxy.key = proxy.create_key("cust-soak-early-end")
        body: dict = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        headers = {"Authorization": f"Bearer {proxy.key}", "Idempotency-Key": f"early-{uuid.uuid4()}", "Accept-Encoding": "identity"}
        mark = proxy.mark()
        with httpx.Client(timeout=10) as client:
            with client.stream("POST", proxy.base_url + "/chat/completions", json=body, headers=headers) as response:
                assert response.status_code == 200
                next(response.iter_raw())  # the client leaves after the first piece
        first = proxy.one_new_event(mark, timeout=15)
        assert first["estimated"], "the first answer was cut short (billed by estimate)"
        retry = httpx.post(proxy.base_url + "/chat/completions", json=body, headers=headers, timeout=10)
        assert retry.status_code == 200
        assert retry.headers.get("idempotent-replayed") is None, (
            f"a cut-short answer was replayed ({len(retry.content)} bytes: {retry.content[-80:]!r})")
        assert upstream.count == 2, "the key is free after a cut-short answer: the retry runs again"
    finally:
        stop_process(proxy.proc)
        upstream.server.shutdown()
