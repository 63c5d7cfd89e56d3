"""Rating through the proxy: price books price events, edits apply without a restart (and bad edits are refused),
period lines rate tiered charges on totals, re-rating history under a draft book changes nothing stored."""

from __future__ import annotations

import hashlib
import json
import signal
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import MESSAGES, TOLLGATE_BIN, meter_sql, start_tollgate, stop_process

pytestmark = pytest.mark.proxy

STANDARD = """\
name: standard
currency: USD
markup: "1.30"
per_request: "0.0005"
"""

CALLS = """\
name: calls
currency: USD
charges:
  - name: API calls
    meter: requests
    tiered:
      - {up_to: 2, unit_price: "0.10"}
      - {up_to: 4, unit_price: "0.07"}
      - {unit_price: "0.05"}
"""

PRICING = """\
pricing:
  price_books: books
  default_price_book: standard
  customers:
    acme:
      discounts: [{percent: "10", from: 2020-01-01, until: 2099-01-01}]
    tiered:
      price_book: calls
"""


@pytest.fixture
def priced(sim, tmp_path: Path):
    """A proxy whose customers are priced by the books in `tmp_path/books`."""
    books = tmp_path / "books"
    books.mkdir()
    (books / "standard.yaml").write_text(STANDARD)
    (books / "calls.yaml").write_text(CALLS)
    proxy = start_tollgate(sim.origin, tmp_path, extra_config=PRICING)
    proxy.books = books
    try:
        yield proxy
    finally:
        stop_process(proxy.proc)


def chat(proxy, key: str, count: int = 1) -> None:
    client = proxy.client(key)
    for _ in range(count):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def wait_for(condition, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}", pytrace=False)


def test_price_book_prices_events_exactly(priced) -> None:
    plain, acme = priced.create_key("plain"), priced.create_key("acme")
    mark = priced.mark()
    chat(priced, plain)
    chat(priced, acme)
    events = {event["customer"]: event for event in priced.new_events(mark, count=2)}
    for customer, share in (("plain", Decimal(1)), ("acme", Decimal("0.9"))):
        event = events[customer]
        cost = Decimal(event["cost"])
        assert cost > 0, event
        assert Decimal(event["price"]) == (cost * Decimal("1.30") + Decimal("0.0005")) * share, event
        assert event["price_book"] == "standard", event
        assert event["price_currency"] == "USD"


def test_rate_edit_applies_to_new_requests_within_a_second(priced) -> None:
    key = priced.create_key("plain")
    (priced.books / "standard.yaml").write_text(STANDARD.replace('"1.30"', '"2.00"'))
    wait_for(lambda: "pricing reloaded" in priced.stderr(), timeout=1.5, what="the reload log line")
    mark = priced.mark()
    chat(priced, key)
    event = priced.one_new_event(mark)
    assert Decimal(event["price"]) == Decimal(event["cost"]) * 2 + Decimal("0.0005"), event


def test_invalid_rate_edit_is_refused_and_old_rates_stay(priced) -> None:
    key = priced.create_key("plain")
    broken = STANDARD.replace('"1.30"', '"1.3x"')
    (priced.books / "standard.yaml").write_text(broken)
    wait_for(lambda: "rate change refused" in priced.stderr(), timeout=1.5, what="the refusal log line")
    line = next(line for line in priced.stderr().splitlines() if "rate change refused" in line)
    assert "standard.yaml:3:" in line and "1.3x" in line, line
    # The CLI refuses the broken config too (it says where), so the event is read from the meter itself.
    chat(priced, key)
    db = priced.config_path.parent / "tollgate.db"
    wait_for(lambda: stored_events(db, "plain"), what="the event")
    cost, price = stored_events(db, "plain")[0]
    assert Decimal(price) == Decimal(cost) * Decimal("1.30") + Decimal("0.0005")
    assert priced.proc.poll() is None, "the proxy must keep running"


def stored_events(db: Path, customer: str) -> list[tuple[str, str]]:
    return meter_sql(db.parent, "SELECT cost, price FROM events WHERE customer_id = ?", (customer,))


def test_sighup_reloads(priced) -> None:
    before = priced.stderr().count("pricing reloaded")
    priced.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: priced.stderr().count("pricing reloaded") > before, timeout=2.0, what="a reload after SIGHUP")
    assert "SIGHUP" in priced.stderr()
    assert priced.proc.poll() is None


def test_period_lines_rate_tiers_on_the_total(priced) -> None:
    key = priced.create_key("tiered")
    mark = priced.mark()
    chat(priced, key, count=5)
    events = priced.new_events(mark, count=5)
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    result = priced.cli("lines", "--period", month, "--customer", "tiered", "--format", "json")
    statement = json.loads(result.stdout)["statements"][0]
    charge = next(line for line in statement["lines"] if line["kind"] == "charge")
    # 2 × 0.10 + 2 × 0.07 + 1 × 0.05
    assert Decimal(charge["amount"]) == Decimal("0.39"), charge
    assert [b["quantity"] for b in charge["brackets"]] == [2, 2, 1]
    assert sum(Decimal(b["amount"]) for b in charge["brackets"]) == Decimal(charge["amount"])
    # Events carried a provisional price (first bracket); the usage line keeps none of it.
    assert all(Decimal(event["price"]) == Decimal("0.10") for event in events), events
    usage = [line for line in statement["lines"] if line["kind"] == "usage"]
    assert sum(Decimal(line["amount"]) for line in usage) == 0
    assert Decimal(statement["totals"]["USD"]) == Decimal("0.39")


def table_digest(db: Path) -> str:
    rows = meter_sql(db.parent, "SELECT * FROM events ORDER BY id")
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_rerate_under_a_draft_book_changes_nothing_stored(priced, tmp_path: Path) -> None:
    key = priced.create_key("plain")
    mark = priced.mark()
    chat(priced, key, count=3)
    events = priced.new_events(mark, count=3)
    draft = tmp_path / "draft.yaml"
    draft.write_text('name: draft\ncurrency: USD\nmarkup: "2"\n')
    before = table_digest(tmp_path / "tollgate.db")
    result = priced.cli("rerate", "--price-book", str(draft), "--from", "2020-01-01", "--to", "2099-01-01",
                        "--customer", "plain", "--format", "json")
    assert table_digest(tmp_path / "tollgate.db") == before, "rerate must not change stored events"
    row = json.loads(result.stdout)["customers"][0]
    cost = sum(Decimal(event["cost"]) for event in events)
    charged = sum(Decimal(event["price"]) for event in events)
    assert Decimal(row["cost"]) == cost
    assert Decimal(row["charged"]) == charged
    assert Decimal(row["draft_revenue"]) == cost * 2
    assert Decimal(row["draft_margin"]) == cost
    assert Decimal(row["change"]) == cost * 2 - charged


def test_quote_prices_with_a_breakdown() -> None:
    import subprocess

    result = subprocess.run(
        [str(TOLLGATE_BIN), "quote", "--model", "gpt-4o-2024-08-06", "--input", "1000", "--cache-read", "2000",
         "--output", "500", "--reasoning", "100", "--format", "json"],
        capture_output=True, text=True, timeout=20, check=True,
    )
    quote = json.loads(result.stdout)
    assert quote["priced_as"] == "gpt-4o" and quote["currency"] == "USD"
    lines = {line["class"]: line for line in quote["lines"]}
    assert set(lines) == {"input", "cache_read", "output", "reasoning"}
    assert lines["output"]["quantity"] == 400 and lines["reasoning"]["quantity"] == 100
    assert sum(Decimal(line["amount"]) for line in quote["lines"]) == Decimal(quote["cost"])
    for line in quote["lines"]:
        assert Decimal(line["amount"]) == Decimal(line["rate_per_million"]) * line["quantity"] / 1_000_000
