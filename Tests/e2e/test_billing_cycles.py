"""Billing cycles that follow the customer: a customer anchored on the 15th in America/New_York (set with the CLI), one
whose price book bills weekly from Monday in Paris, and one on the default (calendar months, UTC). Requests go through
the proxy; their events are then moved (in the meter file) to the edges of the New York period across the end of
daylight-saving time, 2026-10-15 00:00 EDT to 2026-11-15 00:00 EST. Statements, rated lines, reports and the customer
view must cover exactly the customer's own period, with totals equal to the sum of its events in that window. Last, a
tiered plan paid with credits is trued up at the close."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import MESSAGES, meter_sql, start_tollgate, stop_process

pytestmark = pytest.mark.proxy

WEEKLY = """\
name: weekly
currency: USD
billing_cycle: {cadence: week, anchor: monday, time_zone: Europe/Paris}
markup: "1.2"
"""

PRICING = """\
pricing:
  price_books: books
  customers:
    weekly-e2e: {price_book: weekly}
"""

# Where each New York event is moved: (label, UTC time in ms, inside the 2026-10 period?)
NYC_TIMES = [
    ("before", 1_792_036_799_999, False),  # 2026-10-14 23:59:59.999 EDT
    ("first", 1_792_036_800_000, True),  # 2026-10-15 00:00 EDT = 04:00 UTC
    ("fall-back", 1_793_511_000_000, True),  # 2026-11-01 01:30 EDT, just before the clocks go back
    ("last", 1_794_718_799_999, True),  # 2026-11-14 23:59:59.999 EST
    ("after", 1_794_718_800_000, False),  # 2026-11-15 00:00 EST = 05:00 UTC
]
UTC_TIMES = [1_790_812_800_000, 1_793_491_199_999, 1_793_491_200_000]  # 2026-10-01 00:00, 10-31 23:59:59.999, 11-01 00:00 UTC


@pytest.fixture(scope="module")
def cycles(sim, tmp_path_factory):
    directory: Path = tmp_path_factory.mktemp("cycles")
    (directory / "books").mkdir()
    (directory / "books" / "weekly.yaml").write_text(WEEKLY)
    proxy = start_tollgate(sim.origin, directory, extra_config=PRICING)
    try:
        moved = {}
        for customer, times in (("nyc-e2e", [t for _, t, _ in NYC_TIMES]), ("utc-e2e", UTC_TIMES), ("weekly-e2e", [])):
            client = proxy.client(proxy.create_key(customer))
            mark = proxy.mark()
            for _ in range(max(1, len(times))):
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
            events = sorted(proxy.new_events(mark, count=max(1, len(times))), key=lambda e: e["id"])
            moved[customer] = list(zip(events, times))
        for pairs in moved.values():
            for event, ts in pairs:
                meter_sql(directory, "UPDATE events SET ts_ms = ? WHERE id = ?", (ts, event["id"]))
        proxy.cli("report", "rebuild")
        proxy.moved = moved
        yield proxy
    finally:
        stop_process(proxy.proc)


def json_of(proxy, *args: str) -> dict:
    return json.loads(proxy.cli(*args, "--format", "json").stdout)


def test_the_cli_sets_a_customers_cycle_and_shows_where_each_comes_from(cycles) -> None:
    out = cycles.cli("customers", "set", "--customer", "nyc-e2e", "--cycle", "month", "--anchor", "15",
                     "--time-zone", "America/New_York").stdout
    assert "monthly from the 15th at 00:00 America/New_York (customer)" in out
    nyc = json_of(cycles, "customers", "show", "--customer", "nyc-e2e")["billing_cycle"]
    assert (nyc["cadence"], nyc["anchor"], nyc["time"], nyc["time_zone"], nyc["source"]) == (
        "month", "15", "00:00", "America/New_York", "customer")
    assert nyc["current_period"]["name"].endswith("-15")
    weekly = json_of(cycles, "customers", "show", "--customer", "weekly-e2e")["billing_cycle"]
    assert weekly["source"] == "price book weekly" and weekly["description"] == "weekly from Monday at 00:00 Europe/Paris"
    default = json_of(cycles, "customers", "show", "--customer", "utc-e2e")["billing_cycle"]
    assert default["source"] == "default" and default["current_period"]["name"].endswith("-01")

    refused = cycles.cli("customers", "set", "--customer", "nyc-e2e", "--cycle", "month", "--anchor", "40", check=False)
    assert refused.returncode != 0 and "1 to 31" in refused.stderr
    refused = cycles.cli("customers", "set", "--customer", "nyc-e2e", "--cycle", "month", "--time-zone", "EST", check=False)
    assert refused.returncode != 0 and "unknown time zone 'EST'" in refused.stderr
    refused = cycles.cli("customers", "set", "--customer", "nyc-e2e", "--anchor", "3", check=False)
    assert refused.returncode != 0 and "--cycle" in refused.stderr


def nyc_statement(proxy, *args: str) -> dict:
    proxy.cli("customers", "set", "--customer", "nyc-e2e", "--cycle", "month", "--anchor", "15", "--time-zone", "America/New_York")
    return json_of(proxy, "statement", "--customer", "nyc-e2e", *args)


def test_a_statement_covers_the_15th_to_the_15th_in_new_york_across_daylight_saving_time(cycles) -> None:
    statement = nyc_statement(cycles, "--period", "2026-10")
    assert (statement["period_start"], statement["period_end"]) == ("2026-10-15T04:00:00Z", "2026-11-15T05:00:00Z")
    assert statement["billing_cycle"] == "monthly from the 15th at 00:00 America/New_York"
    inside = [event for (event, ts), (_, _, within) in zip(cycles.moved["nyc-e2e"], NYC_TIMES) if within]
    assert sorted(e["id"] for e in statement["event_details"]) == sorted(e["id"] for e in inside)
    assert Decimal(statement["total"]) == sum(Decimal(e["price"]) for e in inside)
    # A date inside the period names the same period; a calendar month in UTC is another window.
    assert nyc_statement(cycles, "--period", "2026-11-14")["period_start"] == "2026-10-15T04:00:00Z"
    calendar = nyc_statement(cycles, "--period", "2026-10", "--time-zone", "UTC")
    assert (calendar["period_start"], calendar["period_end"]) == ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
    assert calendar["billing_cycle"] is None
    bad = cycles.cli("statement", "--customer", "nyc-e2e", "--period", "2026-13", check=False)
    assert bad.returncode != 0 and "--period" in bad.stderr


def test_rated_lines_rate_each_customer_over_its_own_period(cycles) -> None:
    nyc_statement(cycles, "--period", "2026-10")
    lines = json_of(cycles, "lines", "--period", "2026-10")
    by_customer = {s["customer"]: s for s in lines["statements"]}
    nyc, utc = by_customer["nyc-e2e"], by_customer["utc-e2e"]
    assert (nyc["period_start"], nyc["period_end"]) == ("2026-10-15T04:00:00Z", "2026-11-15T05:00:00Z")
    assert (utc["period_start"], utc["period_end"]) == ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
    assert nyc["events"] == 3 and utc["events"] == 2
    in_october = [event for event, ts in cycles.moved["utc-e2e"] if ts < 1_793_491_200_000]
    assert Decimal(utc["totals"]["USD"]) == sum(Decimal(e["price"]) for e in in_october)
    # Asked for one customer, the same period.
    one = json_of(cycles, "lines", "--period", "2026-10", "--customer", "nyc-e2e")["statements"]
    assert [(s["customer"], s["period_start"]) for s in one] == [("nyc-e2e", "2026-10-15T04:00:00Z")]


def test_a_report_in_a_time_zone_groups_by_local_days(cycles) -> None:
    report = json_of(cycles, "report", "margin", "--by", "customer,day", "--period", "2026-10", "--time-zone", "America/New_York")
    days = {(row["customer"], row["day"]): row["requests"] for row in report["rows"]}
    # New York's October: the 14th 23:59 EDT and the 15th 00:00 EDT fall on their local days; UTC's October 1st 00:00 is
    # September 30 in New York (outside), its October 31 23:59 UTC is October 31 19:59 EDT, its November 1 00:00 UTC is
    # October 31 20:00 EDT.
    assert days == {("nyc-e2e", "2026-10-14"): 1, ("nyc-e2e", "2026-10-15"): 1, ("utc-e2e", "2026-10-31"): 2}
    # One customer's --period is its own period.
    mine = json_of(cycles, "report", "margin", "--by", "customer", "--customer", "nyc-e2e", "--period", "2026-10")
    assert mine["rows"][0]["requests"] == 3


TIERED = """\
name: tiered
currency: USD
markup: "1.30"
charges:
  - name: API calls
    meter: requests
    tiered:
      - {up_to: 2, unit_price: "0.10"}
      - {up_to: 4, unit_price: "0.07"}
      - {unit_price: "0.05"}
"""


def test_a_tiered_plan_with_credits_is_trued_up_at_the_close(sim, tmp_path: Path) -> None:
    """Credits pay each request's provisional price (the first bracket's 0.10 per call); the closed period rates the
    calls on its tiers (0.10, 0.10, 0.07, 0.07, 0.05, 0.05). The true-up credits the difference back: the statement's
    amount due after credits is zero, and the ledger's lines explain the balance."""
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "tiered.yaml").write_text(TIERED)
    proxy = start_tollgate(sim.origin, tmp_path, extra_config="pricing:\n  price_books: books\n  customers:\n    prepaid: {price_book: tiered}\n")
    try:
        client = proxy.client(proxy.create_key("prepaid"))
        proxy.cli("credits", "grant", "--customer", "prepaid", "--amount", "5", "--effective", "2000-01-01")
        mark = proxy.mark()
        for _ in range(6):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
        events = proxy.new_events(mark, count=6)
        # Into the previous calendar month, as if the period had closed.
        now = time.time()
        first_of_month = datetime.fromtimestamp(now, timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        for index, event in enumerate(events):
            meter_sql(tmp_path, "UPDATE events SET ts_ms = ? WHERE id = ?", (int(first_of_month.timestamp() * 1000) - 3_600_000 + index, event["id"]))
        proxy.cli("report", "rebuild")

        before = json.loads(proxy.cli("statement", "--customer", "prepaid", "--period", "previous", "--format", "json").stdout)
        assert Decimal(before["amount_due_after_credits"]) < 0, "credits paid the provisional prices, above the tiers"
        out = proxy.cli("credits", "true-up", "--customer", "prepaid").stdout
        assert "credited back" in out
        after = json.loads(proxy.cli("statement", "--customer", "prepaid", "--period", "previous", "--format", "json").stdout)
        assert Decimal(after["amount_due_after_credits"]) == 0
        credits = after["credits"]
        assert Decimal(credits["applied"]) + Decimal(credits["true_up"]) == Decimal(after["amount_due"])
        ledger = json.loads(proxy.cli("credits", "ledger", "--customer", "prepaid", "--format", "json").stdout)
        [credited] = [line for line in ledger if line["kind"] == "credit_back"]
        assert Decimal(credited["amount"]) == -Decimal(credits["true_up"])
        assert credited["period"] == f"{after['period_start']}/{after['period_end']}"
        spent = sum(Decimal(line["amount"]) for line in ledger if line["kind"] == "spend")
        balance = json.loads(proxy.cli("credits", "balance", "--customer", "prepaid", "--format", "json").stdout)
        assert Decimal(balance["available"]) == Decimal(5) - spent + Decimal(credited["amount"])
        # Once: a second run changes nothing.
        assert "none needed" in proxy.cli("credits", "true-up", "--customer", "prepaid").stdout
    finally:
        stop_process(proxy.proc)
