#!/usr/bin/env python3
"""Fills a fresh Tollgate meter with N synthetic usage events over one month (2026-11, UTC) for the report benchmark.

The meter must exist already (create it with the real binary, e.g. `tollgate report margin --config CFG`, so that
the schema is the one Tollgate migrates to); this script bulk-inserts customers, virtual keys and events into it
with sqlite3, in time order, the way the proxy would have written them. It does not touch the rollups: run
`tollgate report rebuild` afterwards.

The data: ~1,000 customers with a Zipf-like share of the traffic, 1-3 keys each, 4 features (a few events without
one), 6 models across 3 providers with their list rates per token, a daily and weekly rhythm, ~3 % failed requests
(zero tokens, zero cost and price). Cost is the tokens times the provider's per-token rates; price is the tokens times
the customer's per-token rates (the cost rates times the customer's markup, times an exchange rate for the few
customers billed in EUR), both exact decimals rounded half to even to 15 fractional digits, as Money stores them.

    python3 bench/gen_events.py --meter /tmp/x/meter.db --events 10000000
"""

import argparse
import calendar
import hashlib
import math
import random
import sqlite3
import sys
import time
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

MONTH_START_MS = calendar.timegm((2026, 11, 1, 0, 0, 0)) * 1000
DAYS = 30
HOUR_MS = 3_600_000

# Rates are kept as integers in units of 10^-RATE_DIGITS currency per token, so that sums of tokens × rates are
# exact; an amount is then rounded half to even to 15 fractional digits (femto units), as Money does.
RATE_DIGITS = 24
FEMTO_DIGITS = 15

FEATURES = ["chat", "search", "summarize", "agent"]

# name, provider, route, path template, served model, USD per million tokens: input, cache read, cache write, output;
# whether it reports reasoning tokens.
MODELS = [
    ("gpt-4o", "openai", "openai.chat", "/v1/chat/completions", "gpt-4o-2024-08-06", "2.50", "1.25", "0", "10.00", False),
    ("gpt-4o-mini", "openai", "openai.chat", "/v1/chat/completions", "gpt-4o-mini-2024-07-18", "0.15", "0.075", "0", "0.60", False),
    ("claude-sonnet-4", "anthropic", "anthropic.messages", "/v1/messages", "claude-sonnet-4-20250514", "3.00", "0.30", "3.75", "15.00", False),
    ("claude-3-5-haiku", "anthropic", "anthropic.messages", "/v1/messages", "claude-3-5-haiku-20241022", "0.80", "0.08", "1.00", "4.00", False),
    ("gemini-2.5-flash", "gemini", "gemini.generateContent", "/v1beta/models/gemini-2.5-flash:generateContent", "gemini-2.5-flash", "0.30", "0.075", "0", "2.50", True),
    ("gemini-2.5-pro", "gemini", "gemini.generateContent", "/v1beta/models/gemini-2.5-pro:generateContent", "gemini-2.5-pro", "1.25", "0.31", "0", "10.00", True),
]

# Customer markups over cost (7 decimals, so prices carry up to 13-15 fractional digits) and price books.
MARKUPS = [("standard", "1.4"), ("growth", "1.3"), ("enterprise", "1.2345678"), ("startup", "1.1876543")]
EUR_PER_USD = "0.9213457"

ERROR_STATUSES = [429, 429, 500, 502, 503, 400, 499]


def rate_units(per_million: str, factor: Decimal = Decimal(1)) -> int:
    """A USD-per-million-tokens rate (times a factor) as an integer in 10^-RATE_DIGITS per token; must be exact."""
    with localcontext() as context:
        context.prec = 60
        value = Decimal(per_million) / Decimal(1_000_000) * factor * (Decimal(10) ** RATE_DIGITS)
        if value != value.to_integral_value():
            raise SystemExit(f"rate {per_million} × {factor} needs more than {RATE_DIGITS} digits")
        return int(value)


def femto(amount_units: int) -> int:
    """An amount in 10^-RATE_DIGITS units rounded half to even to femto units (10^-15)."""
    divisor = 10 ** (RATE_DIGITS - FEMTO_DIGITS)
    quotient, remainder = divmod(amount_units, divisor)
    twice = remainder * 2
    if twice > divisor or (twice == divisor and quotient % 2 == 1):
        quotient += 1
    return quotient


def money_text(femtos: int) -> str:
    """Money's exact decimal text: no trailing zeros, no point for whole amounts (`0`, `12.5`, `0.000000000000001`)."""
    whole, fraction = divmod(femtos, 10**FEMTO_DIGITS)
    if fraction == 0:
        return str(whole)
    return f"{whole}.{fraction:015d}".rstrip("0")


def decimal_amount(tokens: list[int], per_million: list[str], factor: Decimal) -> Decimal:
    """The same amount computed with Decimal (the reference the integer path is checked against)."""
    with localcontext() as context:
        context.prec = 60
        total = sum((Decimal(t) * Decimal(r) / Decimal(1_000_000) * factor for t, r in zip(tokens, per_million)), Decimal(0))
        return total.quantize(Decimal(1).scaleb(-FEMTO_DIGITS), rounding=ROUND_HALF_EVEN)


class Customer:
    def __init__(self, index: int, rng: random.Random):
        self.id = f"cust-{index:04d}"
        self.book, markup = rng.choice(MARKUPS)
        self.price_currency = "EUR" if rng.random() < 0.03 else None
        self.factor = Decimal(markup) * (Decimal(EUR_PER_USD) if self.price_currency else Decimal(1))
        self.keys = [f"key_{rng.getrandbits(72):018x}" for _ in range(rng.randint(1, 3))]
        self.key_weights = [rng.random() + 0.2 for _ in self.keys]
        count = rng.randint(1, 4)
        self.features = rng.sample(FEATURES, count) + ([None] if rng.random() < 0.2 else [])
        self.feature_weights = [rng.random() + 0.1 for _ in self.features]
        self.models = rng.sample(range(len(MODELS)), rng.randint(1, 3))
        self.model_weights = [rng.random() + 0.1 for _ in self.models]
        # Per model: cost and price rates (input, cache read, cache write, output) in 10^-RATE_DIGITS per token.
        self.rates = {}
        for m in self.models:
            per_million = MODELS[m][5:9]
            cost = [rate_units(r) for r in per_million]
            price = [rate_units(r, self.factor) for r in per_million]
            self.rates[m] = (cost, price)
        # Draw tables: weighted choices made with one random() each.
        self.key_table = cumulative(self.keys, self.key_weights)
        self.feature_table = cumulative(self.features, self.feature_weights)
        self.model_table = cumulative(self.models, self.model_weights)


def cumulative(values, weights):
    total = sum(weights)
    running = 0.0
    bounds = []
    for w in weights:
        running += w / total
        bounds.append(running)
    bounds[-1] = 1.0
    return values, bounds


def draw(table, u):
    values, bounds = table
    for value, bound in zip(values, bounds):
        if u < bound:
            return value
    return values[-1]


def hourly_counts(total: int) -> list[int]:
    """Events per hour of the month: a daily rhythm (peak mid-afternoon UTC), quieter weekends, summing to `total`."""
    weights = []
    for hour in range(DAYS * 24):
        day, hour_of_day = divmod(hour, 24)
        weekday = (calendar.weekday(2026, 11, day + 1))  # 0 = Monday
        daily = 1.0 + 0.7 * math.sin(2 * math.pi * (hour_of_day - 9) / 24)
        weights.append(daily * (0.55 if weekday >= 5 else 1.0))
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    rest = total - sum(counts)
    for hour in sorted(range(len(exact)), key=lambda h: exact[h] - counts[h], reverse=True)[:rest]:
        counts[hour] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meter", required=True, help="the meter file (created and migrated by tollgate)")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--zipf", type=float, default=1.07, help="exponent of the customers' traffic share")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    db = sqlite3.connect(args.meter, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -1000000")  # 1 GB: the customer index is written all over
    db.execute("PRAGMA temp_store = MEMORY")
    if db.execute("SELECT COUNT(*) FROM events").fetchone()[0]:
        raise SystemExit(f"{args.meter} already holds events: start from a fresh meter")

    table_columns = {row[1]: row for row in db.execute("PRAGMA table_info(events)")}
    columns = [
        "id", "ts_ms", "customer_id", "key_id", "feature", "end_user", "project", "provider", "route", "path", "model",
        "served_model", "status", "stream", "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
        "output_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens", "raw_usage", "service_tier",
        "latency_ms", "ttfb_ms", "upstream_ms", "cost", "price", "currency", "estimated", "priced", "note", "idempotency_key",
        "input_image_tokens", "output_image_tokens", "web_search_requests", "web_fetch_requests", "price_book", "price_currency",
        "request_id",
    ]
    missing = [c for c in columns if c not in table_columns]
    if missing:
        raise SystemExit(f"the events table has no column {', '.join(missing)}: update bench/gen_events.py")
    # Columns added after this script was written: NOT NULL ones without a default get a zero.
    extra = [name for name, row in table_columns.items() if name not in columns and row[3] and row[4] is None]
    if extra:
        print(f"note: filling new NOT NULL columns with 0: {', '.join(extra)}", file=sys.stderr)
    insert = f"INSERT INTO events ({', '.join(columns + extra)}) VALUES ({', '.join('?' * (len(columns) + len(extra)))})"
    zeros = (0,) * len(extra)

    customers = [Customer(i + 1, rng) for i in range(args.customers)]
    order = list(range(args.customers))
    rng.shuffle(order)  # the biggest customer is not cust-0001
    shares = [0.0] * args.customers
    for rank, index in enumerate(order):
        shares[index] = 1.0 / (rank + 1) ** args.zipf
    cum_shares = []
    running = 0.0
    for s in shares:
        running += s
        cum_shares.append(running)

    started = time.monotonic()
    created_ms = MONTH_START_MS - 40 * 86_400_000
    db.execute("BEGIN")
    for c in customers:
        db.execute("INSERT OR IGNORE INTO customers (id, name, created_ms) VALUES (?, ?, ?)", (c.id, f"Customer {c.id[5:]}", created_ms))
        for n, key in enumerate(c.keys):
            secret = f"tg_{c.id}_{n}_{args.seed}"
            db.execute(
                "INSERT INTO virtual_keys (id, customer_id, key_hash, prefix, name, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (key, c.id, hashlib.sha256(secret.encode()).hexdigest(), secret[:10], f"key {n + 1}", created_ms),
            )
    db.execute("COMMIT")

    counts = hourly_counts(args.events)
    written = 0
    uncommitted = 0
    checked = 0
    rand = rng.random
    getrandbits = rng.getrandbits
    lognormal = rng.lognormvariate
    batch = []
    db.execute("BEGIN")
    for hour, count in enumerate(counts):
        hour_start = MONTH_START_MS + hour * HOUR_MS
        stamps = sorted(rng.randrange(HOUR_MS) for _ in range(count))
        who = rng.choices(customers, cum_weights=cum_shares, k=count)
        for offset, c in zip(stamps, who):
            ts = hour_start + offset
            m = draw(c.model_table, rand())
            name, provider, route, path, served, *_, reasoning_model = MODELS[m]
            stream = 1 if rand() < 0.4 else 0
            latency = round(lognormal(6.5, 0.6), 3)
            if rand() < 0.03:
                status = ERROR_STATUSES[int(rand() * len(ERROR_STATUSES))]
                inp = cache_read = cache_write = out = reasoning = 0
                cost_text = price_text = "0"
                raw = None
            else:
                status = 200
                prompt = int(lognormal(6.7, 1.1)) + 20
                cache_read = int(prompt * rand() * 0.8) if rand() < 0.35 else 0
                cache_write = int(prompt * 0.5) if provider == "anthropic" and rand() < 0.1 else 0
                inp = prompt - cache_read - cache_write
                out = int(lognormal(5.3, 0.9)) + 1
                reasoning = int(out * rand() * 0.7) if reasoning_model and rand() < 0.5 else 0
                cost_rates, price_rates = c.rates[m]
                cost_femto = femto(inp * cost_rates[0] + cache_read * cost_rates[1] + cache_write * cost_rates[2] + out * cost_rates[3])
                price_femto = femto(
                    inp * price_rates[0] + cache_read * price_rates[1] + cache_write * price_rates[2] + out * price_rates[3])
                cost_text = money_text(cost_femto)
                price_text = money_text(price_femto)
                if checked < 20_000:  # the integer path must agree with Decimal
                    tokens = [inp, cache_read, cache_write, out]
                    per_million = list(MODELS[m][5:9])
                    assert Decimal(cost_text) == decimal_amount(tokens, per_million, Decimal(1)), (cost_text, tokens, name)
                    assert Decimal(price_text) == decimal_amount(tokens, per_million, c.factor), (price_text, tokens, name)
                    checked += 1
                cached = f',"cached_tokens":{cache_read}' if cache_read else ""
                raw = f'{{"prompt_tokens":{prompt},"completion_tokens":{out},"total_tokens":{prompt + out}{cached}}}'
            bits = getrandbits(64)
            batch.append(
                (
                    f"evt_{ts:012x}7{bits >> 52 & 0xFFF:03x}{(bits >> 40 & 0x3FFF) | 0x8000:04x}{bits & 0xFFFFFFFFFF:010x}{getrandbits(8):02x}",
                    ts, c.id, draw(c.key_table, rand()), draw(c.feature_table, rand()),
                    f"user-{int(rand() * 5000)}" if rand() < 0.3 else None, None, provider, route, path, name, served,
                    status, stream, inp, cache_read, cache_write, 0, out, reasoning, 0, 0, raw, "default" if provider == "openai" else None,
                    latency, round(latency * 0.3, 3) if stream else None, round(latency * 0.95, 3), cost_text, price_text, "USD", 0, 1,
                    None, None, 0, 0, 0, 0, c.book, c.price_currency, f"req_{bits:016x}",
                ) + zeros
            )
        if len(batch) >= 50_000 or hour == len(counts) - 1:
            db.executemany(insert, batch)
            written += len(batch)
            uncommitted += len(batch)
            batch.clear()
            if uncommitted >= 500_000:
                uncommitted = 0
                db.execute("COMMIT")
                elapsed = time.monotonic() - started
                print(f"  {written:>11,} events  {elapsed:6.0f} s  {written / elapsed:8,.0f}/s", file=sys.stderr, flush=True)
                db.execute("BEGIN")
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    elapsed = time.monotonic() - started
    print(f"generated {written:,} events for {args.customers:,} customers in {elapsed:.0f} s ({written / elapsed:,.0f} events/s)")


if __name__ == "__main__":
    main()
