"""`tollgate report margin` against the events underneath: traffic for three customers and three models through the
proxy (plain and streamed, with and without a feature, one failed request), then every group-by, every format and
the time filters must give exactly the sums over `tollgate events` (decimal sums, to the last digit)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Iterable

import openai
import pytest

from conftest import MESSAGES, TOKEN_CLASSES, Tollgate, start_tollgate, stop_process

pytestmark = pytest.mark.proxy

# Revenue differs from cost: a markup and a per-request fee for most, a cheaper book for one customer.
STANDARD = """\
name: standard
currency: USD
markup: "1.37"
per_request: "0.000123456789"
"""

FRIENDLY = """\
name: friendly
currency: USD
markup: "0.9"
"""

PRICING = """\
pricing:
  price_books: books
  default_price_book: standard
  customers:
    cust-gamma:
      price_book: friendly
"""

CUSTOMERS = ("cust-alpha", "cust-beta", "cust-gamma")
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")
MEASURES = ("requests", "errors", *TOKEN_CLASSES, "revenue", "cost", "margin", "margin_pct", "currency", "cost_currency")


class Traffic:
    """The proxy after the traffic, and the events it recorded."""

    def __init__(self, proxy: Tollgate, events: list[dict]) -> None:
        self.proxy = proxy
        self.events = events

    def report(self, *args: str) -> dict:
        """`tollgate report margin ARGS --format json`, parsed."""
        return json.loads(self.proxy.cli("report", "margin", *args, "--format", "json").stdout)


@pytest.fixture(scope="module")
def traffic(sim, tmp_path_factory: pytest.TempPathFactory) -> Iterable[Traffic]:
    directory = tmp_path_factory.mktemp("report")
    books = directory / "books"
    books.mkdir()
    (books / "standard.yaml").write_text(STANDARD)
    (books / "friendly.yaml").write_text(FRIENDLY)
    proxy = start_tollgate(sim.origin, directory, extra_config=PRICING)
    try:
        expected = 0
        for number, customer in enumerate(CUSTOMERS):
            client = proxy.client(proxy.create_key(customer))
            for index, model in enumerate(MODELS[: 2 + number % 2]):  # two or three models each
                feature = {"x-tollgate-feature": "search" if index % 2 == 0 else "chat"}
                headers = {"x-sim-cached-tokens": "3"} if index == 1 else {}
                client.chat.completions.create(model=model, messages=MESSAGES, extra_headers=headers)
                client.chat.completions.create(model=model, messages=MESSAGES, extra_headers=feature)
                for _ in client.chat.completions.create(model=model, messages=MESSAGES, stream=True, extra_headers=feature):
                    pass
                for _ in client.chat.completions.create(
                    model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
                ):
                    pass
                expected += 4
        with pytest.raises(openai.InternalServerError):
            proxy.client(proxy.create_key("cust-beta")).chat.completions.create(
                model="gpt-4o", messages=MESSAGES, extra_headers={"x-sim-error": "500", "x-tollgate-feature": "chat"}
            )
        expected += 1
        events = proxy.new_events(set(), count=expected)
        assert len(events) == expected
        yield Traffic(proxy, events)
    finally:
        stop_process(proxy.proc)


# --- the sums over the events ------------------------------------------------------------------------------------


def milliseconds(timestamp: str) -> int:
    """An event's `timestamp` (ISO 8601, UTC) in milliseconds."""
    parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return round(parsed.timestamp() * 1000)


def group_value(event: dict, dimension: str) -> str:
    """The value an event has for a report dimension, as the docs define it."""
    if dimension == "model":
        return event["model"] or event["served_model"] or ""
    if dimension == "key":
        return event["key_id"]
    if dimension == "day":
        return event["timestamp"][:10]
    if dimension == "month":
        return event["timestamp"][:7]
    if dimension == "hour":
        return event["timestamp"][:13] + ":00:00Z"
    return event[dimension] or ""


def margin_pct(margin: Decimal, revenue: Decimal) -> Decimal | None:
    """Margin as a percentage of revenue, two decimals, half to even; None without revenue."""
    if revenue == 0:
        return None
    with localcontext() as context:
        context.prec = 80
        return (margin * 100 / revenue).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def figures(events: list[dict]) -> dict[str, Any]:
    """The report's figures for a set of events, summed one event at a time."""
    with localcontext() as context:
        context.prec = 80
        revenue = sum((Decimal(event["price"]) for event in events), Decimal(0))
        cost = sum((Decimal(event["cost"]) for event in events), Decimal(0))
    sums: dict[str, Any] = {
        "requests": len(events),
        "errors": sum(1 for event in events if event["status"] >= 400),
        **{name: sum(event[name] for event in events) for name in TOKEN_CLASSES},
        "revenue": revenue,
        "cost": cost,
        "margin": revenue - cost,
        "margin_pct": margin_pct(revenue - cost, revenue),
    }
    return sums


def plain(amount: Decimal) -> str:
    """An amount as the report prints it: plain decimal digits, no trailing zeros."""
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def expected_groups(events: list[dict], by: list[str]) -> dict[tuple, dict[str, Any]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for event in events:
        groups[tuple(group_value(event, dimension) for dimension in by)].append(event)
    return {key: figures(members) for key, members in groups.items()}


def reported(row: dict) -> dict[str, Any]:
    """A JSON row's figures, money as Decimal (exact: parsed from the decimal strings)."""
    for name in ("revenue", "cost", "margin"):
        assert isinstance(row[name], str), f"{name} is not a decimal string: {row!r}"
    return {
        "requests": row["requests"],
        "errors": row["errors"],
        **{name: row[name] for name in TOKEN_CLASSES},
        "revenue": Decimal(row["revenue"]),
        "cost": Decimal(row["cost"]),
        "margin": Decimal(row["margin"]),
        "margin_pct": None if row["margin_pct"] is None else Decimal(row["margin_pct"]),
    }


def check_report(report: dict, events: list[dict], by: list[str]) -> None:
    """Rows and totals equal the sums over `events`, group by group."""
    assert report["by"] == by
    want = expected_groups(events, by)
    got = {tuple(row[dimension] for dimension in by): reported(row) for row in report["rows"]}
    assert len(got) == len(report["rows"]), "a group appears twice"
    assert got == want
    for row in report["rows"]:
        assert set(MEASURES) | set(by) == set(row), f"unexpected fields: {sorted(row)}"
        assert (row["currency"], row["cost_currency"]) == ("USD", "USD")
        if row["margin_pct"] is not None:
            assert len(row["margin_pct"].split(".")[1]) == 2
    assert reported(report["totals"]) == figures(events)
    assert len(report["totals_by_currency"]) == 1
    # Rows come sorted by their group values.
    keys = [tuple(row[dimension] for dimension in by) for row in report["rows"]]
    assert keys == sorted(keys)


# --- tests -------------------------------------------------------------------------------------------------------


def test_traffic_is_what_the_report_needs(traffic: Traffic) -> None:
    events = traffic.events
    assert {event["customer"] for event in events} == set(CUSTOMERS)
    assert {event["model"] for event in events} == set(MODELS)
    assert {event["feature"] for event in events} == {None, "search", "chat"}
    assert {event["stream"] for event in events} == {True, False}
    assert [event["status"] for event in events if event["status"] != 200] == [500]
    assert all(Decimal(event["price"]) != Decimal(event["cost"]) for event in events if event["status"] == 200)
    assert sum(event["cache_read_tokens"] for event in events) > 0


@pytest.mark.parametrize(
    "by", [["customer"], ["model"], ["customer", "model"], ["feature"], ["day"], ["provider", "key"], ["month", "feature", "customer"]]
)
def test_margin_equals_the_sums_over_the_events(traffic: Traffic, by: list[str]) -> None:
    check_report(traffic.report("--by", ",".join(by)), traffic.events, by)


def test_hour_groups(traffic: Traffic) -> None:
    check_report(traffic.report("--by", "hour,customer"), traffic.events, ["hour", "customer"])
    check_report(traffic.report("--by", "hour,feature"), traffic.events, ["hour", "feature"])


def test_filters_by_customer_provider_and_model(traffic: Traffic) -> None:
    beta = [event for event in traffic.events if event["customer"] == "cust-beta"]
    check_report(traffic.report("--by", "model", "--customer", "cust-beta"), beta, ["model"])
    mini = [event for event in traffic.events if event["model"] == "gpt-4o-mini"]
    check_report(traffic.report("--by", "customer", "--model", "gpt-4o-mini", "--provider", "openai"), mini, ["customer"])
    empty = traffic.report("--by", "customer", "--provider", "anthropic")
    assert empty["rows"] == []
    assert empty["totals"]["requests"] == 0 and Decimal(empty["totals"]["revenue"]) == 0


def test_from_and_to(traffic: Traffic) -> None:
    times = sorted(milliseconds(event["timestamp"]) for event in traffic.events)
    # Boundaries half-way between two events (never on one, so the events' printed times cannot be ambiguous).
    cuts = [(a + b) // 2 for a, b in zip(times, times[1:]) if b - a >= 2]
    assert len(cuts) >= 3, "events too close together to cut the range"
    low, high = cuts[len(cuts) // 4], cuts[3 * len(cuts) // 4]

    def iso(ms: int) -> str:
        # As the server prints a time: milliseconds only when there are some.
        seconds = datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return seconds + (f".{ms % 1000:03d}Z" if ms % 1000 else "Z")

    def within(start: int | None, end: int | None) -> list[dict]:
        return [
            event
            for event in traffic.events
            if (start is None or milliseconds(event["timestamp"]) >= start) and (end is None or milliseconds(event["timestamp"]) < end)
        ]

    for start, end in [(low, high), (low, None), (None, high)]:
        args = [*(["--from", iso(start)] if start else []), *(["--to", iso(end)] if end else [])]
        report = traffic.report("--by", "customer,model", *args)
        check_report(report, within(start, end), ["customer", "model"])
        assert report["from"] == (iso(start) if start else None)
        assert report["to"] == (iso(end) if end else None)
    # Whole days around today: the rollups' days, the same sums.
    day = traffic.events[0]["timestamp"][:10]
    check_report(traffic.report("--by", "customer", "--from", day), within(milliseconds(day + "T00:00:00Z"), None), ["customer"])


def test_period(traffic: Traffic) -> None:
    month = traffic.events[0]["timestamp"][:7]
    check_report(
        traffic.report("--by", "customer", "--period", month),
        [event for event in traffic.events if event["timestamp"].startswith(month)],
        ["customer"],
    )
    empty = traffic.report("--by", "customer", "--period", "2001-02")
    assert empty["rows"] == [] and empty["totals"]["requests"] == 0
    assert (empty["from"], empty["to"]) == ("2001-02-01T00:00:00Z", "2001-03-01T00:00:00Z")


def test_csv(traffic: Traffic) -> None:
    output = traffic.proxy.cli("report", "margin", "--by", "customer,model", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(output)))
    assert rows, output
    header = output.splitlines()[0].split(",")
    assert header == ["customer", "model", *MEASURES]
    *groups, total = rows
    assert total["customer"] == "TOTAL" and total["model"] == ""

    def as_figures(row: dict) -> dict[str, Any]:
        return reported(
            {
                **{name: int(row[name]) for name in ("requests", "errors", *TOKEN_CLASSES)},
                **{name: row[name] for name in ("revenue", "cost", "margin")},
                "margin_pct": row["margin_pct"] or None,
            }
        )

    assert as_figures(total) == figures(traffic.events)
    want = expected_groups(traffic.events, ["customer", "model"])
    assert {(row["customer"], row["model"]): as_figures(row) for row in groups} == want


def test_table(traffic: Traffic) -> None:
    output = traffic.proxy.cli("report", "margin", "--by", "customer").stdout
    lines = output.splitlines()
    assert lines[0].split()[:2] == ["customer", "requests"]
    assert "revenue" in lines[0] and "margin %" in lines[0]
    total = figures(traffic.events)
    assert lines[-1].split()[:2] == ["TOTAL", str(total["requests"])]
    assert plain(total["revenue"]) in lines[-1].split() and plain(total["cost"]) in lines[-1].split()
    for customer in CUSTOMERS:
        assert any(line.startswith(customer) for line in lines)


def test_sort_and_limit(traffic: Traffic) -> None:
    report = traffic.report("--by", "customer", "--sort", "revenue", "--limit", "2")
    revenues = {key[0]: value["revenue"] for key, value in expected_groups(traffic.events, ["customer"]).items()}
    top = sorted(revenues, key=lambda customer: revenues[customer], reverse=True)[:2]
    assert [row["customer"] for row in report["rows"]] == top
    assert reported(report["totals"]) == figures(traffic.events)  # totals cover every row, not just the first two


def test_rebuild_changes_nothing(traffic: Traffic) -> None:
    before = traffic.report("--by", "customer,model,feature,day")
    output = traffic.proxy.cli("report", "rebuild").stdout
    assert f"from {len(traffic.events)} events" in output
    assert traffic.report("--by", "customer,model,feature,day") == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "region"], "cannot group by 'region'"),
        (["--by", "customer,"], None),
        (["--by", ","], "--by needs one or more of"),
        (["--format", "xml"], "--format is table, csv or json"),
        (["--sort", "name"], "--sort is one of"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--period", "2026-13"], "--period: '2026-13' names no month period"),
        (["--period", "2026-11", "--from", "2026-11-02"], "not both"),
        (["--from", "2026-11-02", "--to", "2026-11-01"], "--to must be after --from"),
        (["--from", "yesterday"], "--from expects"),
    ],
)
def test_bad_options_are_refused(traffic: Traffic, args: list[str], message: str | None) -> None:
    result = traffic.proxy.cli("report", "margin", *args, check=False)
    if message is None:  # a trailing comma is fine
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode != 0, result.stdout
    assert message in result.stderr, result.stderr
    for crash in ("Fatal error", "Stack dump", "Current stack trace", "Traceback"):
        assert crash not in result.stderr
    assert result.stdout == ""

