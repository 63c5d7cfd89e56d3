"""The deploy and monitoring files checked offline: the Prometheus config and alert rules with `promtool` (syntax,
and the rules' unit tests in deploy/prometheus/alerts_test.yml), the systemd unit with `systemd-analyze verify`
and `systemd-analyze security`, the Grafana dashboard's JSON and queries, the container config with
`tollgate check`, and docs/OPERATIONS.md against the metric names in the code (TollgateCore's MetricName).

`promtool` comes with Debian's `prometheus` package, `systemd-analyze` with `systemd`; .ci/run installs both and
runs this file as its "deploy files" step. Without a tool its tests are skipped, except under CI (`CI` set), where
they fail. The Containerfile cannot be built here (no container engine): its promises are checked as text.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, TOLLGATE_BIN

DEPLOY = REPO_ROOT / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERT_RULES = DEPLOY / "prometheus" / "alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "tollgate-dashboard.json"
UNIT = DEPLOY / "tollgate.service"
CONTAINERFILE = DEPLOY / "Containerfile"
CONTAINER_CONFIG = DEPLOY / "tollgate.yaml"
OPERATIONS = REPO_ROOT / "docs" / "OPERATIONS.md"
METRIC_NAMES_SWIFT = REPO_ROOT / "Sources" / "TollgateCore" / "Telemetry" / "MetricName.swift"

TOOL_TIMEOUT = 120  # seconds for one promtool or systemd-analyze run (a loaded 2-core machine)
# The highest `systemd-analyze security` exposure the unit may reach (0 = fully sandboxed, 10 = not at all; it
# scores 1.5 with the options it has): a removed hardening option fails here.
MAX_EXPOSURE = 2.0

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool", "inf", "nan"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def tool(name: str) -> str:
    """The path of a command-line tool; skips without it (fails under CI, which installs it)."""
    found = shutil.which(name)
    if found:
        return found
    package = {"promtool": "prometheus", "systemd-analyze": "systemd"}[name]
    reason = f"{name} is not installed (apt-get install {package})"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI must check the deploy files with it (.ci/run installs it)", pytrace=False)
    pytest.skip(f"{reason}; CI installs it and runs this check")


def run(arguments: list[str], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(arguments, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT)


def documented_metrics() -> dict[str, str]:
    """The metrics table of docs/OPERATIONS.md: name → type (counter, gauge, histogram)."""
    rows = re.findall(r"^\|\s*`([a-z_:][a-z0-9_:]*)`\s*\|\s*(counter|gauge|histogram)\s*\|", OPERATIONS.read_text(), re.MULTILINE)
    assert rows, "docs/OPERATIONS.md has no metrics table (| `name` | type | labels | meaning |)"
    return dict(rows)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label values, label names, functions and keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, regexes)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![A-Za-z0-9_:.$])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group(0).lower() in PROMQL_KEYWORDS:
            continue
        names.add(match.group(0))
    return names


def undocumented(names: set[str], documented: dict[str, str]) -> set[str]:
    """The names that are neither a documented metric nor a series of a documented histogram (`_bucket` …)."""
    missing = set()
    for name in names:
        if name in documented or name == "up":
            continue
        base = next((name[: -len(suffix)] for suffix in HISTOGRAM_SUFFIXES if name.endswith(suffix)), None)
        if base is not None and documented.get(base) == "histogram":
            continue
        missing.add(name)
    return missing


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERT_RULES.read_text())["groups"] for rule in group["rules"]]


def dashboard_targets(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, expression) of every query, in rows collapsed or not."""
    found = []

    def visit(panels: list[dict]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                found.append((panel.get("title", ""), target["expr"]))
            visit(panel.get("panels", []))

    visit(dashboard["panels"])
    return found


def markdown_anchors(text: str) -> set[str]:
    """GitHub's anchors of the headings of a Markdown text."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


# Prometheus


def test_prometheus_config_is_valid() -> None:
    result = run([tool("promtool"), "check", "config", str(PROMETHEUS_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr, "prometheus.yml must load alerts.yml"


def test_alert_rules_are_valid() -> None:
    result = run([tool("promtool"), "check", "rules", str(ALERT_RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_pass_their_unit_tests() -> None:
    result = run([tool("promtool"), "test", "rules", str(ALERT_TESTS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    """Each alert of alerts.yml has a unit test where it fires and one where it stays quiet."""
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    fires, quiet = set(), set()
    for test in tests:
        for check in test.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fires == set(), f"alerts never shown firing in alerts_test.yml: {sorted(names - fires)}"
    assert names - quiet == set(), f"alerts never shown quiet in alerts_test.yml: {sorted(names - quiet)}"


def test_alerts_have_severity_annotations_and_a_runbook() -> None:
    anchors = markdown_anchors(OPERATIONS.read_text())
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        annotations = rule["annotations"]
        assert annotations.get("summary") and annotations.get("description"), name
        url = annotations.get("runbook_url", "")
        assert url.startswith("docs/OPERATIONS.md#"), f"{name}: runbook_url {url!r}"
        anchor = url.split("#", 1)[1]
        assert anchor == name.lower(), f"{name}: the runbook anchor is the alert's name in lower case, not {anchor!r}"
        assert anchor in anchors, f"{name}: docs/OPERATIONS.md has no heading for #{anchor}"


def test_alert_rules_use_only_documented_metrics() -> None:
    documented = documented_metrics()
    for rule in alert_rules():
        names = metric_names(rule["expr"])
        assert names, f"{rule['alert']}: no metric found in {rule['expr']!r}"
        assert undocumented(names, documented) == set(), f"{rule['alert']} reads metrics docs/OPERATIONS.md does not list"


# Grafana


def test_dashboard_is_importable_json_with_the_variables() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36 and dashboard["title"] and dashboard["uid"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query"
    assert variables["instance"]["datasource"]["uid"] == "${datasource}"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_uses_only_documented_metrics_of_the_selected_instances() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    documented = documented_metrics()
    targets = dashboard_targets(dashboard)
    assert len(targets) >= 20
    used: set[str] = set()
    for title, expr in targets:
        names = metric_names(expr)
        assert names, f"{title}: no metric found in {expr!r}"
        assert undocumented(names, documented) == set(), f"panel {title!r} reads metrics docs/OPERATIONS.md does not list: {expr}"
        used |= names
        for selector in re.finditer(r"(?<![A-Za-z0-9_:])((?:tollgate|process)_[a-z0-9_]+)(\{[^}]*\})?", expr):
            assert 'instance=~"$instance"' in (selector.group(2) or ""), f"panel {title!r}: {selector.group(1)} ignores $instance"
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            argument = re.fullmatch(r"label_values\((\w+),\s*\w+\)", query)
            assert argument and argument.group(1) in documented, f"variable {variable['name']}: {query}"
    # Every documented metric has a panel (histograms through their _bucket, _sum or _count series).
    shown = {next((name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s) and name[: -len(s)] in documented), name) for name in used}
    assert set(documented) - shown == set(), f"documented metrics without a panel: {sorted(set(documented) - shown)}"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each query, with Grafana's variables given values, loaded as a recording rule: promtool parses it."""
    dashboard = json.loads(DASHBOARD.read_text())
    rules = []
    for index, (_, expr) in enumerate(dashboard_targets(dashboard)):
        concrete = re.sub(r"\$__\w+", "5m", expr).replace("$instance", ".*")
        rules.append({"record": f"dashboard:query_{index}", "expr": concrete})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([tool("promtool"), "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


# Docs against the code


def test_operations_guide_lists_exactly_the_metrics_in_the_code() -> None:
    """MetricName.swift names every metric Tollgate records; the guide's table has each, and no other."""
    in_code = set(re.findall(r'"((?:tollgate|process)_[a-z0-9_]+)"', METRIC_NAMES_SWIFT.read_text()))
    assert len(in_code) >= 30
    documented = set(documented_metrics())
    assert in_code - documented == set(), f"metrics missing from docs/OPERATIONS.md: {sorted(in_code - documented)}"
    assert documented - in_code == set(), f"docs/OPERATIONS.md lists metrics the code does not have: {sorted(documented - in_code)}"


# systemd


def unit_root(tmp_path: Path) -> Path:
    """An alternate root for `systemd-analyze --root`: the system's own unit files, deploy/tollgate.service copied
    byte for byte, and an executable stub at each absolute path the unit runs. The stub is the only stand-in:
    without it, verify rightly reports that /usr/local/bin/tollgate does not exist on this machine."""
    root = tmp_path / "root"
    system_units = next(path for path in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if path.is_dir())
    shutil.copytree(system_units, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    shutil.copyfile(UNIT, root / "etc" / "systemd" / "system" / "tollgate.service")
    text = UNIT.read_text()
    commands = re.findall(r"^Exec\w+=[-@:+!]*(/\S+)", text, re.MULTILINE)
    assert commands, "the unit runs nothing"
    for command in set(commands):
        stub = root / command.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return root


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    root = unit_root(tmp_path)
    result = run([analyze, "verify", f"--root={root}", "tollgate.service"], cwd=root)
    # verify exits 0 on an unknown key or a value it cannot parse ("…, ignoring"): any output is a failure here.
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def test_systemd_unit_stays_sandboxed(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    root = unit_root(tmp_path)
    result = run([analyze, "security", "--offline=true", f"--root={root}", "--no-pager", "tollgate.service"], cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    level = re.search(r"Overall exposure level for tollgate\.service: ([0-9.]+)", result.stdout)
    assert level, result.stdout + result.stderr
    assert float(level.group(1)) <= MAX_EXPOSURE, f"exposure {level.group(1)} > {MAX_EXPOSURE}:\n{result.stdout}"


# Container


def test_containerfile_keeps_its_promises() -> None:
    """What the image promises, read from the Containerfile (no engine here to build it)."""
    text = CONTAINERFILE.read_text()
    instructions = re.sub(r"\\\n", " ", re.sub(r"^\s*#.*\n", "", text, flags=re.MULTILINE))
    assert re.search(r"swift build -c release --static-swift-stdlib --product tollgate", instructions)
    assert "/usr/lib/swift" not in instructions, "with a static stdlib the runtime image needs no Swift libraries"
    assert re.search(r"^USER 10001:10001$", instructions, re.MULTILINE)
    assert re.search(r'^VOLUME \["/var/lib/tollgate"\]$', instructions, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*GET /livez", instructions, re.MULTILINE)
    assert instructions.count("FROM ") >= 2, "multi-stage: the toolchain stays out of the runtime image"


def test_container_config_is_accepted(tmp_path: Path) -> None:
    """deploy/tollgate.yaml, as the image lays it out (/etc/tollgate with providers/ beside it), passes `tollgate check`."""
    if not TOLLGATE_BIN.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{TOLLGATE_BIN} is not built", pytrace=False)
        pytest.skip(f"{TOLLGATE_BIN} is not built (swift build --product tollgate)")
    shutil.copyfile(CONTAINER_CONFIG, tmp_path / "tollgate.yaml")
    (tmp_path / "providers").symlink_to(REPO_ROOT / "providers")
    result = run([str(TOLLGATE_BIN), "check", "--config", str(tmp_path / "tollgate.yaml")], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
