"""The soak test's smoke run (issue 16, part 7): a few hundred mixed requests through `bench/soak.py`'s harness with a
fixed seed — client disconnects, upstream cuts and slow answers, retries with and without `Idempotency-Key`, a
`kill -9` of the proxy in the middle — and then the meter's invariants: one event per completed inference, no double
charge for a key, the ledger explains the balance, no reservation left, events written once.

The full run (thousands of requests) is `bench/soak.py`; its figures are in bench/README.md ("Soak").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, TOLLGATE_BIN

sys.path.insert(0, str(REPO_ROOT / "bench"))
import soak  # noqa: E402  (bench/ is not a package)

pytestmark = pytest.mark.proxy

OPERATIONS = 250
SEED = 7


def test_soak_smoke_invariants_hold(tmp_path: Path) -> None:
    if not TOLLGATE_BIN.exists():
        pytest.fail(f"tollgate binary not found at {TOLLGATE_BIN}", pytrace=False)
    report = soak.run(OPERATIONS, SEED, workers=4, binary=TOLLGATE_BIN, directory=tmp_path, kill_at=0.5, drain_s=5.0,
                      wait_s=2.0, slow_scale=0.5, quiet=True)
    summary = {k: v for k, v in report.items() if k != "violations"}
    assert not report["violations"], (
        "soak invariants violated:\n" + json.dumps(report["violations"], indent=1) + "\nreport:\n" + json.dumps(summary, indent=1))
    # The run exercised what it is meant to: the kill and restart, replays, upstream faults, client disconnects.
    assert report["kills"] == 1 and report["final_stop_exit"] == 0
    assert report["replay_events"] > 0 and report["retries_with_key"] > 0 and report["retries_without_key"] > 0
    assert {"cut", "slow", "e500"} <= set(report["upstream_by_behaviour"])
    assert report["requests_by_outcome"].get("abandoned", 0) > 0
    assert report["ops_completed"] > OPERATIONS * 0.8
