"""Customer statements: a customer on a tiered price book sends requests through the proxy; `tollgate statement`
shows every bracket of every charge, brackets sum to their line, lines sum to the rated total (the same as `tollgate
lines`), and the events behind the lines are exactly the customer's events."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import MESSAGES, start_tollgate, stop_process

pytestmark = pytest.mark.proxy

CUSTOMER = "tiered-e2e"
FROM, TO = "2000-01-01", "2100-01-01"

# API calls: 1–2 at 0.10, 3–4 at 0.07, then 0.05 (graduated). Tokens: the first 50 (per thousand) at 0.01, then
# 0.005. Usage: provider cost × 1.30.
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
  - name: Tokens (per thousand)
    meter: tokens
    per: 1000
    tiered:
      - {up_to: 50, unit_price: "0.01"}
      - {unit_price: "0.005"}
"""

PRICING = f"""\
pricing:
  price_books: books
  customers:
    {CUSTOMER}:
      price_book: tiered
"""


@pytest.fixture(scope="module")
def billed(sim, tmp_path_factory):
    """A proxy with a customer on the tiered book who made six requests (one streamed, two with idempotency keys)."""
    directory: Path = tmp_path_factory.mktemp("statement")
    books = directory / "books"
    books.mkdir()
    (books / "tiered.yaml").write_text(TIERED)
    proxy = start_tollgate(sim.origin, directory, extra_config=PRICING)
    try:
        client = proxy.client(proxy.create_key(CUSTOMER))
        mark = proxy.mark()
        for index in range(5):
            headers = {"Idempotency-Key": f"order-{index}"} if index < 2 else {}
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES, extra_headers=headers)
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        for _ in stream:
            pass
        proxy.new_events(mark, count=6)
        yield proxy
    finally:
        stop_process(proxy.proc)


def statement(proxy, fmt: str, *extra: str) -> str:
    return proxy.cli("statement", "--customer", CUSTOMER, "--from", FROM, "--to", TO, "--format", fmt, *extra).stdout


def rated_lines(proxy) -> dict:
    result = proxy.cli("lines", "--from", FROM, "--to", TO, "--customer", CUSTOMER, "--format", "json")
    statements = json.loads(result.stdout)["statements"]
    assert len(statements) == 1, statements
    return statements[0]


def customer_events(proxy) -> list[dict]:
    return [event for event in proxy.events() if event["customer"] == CUSTOMER]


def test_csv_shows_each_bracket_and_sums_to_the_rated_total(billed) -> None:
    rows = list(csv.DictReader(io.StringIO(statement(billed, "csv"))))
    lines = [row for row in rows if row["record"] == "line"]
    brackets = [row for row in rows if row["record"] == "bracket"]
    totals = [row for row in rows if row["record"] == "total"]
    assert all(row["customer"] == CUSTOMER for row in rows)

    calls = next(line for line in lines if line["description"] == "API calls")
    assert calls["kind"] == "charge" and calls["quantity"] == "6"
    call_brackets = [row for row in brackets if row["line"] == calls["line"]]
    # 2 × 0.10 + 2 × 0.07 + 2 × 0.05
    assert [(row["from"], row["to"], row["quantity"], Decimal(row["unit_price"])) for row in call_brackets] == [
        ("1", "2", "2", Decimal("0.10")), ("3", "4", "2", Decimal("0.07")), ("5", "", "2", Decimal("0.05"))]
    assert Decimal(calls["amount"]) == Decimal("0.44")

    tokens = next(line for line in lines if line["description"] == "Tokens (per thousand)")
    token_brackets = [row for row in brackets if row["line"] == tokens["line"]]
    assert token_brackets and sum(int(row["quantity"]) for row in token_brackets) == int(tokens["quantity"])
    for row in token_brackets:
        assert Decimal(row["amount"]) == Decimal(row["unit_price"]) * int(row["quantity"]) / int(row["per"]), row

    for line in lines:
        mine = [row for row in brackets if row["line"] == line["line"]]
        if mine:
            assert sum(Decimal(row["amount"]) for row in mine) == Decimal(line["amount"]), line
    assert len(totals) == 1
    assert sum(Decimal(line["amount"]) for line in lines) == Decimal(totals[0]["amount"])
    assert sum(Decimal(line["amount_due"]) for line in lines) == Decimal(totals[0]["amount_due"])

    # The same figures as `tollgate lines`.
    rated = rated_lines(billed)
    assert Decimal(totals[0]["amount"]) == Decimal(rated["totals"]["USD"])
    assert Decimal(totals[0]["amount_due"]) == Decimal(rated["totals_due"]["USD"])
    assert [(line["description"], Decimal(line["amount"])) for line in lines] == [
        (line["description"], Decimal(line["amount"])) for line in rated["lines"]]
    for line, rated_line in zip(lines, rated["lines"]):
        assert [Decimal(row["amount"]) for row in brackets if row["line"] == line["line"]] == [
            Decimal(bracket["amount"]) for bracket in rated_line.get("brackets", [])]


class StatementPage(HTMLParser):
    """The rows of a statement page that carry data: lines, brackets and totals with their cells' data-values."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self.tags: list[str] = []
        self.scripts = 0
        self.external = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            if name in attributes and "://" in (attributes[name] or ""):
                self.external.append(attributes[name])
        if tag == "tr":
            self.rows.append({"class": attributes.get("class"), "attrs": attributes, "values": []})
        elif tag == "td" and self.rows and "data-value" in attributes:
            self.rows[-1]["values"].append(attributes["data-value"])


def test_html_shows_each_bracket_and_sums_to_the_rated_total(billed, tmp_path: Path) -> None:
    output = tmp_path / "statement.html"
    assert statement(billed, "html", "--output", str(output)) == ""
    page = StatementPage()
    page.feed(output.read_text())
    assert page.scripts == 0 and page.external == []
    lines = [row for row in page.rows if row["class"] == "line"]
    brackets = [row for row in page.rows if row["class"] == "bracket"]
    rated = rated_lines(billed)
    charges = [line for line in rated["lines"] if line["kind"] == "charge"]
    assert len(brackets) == sum(len(line["brackets"]) for line in charges)
    for line in lines:
        reference = line["attrs"]["data-line"]
        quantity, amount, due = line["values"]
        mine = [row for row in brackets if row["attrs"]["data-line"] == reference]
        if line["attrs"]["data-kind"] == "charge":
            assert mine, f"charge line {reference} without brackets"
        if mine:
            # bracket cells: quantity, unit price, amount
            assert sum(Decimal(row["values"][2]) for row in mine) == Decimal(amount), line
            assert sum(int(row["values"][0]) for row in mine) == int(quantity), line
    total = next(row for row in page.rows if row["class"] == "total")
    assert sum(Decimal(line["values"][1]) for line in lines) == Decimal(total["values"][0])
    assert Decimal(total["values"][0]) == Decimal(rated["totals"]["USD"])
    assert Decimal(total["values"][1]) == Decimal(rated["totals_due"]["USD"])
    calls = next(line for line in lines if line["attrs"]["data-kind"] == "charge")
    assert [row["values"] for row in brackets if row["attrs"]["data-line"] == calls["attrs"]["data-line"]] == [
        ["2", "0.1", "0.2"], ["2", "0.07", "0.14"], ["2", "0.05", "0.1"]]
    # The appendix lists every event of the customer.
    appendix = {row["attrs"]["data-event"] for row in page.rows if row["class"] == "event"}
    assert appendix == {event["id"] for event in customer_events(billed)}


def test_events_csv_lists_exactly_the_customers_events(billed) -> None:
    rows = list(csv.DictReader(io.StringIO(statement(billed, "events-csv"))))
    events = {event["id"]: event for event in customer_events(billed)}
    assert len(events) == 6
    assert {row["event_id"] for row in rows} == set(events)
    rated = rated_lines(billed)
    usage = [row for row in rows if row["line_kind"] == "usage"]
    # Each event once under its usage line, and once under each charge (both count every model).
    assert sorted(row["event_id"] for row in usage) == sorted(events)
    assert len(rows) == 3 * len(events)
    for row in usage:
        event = events[row["event_id"]]
        assert row["timestamp"] == event["timestamp"]
        assert row["model"] == (event["model"] or "") and Decimal(row["price"]) == Decimal(event["price"])
        assert int(row["input_tokens"]) == event["input_tokens"] and int(row["output_tokens"]) == event["output_tokens"]
        assert row["idempotency_key"] == (event["idempotency_key"] or "")
    assert sorted(row["idempotency_key"] for row in usage if row["idempotency_key"]) == ["order-0", "order-1"]
    # Usage lines: each event's line amount is its price less the 0.10 provisional share; they sum to the line.
    for line in (line for line in rated["lines"] if line["kind"] == "usage"):
        mine = [row for row in usage if row["line_description"] == line["description"]]
        assert sum(Decimal(row["line_amount"]) for row in mine) == Decimal(line["amount"])
    # Charges: the events' units sum to the charge's quantity.
    statement_lines = json.loads(statement(billed, "json"))["lines"]
    for line in statement_lines:
        mine = [row for row in rows if row["line"] == line["reference"]]
        assert sum(int(row["units"]) for row in mine) == line["quantity"], line


def test_json_statement_matches_lines_and_hides_cost(billed) -> None:
    document = json.loads(statement(billed, "json"))
    rated = rated_lines(billed)
    assert document["customer"] == CUSTOMER and document["currency"] == "USD"
    assert Decimal(document["total"]) == Decimal(rated["totals"]["USD"])
    assert Decimal(document["amount_due"]) == Decimal(rated["totals_due"]["USD"])
    assert "costs" not in document and all("cost" not in line for line in document["lines"])
    assert document["credits"] is None
    assert {event["id"] for event in document["event_details"]} == {event["id"] for event in customer_events(billed)}


def test_unknown_customer_is_an_error(billed) -> None:
    result = billed.cli("statement", "--customer", "nobody", "--period", "2020-01", check=False)
    assert result.returncode != 0
    assert "no customer 'nobody'" in result.stderr
    bad = billed.cli("statement", "--customer", CUSTOMER, "--period", "2020-13", check=False)
    assert bad.returncode != 0 and "--period" in bad.stderr
