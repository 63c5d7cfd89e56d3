"""A real Prometheus server (the Debian package's `/usr/bin/prometheus`, or `PROMETHEUS_BIN`) on loopback, scraping
given targets every second into a throwaway TSDB, and queried through its HTTP API (`/api/v1/query`).

Without the binary the tests that need it are skipped, except under CI (`CI` set), where they fail: CI installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import HTTP_TIMEOUT, free_port, stop_process, tail

STARTUP_TIMEOUT = 60.0  # seconds for Prometheus to answer /-/ready (its TSDB opens slowly on a loaded 2-core machine)


def prometheus_binary() -> Path:
    """The Prometheus executable; skips the test without one (fails under CI)."""
    for candidate in (os.environ.get("PROMETHEUS_BIN"), "prometheus", "/usr/bin/prometheus"):
        found = candidate and shutil.which(candidate)
        if found:
            return Path(found)
    reason = "prometheus is not installed (apt-get install prometheus, or set PROMETHEUS_BIN)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI must run the metrics test against a real Prometheus (.ci/run installs it)",
                    pytrace=False)
    pytest.skip(f"{reason}; CI installs it and runs this test")


class Prometheus:
    """A running Prometheus scraping `targets` (HOST:PORT each, path /metrics) as job `job` every second."""

    def __init__(self, directory: Path, targets: list[str], job: str = "tollgate") -> None:
        binary = prometheus_binary()
        directory.mkdir(parents=True, exist_ok=True)
        self.job = job
        config = directory / "prometheus.yml"
        quoted = ", ".join(f'"{target}"' for target in targets)
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: {job}\n"
            f"    static_configs: [{{targets: [{quoted}]}}]\n"
        )
        port = free_port()
        self.origin = f"http://127.0.0.1:{port}"
        self.log_path = directory / "prometheus.log"
        self.proc = subprocess.Popen(
            [
                str(binary), f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL, stderr=self.log_path.open("wb"),
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.origin + "/-/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"prometheus did not become ready in {STARTUP_TIMEOUT}s (exit code {self.proc.returncode}); "
                    f"log:\n{tail(self.log_path)}", pytrace=False)

    def query(self, expression: str) -> list[dict]:
        """The instant vector `expression` evaluates to now: [{"metric": {labels}, "value": [ts, "text"]}]."""
        response = httpx.get(self.origin + "/api/v1/query", params={"query": expression}, timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, f"query {expression!r}: {response.status_code} {response.text}"
        answer = response.json()
        assert answer["status"] == "success", f"query {expression!r}: {answer}"
        assert answer["data"]["resultType"] == "vector", f"query {expression!r}: {answer}"
        return answer["data"]["result"]

    def by(self, expression: str, *labels: str) -> dict[tuple, float]:
        """`expression`'s samples keyed by the values of `labels` (a tuple, "" for an absent label)."""
        result = {}
        for sample in self.query(expression):
            key = tuple(sample["metric"].get(label, "") for label in labels)
            assert key not in result, f"{expression!r}: two samples for {dict(zip(labels, key))}"
            result[key] = float(sample["value"][1])
        return result

    def scalar(self, expression: str) -> float | None:
        """The value of a single-sample expression, or None when it has no sample."""
        result = self.query(expression)
        assert len(result) <= 1, f"{expression!r} has {len(result)} samples: {result}"
        return float(result[0]["value"][1]) if result else None

    def wait_for_scrape_after(self, moment: float, timeout: float = 20.0) -> None:
        """Waits until every target of the job was scraped, successfully, after `moment` (time.time())."""
        deadline = time.monotonic() + timeout
        last: list[dict] = []
        while time.monotonic() < deadline:
            last = self.query(f'timestamp(up{{job="{self.job}"}})')
            healthy = self.query(f'up{{job="{self.job}"}} == 1')
            if last and len(healthy) == len(last) and all(float(sample["value"][1]) > moment for sample in last):
                return
            time.sleep(0.25)
        targets = httpx.get(self.origin + "/api/v1/targets", timeout=HTTP_TIMEOUT).text
        pytest.fail(f"no successful scrape after {moment} within {timeout}s: {last}\ntargets: {targets}\n"
                    f"prometheus log:\n{tail(self.log_path)}", pytrace=False)

    def stop(self) -> None:
        stop_process(self.proc)
