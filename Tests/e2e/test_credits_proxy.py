"""Credits, caps, rate limits and alerts through the running proxy (issue 4).

Each test starts its own proxy (its own meter) in front of the session's simulator and drives it with the official
`openai` SDK and plain HTTP: concurrent bursts against a small prepaid balance, a restart in the middle, a webhook
receiver that is down for a while, a requests-per-minute limit, a plan without a model, the customer usage view.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from conftest import MESSAGES, Simulator, Tollgate, after_key_change, free_port, running_tollgate, start_tollgate, stop_process

pytestmark = pytest.mark.proxy

WEBHOOK_SECRET = "whsec-test-secret-0123456789"


def balance(proxy: Tollgate, customer: str) -> dict:
    """`tollgate credits balance --customer C --format json`."""
    return json.loads(proxy.cli("credits", "balance", "--customer", customer, "--format", "json").stdout)


def ledger(proxy: Tollgate, customer: str) -> list[dict]:
    """Every ledger line of the customer's account."""
    return json.loads(proxy.cli("credits", "ledger", "--customer", customer, "--format", "json").stdout)


def chat(key: str, base_url: str, stream: bool, max_tokens: int = 16, delay_ms: int = 0) -> tuple[int, str]:
    """One chat completion over plain HTTP: (status, body text); a stream is read to its end. `delay_ms` makes the
    simulator wait that long before it answers."""
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": max_tokens, "stream": stream}
    headers = {"Authorization": f"Bearer {key}"}
    if delay_ms:
        headers["x-sim-stall-ms"] = str(delay_ms)
    with httpx.Client(timeout=30.0) as client:
        with client.stream("POST", base_url + "/chat/completions", json=body, headers=headers) as response:
            text = b"".join(response.iter_bytes()).decode()
            return response.status_code, text


def wait_for(predicate, timeout: float, message: str) -> None:
    """Polls `predicate` until it is true; fails with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(message, pytrace=False)
        time.sleep(0.1)


def check_ledger_explains(proxy: Tollgate, customer: str, figures: dict) -> None:
    """The ledger's lines add up to the balance: granted − spent − expired − reserved = available."""
    lines = ledger(proxy, customer)
    total = {kind: sum((Decimal(line["amount"]) for line in lines if line["kind"] == kind), Decimal(0))
             for kind in ("grant", "spend", "expire", "void", "reserve", "release")}
    assert total["grant"] == Decimal(figures["granted"])
    assert total["spend"] == Decimal(figures["spent"])
    assert total["expire"] + total["void"] == Decimal(figures["expired"])
    assert total["reserve"] - total["release"] == Decimal(figures["reserved"])
    assert Decimal(figures["granted"]) - Decimal(figures["spent"]) - Decimal(figures["expired"]) - Decimal(
        figures["reserved"]) == Decimal(figures["available"])


def test_a_burst_of_500_cannot_spend_past_a_balance_for_about_50(sim: Simulator, tmp_path: Path) -> None:
    """500 concurrent requests (plain and streaming) against a balance that covers about 50 of them."""
    with running_tollgate(sim.origin, tmp_path, "", "burst") as proxy:
        # The price of one request, from a probe on another customer; the balance covers fifty of those.
        probe = proxy.create_key("probe")
        proxy.cli("credits", "grant", "--customer", "probe", "--amount", "100")
        assert chat(probe, proxy.base_url, stream=False)[0] == 200
        price = Decimal([e for e in proxy.events() if e["customer"] == "probe"][0]["price"])
        worst = Decimal([line for line in ledger(proxy, "probe") if line["kind"] == "reserve"][0]["amount"])
        assert price > 0 and worst >= price
        grant = price * 50
        proxy.cli("credits", "grant", "--customer", "burst", "--amount", str(grant))

        with ThreadPoolExecutor(max_workers=100) as pool:
            results = list(pool.map(lambda n: chat(proxy.key, proxy.base_url, stream=n % 2 == 1), range(500)))
        admitted = [r for r in results if r[0] == 200]
        refused = [r for r in results if r[0] != 200]
        # Holds are worst cases and settle at the (lower) price; the last admitted request may hold only what was left.
        assert 1 <= len(admitted) <= 51, f"{len(admitted)} admitted"
        assert len(refused) == 500 - len(admitted)  # 449 when the last admitted one held only what was left
        for status, body in refused:
            assert status == 402, body
            error = json.loads(body)["error"]
            assert error["code"] == "insufficient_credits"
            assert "customer:burst" in error["message"] and "available" in error["message"]

        figures = balance(proxy, "burst")
        events = [e for e in proxy.events() if e["customer"] == "burst"]
        charged = sum((Decimal(e["price"]) for e in events), Decimal(0))
        # The documented bound: at most the one request admitted on what was left of the balance.
        assert charged <= grant + max(Decimal(e["price"]) for e in events)
        assert Decimal(figures["spent"]) == charged
        assert Decimal(figures["granted"]) == grant
        assert Decimal(figures["reserved"]) == 0
        assert len([e for e in events if e["status"] == 200]) == len(admitted)
        assert len([e for e in events if e["status"] == 402]) == len(refused)
        check_ledger_explains(proxy, "burst", figures)

        # The same balance after a restart.
        config = proxy.config_path
        stop_process(proxy.proc)
        again = start_tollgate(sim.origin, tmp_path)
        try:
            assert again.config_path == config
            assert balance(again, "burst") == figures
        finally:
            stop_process(again.proc)


def test_a_killed_proxy_releases_its_holds_at_restart(sim: Simulator, tmp_path: Path) -> None:
    """SIGKILL while streams are in flight: at restart their reservations are released, the ledger still adds up."""
    with running_tollgate(sim.origin, tmp_path, "", "killed") as proxy:
        proxy.cli("credits", "grant", "--customer", "killed", "--amount", "1")
        # Streams the simulator answers only after 10 s, so that they are in flight when the process dies.
        threads = [threading.Thread(target=lambda: _ignore_errors(lambda: chat(proxy.key, proxy.base_url, True, 200, 10_000)))
                   for _ in range(5)]
        for thread in threads:
            thread.start()
        wait_for(lambda: Decimal(balance(proxy, "killed")["reserved"]) > 0, 10, "no reservation was ever held")
        proxy.proc.send_signal(signal.SIGKILL)
        proxy.proc.wait(timeout=10)
        for thread in threads:
            thread.join(timeout=30)
        again = start_tollgate(sim.origin, tmp_path)
        try:
            figures = balance(again, "killed")
            assert Decimal(figures["reserved"]) == 0
            check_ledger_explains(again, "killed", figures)
            releases = [line for line in ledger(again, "killed") if line["kind"] == "release"]
            assert any("released at restart" in (line.get("note") or "") for line in releases)
            assert "released" in again.stderr()
        finally:
            stop_process(again.proc)


def _ignore_errors(call) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 - the proxy is killed under these requests on purpose
        pass


class Receiver:
    """A webhook receiver on loopback that can be down (nothing listening) and come up later."""

    def __init__(self) -> None:
        self.port = free_port()
        self.deliveries: list[tuple[dict, dict, bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        deliveries = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                deliveries.append((dict(self.headers), json.loads(body), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def test_thresholds_fire_once_each_even_when_the_receiver_was_down(sim: Simulator, tmp_path: Path) -> None:
    """50/80/100% of a monthly cap: three signed webhooks, exactly once each, delivered once the receiver is up."""
    receiver = Receiver()
    extra = (f'alerts: {{webhook_url: "http://127.0.0.1:{receiver.port}/hooks", secret: "{WEBHOOK_SECRET}",'
             " max_backoff_s: 1}\n")
    with running_tollgate(sim.origin, tmp_path, extra, "alerted") as proxy:
        # A soft cap (alerts, no refusals) of about ten requests' worth.
        assert chat(proxy.key, proxy.base_url, stream=False)[0] == 200
        one = Decimal([e for e in proxy.events() if e["customer"] == "alerted"][0]["price"])
        proxy.cli("limits", "set", "--customer", "alerted", "--metric", "money", "--period", "month",
                  "--amount", str(one * 10), "--soft", "--thresholds", "50,80,100")
        after_key_change()
        for _ in range(12):
            assert chat(proxy.key, proxy.base_url, stream=False)[0] == 200
        alerts = json.loads(proxy.cli("limits", "alerts", "--format", "json").stdout)
        assert sorted(a["threshold"] for a in alerts) == [50, 80, 100]
        assert all(a.get("delivered_ms") is None for a in alerts)
        wait_for(lambda: all(a.get("attempts", 0) >= 1 for a in json.loads(proxy.cli("limits", "alerts", "--format", "json").stdout)),
                 40, "no delivery was attempted while the receiver was down")
        time.sleep(2)
        receiver.start()
        try:
            wait_for(lambda: len(receiver.deliveries) >= 3, 60, f"deliveries: {receiver.deliveries}")
            time.sleep(3)  # anything sent twice would arrive by now
            assert sorted(body["data"]["threshold"] for _, body, _ in receiver.deliveries) == [50, 80, 100]
            for headers, body, raw in receiver.deliveries:
                assert body["type"] == "limit.threshold_crossed"
                assert body["data"]["scope_id"] == "alerted"
                signature = dict(part.split("=", 1) for part in headers["Tollgate-Signature"].split(","))
                expected = hmac.new(WEBHOOK_SECRET.encode(), f"{signature['t']}.".encode() + raw, hashlib.sha256).hexdigest()
                assert hmac.compare_digest(signature["v1"], expected)
            # More use in the same period fires nothing new.
            assert chat(proxy.key, proxy.base_url, stream=False)[0] == 200
            time.sleep(1.5)
            assert len(receiver.deliveries) == 3
        finally:
            receiver.stop()
        assert "limit threshold crossed" in proxy.stderr()


def test_a_requests_per_minute_limit_lets_n_through_then_429_with_retry_after(sim: Simulator, tmp_path: Path) -> None:
    with running_tollgate(sim.origin, tmp_path, "", "rated") as proxy:
        proxy.cli("limits", "set", "--customer", "rated", "--metric", "requests", "--period", "minute", "--amount", "5")
        client = proxy.client()
        for _ in range(5):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
        response = raised.value.response
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) == 12
        assert raised.value.body["code"] == "rate_limit_exceeded"
        assert "5 requests per minute" in raised.value.body["message"]


def test_a_hard_cap_refuses_with_which_limit_its_size_use_and_reset(sim: Simulator, tmp_path: Path) -> None:
    with running_tollgate(sim.origin, tmp_path, "", "capped") as proxy:
        proxy.cli("limits", "set", "--customer", "capped", "--metric", "requests", "--period", "day", "--amount", "2")
        client = proxy.client()
        for _ in range(2):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
        with pytest.raises(openai.APIStatusError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
        assert raised.value.status_code == 402
        message = raised.value.body["message"]
        assert "daily cap of 2 requests" in message and "used 2 requests" in message and "resets at" in message
        # Anthropic's SDK gets the same refusal in Anthropic's shape.
        anthropic_client = proxy.anthropic_client()
        with pytest.raises(anthropic.APIStatusError) as refused:
            anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        assert refused.value.status_code == 402
        assert refused.value.body["error"]["type"] == "billing_error"


def test_a_customer_sets_its_own_cap_below_the_operators_with_its_own_key(sim: Simulator, tmp_path: Path) -> None:
    with running_tollgate(sim.origin, tmp_path, "", "steerer") as proxy:
        proxy.cli("limits", "set", "--customer", "steerer", "--metric", "requests", "--period", "day", "--amount", "100")
        url = proxy.origin + "/tollgate/v1/limits"
        auth = {"Authorization": f"Bearer {proxy.key}"}
        listed = httpx.get(url, headers=auth).json()["limits"]
        assert [(item["limit"]["set_by"], item["limit"]["amount"]) for item in listed] == [("operator", "100")]

        # Not above the operator's cap; not a per-minute rate; a bad body says what it wants.
        above = httpx.post(url, headers=auth, json={"metric": "requests", "period": "day", "amount": "500"})
        assert above.status_code == 400 and above.json()["error"]["code"] == "above_operator_cap"
        rate = httpx.post(url, headers=auth, json={"metric": "requests", "period": "minute", "amount": "5"})
        assert rate.status_code == 400 and "per minute" in rate.json()["error"]["message"]
        assert httpx.post(url, headers=auth, content=b"nope").status_code == 400
        assert httpx.get(url).status_code == 401

        # Its own cap of 2 requests a day holds like any cap; its own soft limit only alerts.
        own = httpx.post(url, headers=auth, json={"metric": "requests", "period": "day", "amount": "2"})
        assert own.status_code == 201, own.text
        own_id = own.json()["limit"]["id"]
        assert own.json()["limit"]["set_by"] == "customer"
        soft = httpx.post(url, headers=auth, json={"metric": "money", "period": "month", "amount": "0.000001", "enforcement": "soft",
                                                    "thresholds": [50]})
        assert soft.status_code == 201
        client = proxy.client()
        for _ in range(2):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
        with pytest.raises(openai.APIStatusError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
        assert raised.value.status_code == 402 and "daily cap of 2 requests" in raised.value.body["message"]
        alerts = json.loads(proxy.cli("limits", "alerts", "--format", "json").stdout)
        assert any(alert["limit_id"] == soft.json()["limit"]["id"] for alert in alerts), alerts

        # It removes its own limits, never the operator's.
        operator_id = listed[0]["limit"]["id"]
        forbidden = httpx.delete(f"{url}/{operator_id}", headers=auth)
        assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "operator_limit"
        assert httpx.delete(f"{url}/{own_id}", headers=auth).status_code == 200
        assert httpx.delete(f"{url}/lim_unknown", headers=auth).status_code == 404
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)


def test_a_plan_without_the_model_gets_403(sim: Simulator, tmp_path: Path) -> None:
    with running_tollgate(sim.origin, tmp_path, "", "planned") as proxy:
        proxy.cli("customers", "set", "--customer", "planned", "--models", "gpt-4o-mini")
        client = proxy.client()
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
        with pytest.raises(openai.PermissionDeniedError) as raised:
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=8)
        assert "does not include model gpt-4o" in raised.value.body["message"]


def test_the_customer_usage_view(sim: Simulator, tmp_path: Path) -> None:
    with running_tollgate(sim.origin, tmp_path, "", "viewer") as proxy:
        proxy.cli("credits", "grant", "--customer", "viewer", "--amount", "10")
        proxy.cli("limits", "set", "--customer", "viewer", "--metric", "tokens", "--period", "month", "--amount", "100000")
        client = proxy.client()
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
        response = httpx.get(proxy.origin + "/tollgate/v1/usage", headers={"Authorization": f"Bearer {proxy.key}"})
        assert response.status_code == 200, response.text
        view = response.json()
        assert view["customer"] == "viewer"
        # The period in progress of the customer's billing cycle (the default cycle: the calendar month, UTC).
        assert view["period"]["name"] == "cycle"
        assert view["period"]["billing_cycle"] == "monthly from the 1st at 00:00 UTC"
        assert view["period"]["start"].endswith("-01T00:00:00Z")
        [line] = view["by_model"]
        assert line["requests"] == 3 and line["model"].startswith("gpt-4o-mini")
        events = [e for e in proxy.events() if e["customer"] == "viewer"]
        assert Decimal(view["totals"]["price"]) == sum(Decimal(e["price"]) for e in events)
        assert Decimal(view["balance"]["available"]) == Decimal(10) - Decimal(view["totals"]["price"])
        # At the pace of the last seven days (everything spent so far), the balance lasts available × 7 ÷ spent days.
        runs_out = view["balance"]["runs_out"]
        available, spent = Decimal(view["balance"]["available"]), Decimal(view["totals"]["price"])
        assert Decimal(runs_out["days"]) == (available * 7 / spent).quantize(Decimal("0.1"), rounding="ROUND_DOWN")
        assert runs_out["at"].endswith("Z") and "7 days" in runs_out["method"]
        [allowance] = view["limits"]
        assert int(allowance["used"]) == sum(e["input_tokens"] + e["output_tokens"] + e["cache_read_tokens"] for e in events)
        assert Decimal(view["projection"]["period_end_price"]) >= Decimal(view["totals"]["price"])
        monthly = httpx.get(proxy.origin + "/tollgate/v1/usage?period=month", headers={"Authorization": f"Bearer {proxy.key}"}).json()
        assert monthly["period"]["name"] == "month" and monthly["totals"] == view["totals"]
        assert httpx.get(proxy.origin + "/tollgate/v1/usage").status_code == 401
