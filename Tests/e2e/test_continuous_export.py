"""Usage in billing systems within a minute: `serve` with a Stripe meter-events sink and an OpenMeter sink sends the
usage of the billing period in progress continuously, as delta lines, while 1,000 requests go through the proxy over
about a minute. The billing systems (loopback simulators) fail a third of their requests, before and after processing
them, and Tollgate is killed with SIGKILL halfway and started again. Every event must reach both systems within 60 s
of its commit (p95), each token once; `tollgate export reconcile` must find that the deltas sum to the period."""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import openai
import pytest

from billing_sim import BillingSimulator
from conftest import CLI_TIMEOUT, MESSAGES, start_tollgate, stop_process, wait_for

pytestmark = pytest.mark.proxy

CUSTOMERS = ("live-a", "live-b", "live-c")
REQUESTS = 1000
SPREAD_S = 60.0
BILLING_KEY = "sk_test_billing"
METERED_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")
# A third of the sinks' requests fail: before processing, after it (answered 500 or dropped), rate limited.
FAULTS = {"fail_before": 0.12, "fail_after": 0.1, "drop_after": 0.06, "rate_limit": 0.05, "retry_after": 1}


def seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def sinks_yaml(origin: str) -> str:
    common = f'base_url: "{origin}", api_key: "{BILLING_KEY}", timeout_s: 2, max_attempts: 40, initial_backoff_s: 0.2, max_backoff_s: 5'
    return (
        "sinks:\n"
        f"  meters: {{type: stripe, mode: meter_events, event_name: llm_tokens, {common}}}\n"
        f"  openmeter: {{type: openmeter, event_name: llm_usage, {common}}}\n"
        "export: {interval_s: 3600, continuous_s: 10}\n"
    )


@pytest.fixture
def billing() -> BillingSimulator:
    simulator = BillingSimulator(api_key=BILLING_KEY)
    yield simulator
    simulator.close()


def test_usage_reaches_meter_event_sinks_within_a_minute_exactly_once(sim, billing: BillingSimulator, tmp_path: Path) -> None:
    directory = tmp_path / "live"
    config = sinks_yaml(billing.origin)
    proxy = start_tollgate(sim.origin, directory, extra_config=config)
    state = {"proxy": proxy}
    try:
        keys = {customer: proxy.create_key(customer) for customer in CUSTOMERS}
        for customer in CUSTOMERS:
            proxy.cli("customers", "set", "--customer", customer, "--external", f"stripe=cus_{customer}",
                      "--external", f"openmeter={customer}")
        billing.configure(**FAULTS)

        # 1,000 requests paced over about a minute by four senders; Tollgate is killed and restarted halfway.
        sent = {"ok": 0, "failed": 0}
        lock = threading.Lock()
        started = time.monotonic()

        def sender(index: int) -> None:
            for number in range(index, REQUESTS, 4):
                wait = started + number * SPREAD_S / REQUESTS - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                customer = CUSTOMERS[number % len(CUSTOMERS)]
                client = openai.OpenAI(base_url=state["proxy"].base_url, api_key=keys[customer], max_retries=0, timeout=10)
                try:
                    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
                    outcome = "ok"
                except openai.APIError:
                    outcome = "failed"  # in flight when the proxy was killed, or refused while it restarted
                with lock:
                    sent[outcome] += 1

        threads = [threading.Thread(target=sender, args=(index,)) for index in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(SPREAD_S / 2)
        proxy.proc.kill()
        proxy.proc.wait(timeout=CLI_TIMEOUT)
        state["proxy"] = start_tollgate(sim.origin, directory, extra_config=config)
        for thread in threads:
            thread.join()
        assert sent["ok"] >= REQUESTS * 0.9, sent

        proxy = state["proxy"]
        events = [event for event in proxy.events() if event["customer"] in CUSTOMERS and event["status"] == 200]
        assert len(events) >= sent["ok"], "an answered request has no event"
        tokens = defaultdict(int)
        for event in events:
            tokens[event["customer"]] += sum(event[name] for name in METERED_TOKENS)

        def stripe_tokens() -> dict[str, int]:
            got = defaultdict(int)
            for meter_event in list(billing.stripe_meter_events.values()):
                got[meter_event["payload"]["stripe_customer_id"].removeprefix("cus_")] += int(meter_event["payload"]["value"])
            return dict(got)

        def openmeter_tokens() -> dict[str, int]:
            got = defaultdict(int)
            for cloud_event in list(billing.openmeter_events.values()):
                got[cloud_event["subject"]] += sum(int(cloud_event["data"][name]) for name in METERED_TOKENS)
            return dict(got)

        def outbox_settled() -> bool:
            # A line the sink accepted but whose answer was dropped is marked sent by its retry, a little later.
            return all(line["state"] == "sent" for sink in ("meters", "openmeter")
                       for line in json.loads(proxy.cli("export", "lines", "--sink", sink, "--format", "json").stdout))

        wait_for(lambda: stripe_tokens() == dict(tokens) and openmeter_tokens() == dict(tokens) and outbox_settled(), 120,
                 "both billing systems to hold every token, and every line marked sent")

        # Each token once: the sinks kept exactly the outbox's lines (duplicates were sent, and dropped by their keys).
        for sink, kept in (("meters", set(billing.stripe_meter_events)),
                           ("openmeter", {key for _, key in billing.openmeter_events})):
            lines = json.loads(proxy.cli("export", "lines", "--sink", sink, "--format", "json").stdout)
            assert {line["key"] for line in lines} == kept
            assert all(line["state"] == "sent" for line in lines)
            # Within a minute of the commit: each event's first line was sent (the sink accepted it) this soon after the
            # event's time (arrival; its commit follows within milliseconds).
            first_sent: dict[str, float] = {}
            for line in lines:
                for event_id in line["event_ids"]:
                    first_sent[event_id] = min(first_sent.get(event_id, float("inf")), seconds(line["sent"]))
            delays = sorted(first_sent[event["id"]] - seconds(event["timestamp"]) for event in events)
            p95 = delays[int(len(delays) * 0.95) - 1]
            figures = f"{sink}: {len(events)} events, p95 {p95:.1f} s, median {statistics.median(delays):.1f} s, max {delays[-1]:.1f} s"
            print(figures)
            assert p95 <= 60, figures
            assert proxy.cli("export", "reconcile", "--sink", sink, "--period", "current").returncode == 0
        assert billing.duplicates, "no send was repeated: the faults did not exercise deduplication"
    finally:
        stop_process(state["proxy"].proc)
