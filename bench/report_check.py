#!/usr/bin/env python3
"""The measuring half of the report benchmark (bench/report.sh): times `tollgate report margin` queries, checks that
report totals equal a brute-force Decimal sum over the events, and tells the meter's size on disk.

    python3 bench/report_check.py times --bin BIN --config CFG --meter DB [--runs 10]
    python3 bench/report_check.py exact --bin BIN --config CFG --meter DB
    python3 bench/report_check.py size --meter DB
    python3 bench/report_check.py plan --meter DB
"""

import argparse
import calendar
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal

MONTH = (calendar.timegm((2026, 11, 1, 0, 0, 0)) * 1000, calendar.timegm((2026, 12, 1, 0, 0, 0)) * 1000)
UNALIGNED = ("2026-11-03T10:30:00Z", "2026-11-20T17:45:00Z")
UNALIGNED_MS = (calendar.timegm((2026, 11, 3, 10, 30, 0)) * 1000, calendar.timegm((2026, 11, 20, 17, 45, 0)) * 1000)
MEASURES = ["requests", "errors", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens"]


def top_customer(meter: str) -> str:
    db = sqlite3.connect(meter)
    row = db.execute(
        "SELECT customer_id FROM usage_daily WHERE bucket_ms >= ? AND bucket_ms < ? GROUP BY customer_id ORDER BY SUM(requests) DESC LIMIT 1",
        MONTH,
    ).fetchone()
    db.close()
    return row[0] if row else "nobody"


def cases(meter: str) -> list[tuple[str, list[str]]]:
    top = top_customer(meter)
    return [
        ("month by customer (the target)", ["--period", "2026-11", "--by", "customer"]),
        ("month by customer,model", ["--period", "2026-11", "--by", "customer,model"]),
        ("month by model", ["--period", "2026-11", "--by", "model"]),
        ("month by day", ["--period", "2026-11", "--by", "day"]),
        ("month by feature", ["--period", "2026-11", "--by", "feature"]),
        (f"month by customer, one customer (the biggest, {top})", ["--period", "2026-11", "--by", "customer", "--customer", top]),
        ("one day by hour", ["--by", "hour", "--from", "2026-11-10", "--to", "2026-11-11"]),
        ("unaligned range by customer (03T10:30 → 20T17:45)", ["--from", UNALIGNED[0], "--to", UNALIGNED[1], "--by", "customer"]),
        ("empty month by customer (process start + open)", ["--period", "2026-10", "--by", "customer"]),
    ]


# Reports that read every event of the month (no rollup has both the hour and the feature): timed once.
SLOW_CASES = [("month by hour,feature (reads the events: once)", ["--period", "2026-11", "--by", "hour,feature"])]


def report(binary: str, config: str, args: list[str]) -> dict:
    out = subprocess.run([binary, "report", "margin", *args, "--format", "json", "--config", config], check=True, capture_output=True)
    return json.loads(out.stdout)


def times(a) -> None:
    hyperfine = shutil.which("hyperfine")
    tool = "hyperfine" if hyperfine else "a loop of runs"
    print(f"whole-command wall times ({tool}; {a.runs} runs after 2 warm-ups, page cache warm), JSON output to /dev/null:")
    print()
    print("| report | rows | median (ms) | min (ms) | max (ms) |")
    print("|---|---|---|---|---|")
    for label, args in cases(a.meter):
        rows = len(report(a.bin, a.config, args)["rows"])
        command = [a.bin, "report", "margin", *args, "--format", "json", "--config", a.config]
        if hyperfine:
            with tempfile.NamedTemporaryFile(suffix=".json") as export:
                subprocess.run(
                    [hyperfine, "--shell=none", "--warmup", "2", "--runs", str(a.runs), "--style", "none", "--output", "null",
                     "--export-json", export.name, " ".join(command)],
                    check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
                result = json.load(open(export.name))["results"][0]
                samples = result["times"]
        else:
            samples = []
            for run in range(a.runs + 2):
                started = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                if run >= 2:
                    samples.append(time.perf_counter() - started)
        ms = [s * 1000 for s in samples]
        print(f"| {label} | {rows:,} | {statistics.median(ms):.0f} | {min(ms):.0f} | {max(ms):.0f} |", flush=True)
    if a.slow:
        for label, args in SLOW_CASES:
            started = time.perf_counter()
            rows = len(report(a.bin, a.config, args)["rows"])
            ms = (time.perf_counter() - started) * 1000
            print(f"| {label} | {rows:,} | {ms:.0f} | | |", flush=True)


def plan(a) -> None:
    """The SQL of the target report as MarginReport.swift builds it for a whole month (one monthly-rollup segment), run
    alone here with Python's sqlite3 (same system SQLite) and explained: the share of the time that is SQLite's."""
    measures = ["requests", "errors", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
                "cost_e7", "cost_rem", "price_e7", "price_rem"]
    db = sqlite3.connect(a.meter)
    for label, keys in [("month by customer", ["customer_id"]), ("month by customer,model", ["customer_id", "model"])]:
        keys = keys + ["currency", "price_currency"]
        sql = (f"SELECT {', '.join(keys + [f'SUM({m})' for m in measures])} FROM usage_monthly WHERE bucket_ms >= ? AND bucket_ms < ? "
               f"GROUP BY {', '.join(keys)}")
        scanned = db.execute("SELECT COUNT(*) FROM usage_monthly WHERE bucket_ms >= ? AND bucket_ms < ?", MONTH).fetchone()[0]
        samples = []
        for _ in range(7):
            started = time.perf_counter()
            db.execute(sql, MONTH).fetchall()
            samples.append((time.perf_counter() - started) * 1000)
        steps = "; ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, MONTH))
        print(f"- {label}, its rollup query alone: {statistics.median(samples):.0f} ms median over {scanned:,} usage_monthly rows ({steps})")
    db.close()


def money_text(value: Decimal) -> str:
    """Money's text for an exact decimal: no exponent, no trailing zeros."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def hour_label(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(ts // 1000))


def exact(a) -> None:
    """Report rows and totals against sums over every event, done here with Decimal: four reports that read the daily
    rollup, the hourly one and the events (the edges of the unaligned range)."""
    day10 = (calendar.timegm((2026, 11, 10, 0, 0, 0)) * 1000, calendar.timegm((2026, 11, 11, 0, 0, 0)) * 1000)
    # name, report arguments, group-by fields as in the JSON, time range, the group of an event (ts, customer, feature, model)
    checks = [
        ("month by customer", ["--period", "2026-11", "--by", "customer"], ["customer"], MONTH, lambda ts, c, f, m: (c,)),
        ("month by feature,model", ["--period", "2026-11", "--by", "feature,model"], ["feature", "model"], MONTH, lambda ts, c, f, m: (f, m)),
        ("one day by hour,model", ["--by", "hour,model", "--from", "2026-11-10", "--to", "2026-11-11"], ["hour", "model"], day10,
         lambda ts, c, f, m: (hour_label(ts), m)),
        ("unaligned range by customer", ["--from", UNALIGNED[0], "--to", UNALIGNED[1], "--by", "customer"], ["customer"], UNALIGNED_MS,
         lambda ts, c, f, m: (c,)),
    ]
    started = time.monotonic()
    db = sqlite3.connect(a.meter)
    sums: list[dict[tuple, list]] = [{} for _ in checks]
    count = 0
    rows = db.execute(
        """SELECT ts_ms, customer_id, COALESCE(feature, ''), COALESCE(model, served_model, ''), COALESCE(price_currency, currency),
                  currency, status >= 400, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens,
                  cost, price
           FROM events WHERE ts_ms >= ? AND ts_ms < ?""",
        MONTH,
    )
    zero = Decimal(0)
    for ts, customer, feature, model, currency, cost_currency, error, i, cr, cw, o, r, cost, price in rows:
        count += 1
        cost, price = Decimal(cost), Decimal(price)
        for (_, _, _, (lo, hi), group), groups in zip(checks, sums):
            if not lo <= ts < hi:
                continue
            key = group(ts, customer, feature, model) + (currency, cost_currency)
            s = groups.get(key)
            if s is None:
                s = groups[key] = [0, 0, 0, 0, 0, 0, 0, zero, zero]
            s[0] += 1
            s[1] += error
            s[2] += i
            s[3] += cr
            s[4] += cw
            s[5] += o
            s[6] += r
            s[7] += cost
            s[8] += price
    db.close()
    scan = time.monotonic() - started

    failures = []

    def compare(name: str, args: list[str], fields: list[str], sums: dict) -> str:
        output = report(a.bin, a.config, args)
        got = {tuple(row[f] for f in fields) + (row["currency"], row["cost_currency"]): row for row in output["rows"]}
        if set(got) != set(sums):
            failures.append(f"{name}: groups differ: {len(got)} in the report, {len(sums)} in the events")
        for key, s in sums.items():
            row = got.get(key)
            if row is None:
                continue
            expected = dict(zip(MEASURES, s[:7])) | {"cost": money_text(s[7]), "revenue": money_text(s[8])}
            for field, value in expected.items():
                if row[field] != value:
                    failures.append(f"{name}: {key} {field}: report {row[field]}, events {value}")
        by_currency: dict[tuple, list] = {}
        for key, s in sums.items():
            t = by_currency.setdefault(key[-2:], [0, 0, 0, 0, 0, 0, 0, Decimal(0), Decimal(0)])
            for n in range(9):
                t[n] += s[n]
        totals = {(row["currency"], row["cost_currency"]): row for row in output["totals_by_currency"]}
        summary = []
        for key, t in sorted(by_currency.items()):
            row = totals.get(key, {})
            expected = dict(zip(MEASURES, t[:7])) | {"cost": money_text(t[7]), "revenue": money_text(t[8])}
            if any(row.get(field) != value for field, value in expected.items()):
                failures.append(f"{name}: totals {key}: report {row}, events {expected}")
            summary.append(f"{t[0]:,} requests, revenue {money_text(t[8])} {key[0]}, cost {money_text(t[7])} {key[1]}")
        return f"{name}: {len(got):,} rows and {len(totals)} currency totals equal the Decimal sums ({'; '.join(summary)})"

    lines = [compare(name, args, fields, groups) for (name, args, fields, _, _), groups in zip(checks, sums)]
    if failures:
        print("EXACTNESS CHECK FAILED:")
        for failure in failures[:20]:
            print("  " + failure)
        sys.exit(1)
    print(f"exact: {count:,} events summed again with Python Decimal ({scan:.0f} s); every row and total of these reports equals its sum:")
    for line in lines:
        print("- " + line)


def size(a) -> None:
    db = sqlite3.connect(a.meter)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    main_bytes = os.path.getsize(a.meter)
    wal = a.meter + "-wal"
    wal_bytes = os.path.getsize(wal) if os.path.exists(wal) else 0
    tables = dict(db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')").fetchall())
    per_table: dict[str, int] = {}
    for name, pages in db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
        table = tables.get(name, name)
        per_table[table] = per_table.get(table, 0) + pages
    counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("events", "usage_monthly", "usage_daily", "usage_hourly")}
    db.close()
    mb = lambda n: f"{n / 1e6:,.1f} MB"  # noqa: E731
    print(f"meter on disk after a checkpoint: {mb(main_bytes + wal_bytes)} (file {mb(main_bytes)}, wal {mb(wal_bytes)})")
    print(f"  events (table and its 3 indexes): {mb(per_table.get('events', 0))} for {counts['events']:,} events "
          f"({per_table.get('events', 0) / max(counts['events'], 1):.0f} bytes per event)")
    rollups = per_table.get("usage_monthly", 0) + per_table.get("usage_daily", 0) + per_table.get("usage_hourly", 0)
    print(f"  rollups: {mb(rollups)} ({100 * rollups / max(main_bytes, 1):.1f} % of the file): "
          f"usage_monthly {counts['usage_monthly']:,} rows {mb(per_table.get('usage_monthly', 0))}, "
          f"usage_daily {counts['usage_daily']:,} rows {mb(per_table.get('usage_daily', 0))}, "
          f"usage_hourly {counts['usage_hourly']:,} rows {mb(per_table.get('usage_hourly', 0))}")
    rest = main_bytes - sum(per_table.get(t, 0) for t in ("events", "usage_monthly", "usage_daily", "usage_hourly"))
    print(f"  everything else (customers, keys, schema, free pages): {mb(rest)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["times", "exact", "size", "plan"])
    parser.add_argument("--bin", default=".build-release/release/tollgate")
    parser.add_argument("--config")
    parser.add_argument("--meter", required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--slow", action="store_true", help="also time the reports that read every event, once")
    a = parser.parse_args()
    {"times": times, "exact": exact, "size": size, "plan": plan}[a.what](a)


if __name__ == "__main__":
    main()
