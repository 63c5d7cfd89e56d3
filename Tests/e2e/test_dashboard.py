"""The finance dashboard in a real browser (issue 5): Debian's headless Chromium, driven over the Chrome DevTools
protocol, signs in through the login form and reads the pages. Requests for three customers and two models go
through the proxy with the `openai` SDK first; the dashboard's tables, tiles and chart must show exactly the figures of
`tollgate report margin --format json` (which equal the sums over `tollgate events`), and the browser must log no
console error, failed request or content-security-policy violation.

Chromium: `apt-get install chromium` (CI installs it; `CHROMIUM=/path` picks another binary). Without it the test is
skipped, except under CI, where it fails.

`TOLLGATE_DASHBOARD_SCREENSHOT=docs/dashboard.png` also seeds 30 days of history (copies of the events, shifted back
a day at a time) and saves a 1366×900 screenshot of the overview there.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
import time
from contextlib import ExitStack
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import E2E_POSTGRES_URL, HTTP_TIMEOUT, MESSAGES, Simulator, Tollgate, free_port, meter_sql, start_tollgate, stop_process, tail

pytestmark = pytest.mark.proxy

ADMIN_TOKEN = "dashboard-e2e-token-0123456789"
CUSTOMERS = ("acme", "globex", "initech")
MODELS = ("gpt-4o", "gpt-4o-mini")
BROWSER_TIMEOUT = 30.0  # seconds for Chromium to start, a page to load, a protocol call to answer


def chromium_binary() -> str | None:
    """The Chromium to drive: $CHROMIUM, else Debian's `chromium` on PATH."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


class Browser:
    """Headless Chromium over the DevTools protocol: navigate, evaluate, screenshot, and every console message,
    exception, log entry and failed request it reported."""

    def __init__(self, binary: str, profile: Path) -> None:
        from websockets.sync.client import connect  # google-genai's dependency, installed with the e2e requirements

        profile.mkdir(parents=True, exist_ok=True)
        self.log_path = profile / "chromium.log"
        arguments = [
            binary, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-first-run",
            "--no-default-browser-check", "--disable-gpu", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1366,900", "--hide-scrollbars",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            arguments.append("--no-sandbox")  # Chromium refuses to run its sandbox as root (CI containers)
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a reused profile's is stale
        self.proc = subprocess.Popen([*arguments, "about:blank"], stdout=subprocess.DEVNULL, stderr=self.log_path.open("wb"))
        deadline = time.monotonic() + BROWSER_TIMEOUT
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.fail(f"Chromium did not open its DevTools port; log:\n{tail(self.log_path)}", pytrace=False)
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = []
        while not targets:
            try:
                listing = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=HTTP_TIMEOUT).json()
                targets = [target for target in listing if target["type"] == "page"]
            except httpx.HTTPError:
                targets = []
            if not targets and time.monotonic() > deadline:
                self.close()
                pytest.fail("Chromium opened no page target", pytrace=False)
            time.sleep(0.05)
        self.stack = ExitStack()
        self.socket = self.stack.enter_context(
            connect(targets[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=BROWSER_TIMEOUT))
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=1366, height=900, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params: Any) -> dict:
        """Sends a command and returns its result, keeping the events that arrive meanwhile."""
        self.next_id += 1
        ident = self.next_id
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + BROWSER_TIMEOUT
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, since: int) -> dict:
        """The first `method` event after the first `since` events, waiting for it."""
        deadline = time.monotonic() + BROWSER_TIMEOUT
        while True:
            for event in self.events[since:]:
                if event["method"] == method:
                    return event
            if time.monotonic() > deadline:
                pytest.fail(f"no {method} from Chromium within {BROWSER_TIMEOUT}s", pytrace=False)
            try:
                message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                continue
            if "method" in message:
                self.events.append(message)

    def navigate(self, url: str) -> None:
        """Loads `url` and waits for its load event."""
        mark = len(self.events)
        result = self.call("Page.navigate", url=url)
        assert "errorText" not in result, f"navigating to {url}: {result}"
        self.wait_for("Page.loadEventFired", mark)

    def submit(self, script: str) -> None:
        """Runs `script` (which submits a form) and waits for the next page's load event."""
        mark = len(self.events)
        self.evaluate(script)
        self.wait_for("Page.loadEventFired", mark)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (the test's own script, not the page's)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, f"{expression}: {result['exceptionDetails']}"
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, error log entries (CSP violations among them) and failed or
        refused requests, as reported so far."""
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(f"console.{params['type']}: {[arg.get('value', arg.get('description')) for arg in params.get('args', [])]}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                found.append(f"log {entry['level']} ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                found.append(f"request failed: {params.get('errorText')} {params.get('blockedReason', '')}")
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                found.append(f"HTTP {params['response']['status']} for {params['response']['url']}")
        return found

    def screenshot(self, path: Path) -> None:
        """Saves the viewport (1366×900) as PNG."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            if getattr(self, "stack", None):
                self.stack.close()
        finally:
            stop_process(self.proc, timeout=5.0)


# What the page shows, read in the browser: figures by `data-field`, exact in `data-value`, the text as displayed.
TABLE_SCRIPT = """
(() => {
  const rows = {};
  for (const tr of document.querySelectorAll('#%(table)s tbody tr[data-%(key)s]')) {
    const fields = {};
    for (const cell of tr.querySelectorAll('[data-field]')) {
      fields[cell.dataset.field] = cell.dataset.value;
      fields[cell.dataset.field + '_text'] = cell.textContent.trim();
    }
    rows[tr.getAttribute('data-%(key)s')] = fields;
  }
  return rows;
})()
"""

PAGE_SCRIPT = """
(() => ({
  path: location.pathname,
  title: document.title,
  updated: document.getElementById('updated-at') && document.getElementById('updated-at').textContent,
  refresh: document.querySelector('meta[http-equiv=refresh]') && document.querySelector('meta[http-equiv=refresh]').content,
  tiles: Object.fromEntries([...document.querySelectorAll('.tile[data-field]')].map(t => [t.dataset.field, t.dataset.value])),
  buckets: [...document.querySelectorAll('svg.chart g.bucket')].map(g => ({
      label: g.dataset.label, revenue: g.dataset.revenue, cost: g.dataset.cost, margin: g.dataset.margin})),
  chartVisible: (() => { const r = document.querySelector('svg.chart').getBoundingClientRect(); return r.width > 600 && r.height > 100; })(),
  scrollWidth: document.documentElement.scrollWidth,
}))()
"""


def table(browser: Browser, name: str, key: str) -> dict[str, dict[str, str]]:
    return browser.evaluate(TABLE_SCRIPT % {"table": name, "key": key})


def report(proxy: Tollgate, *args: str) -> dict:
    return json.loads(proxy.cli("report", "margin", "--format", "json", *args).stdout)


def check_rows(shown: dict[str, dict[str, str]], expected: list[dict], key: str) -> None:
    """Every report row is on the page with the same exact figures, and nothing else is."""
    assert set(shown) == {row[key] for row in expected}, (shown, expected)
    for row in expected:
        cells = shown[row[key]]
        for field in ("revenue", "cost", "margin"):
            if field not in cells:
                continue  # the top lists have no cost column
            assert Decimal(cells[field]) == Decimal(row[field]), (key, row[key], field, cells, row)
            assert cells[field] == row[field], f"{row[key]} {field}: page {cells[field]} vs report {row[field]}"
            assert cells[field + "_text"] == row[field], "tables show the exact decimal"
        assert int(cells["requests"]) == row["requests"]


def seed_history(proxy: Tollgate, days: int = 30) -> None:
    """Copies of today's events on each of the last `days` days, their amounts scaled by a factor that varies by
    day, then a rollup rebuild: a month of history for the screenshot. Rows are copied column by column, so the
    copies have every column the meter's schema has."""
    rng = random.Random(5)
    directory = proxy.config_path.parent
    if E2E_POSTGRES_URL:
        columns = [row[0] for row in meter_sql(
            directory, "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                       "AND table_name = 'events' ORDER BY ordinal_position")]
    else:
        columns = [row[1] for row in meter_sql(directory, "PRAGMA table_info(events)")]
    changed = ("id", "ts_ms", "cost", "price")
    select = ", ".join("?" if column in changed else column for column in columns)
    statement = f"INSERT INTO events ({', '.join(columns)}) SELECT {select} FROM events WHERE id = ?"
    originals = meter_sql(directory, "SELECT id, ts_ms, cost, price FROM events")
    for day in range(1, days):
        factor = Decimal(rng.randint(50, 150)) / 100 * (2 - Decimal(day) / days)
        for ident, ts, cost, price in originals:
            for copy in range(rng.randint(1, 3)):
                values = {
                    "id": f"{ident}-d{day}-{copy}", "ts_ms": ts - day * 86_400_000 - copy * 60_000,
                    "cost": str((Decimal(cost) * factor).quantize(Decimal("1e-15")).normalize()),
                    "price": str((Decimal(price) * factor).quantize(Decimal("1e-15")).normalize()),
                }
                meter_sql(directory, statement, [values[column] for column in columns if column in changed] + [ident])
    proxy.cli("report", "rebuild")


def test_dashboard_in_chromium_shows_the_reports_figures(sim: Simulator, tmp_path: Path) -> None:
    """Requests through the proxy for three customers and two models, then the dashboard in headless Chromium."""
    binary = chromium_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and CI must run the dashboard's browser test (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it and runs this test")

    admin_port = free_port()
    extra = (
        f'admin: {{listen: "127.0.0.1:{admin_port}", token: "{ADMIN_TOKEN}"}}\n'
        'pricing:\n  markup: "1.30"\n  customers:\n    globex: {markup: "0.80"}\n'
    )
    proxy = start_tollgate(sim.origin, tmp_path / "proxy", extra_config=extra)
    browser = None
    try:
        admin = f"http://127.0.0.1:{admin_port}"
        proxy.cli("limits", "set", "--customer", "acme", "--metric", "money", "--period", "month", "--amount", "5")
        proxy.cli("limits", "set", "--customer", "globex", "--metric", "requests", "--period", "day", "--amount", "20", "--soft")
        keys = {customer: proxy.create_key(customer) for customer in CUSTOMERS}
        proxy.cli("credits", "grant", "--customer", "initech", "--amount", "50")

        # Three customers, two models, different volumes: 4, 3 and 2 rounds of both models.
        expected_events = 0
        for rounds, customer in zip((4, 3, 2), CUSTOMERS):
            client = proxy.client(keys[customer])
            for index in range(rounds):
                for model in MODELS:
                    client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=8 + 4 * index)
                    expected_events += 1
        deadline = time.monotonic() + 10
        while len(proxy.events()) < expected_events:
            assert time.monotonic() < deadline, f"expected {expected_events} events, have {len(proxy.events())}"
            time.sleep(0.1)

        by_customer = report(proxy, "--by", "customer")
        by_model = report(proxy, "--by", "model")
        # The report is the sum over the events (issue 5's first check), so the dashboard is checked against both.
        events = proxy.events()
        for row in by_customer["rows"]:
            mine = [event for event in events if event["customer"] == row["customer"]]
            assert Decimal(row["revenue"]) == sum((Decimal(event["price"]) for event in mine), Decimal(0))
            assert Decimal(row["cost"]) == sum((Decimal(event["cost"]) for event in mine), Decimal(0))
        assert {row["customer"] for row in by_customer["rows"]} == set(CUSTOMERS)
        assert {row["model"] for row in by_model["rows"]} == set(MODELS)
        assert Decimal(by_customer["rows"][1]["margin"]) < 0, "globex is priced below cost"

        # Without the browser: the bearer header works, a browser without a session is sent to the login form.
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
            assert http.get(admin + "/dashboard", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200
            redirect = http.get(admin + "/dashboard")
            assert redirect.status_code == 303 and redirect.headers["location"].startswith("/dashboard/login")
            assert http.post(admin + "/dashboard/login", data={"token": "wrong"}).status_code == 401

        browser = Browser(binary, tmp_path / "chromium")
        browser.navigate(admin + "/dashboard?range=30d")
        assert browser.evaluate("location.pathname") == "/dashboard/login", "not signed in: the login form"
        browser.submit(
            "document.getElementById('token').value = %s; document.querySelector('form.login').submit()" % json.dumps(ADMIN_TOKEN))
        page = browser.evaluate(PAGE_SCRIPT)
        assert page["path"] == "/dashboard", page
        assert page["refresh"] == "60" and page["updated"].endswith("UTC")
        assert page["chartVisible"] and page["scrollWidth"] <= 1366, "readable on a 1366 px wide screen"

        check_rows(table(browser, "margin-by-customer", "customer"), by_customer["rows"], "customer")
        check_rows(table(browser, "top-customers", "customer"), by_customer["rows"], "customer")
        check_rows(table(browser, "top-models", "model"), by_model["rows"], "model")
        totals = by_customer["totals"]
        for field in ("revenue", "cost", "margin"):
            assert page["tiles"][field] == totals[field], (field, page["tiles"], totals)
        assert page["tiles"]["requests"] == str(totals["requests"]) and page["tiles"]["margin_pct"] == totals["margin_pct"]
        assert len(page["buckets"]) == 30
        assert sum(Decimal(bucket["revenue"]) for bucket in page["buckets"]) == Decimal(totals["revenue"])
        assert sum(Decimal(bucket["cost"]) for bucket in page["buckets"]) == Decimal(totals["cost"])
        assert sum(Decimal(bucket["margin"]) for bucket in page["buckets"]) == Decimal(totals["margin"])

        caps = table(browser, "caps", "scope-id")
        assert caps["acme"]["used"] == next(row["revenue"] for row in by_customer["rows"] if row["customer"] == "acme")
        assert caps["acme"]["amount"] == "5" and caps["globex"]["used"] == str(2 * 3)
        credits = table(browser, "credits", "account")
        assert credits["customer:initech"]["granted"] == "50"
        initech = next(row for row in by_customer["rows"] if row["customer"] == "initech")
        assert Decimal(credits["customer:initech"]["spent"]) == Decimal(initech["revenue"])

        # Sorting by cost, lowest first, through the header link.
        browser.submit("document.querySelector('#margin-by-customer th a[href*=\"sort=cost\"]').click()")
        browser.submit("document.querySelector('#margin-by-customer th a[href*=\"sort=cost\"]').click()")
        order = browser.evaluate("[...document.querySelectorAll('#margin-by-customer tbody tr')].map(r => r.dataset.customer)")
        assert order == [row["customer"] for row in sorted(by_customer["rows"], key=lambda row: Decimal(row["cost"]))]

        # A customer's page through its link: by model, with links to its events and statement.
        browser.submit("document.querySelector('#margin-by-customer a[href^=\"/dashboard/customers/acme\"]').click()")
        assert browser.evaluate("location.pathname") == "/dashboard/customers/acme"
        check_rows(table(browser, "margin-by-model", "model"), report(proxy, "--by", "model", "--customer", "acme")["rows"], "model")
        assert browser.evaluate("document.getElementById('statement-link').getAttribute('href')").startswith(
            "/dashboard/customers/acme/statement?period=")
        browser.submit("document.getElementById('events-link').click()")
        shown = browser.evaluate("[...document.querySelectorAll('#events tbody tr[data-event]')].map(r => r.dataset.event)")
        mine = sorted(
            (event for event in events if event["customer"] == "acme"),
            key=lambda event: (datetime.fromisoformat(event["timestamp"]), event["id"]), reverse=True)
        assert shown == [event["id"] for event in mine]
        prices = table(browser, "events", "event")
        for event in mine:
            assert prices[event["id"]]["price"] == event["price"] and prices[event["id"]]["cost"] == event["cost"]

        assert browser.problems() == [], "the browser reported problems"

        # Log out through the button: the browser is back at the login form, and the session cookie it held (copied
        # before) no longer opens anything: logout revoked it on the server, not just in this browser.
        cookies = browser.call("Network.getCookies", urls=[admin + "/dashboard"])["cookies"]
        session = next(cookie for cookie in cookies if cookie["name"] == "tollgate_dashboard")
        assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/dashboard"
        assert not session["secure"], "plain HTTP, no trusted proxy: not Secure"
        assert abs(session["expires"] - (time.time() + 12 * 3600)) < 120, "a 12-hour session by default"
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
            copied = {"Cookie": f"tollgate_dashboard={session['value']}"}
            assert http.get(admin + "/dashboard", headers=copied).status_code == 200
            browser.submit("document.querySelector('form[action=\"/dashboard/logout\"] button').click()")
            assert browser.evaluate("location.pathname") == "/dashboard/login"
            replayed = http.get(admin + "/dashboard", headers=copied)
            assert replayed.status_code == 303 and replayed.headers["location"].startswith("/dashboard/login")
        assert browser.problems() == [], "the browser reported problems"

        screenshot = os.environ.get("TOLLGATE_DASHBOARD_SCREENSHOT")
        if screenshot:
            seed_history(proxy)
            browser.navigate(admin + "/dashboard?range=30d")
            browser.submit(
                "document.getElementById('token').value = %s; document.querySelector('form.login').submit()" % json.dumps(ADMIN_TOKEN))
            browser.screenshot(Path(screenshot))
            assert browser.problems() == []
    finally:
        if browser is not None:
            browser.close()
        stop_process(proxy.proc)


def admin_proxy(sim: Simulator, directory: Path, admin: str = "", **settings: str) -> tuple[Tollgate, str]:
    """A proxy with an admin listener (its `settings` added to `admin:`), and the listener's origin."""
    port = free_port()
    fields = "".join(f", {name}: {value}" for name, value in settings.items())
    proxy = start_tollgate(sim.origin, directory, extra_config=f'admin: {{listen: "127.0.0.1:{port}", token: "{ADMIN_TOKEN}"{fields}}}\n')
    return proxy, f"http://127.0.0.1:{port}"


def sign_in(http: httpx.Client, admin: str, headers: dict[str, str] | None = None) -> tuple[str, str]:
    """Signs in through the form; the `Cookie` header value of the new session and the whole `Set-Cookie`."""
    response = http.post(admin + "/dashboard/login", data={"token": ADMIN_TOKEN}, headers=headers or {})
    assert response.status_code == 303, response.text
    set_cookie = response.headers["set-cookie"]
    return set_cookie.split(";")[0], set_cookie


def signed_in(http: httpx.Client, admin: str, cookie: str) -> bool:
    """Whether the cookie opens the dashboard (200), or sends the browser to the login form (303)."""
    response = http.get(admin + "/dashboard", headers={"Cookie": cookie})
    assert response.status_code in (200, 303), response.status_code
    assert response.status_code == 200 or response.headers["location"].startswith("/dashboard/login")
    return response.status_code == 200


def test_dashboard_sessions_expire_are_revoked_by_logout_across_restarts_and_logins_are_throttled(
    sim: Simulator, tmp_path: Path
) -> None:
    """The session cookie over real HTTP: its attributes, expiry after admin.session_ttl_s, logout revoking it on the
    server (also after a restart), Secure behind a trusted proxy, and 429 with Retry-After after repeated failures."""
    short, short_admin = admin_proxy(sim, tmp_path / "short", session_ttl_s="3")
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
            cookie, set_cookie = sign_in(http, short_admin)
            assert "Max-Age=3" in set_cookie and "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
            assert ADMIN_TOKEN not in set_cookie and "Secure" not in set_cookie
            assert signed_in(http, short_admin, cookie)
            time.sleep(3.5)
            assert not signed_in(http, short_admin, cookie), "expired: back to the login form"
            assert http.get(short_admin + "/dashboard/login", headers={"Cookie": cookie}).status_code == 200
    finally:
        stop_process(short.proc)

    directory = tmp_path / "main"
    proxy, admin = admin_proxy(sim, directory, trusted_proxies='["127.0.0.1"]')
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
            kept, _ = sign_in(http, admin)
            other, _ = sign_in(http, admin)
            assert kept != other
            out = http.post(admin + "/dashboard/logout", headers={"Cookie": kept})
            assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
            assert not signed_in(http, admin, kept), "a copy of a logged-out cookie is refused"
            assert signed_in(http, admin, other), "other sessions stay"

            # Behind a trusted TLS-terminating proxy (here: loopback), X-Forwarded-Proto: https makes it Secure.
            _, secure = sign_in(http, admin, {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
            assert secure.endswith("; Secure"), secure

            # Throttling: five failures from one client, then 429 with Retry-After, even for the right token.
            for _ in range(5):
                assert http.post(admin + "/dashboard/login", data={"token": "guess-" + "x" * 20}).status_code == 401
            throttled = http.post(admin + "/dashboard/login", data={"token": ADMIN_TOKEN})
            assert throttled.status_code == 429, throttled.status_code
            assert 1 <= int(throttled.headers["retry-after"]) <= 60
            assert "set-cookie" not in throttled.headers and "Too many failed sign-ins" in throttled.text
            # Another client behind the trusted proxy is counted apart.
            assert sign_in(http, admin, {"X-Forwarded-For": "198.51.100.4"})[0].startswith("tollgate_dashboard=")
    finally:
        stop_process(proxy.proc)

    # The revocation is in the meter: a restarted proxy on the same meter still refuses the logged-out cookie.
    proxy, admin = admin_proxy(sim, directory)
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False) as http:
            assert not signed_in(http, admin, kept)
            assert signed_in(http, admin, other)
    finally:
        stop_process(proxy.proc)
