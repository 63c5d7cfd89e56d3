"""The `tollgate credits`, `customers` and `limits` commands on a meter file alone (no server): grants and balances,
the ledger and its identity, voids and expiries, team pools, customers, limits, and clear refusals of bad input."""

from __future__ import annotations

import json
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import TOLLGATE_BIN, is_decimal_string, run_cli

pytestmark = pytest.mark.proxy

CONFIG = 'meter: {path: m.db}\ncredits: {unit: {name: credit, value: "0.01"}}\n'


class Cli:
    """`tollgate ARGS --config FILE` on a config and meter of its own, run from the config's folder."""

    def __init__(self, directory: Path, config: str = CONFIG) -> None:
        if not TOLLGATE_BIN.exists():
            pytest.fail(f"tollgate binary not found at {TOLLGATE_BIN}; build it with `swift build --product tollgate`",
                        pytrace=False)
        self.directory = directory
        self.config_path = directory / "tollgate.yaml"
        self.config_path.write_text(config)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs the command; with `check`, fails the test with its output unless it exits 0."""
        return run_cli(self.config_path, *args, check=check, cwd=self.directory)

    def json(self, *args: str) -> object:
        """The command's `--format json` output, parsed."""
        return json.loads(self.run(*args, "--format", "json").stdout)

    def grant(self, *args: str) -> dict:
        """`credits grant ARGS` as JSON."""
        return self.json("credits", "grant", *args)

    def balance(self, *args: str) -> dict:
        """`credits balance ARGS` as JSON."""
        return self.json("credits", "balance", *args)

    def refused(self, *args: str) -> str:
        """Runs a command that must be refused: non-zero exit, an error message, no crash. Returns stderr."""
        result = self.run(*args, check=False)
        assert result.returncode != 0, f"`{' '.join(args)}` should fail; stdout:\n{result.stdout}"
        assert "error" in result.stderr.lower(), f"no error message for `{' '.join(args)}`: {result.stderr!r}"
        for crash in ("Fatal error", "Stack dump", "Current stack trace", "Traceback"):
            assert crash not in result.stderr, f"`{' '.join(args)}` crashed:\n{result.stderr}"
        return result.stderr


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI on a fresh meter with a credit unit worth 0.01 USD."""
    return Cli(tmp_path)


def figures(balance: dict) -> dict[str, Decimal]:
    """A balance's figures as decimals, after checking each is a decimal string."""
    names = ("granted", "spent", "expired", "reserved", "available", "upcoming", "overdraft")
    for name in names:
        assert is_decimal_string(balance[name]), f"{name} is not a decimal string: {balance[name]!r}"
    return {name: Decimal(balance[name]) for name in names}


def test_grant_and_balance_figures(cli: Cli) -> None:
    first = cli.grant("--customer", "alice", "--amount", "10", "--note", "PO-1")
    assert first["id"].startswith("grant_") and first["account"] == "customer:alice"
    assert first["amount"] == "10" and first["remaining"] == "10" and first["currency"] == "USD"
    assert first["priority"] == 10 and first["note"] == "PO-1"
    cli.grant("--customer", "alice", "--amount", "2.345")

    balance = cli.balance("--customer", "alice")
    assert balance["account"] == "customer:alice" and balance["currency"] == "USD"
    assert figures(balance) == {
        "granted": Decimal("12.345"), "spent": 0, "expired": 0, "reserved": 0, "available": Decimal("12.345"),
        "upcoming": 0, "overdraft": 0,
    }
    assert {grant["id"] for grant in balance["grants"]} >= {first["id"]}


def test_grant_prints_what_was_granted(cli: Cli) -> None:
    output = cli.run("credits", "grant", "--team", "acme", "--amount", "5", "--priority", "3",
                     "--effective", "2026-01-01", "--expires", "2099-12-31T12:00:00Z").stdout
    assert re.search(r"grant_\S+", output)
    assert "5 USD" in output and "team:acme" in output
    assert re.search(r"priority\s+3", output)
    assert "2026-01-01T00:00:00" in output and "2099-12-31T12:00:00" in output


def test_credits_in_the_configured_unit_are_exact(cli: Cli) -> None:
    grant = cli.grant("--customer", "alice", "--credits", "250")
    assert grant["amount"] == "2.5"
    assert grant["unit_name"] == "credit" and grant["unit_amount"] == "250"
    assert cli.grant("--customer", "alice", "--credits", "0.3")["amount"] == "0.003"
    # 0.1 + 0.2 in floating point is not 0.3; in credits it is.
    cli.grant("--customer", "bob", "--credits", "10")
    cli.grant("--customer", "bob", "--credits", "20")
    assert cli.balance("--customer", "bob")["available"] == "0.3"


def test_credits_without_a_unit_are_refused(tmp_path: Path) -> None:
    cli = Cli(tmp_path, "meter: {path: m.db}\n")
    assert "unit" in cli.refused("credits", "grant", "--customer", "alice", "--credits", "5")
    assert cli.balance("--customer", "alice")["granted"] == "0"


def test_grants_are_listed_in_spending_order(cli: Cli) -> None:
    """Priority first (lower first), then the soonest expiry (none last), then the oldest."""
    late_low = cli.grant("--customer", "alice", "--amount", "1", "--priority", "20")
    never = cli.grant("--customer", "alice", "--amount", "1", "--priority", "5")
    soon = cli.grant("--customer", "alice", "--amount", "1", "--priority", "5", "--expires", "2090-01-01")
    sooner = cli.grant("--customer", "alice", "--amount", "1", "--priority", "5", "--expires", "2080-01-01")
    oldest_never = never
    newer_never = cli.grant("--customer", "alice", "--amount", "1", "--priority", "5")
    first = cli.grant("--customer", "alice", "--amount", "1", "--priority", "1")
    order = [grant["id"] for grant in cli.balance("--customer", "alice")["grants"]]
    assert order == [first["id"], sooner["id"], soon["id"], oldest_never["id"], newer_never["id"], late_low["id"]]


def test_expired_grant_counts_as_expired(cli: Cli) -> None:
    lapsed = cli.grant("--customer", "alice", "--amount", "4", "--effective", "2020-01-01", "--expires", "2020-06-01")
    cli.grant("--customer", "alice", "--amount", "10")
    balance = cli.balance("--customer", "alice")
    assert figures(balance) == {
        "granted": 14, "spent": 0, "expired": 4, "reserved": 0, "available": 10, "upcoming": 0, "overdraft": 0,
    }
    lines = cli.json("credits", "ledger", "--customer", "alice")
    expiries = [line for line in lines if line["kind"] == "expire"]
    assert len(expiries) == 1
    assert expiries[0]["grant_id"] == lapsed["id"] and expiries[0]["amount"] == "4"
    # Reading the balance again records nothing twice.
    assert cli.balance("--customer", "alice")["expired"] == "4"
    assert len([line for line in cli.json("credits", "ledger", "--customer", "alice") if line["kind"] == "expire"]) == 1


def test_grant_in_the_future_is_upcoming(cli: Cli) -> None:
    cli.grant("--customer", "alice", "--amount", "3")
    cli.grant("--customer", "alice", "--amount", "5", "--effective", "2099-01-01")
    numbers = figures(cli.balance("--customer", "alice"))
    assert numbers["granted"] == 3 and numbers["available"] == 3 and numbers["upcoming"] == 5


def test_void_closes_what_is_left(cli: Cli) -> None:
    kept = cli.grant("--customer", "alice", "--amount", "10")
    voided = cli.grant("--customer", "alice", "--amount", "2.5")
    output = cli.run("credits", "void", voided["id"], "--note", "refund").stdout
    assert voided["id"] in output
    numbers = figures(cli.balance("--customer", "alice"))
    assert numbers["granted"] == Decimal("12.5") and numbers["expired"] == Decimal("2.5")
    assert numbers["available"] == 10
    voids = [line for line in cli.json("credits", "ledger", "--customer", "alice") if line["kind"] == "void"]
    assert [(line["grant_id"], line["amount"], line["note"]) for line in voids] == [(voided["id"], "2.5", "refund")]
    assert "closed" in cli.refused("credits", "void", voided["id"])
    assert "no grant" in cli.refused("credits", "void", "grant_doesnotexist")
    assert kept["id"] in {grant["id"] for grant in cli.balance("--customer", "alice")["grants"]}


def test_ledger_explains_the_balance(cli: Cli) -> None:
    cli.grant("--customer", "alice", "--amount", "10")
    voided = cli.grant("--customer", "alice", "--credits", "150")
    cli.grant("--customer", "alice", "--amount", "0.75", "--effective", "2020-01-01", "--expires", "2021-01-01")
    cli.run("credits", "void", voided["id"])
    balance = figures(cli.balance("--customer", "alice"))

    lines = cli.json("credits", "ledger", "--customer", "alice")
    assert [line["seq"] for line in lines] == sorted(line["seq"] for line in lines)
    sums: dict[str, Decimal] = {}
    for line in lines:
        assert is_decimal_string(line["amount"]) and line["account"] == "customer:alice"
        sums[line["kind"]] = sums.get(line["kind"], Decimal(0)) + Decimal(line["amount"])
    assert sums["grant"] == balance["granted"] + balance["upcoming"] == Decimal("12.25")
    assert sums.get("expire", 0) + sums.get("void", 0) == balance["expired"] == Decimal("2.25")
    assert balance["available"] == balance["granted"] - balance["spent"] - balance["expired"] - balance["reserved"] == 10

    table = cli.run("credits", "ledger", "--customer", "alice").stdout
    identity = re.search(
        r"granted (\S+) − spent (\S+) − expired (\S+) − reserved (\S+) = available (\S+)", table)
    assert identity, f"no identity line in:\n{table}"
    granted, spent, expired, reserved, available = (Decimal(value) for value in identity.groups())
    assert (granted, spent, expired, reserved, available) == (
        balance["granted"], balance["spent"], balance["expired"], balance["reserved"], balance["available"])
    assert "grant 12.25" in table and "void 1.5" in table and "expire 0.75" in table

    last = cli.json("credits", "ledger", "--customer", "alice", "--limit", "2")
    assert last == lines[-2:]


def test_team_shares_one_pool(cli: Cli) -> None:
    cli.run("customers", "set", "--customer", "bob", "--team", "acme")
    cli.run("customers", "set", "--customer", "carol", "--team", "acme")
    assert "team" in cli.refused("credits", "grant", "--customer", "bob", "--amount", "1")
    cli.grant("--team", "acme", "--amount", "7")

    for member in ("bob", "carol"):
        balance = cli.balance("--customer", member)
        assert balance["account"] == "team:acme" and balance["available"] == "7"
    assert cli.balance("--team", "acme")["available"] == "7"
    teams = cli.json("customers", "teams")
    assert [(team["id"], team["customers"]) for team in teams] == [("acme", ["bob", "carol"])]
    view = cli.json("customers", "show", "--customer", "bob")
    assert view["customer"]["team"] == "acme" and view["balance"]["account"] == "team:acme"

    cli.run("customers", "set", "--customer", "carol", "--no-team")
    alone = cli.balance("--customer", "carol")
    assert alone["account"] == "customer:carol" and alone["available"] == "0"


def test_customers_set_and_show(cli: Cli) -> None:
    cli.run("customers", "set", "--customer", "alice", "--name", "Alice Ltd", "--models", "gpt-4o*, claude-*")
    key_output = cli.run("keys", "create", "--customer", "alice", "--name", "ci").stdout
    key_id = re.search(r"key_\S+", key_output).group(0)
    cli.grant("--customer", "alice", "--amount", "3")
    limit = cli.json("limits", "set", "--customer", "alice", "--metric", "money", "--period", "month", "--amount", "5")

    view = cli.json("customers", "show", "--customer", "alice")
    assert view["customer"]["id"] == "alice" and view["customer"]["name"] == "Alice Ltd"
    assert view["customer"]["models"] == ["gpt-4o*", "claude-*"]
    assert view["balance"]["account"] == "customer:alice" and view["balance"]["available"] == "3"
    assert [status["limit"]["id"] for status in view["limits"]] == [limit["id"]]
    assert view["limits"][0]["remaining"] == "5"
    assert [key["id"] for key in view["keys"]] == [key_id]
    assert set(view["keys"][0]) <= {"id", "customer", "prefix", "name", "created_ms", "revoked_ms"}, "a secret leaked"

    table = cli.run("customers", "show", "--customer", "alice").stdout
    assert "Alice Ltd" in table and limit["id"] in table and key_id in table and "available" in table

    cli.run("customers", "set", "--customer", "alice", "--all-models")
    customers = cli.json("customers", "list")
    assert [(customer["id"], customer.get("models")) for customer in customers] == [("alice", None)]
    assert "alice" in cli.run("customers", "list").stdout

    assert "--no-team" in cli.refused("customers", "set", "--customer", "alice", "--team", "t", "--no-team")
    assert "--all-models" in cli.refused("customers", "set", "--customer", "alice", "--models", "a", "--all-models")
    assert "no customer" in cli.refused("customers", "show", "--customer", "ghost")
    assert "id" in cli.refused("customers", "set", "--customer", "bad id!")


def test_limits_set_list_remove(tmp_path: Path) -> None:
    cli = Cli(tmp_path, CONFIG + "alerts: {thresholds: [25, 75]}\n")
    key_id = re.search(r"key_\S+", cli.run("keys", "create", "--customer", "alice").stdout).group(0)
    cap = cli.json("limits", "set", "--customer", "alice", "--metric", "money", "--period", "month", "--amount", "5.50")
    assert cap["id"].startswith("lim_") and cap["scope"] == "customer" and cap["scope_id"] == "alice"
    assert cap["metric"] == "money" and cap["period"] == "month" and cap["amount"] == "5.5"
    assert cap["enforcement"] == "hard" and cap["thresholds"] == [25, 75]
    soft = cli.json("limits", "set", "--team", "acme", "--metric", "tokens", "--period", "day", "--amount", "100000",
                    "--soft", "--thresholds", "50,90", "--note", "trial")
    assert soft["enforcement"] == "soft" and soft["thresholds"] == [50, 90] and soft["note"] == "trial"
    rate = cli.run("limits", "set", "--key", key_id, "--metric", "requests", "--period", "minute", "--amount", "60").stdout
    assert "rate limit" in rate and "lim_" in rate
    anchored = cli.json("limits", "set", "--customer", "alice", "--metric", "requests", "--period", "week",
                        "--amount", "1000", "--anchor", "2026-01-07")
    assert anchored["anchor_ms"] == 1767744000000

    statuses = cli.json("limits", "list")
    assert len(statuses) == 4
    by_id = {status["limit"]["id"]: status for status in statuses}
    money = by_id[cap["id"]]
    assert (money["used"], money["reserved"], money["remaining"]) == ("0", "0", "5.5")
    assert money["period_end_ms"] > money["period_start_ms"]
    assert by_id[soft["id"]]["remaining"] == "100000"

    only_alice = cli.json("limits", "list", "--customer", "alice")
    assert {status["limit"]["id"] for status in only_alice} == {cap["id"], anchored["id"]}
    assert [status["limit"]["scope_id"] for status in cli.json("limits", "list", "--key", key_id)] == [key_id]
    table = cli.run("limits", "list").stdout
    assert cap["id"] in table and "5.5 USD" in table

    assert cap["id"] in cli.run("limits", "remove", cap["id"]).stdout
    assert cap["id"] not in {status["limit"]["id"] for status in cli.json("limits", "list")}
    assert "no limit" in cli.refused("limits", "remove", cap["id"])
    assert cli.json("limits", "alerts") == [] and cli.json("limits", "alerts", "--pending") == []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["credits", "grant", "--customer", "a", "--amount", "-5"], "--amount"),
        (["credits", "grant", "--customer", "a", "--amount", "ten"], "--amount"),
        (["credits", "grant", "--customer", "a", "--credits", "x"], "--credits"),
        (["credits", "grant", "--customer", "a", "--amount", "1", "--credits", "5"], "--amount or --credits"),
        (["credits", "grant", "--customer", "a"], "--amount or --credits"),
        (["credits", "grant", "--amount", "1"], "--customer or --team"),
        (["credits", "grant", "--customer", "a", "--team", "t", "--amount", "1"], "--customer or --team"),
        (["credits", "grant", "--customer", "a", "--amount", "1", "--expires", "tomorrow"], "--expires"),
        (["credits", "grant", "--customer", "a", "--amount", "1", "--effective", "2026-02-30"], "--effective"),
        (["credits", "grant", "--customer", "a", "--amount", "1", "--effective", "2030-01-01", "--expires", "2029-01-01"],
         "expire after"),
        (["credits", "balance"], "--customer or --team"),
        (["credits", "balance", "--customer", "a", "--format", "xml"], "format"),
        (["credits", "ledger", "--customer", "a", "--limit", "0"], "--limit"),
        (["credits", "void", "grant_nope"], "no grant"),
        (["limits", "set", "--customer", "a", "--metric", "gold", "--period", "day", "--amount", "1"], "--metric"),
        (["limits", "set", "--customer", "a", "--metric", "money", "--period", "fortnight", "--amount", "1"], "--period"),
        (["limits", "set", "--customer", "a", "--metric", "money", "--period", "minute", "--amount", "1"], "per-minute"),
        (["limits", "set", "--customer", "a", "--metric", "tokens", "--period", "day", "--amount", "1.5"], "whole number"),
        (["limits", "set", "--customer", "a", "--metric", "money", "--period", "day", "--amount", "0"], "positive"),
        (["limits", "set", "--customer", "a", "--metric", "money", "--period", "day", "--amount", "1",
          "--thresholds", "50,x"], "--thresholds"),
        (["limits", "set", "--customer", "a", "--metric", "money", "--period", "day", "--amount", "1",
          "--anchor", "someday"], "--anchor"),
        (["limits", "set", "--metric", "money", "--period", "day", "--amount", "1"], "--customer, --team or --key"),
        (["limits", "set", "--key", "key_nope", "--metric", "requests", "--period", "day", "--amount", "1"], "no key"),
        (["limits", "list", "--customer", "a", "--team", "t"], "only one"),
    ],
)
def test_bad_input_is_refused_clearly(cli: Cli, args: list[str], named: str) -> None:
    assert named in cli.refused(*args)
