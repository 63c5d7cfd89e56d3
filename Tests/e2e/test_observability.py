"""Operations (issue 19): what an operator's tools see of a running Tollgate, checked against the meter.

- Metrics: a real Prometheus (`prometheus_server.py`) scrapes `metrics.listen` every second while SDK traffic goes
  through (plain, streams, embeddings, Anthropic, an upstream 500, a hard cap, bad keys); its HTTP API's request,
  token, price and meter counters equal what the meter recorded, and the histograms counted every request.
- Traces: an OTLP/HTTP JSON collector stub (`otlp_receiver.py`) gets exactly one CLIENT span per inference, with
  the GenAI attributes equal to the event's, the client's W3C trace continued, and the span's `traceparent` sent
  upstream; spans are exported on their own within seconds and flushed at SIGTERM (which exits 0); the `request`
  log line carries the span's trace id.
- Logs: `log.format: json` over a run through every error path: each stderr line is a JSON object with ts, level
  and msg, none holds a provider key or a full virtual key, and one `request` line per event carries its id.
- Health: `/readyz` turns 503 while the meter cannot write (its database locked by another writer) and 200 again by
  itself once it can, losing no event; a config whose only provider has no key is unready while `/livez` is 200; a
  refused config reload leaves it ready, named in `config_reload` beside the checks and counted.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from conftest import (
    EVENT_TIMEOUT, HTTP_TIMEOUT, MESSAGES, PROVIDER_KEY, RETIRED_MODELS_PRICED, RawResponse, Simulator, Tollgate, free_port, raw_post,
    after_key_change, serve, start_tollgate, stop_process, tail, wait_for,
)
from otlp_receiver import OTLPReceiver
from prometheus_server import Prometheus, prometheus_binary

pytestmark = pytest.mark.proxy

# The metric's token class → the event's column (cache_write_1h_tokens is a part of cache_write_tokens).
CLASS_COLUMNS = {
    "input": "input_tokens", "output": "output_tokens", "cached_input": "cache_read_tokens",
    "cache_write": "cache_write_tokens", "reasoning": "reasoning_tokens",
}
# The spec's histogram buckets, seconds (plus +Inf).
BUCKETS = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, float("inf")}
LEVELS = {"trace", "debug", "info", "notice", "warning", "error", "critical"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
HEX_TRACE_ID = re.compile(r"[0-9a-f]{32}")
HEX_SPAN_ID = re.compile(r"[0-9a-f]{16}")
SPAN_KIND_CLIENT = (3, "SPAN_KIND_CLIENT")
STATUS_CODE_ERROR = (2, "STATUS_CODE_ERROR")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(url: str) -> dict[str, list[tuple[dict, float]]]:
    """A Prometheus text exposition, fetched: samples by metric name, each (labels, value)."""
    response = httpx.get(url, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text[:500]}"
    samples: dict[str, list[tuple[dict, float]]] = defaultdict(list)
    for line in response.text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line of the text exposition format: {line!r}"
        labels = dict(LABEL.findall(match.group(2) or ""))
        samples[match.group(1)].append((labels, float(match.group(3))))
    return samples


def total(samples: dict[str, list[tuple[dict, float]]], name: str) -> float | None:
    """The sum of a scraped metric's samples, None when it has none."""
    return sum(value for _, value in samples[name]) if samples.get(name) else None


def close_to(got: float | None, want: Decimal) -> bool:
    """A float sum of money equal to the meter's exact sum, within float rounding."""
    got_decimal = Decimal(repr(got or 0.0))
    return abs(got_decimal - want) <= Decimal("1e-9") * max(Decimal(1), abs(want))


def money(value: Any) -> Decimal:
    """An attribute or log field holding money (a decimal string, or a double) as a Decimal."""
    return Decimal(value) if isinstance(value, str) else Decimal(repr(float(value)))


def prompt_tokens(event: dict) -> int:
    """The prompt's tokens, cached or not, as gen_ai.usage.input_tokens and the `request` line's input_tokens count them
    (the event's input_tokens is the uncached part)."""
    return event["input_tokens"] + event["cache_read_tokens"] + event["cache_write_tokens"]


# --- 1. Prometheus -------------------------------------------------------------------------------------------------


def refusal_code(error: openai.APIStatusError) -> str:
    """The code of an error body as the openai SDK keeps it (`body` is the `error` member)."""
    body = error.body if isinstance(error.body, dict) else {}
    return str(body.get("code"))


def metered_traffic(proxy: Tollgate) -> Counter:
    """Plain and streamed chats, embeddings, an Anthropic message, an upstream 500, a hard cap and bad keys; returns
    the codes of the refusals Tollgate answered itself, counted (keys are 1-tuples, as `Prometheus.by` gives)."""
    refusals: Counter = Counter()
    key = proxy.create_key("cust-prom")
    capped = proxy.create_key("cust-prom-capped")
    proxy.cli("limits", "set", "--customer", "cust-prom-capped", "--metric", "requests", "--period", "day", "--amount", "1")
    client = proxy.client(key)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-sim-cached-tokens": "6"})
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=20)
    for _ in range(2):
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
        assert any(chunk.choices and chunk.choices[0].finish_reason for chunk in chunks), chunks
    client.embeddings.create(model="text-embedding-3-small", input="count these tokens, please")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-sim-error": "500"})
    proxy.anthropic_client(key).messages.create(
        model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "Say hello in three words."}])
    proxy.client(capped).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
    with pytest.raises(openai.APIStatusError) as over_cap:
        proxy.client(capped).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
    assert over_cap.value.status_code == 402
    refusals[(refusal_code(over_cap.value),)] += 1
    for _ in range(2):
        with pytest.raises(openai.AuthenticationError) as bad_key:
            proxy.client("tg_" + secrets.token_hex(20)).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        refusals[(refusal_code(bad_key.value),)] += 1
    return refusals


def check_histogram(prometheus: Prometheus, name: str, observations: int | None) -> None:
    """`name` has the spec's buckets, +Inf equal to _count, a positive _sum, and `observations` (if given) as _count."""
    count = prometheus.scalar(f"sum({name}_count)")
    assert count, f"{name} has no observations"
    if observations is not None:
        assert count == observations, f"{name}_count is {count}, expected {observations}"
    assert prometheus.scalar(f'sum({name}_bucket{{le="+Inf"}})') == count, f"{name}: +Inf bucket differs from _count"
    assert (prometheus.scalar(f"sum({name}_sum)") or 0) > 0, f"{name}_sum is not positive"
    bounds = {float(sample["metric"]["le"]) for sample in prometheus.query(f"{name}_bucket")}
    assert bounds == BUCKETS, f"{name}: buckets {sorted(bounds)}, expected {sorted(BUCKETS)}"


def test_prometheus_scrapes_counters_equal_to_the_meter(sim: Simulator, tmp_path: Path) -> None:
    prometheus_binary()  # skip (or fail under CI) before starting anything
    metrics_port, admin_port = free_port(), free_port()
    started = time.time()
    proxy = start_tollgate(sim.origin, tmp_path / "tollgate", extra_config=(
        f'metrics: {{listen: "127.0.0.1:{metrics_port}", customer_label: true}}\n'
        f'admin: {{listen: "127.0.0.1:{admin_port}", token: "admin-{secrets.token_hex(8)}"}}\n'))
    prometheus = None
    try:
        prometheus = Prometheus(tmp_path / "prometheus", [f"127.0.0.1:{metrics_port}"])
        refusals = metered_traffic(proxy)
        proxy.new_events(set(), count=9)  # 9 inferences answered by the provider (and maybe the cap's refusal)
        events = proxy.events()
        moment = time.time()
        prometheus.wait_for_scrape_after(moment)
        admin = scrape(f"http://127.0.0.1:{admin_port}/metrics")  # no token: scrapers rarely carry one

        reached = [event for event in events if event.get("upstream_ms") is not None]
        assert prometheus.scalar("sum(tollgate_requests_total)") == len(events)
        assert prometheus.by("sum by (status_class) (tollgate_requests_total)", "status_class") == Counter(
            (f"{event['status'] // 100}xx",) for event in events)
        assert prometheus.by("sum by (provider, route) (tollgate_requests_total)", "provider", "route") == Counter(
            (event["provider"], event["route"]) for event in events)
        assert prometheus.by("sum by (customer) (tollgate_requests_total)", "customer") == Counter(
            (event["customer"],) for event in events)

        tokens = prometheus.by("sum by (provider, class) (tollgate_tokens_total)", "provider", "class")
        assert {cls for _, cls in tokens} <= set(CLASS_COLUMNS), f"unknown token classes: {tokens}"
        for provider in {event["provider"] for event in events}:
            for cls, column in CLASS_COLUMNS.items():
                want = sum(event[column] for event in events if event["provider"] == provider)
                assert tokens.get((provider, cls), 0) == want, f"{provider} {cls} tokens: {tokens.get((provider, cls))} != {want}"
        assert sum(event["cache_read_tokens"] for event in events) == 6, "the cached-input class was not exercised"
        by_customer = prometheus.by("sum by (customer) (tollgate_tokens_total)", "customer")
        for customer in {event["customer"] for event in events}:
            want = sum(event[column] for event in events if event["customer"] == customer for column in CLASS_COLUMNS.values())
            assert by_customer.get((customer,), 0) == want, f"{customer}'s tokens: {by_customer} != {want}"

        for metric, field, currency in (("tollgate_price_total", "price", "price_currency"), ("tollgate_cost_total", "cost", "currency")):
            sums: dict[str, Decimal] = defaultdict(Decimal)
            for event in events:
                sums[event[currency]] += Decimal(event[field])
            got = prometheus.by(f"sum by (currency) ({metric})", "currency")
            assert {key for (key,) in got} == set(sums), f"{metric}: currencies {got} vs the meter's {dict(sums)}"
            for key, want in sums.items():
                assert want > 0 and close_to(got[(key,)], want), f"{metric}{{currency={key}}}: {got[(key,)]} != {want}"

        check_histogram(prometheus, "tollgate_request_duration_seconds", len(events))
        check_histogram(prometheus, "tollgate_upstream_duration_seconds", len(reached))
        check_histogram(prometheus, "tollgate_added_latency_seconds", len(reached))
        check_histogram(prometheus, "tollgate_time_to_first_byte_seconds", None)
        assert prometheus.scalar("sum(tollgate_time_to_first_byte_seconds_count)") <= len(events)

        assert prometheus.by("sum by (code) (tollgate_refusals_total)", "code") == refusals
        assert prometheus.by("sum by (outcome) (tollgate_admissions_total)", "outcome") == {
            ("admitted",): len(reached), ("refused",): 1}
        assert (prometheus.scalar("sum(tollgate_usage_estimated_total)") or 0) == sum(event["estimated"] for event in events)

        assert prometheus.scalar("sum(tollgate_meter_events_written_total)") == len(events)
        assert prometheus.scalar("sum(tollgate_meter_batch_size_sum)") == len(events), "batch sizes do not add up to the events"
        commits = prometheus.scalar("sum(tollgate_meter_batch_size_count)")
        assert commits and commits <= len(events)
        assert prometheus.scalar("sum(tollgate_meter_commit_seconds_count)") == commits
        assert (prometheus.scalar("sum(tollgate_meter_write_failures_total)") or 0) == 0
        assert prometheus.scalar("tollgate_meter_writable") == 1
        assert prometheus.scalar("tollgate_meter_queue_depth") == 0
        assert prometheus.scalar("sum(tollgate_reservations_held)") == 0
        assert prometheus.scalar("tollgate_providers_usable") == 3
        build = prometheus.query("tollgate_build_info")
        assert len(build) == 1 and float(build[0]["value"][1]) == 1 and build[0]["metric"].get("version"), build
        assert prometheus.scalar("process_resident_memory_bytes") > 1_000_000
        assert prometheus.scalar("process_open_fds") > 0
        assert prometheus.scalar("process_cpu_seconds_total") > 0
        assert started - 5 <= prometheus.scalar("process_start_time_seconds") <= moment

        # The admin listener serves the same registry (its counters cannot have moved since: no traffic).
        assert total(admin, "tollgate_meter_events_written_total") == len(events)
        assert total(admin, "tollgate_requests_total") == len(events)
    finally:
        if prometheus:
            prometheus.stop()
        stop_process(proxy.proc)


# --- 2. Traces -----------------------------------------------------------------------------------------------------


def traced_chat(proxy: Tollgate, *, stream: bool, client_trace: bool, fault: str | None = None, cached: int = 0) -> dict:
    """One chat completion carrying a unique marker (and, with `client_trace`, a W3C traceparent); returns what the
    test needs to find its event, its span and its upstream request."""
    call = {"marker": uuid.uuid4().hex, "stream": stream, "trace_id": None, "parent_id": None}
    headers = {}
    if client_trace:
        call["trace_id"], call["parent_id"] = secrets.token_hex(16), secrets.token_hex(8)
        headers["traceparent"] = f"00-{call['trace_id']}-{call['parent_id']}-01"
    if fault:
        headers["x-sim-error"] = fault
    if cached:
        headers["x-sim-cached-tokens"] = str(cached)
    messages = [{"role": "user", "content": f"Repeat the marker {call['marker']} please."}]
    completions = proxy.client().chat.completions.with_raw_response
    try:
        raw = completions.create(model="gpt-4o-mini", messages=messages, stream=stream, extra_headers=headers)
    except openai.APIStatusError as error:
        assert fault and error.status_code == int(fault), error
        call["event_id"] = error.response.headers.get("x-tollgate-event-id")
        return call
    call["event_id"] = raw.headers.get("x-tollgate-event-id")
    if stream:
        assert list(raw.parse())
    else:
        assert raw.parse().usage is not None
    return call


def span_problems(span: dict, event: dict, call: dict) -> list[str]:
    """How one inference's span differs from its event and the client's trace (empty: it does not)."""
    problems: list[str] = []

    def expect(condition: bool, problem: str) -> None:
        if not condition:
            problems.append(problem)

    attributes = span["attributes"]
    expect(bool(HEX_TRACE_ID.fullmatch(span["traceId"])) and span["traceId"] != "0" * 32, f"traceId {span['traceId']!r}")
    expect(bool(HEX_SPAN_ID.fullmatch(span["spanId"])) and span["spanId"] != "0" * 16, f"spanId {span['spanId']!r}")
    expect(span["kind"] in SPAN_KIND_CLIENT, f"kind {span['kind']!r}, expected CLIENT")
    expect(span["name"] == f"chat {event['model']}", f"name {span['name']!r}, expected 'chat {event['model']}'")
    expect(span["endTimeUnixNano"] >= span["startTimeUnixNano"] > 0, "start/end times")
    expect(span["resource"].get("service.name") == "tollgate-e2e", f"resource {span['resource']}")
    expected = {
        "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": event["model"], "http.response.status_code": event["status"],
        "server.address": "127.0.0.1", "tollgate.event_id": event["id"], "tollgate.customer": event["customer"],
        "tollgate.key_id": event["key_id"], "tollgate.provider": event["provider"], "tollgate.route": event["route"],
        "tollgate.currency": event["price_currency"], "tollgate.estimated": event["estimated"],
    }
    if event["status"] == 200:
        expected.update({
            "gen_ai.response.model": event["served_model"], "gen_ai.usage.input_tokens": prompt_tokens(event),
            "gen_ai.usage.output_tokens": event["output_tokens"],
        })
        expect(event["input_tokens"] > 0 and event["output_tokens"] > 0, "the event has no tokens")
    if event["request_id"]:
        expected["tollgate.provider_request_id"] = event["request_id"]
    # gen_ai.response.id is the completion's id in the conventions, which Tollgate does not keep: not set.
    expect("gen_ai.response.id" not in attributes, f"gen_ai.response.id = {attributes.get('gen_ai.response.id')!r}, expected none")
    for name, want in expected.items():
        expect(name in attributes and attributes[name] == want, f"{name} = {attributes.get(name, '<absent>')!r}, expected {want!r}")
    for name, want in (("gen_ai.usage.input_tokens", prompt_tokens(event)), ("gen_ai.usage.output_tokens", event["output_tokens"])):
        expect(attributes.get(name, want) == want, f"{name} = {attributes.get(name)!r}, the event has {want}")
    for name, field in (("tollgate.price", "price"), ("tollgate.cost", "cost")):
        expect(name in attributes and money(attributes[name]) == Decimal(event[field]),
               f"{name} = {attributes.get(name, '<absent>')!r}, the event has {event[field]}")
    for name, field in (("tollgate.usage.cached_input_tokens", "cache_read_tokens"), ("tollgate.usage.reasoning_tokens", "reasoning_tokens")):
        expect(attributes.get(name, 0) == event[field], f"{name} = {attributes.get(name)!r}, the event has {event[field]}")
    failed = span["status"].get("code") in STATUS_CODE_ERROR
    expect(failed == (event["status"] >= 500), f"status {span['status']} for HTTP {event['status']}")
    if call["trace_id"]:
        expect((span["traceId"], span["parentSpanId"]) == (call["trace_id"], call["parent_id"]),
               f"trace ({span['traceId']}, parent {span['parentSpanId']!r}) does not continue the client's "
               f"({call['trace_id']}, {call['parent_id']})")
    else:
        expect(not span["parentSpanId"], f"parentSpanId {span['parentSpanId']!r} without a client traceparent")
    return problems


def test_one_span_per_inference_continuing_the_client_trace(sim: Simulator, tmp_path: Path) -> None:
    receiver = OTLPReceiver()
    proxy = start_tollgate(sim.origin, tmp_path, extra_config=(
        f'tracing: {{endpoint: "{receiver.origin}", protocol: http/json, service_name: tollgate-e2e}}\n'
        "log: {format: json, requests: true}\n"))
    try:
        proxy.key = proxy.create_key("cust-traced")
        # Exported by the batch processor on its own (every ~5 s), the process still running.
        calls = [traced_chat(proxy, stream=False, client_trace=True), traced_chat(proxy, stream=True, client_trace=False)]
        early = receiver.wait_for(len(calls), timeout=15)
        assert len(early) >= len(calls), f"{len(early)} span(s) exported within 15 s of {len(calls)} inferences; " \
            f"rejected exports: {receiver.rejected}\n{tail(proxy.stderr_path)}"
        # Flushed at SIGTERM.
        calls += [
            traced_chat(proxy, stream=True, client_trace=True), traced_chat(proxy, stream=False, client_trace=False, cached=5),
            traced_chat(proxy, stream=False, client_trace=True, fault="500"),
        ]
        proxy.new_events(set(), count=len(calls))
        proxy.proc.send_signal(signal.SIGTERM)
        exit_code = proxy.proc.wait(timeout=30)
    finally:
        stop_process(proxy.proc)
        receiver.close()

    assert not receiver.rejected, f"the collector refused exports: {receiver.rejected}"
    spans = receiver.snapshot()
    events = {event["id"]: event for event in proxy.events()}
    assert len(events) == len(calls) and all(call["event_id"] in events for call in calls), (calls, list(events))
    by_event = Counter(span["attributes"].get("tollgate.event_id") for span in spans)
    assert by_event == Counter(events.keys()), f"expected one span per event, got {by_event} for events {list(events)}"
    assert len({span["spanId"] for span in spans}) == len(spans)
    upstream = sim.requests()
    logged = {record.get("event_id"): record for record in parse_log(proxy.stderr())[0] if record["msg"] == "request"}
    problems = []
    for call in calls:
        span = next(span for span in spans if span["attributes"]["tollgate.event_id"] == call["event_id"])
        label = f"{'stream' if call['stream'] else 'plain'}{' with traceparent' if call['trace_id'] else ''} ({call['event_id']})"
        problems += [f"{label}: {problem}" for problem in span_problems(span, events[call["event_id"]], call)]
        forwarded = [request for request in upstream if call["marker"] in request["body"]]
        assert len(forwarded) == 1, f"{len(forwarded)} upstream requests carry marker {call['marker']}"
        sent = {name.lower(): value for name, value in forwarded[0]["headers"].items()}.get("traceparent")
        if sent != f"00-{span['traceId']}-{span['spanId']}-01":
            problems.append(f"{label}: upstream traceparent {sent!r}, expected 00-{span['traceId']}-{span['spanId']}-01")
        trace_id = logged.get(call["event_id"], {}).get("trace_id")
        if trace_id != span["traceId"]:
            problems.append(f"{label}: the request log line's trace_id is {trace_id!r}, the span's {span['traceId']}")
    if exit_code != 0:
        fatal = [line for line in proxy.stderr().splitlines() if "Fatal error" in line or "crashed" in line]
        problems.append(f"tollgate exited {exit_code} at SIGTERM: {fatal[:3]}")
    assert not problems, f"{len(problems)} problem(s) with the spans or the shutdown:\n" + "\n".join(problems)


# --- 3. JSON logs --------------------------------------------------------------------------------------------------


class ErrorPaths:
    """A proxy whose provider keys are recognisable, driven through every error path; keeps every secret it used
    and every response."""

    def __init__(self, proxy: Tollgate, provider_secrets: list[str]) -> None:
        self.proxy = proxy
        self.secrets = [*provider_secrets, PROVIDER_KEY]
        self.responses: list[tuple[str, int, RawResponse | None]] = []

    def key(self, customer: str) -> str:
        secret = self.proxy.create_key(customer)
        self.secrets.append(secret)
        return secret

    def send(self, name: str, want: int, url: str, body: Any, key: str | None, headers: dict | None = None) -> RawResponse | None:
        try:
            response = raw_post(url, body, key, headers)
        except httpx.HTTPError:  # a stream cut may break the connection: the partial body is what the client gets
            self.responses.append((name, want, None))
            return None
        self.responses.append((name, want, response))
        assert response.status == want, f"{name}: status {response.status}, expected {want}: {response.decoded()[:300]!r}"
        return response

    def run(self) -> None:
        proxy, chat = self.proxy, {"model": "gpt-4o-mini", "messages": MESSAGES}
        routed = proxy.origin + "/secretive/v1/chat/completions"
        key = self.key("cust-logs")
        self.send("plain", 200, routed, chat, key)
        self.send("plain, cached prompt", 200, routed, chat, key, {"x-sim-cached-tokens": "5"})
        self.send("stream", 200, routed, {**chat, "stream": True}, key)
        self.send("missing key", 401, routed, chat, None)
        bad = "tg_" + secrets.token_hex(20)
        self.secrets.append(bad)
        self.send("bad key", 401, routed, chat, bad)
        revoked = self.key("cust-logs-revoked")
        mark = proxy.mark()
        self.send("before revocation", 200, routed, chat, revoked)
        proxy.cli("keys", "revoke", proxy.one_new_event(mark)["key_id"])
        after_key_change()
        self.send("revoked key", 401, routed, chat, revoked)
        self.send("unknown route", 404, proxy.origin + "/nope/x", chat, key)
        self.send("malformed json", 400, routed, b'{"model": "gpt-4o-mini", "messages": [', key)
        self.send("upstream 500", 500, routed, chat, key, {"x-sim-error": "500"})
        self.send("upstream unreachable", 502, proxy.origin + "/deadend/v1/chat/completions", chat, key)
        self.send("upstream timeout", 504, routed, chat, key, {"x-sim-stall-ms": "2500"})
        capped = self.key("cust-logs-capped")
        proxy.cli("limits", "set", "--customer", "cust-logs-capped", "--metric", "requests", "--period", "day", "--amount", "1")
        self.send("under cap", 200, routed, chat, capped)
        self.send("over cap", 402, routed, chat, capped)
        reused = f"idem-{uuid.uuid4()}"
        self.send("idempotent first", 200, routed, chat, key, {"Idempotency-Key": reused})
        conflict = self.send("idempotency conflict", 422, routed, {**chat, "max_tokens": 7}, key, {"Idempotency-Key": reused})
        assert conflict and json.loads(conflict.decoded())["error"]["code"] == "idempotency_key_reused"
        self.send("stream cut", 200, routed, {**chat, "stream": True}, key, {"x-sim-cut-after": "3"})
        # The provider key in a client header must not be echoed into the log either.
        self.send("provider key sent by a client", 401, routed, chat, self.secrets[0])

    def event_ids(self) -> list[str]:
        """The event ids the responses carried."""
        return [response.headers["x-tollgate-event-id"] for _, _, response in self.responses
                if response is not None and "x-tollgate-event-id" in response.headers]


def parse_log(text: str) -> tuple[list[dict], list[str]]:
    """The JSON objects of a log, and the lines that are not one with ts, level and msg."""
    records, bad = [], []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            bad.append(line)
            continue
        if not (isinstance(record, dict) and isinstance(record.get("ts"), str) and TIMESTAMP.fullmatch(record["ts"])
                and record.get("level") in LEVELS and isinstance(record.get("msg"), str) and record["msg"]):
            bad.append(line)
            continue
        records.append(record)
    return records, bad


def lines_holding(text: str, secret: str) -> list[tuple[int, str, list[str]]]:
    """The lines of a log holding `secret`: line number, msg and the fields holding it (when the line is JSON)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if secret not in line:
            continue
        try:
            record = json.loads(line)
            fields = [name for name, value in record.items() if secret in str(value)]
            found.append((number, str(record.get("msg"))[:80], fields))
        except (ValueError, AttributeError):
            found.append((number, line[:80], []))
    return found


def check_request_line(record: dict, event: dict) -> None:
    """A `request` log line against its event."""
    assert record["level"] == "info", record
    want = {field: event[field] for field in (
        "customer", "key_id", "provider", "route", "model", "served_model", "status", "stream", "output_tokens",
        "reasoning_tokens", "request_id", "estimated")}
    want.update(input_tokens=prompt_tokens(event), cached_input_tokens=event["cache_read_tokens"])
    for field, value in want.items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        got = str(record.get(field)).lower() if isinstance(value, bool) else str(record.get(field))
        assert got == text, f"request line {field}={record.get(field)!r}, expected {value!r} from the event: {record}"
    for field in ("price", "cost"):
        assert money(record[field]) == Decimal(event[field]), f"request line {field}: {record[field]!r} vs {event[field]!r}"
    assert record.get("currency") == event["price_currency"], record


def test_json_logs_parse_line_by_line_and_hold_no_secret(sim: Simulator, tmp_path: Path) -> None:
    provider_secrets = [f"sk-test-PROVIDERSECRET-{secrets.token_hex(12)}", f"sk-test-PROVIDERSECRET-{secrets.token_hex(12)}"]
    closed_port = free_port()
    proxy = start_tollgate(sim.origin, tmp_path, extra_config=(
        f'  secretive: {{base_url: "{sim.origin}", api_key: "{provider_secrets[0]}", forward_headers: ["x-sim-*"]}}\n'
        f'  deadend: {{base_url: "http://127.0.0.1:{closed_port}", api_key: "{provider_secrets[1]}"}}\n'
        "log: {format: json, requests: true, level: debug}\n"
        "proxy: {read_timeout_s: 1}\n" + RETIRED_MODELS_PRICED))
    paths = ErrorPaths(proxy, provider_secrets)
    try:
        paths.run()
        proxy.new_events(set(), count=len(paths.event_ids()))
    finally:
        stop_process(proxy.proc)  # SIGTERM: every log line written

    records, bad = parse_log(proxy.stderr())
    assert not bad, f"{len(bad)} stderr line(s) are not JSON objects with ts, level and msg, e.g.: {bad[:5]}"

    events = {event["id"]: event for event in proxy.events()}
    requests = [record for record in records if record["msg"] == "request"]
    by_event = Counter(record.get("event_id") for record in requests)
    assert by_event == Counter(events.keys()), f"request lines per event id: {by_event}, the meter has {list(events)}"
    assert set(paths.event_ids()) <= set(events), "a response's x-tollgate-event-id has no event"
    for record in requests:
        check_request_line(record, events[record["event_id"]])

    text = proxy.stderr() + tail(tmp_path / "tollgate.stdout.log", limit=10**9)
    leaks = [f"{secret[:16]}… in line {number} (msg {msg!r}, fields {fields})"
             for secret in paths.secrets for number, msg, fields in lines_holding(text, secret)]
    assert not leaks, f"{len(leaks)} secret(s) in the log:\n" + "\n".join(leaks[:10])


# --- 4. Health -----------------------------------------------------------------------------------------------------


def readiness(proxy: Tollgate) -> tuple[int, dict]:
    response = httpx.get(proxy.origin + "/readyz", timeout=HTTP_TIMEOUT)
    return response.status_code, response.json()


def wait_for_readiness(proxy: Tollgate, ready: bool, timeout: float) -> tuple[int, dict]:
    """/readyz's answer once its status is 200 (`ready`) or not 200; fails after `timeout` seconds."""
    def answer() -> tuple[int, dict] | None:
        status, body = readiness(proxy)
        return (status, body) if (status == 200) == ready else None

    return wait_for(answer, timeout, f"/readyz to turn {'ready' if ready else 'unready'}")


def check_ready(status: int, body: dict) -> None:
    """A ready answer: 200, ready true, every check (meter, config and providers at least) "ok"."""
    assert status == 200 and body.get("ready") is True, (status, body)
    checks = body.get("checks") or {}
    assert {"meter", "config", "providers"} <= set(checks) and set(checks.values()) == {"ok"}, body


def check_live(proxy: Tollgate) -> None:
    response = httpx.get(proxy.origin + "/livez", timeout=HTTP_TIMEOUT)
    assert (response.status_code, response.text.strip()) == (200, "ok")


def test_readyz_follows_the_meter_and_recovers_by_itself(sim: Simulator, tmp_path: Path) -> None:
    metrics_port = free_port()
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    proxy = start_tollgate(sim.origin, tmp_path, extra_config=f'metrics: {{listen: "127.0.0.1:{metrics_port}"}}\n')
    try:
        proxy.key = proxy.create_key("cust-ready")
        client = proxy.client()
        check_ready(*readiness(proxy))
        check_live(proxy)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-tollgate-end-user": "before"})
        assert total(scrape(metrics), "tollgate_meter_writable") == 1

        # Another writer holds the database's write lock: the meter's writes time out (its busy timeout, retried).
        locker = sqlite3.connect(tmp_path / "tollgate.db", timeout=5, isolation_level=None)
        outcome: dict[str, Any] = {}

        def blocked_inference() -> None:
            try:
                answer = proxy.client().with_options(timeout=90).chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-tollgate-end-user": "during"})
                outcome["answer"] = answer
            except (openai.APIError, OSError) as error:
                outcome["error"] = error

        try:
            locker.execute("BEGIN IMMEDIATE")
            thread = threading.Thread(target=blocked_inference, daemon=True)
            thread.start()
            status, body = wait_for_readiness(proxy, ready=False, timeout=60)
            assert status == 503 and body["ready"] is False, (status, body)
            assert isinstance(body["checks"]["meter"], str) and body["checks"]["meter"] not in ("", "ok"), body
            assert body["checks"]["config"] == "ok" and body["checks"]["providers"] == "ok", body
            check_live(proxy)
            samples = scrape(metrics)
            assert total(samples, "tollgate_meter_writable") == 0
            assert (total(samples, "tollgate_meter_write_failures_total") or 0) >= 1
            with pytest.raises(openai.APIStatusError) as refused:  # fails closed meanwhile
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-tollgate-end-user": "refused"})
            assert refused.value.status_code == 503 and refusal_code(refused.value) == "meter_unavailable"
        finally:
            locker.rollback()
            locker.close()

        check_ready(*wait_for_readiness(proxy, ready=True, timeout=10))
        thread.join(timeout=90)
        assert "answer" not in outcome or outcome["answer"].usage is not None
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers={"x-tollgate-end-user": "after"})
        # The event the meter could not write was kept and written once it could: nothing lost, nothing doubled.
        wait_for(lambda: {"before", "during", "after"} <= {event["end_user"] for event in proxy.events()}, EVENT_TIMEOUT,
                   "the event of the inference made while the meter was locked, written once it recovered")
        assert Counter(event["end_user"] for event in proxy.events() if event["status"] == 200) == {
            "before": 1, "during": 1, "after": 1}
        assert total(scrape(metrics), "tollgate_meter_writable") == 1
    finally:
        stop_process(proxy.proc)


def test_readyz_is_unready_without_a_usable_provider_while_livez_is_ok(sim: Simulator, tmp_path: Path) -> None:
    metrics_port = free_port()
    config = tmp_path / "tollgate.yaml"
    config.write_text(
        f'meter: {{path: "{tmp_path / "tollgate.db"}"}}\n'
        f'metrics: {{listen: "127.0.0.1:{metrics_port}"}}\n'
        "providers:\n"
        f'  openai: {{base_url: "{sim.origin}", api_key_env: TOLLGATE_E2E_KEY_NOBODY_SETS}}\n')
    proxy = serve(["--config", str(config)], tmp_path, {})
    try:
        status, body = readiness(proxy)
        assert status == 503 and body["ready"] is False, (status, body)
        assert body["checks"]["meter"] == "ok" and body["checks"]["config"] == "ok", body
        reason = body["checks"]["providers"]
        assert isinstance(reason, str) and reason != "ok" and "openai" in reason, f"checks.providers should name openai: {body}"
        check_live(proxy)
        assert total(scrape(f"http://127.0.0.1:{metrics_port}/metrics"), "tollgate_providers_usable") == 0
    finally:
        stop_process(proxy.proc)


def test_a_refused_config_reload_leaves_the_proxy_ready(sim: Simulator, tmp_path: Path) -> None:
    """The last good config keeps serving: /readyz stays 200 and names the refused reload in `config_reload` (beside the
    checks: a refused reload is not a failing check)."""
    metrics_port = free_port()
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    proxy = start_tollgate(sim.origin, tmp_path, extra_config=f'metrics: {{listen: "127.0.0.1:{metrics_port}"}}\n')
    try:
        proxy.key = proxy.create_key("cust-reload")
        check_ready(*readiness(proxy))
        good = proxy.config_path.read_text()
        proxy.config_path.write_text(good + "no_such_setting: 1\n")  # picked up by the file watch
        status, body = wait_for(lambda: (lambda answer: answer if "config_reload" in json.dumps(answer[1]) else None)(
            readiness(proxy)), 20, "/readyz to mention config_reload after a refused reload")
        assert status == 200 and body["ready"] is True, (status, body)
        checks = body["checks"]
        assert (checks["meter"], checks["config"], checks["providers"]) == ("ok", "ok", "ok"), body
        assert "no_such_setting" in body.get("config_reload", ""), f"config_reload should say what was refused: {body}"
        samples = scrape(metrics)
        assert (total(samples, "tollgate_config_reload_failures_total"), total(samples, "tollgate_config_reloads_total")) == (1, 0)
        assert proxy.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).usage is not None

        proxy.config_path.write_text(good)
        wait_for(lambda: total(scrape(metrics), "tollgate_config_reloads_total") == 1, 20, "the good config reloaded")
        status, body = readiness(proxy)
        check_ready(status, body)
        assert "config_reload" not in body, body
        assert total(scrape(metrics), "tollgate_config_reload_failures_total") == 1
    finally:
        stop_process(proxy.proc)
