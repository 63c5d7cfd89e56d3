"""The deploy and monitoring files checked offline: the Prometheus config and alert rules with `promtool` (syntax,
and the rules' unit tests in deploy/prometheus/alerts_test.yml), the systemd unit with `systemd-analyze verify`
and `systemd-analyze security`, the Grafana dashboard's JSON and queries, the container config with
`tollgate check`, and docs/OPERATIONS.md against the metric names in the code (TollgateCore's MetricName). For
replicas on PostgreSQL: the Kubernetes manifests of deploy/kubernetes against the API's schemas (kubernetes-validate,
strict), deploy/compose.yaml against the Compose Specification (check-jsonschema), how both wire probes, shutdown,
config and secrets, and their shared config deploy/tollgate-replicas.yaml with `tollgate check`.

`promtool` comes with Debian's `prometheus` package, `systemd-analyze` with `systemd`; .ci/run installs both and
runs this file as its "deploy files" step. kubernetes-validate and check-jsonschema are in requirements.txt; both
validate offline against the schemas they bundle. Without a tool its tests are skipped, except under CI (`CI` set),
where they fail. The Containerfile cannot be built here (no container engine): its promises are checked as text;
neither is there a cluster or a Compose engine, so the manifests and the compose file are checked offline.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
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
KUBERNETES = DEPLOY / "kubernetes"
KUSTOMIZATION = KUBERNETES / "kustomization.yaml"
REPLICA_CONFIG = DEPLOY / "tollgate-replicas.yaml"
COMPOSE = DEPLOY / "compose.yaml"
OPERATIONS = REPO_ROOT / "docs" / "OPERATIONS.md"
METRIC_NAMES_SWIFT = REPO_ROOT / "Sources" / "TollgateCore" / "Telemetry" / "MetricName.swift"

TOOL_TIMEOUT = 120  # seconds for one promtool or systemd-analyze run (a loaded 2-core machine)
# The highest `systemd-analyze security` exposure the unit may reach (0 = fully sandboxed, 10 = not at all; it
# scores 1.5 with the options it has): a removed hardening option fails here.
MAX_EXPOSURE = 2.0

PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool", "inf", "nan"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# The Kubernetes versions the manifests validate against: the newest whose schemas kubernetes-validate bundles (the
# version pinned in requirements.txt), and an older one still run by managed clusters.
KUBERNETES_VERSIONS = ("1.30", "1.37")
# The image's user (deploy/Containerfile: USER 10001:10001).
IMAGE_UID = 10001
# Placeholder secrets for `tollgate check` on the replica config (the admin token needs 16 characters).
CHECK_ENVIRONMENT = {
    "TOLLGATE_METER_PASSWORD": "placeholder-password",
    "TOLLGATE_ADMIN_TOKEN": "placeholder-admin-token-0123456789",
    "OPENAI_API_KEY": "sk-placeholder",
}


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


def python_package(module: str, package: str):
    """An installed Python module of requirements.txt; skips without it (fails under CI, which installs it)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        reason = f"the Python package {package} is not installed (.venv/bin/pip install -r Tests/e2e/requirements.txt)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must check the deploy files with it (.ci/run installs it)", pytrace=False)
        pytest.skip(f"{reason}; CI installs it and runs this check")


def tollgate_binary() -> Path:
    """The built tollgate binary; skips without it (fails under CI, which builds it first)."""
    if not TOLLGATE_BIN.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{TOLLGATE_BIN} is not built", pytrace=False)
        pytest.skip(f"{TOLLGATE_BIN} is not built (swift build --product tollgate)")
    return TOLLGATE_BIN


def run(arguments: list[str], cwd: Path = REPO_ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(arguments, cwd=cwd, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT)


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


# Replicas on PostgreSQL: the config, Kubernetes and Compose


def replica_config() -> dict:
    return yaml.safe_load(REPLICA_CONFIG.read_text())


def listen_port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def shutdown_grace(config: dict) -> float:
    """proxy.shutdown_grace_s, 30 when the config does not set it (ProxySettings)."""
    return float((config.get("proxy") or {}).get("shutdown_grace_s", 30))


def secret_variables(config: dict) -> set[str]:
    """The environment variables the config reads secrets from."""
    names = {config["meter"].get("password_env"), config.get("admin", {}).get("token_env")}
    names |= {entry.get("api_key_env") for entry in (config.get("providers") or {}).values() if isinstance(entry, dict)}
    return {name for name in names if name}


def kubernetes_manifests() -> list[tuple[Path, dict]]:
    """(file, object) of every manifest under deploy/kubernetes but the kustomization, in file order."""
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path != KUSTOMIZATION:
            found += [(path, document) for document in yaml.safe_load_all(path.read_text()) if document]
    return found


def kubernetes_objects(kind: str) -> list[dict]:
    return [document for _, document in kubernetes_manifests() if document["kind"] == kind]


def the_one(kind: str) -> dict:
    objects = kubernetes_objects(kind)
    assert len(objects) == 1, f"deploy/kubernetes has {len(objects)} {kind} objects, not one"
    return objects[0]


def selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector (matchLabels, or a Service's plain map) is non-empty and matches the labels."""
    assert "matchExpressions" not in selector, "matchExpressions: not handled by this test"
    wanted = selector.get("matchLabels", selector)
    return bool(wanted) and all(labels.get(key) == value for key, value in wanted.items())


def tollgate_container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(container for container in containers if container["name"] == "tollgate")


def container_port(container: dict, reference: int | str) -> int:
    """The containerPort a probe or Service targetPort names (by number or by port name)."""
    if isinstance(reference, int):
        return reference
    ports = {port["name"]: port["containerPort"] for port in container.get("ports", []) if "name" in port}
    assert reference in ports, f"no container port named {reference!r} (ports: {ports})"
    return ports[reference]


def prestop_seconds(container: dict) -> float:
    """How long the preStop hook waits: `sleep N` run by exec, or the sleep action."""
    hook = container.get("lifecycle", {}).get("preStop")
    assert hook, "no preStop hook: the pod gets SIGTERM while proxies still route to it"
    if "sleep" in hook:
        return float(hook["sleep"]["seconds"])
    command = hook["exec"]["command"]
    assert Path(command[0]).name == "sleep" and len(command) == 2, f"preStop is not a plain sleep: {command}"
    return float(command[1])


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    """Every object of deploy/kubernetes against the API's schemas, strictly (an unknown or misspelled field fails)."""
    validator = python_package("kubernetes_validate", "kubernetes-validate")
    manifests = kubernetes_manifests()
    kinds = {document["kind"] for _, document in manifests}
    assert {"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"} <= kinds, kinds
    problems = []
    for path, document in manifests:
        name = f"{path.name}: {document['kind']}/{document.get('metadata', {}).get('name')}"
        for version in KUBERNETES_VERSIONS:
            try:
                validator.validate(document, version, strict=True)
            except validator.ValidationError as error:
                problems.append(f"{name} (Kubernetes {version}): {'.'.join(map(str, error.path))}: {error.message}")
            except validator.SchemaNotFoundError as error:
                problems.append(f"{name}: {error.message}")
    assert problems == [], "\n".join(problems)


def test_kubernetes_validation_is_strict() -> None:
    """The validation above would catch a misspelled field: a Deployment with `livenessProbes` is refused."""
    validator = python_package("kubernetes_validate", "kubernetes-validate")
    deployment = copy.deepcopy(the_one("Deployment"))
    container = tollgate_container(deployment)
    container["livenessProbes"] = container.pop("livenessProbe")
    with pytest.raises(validator.ValidationError):
        validator.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_in_one_namespace() -> None:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    assert kustomization["kind"] == "Kustomization"
    files = {path.name for path in KUBERNETES.glob("*.yaml")} - {KUSTOMIZATION.name}
    assert set(kustomization["resources"]) == files, "kustomization.yaml's resources are not the files beside it"
    namespace = kustomization["namespace"]
    for path, document in kubernetes_manifests():
        if document["kind"] == "Namespace":
            assert document["metadata"]["name"] == namespace, path.name
        else:
            assert document["metadata"].get("namespace", namespace) == namespace, f"{path.name}: another namespace"


def test_deployment_probes_the_proxy_port() -> None:
    """Liveness /healthz (or /livez), readiness /readyz, a startup probe: all on the config's proxy listener."""
    deployment = the_one("Deployment")
    container = tollgate_container(deployment)
    proxy_port = listen_port(replica_config()["listen"])
    expected = {"livenessProbe": {"/healthz", "/livez"}, "readinessProbe": {"/readyz"}, "startupProbe": {"/healthz", "/livez"}}
    for probe, paths in expected.items():
        assert probe in container, f"the container has no {probe}"
        check = container[probe]["httpGet"]
        assert check["path"] in paths, f"{probe} asks {check['path']}, not {' or '.join(sorted(paths))}"
        assert container_port(container, check["port"]) == proxy_port, f"{probe} is not on the proxy port {proxy_port}"
        assert check.get("scheme", "HTTP") == "HTTP", probe


def test_deployment_rolls_and_stops_without_dropping_requests() -> None:
    """Several replicas spread over nodes; updates never below the count; SIGTERM after the Service stops routing
    (preStop), and a grace period longer than the preStop wait plus the config's shutdown grace."""
    deployment = the_one("Deployment")
    spec, pod = deployment["spec"], deployment["spec"]["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] >= 2
    assert selects(spec["selector"], labels), "the Deployment's selector does not match its own pods"
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] in (0, "0%"), "an update may take a replica away"
    waits = prestop_seconds(tollgate_container(deployment))
    grace = shutdown_grace(replica_config())
    assert waits > 0
    assert pod["terminationGracePeriodSeconds"] > waits + grace, (
        f"terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} ≤ preStop {waits} s + shutdown_grace_s {grace} s"
    )
    spread = [
        constraint
        for constraint in pod.get("topologySpreadConstraints", [])
        if constraint["topologyKey"] == "kubernetes.io/hostname" and selects(constraint["labelSelector"], labels)
    ]
    anti = pod.get("affinity", {}).get("podAntiAffinity")
    assert spread or anti, "nothing spreads the replicas over nodes (topologySpreadConstraints or podAntiAffinity)"


def test_deployment_runs_unprivileged_on_a_read_only_root() -> None:
    deployment = the_one("Deployment")
    pod_context = deployment["spec"]["template"]["spec"].get("securityContext", {})
    container = tollgate_container(deployment)
    context = {**pod_context, **container.get("securityContext", {})}
    assert context.get("runAsNonRoot") is True
    assert context.get("runAsUser", IMAGE_UID) == IMAGE_UID, "the image's files belong to uid 10001"
    assert context.get("readOnlyRootFilesystem") is True
    assert context.get("allowPrivilegeEscalation") is False
    assert context.get("capabilities", {}).get("drop") == ["ALL"]
    assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    resources = container.get("resources", {})
    assert resources.get("requests", {}).get("cpu") and resources.get("requests", {}).get("memory")
    assert resources.get("limits", {}).get("memory")


def test_deployment_mounts_the_config_and_passes_the_secrets() -> None:
    """The container reads the ConfigMap's tollgate.yaml at the path its --config names, and every variable the
    config reads a secret from comes from the Secret."""
    deployment = the_one("Deployment")
    configmap, secret = the_one("ConfigMap"), the_one("Secret")
    container = tollgate_container(deployment)
    arguments = container.get("args", [])
    assert arguments[:1] == ["serve"] and "--config" in arguments
    config_path = arguments[arguments.index("--config") + 1]
    volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
    mounted = None
    for mount in container["volumeMounts"]:
        source = volumes[mount["name"]].get("configMap")
        if source and source["name"] == configmap["metadata"]["name"]:
            mounted = mount["mountPath"] if "subPath" in mount else f"{mount['mountPath'].rstrip('/')}/tollgate.yaml"
            assert mount.get("subPath", "tollgate.yaml") == "tollgate.yaml" and mount.get("readOnly") is True
    assert mounted == config_path, f"--config {config_path}, but the ConfigMap's tollgate.yaml is at {mounted}"
    assert "tollgate.yaml" in configmap["data"]
    given = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    missing = secret_variables(replica_config()) - given
    assert missing == set(), f"the Secret lacks {sorted(missing)}"
    sources = [source["secretRef"]["name"] for source in container.get("envFrom", []) if "secretRef" in source]
    singles = {
        variable["name"]
        for variable in container.get("env", [])
        if variable.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == secret["metadata"]["name"]
    }
    assert secret["metadata"]["name"] in sources or secret_variables(replica_config()) <= singles, "the container does not get the Secret"


def test_pdb_and_services_select_the_pods() -> None:
    deployment = the_one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    replicas = deployment["spec"]["replicas"]
    container = tollgate_container(deployment)
    config = replica_config()
    budget = the_one("PodDisruptionBudget")
    assert selects(budget["spec"]["selector"], labels), "the PodDisruptionBudget does not select the Deployment's pods"
    if "minAvailable" in budget["spec"]:
        assert 1 <= budget["spec"]["minAvailable"] < replicas, "a drain could never evict a replica, or could evict all"
    else:
        assert 1 <= budget["spec"]["maxUnavailable"] < replicas
    targets = {}
    for service in kubernetes_objects("Service"):
        name = service["metadata"]["name"]
        assert selects(service["spec"]["selector"], labels), f"Service {name} does not select the Deployment's pods"
        for port in service["spec"]["ports"]:
            targets[container_port(container, port.get("targetPort", port["port"]))] = name
    proxy_port, admin_port = listen_port(config["listen"]), listen_port(config["admin"]["listen"])
    assert proxy_port in targets, "no Service reaches the proxy"
    assert admin_port in targets, "no Service reaches the admin listener (/metrics)"
    assert targets[proxy_port] != targets[admin_port], "the admin listener must not share the proxy's Service"


def test_configmap_holds_the_replica_config() -> None:
    """configmap.yaml embeds deploy/tollgate-replicas.yaml byte for byte: one config for Kubernetes and Compose."""
    embedded = the_one("ConfigMap")["data"]["tollgate.yaml"]
    assert embedded == REPLICA_CONFIG.read_text(), "deploy/kubernetes/configmap.yaml's tollgate.yaml differs from deploy/tollgate-replicas.yaml"
    meter = yaml.safe_load(embedded)["meter"]
    assert meter["url"].startswith("postgres://") and "path" not in meter, "the replicas share a PostgreSQL meter"


def test_replica_config_is_accepted(tmp_path: Path) -> None:
    """deploy/tollgate-replicas.yaml, laid out as in the image, passes `tollgate check` with its secrets in the
    environment; without the meter password, or with the example Secret's placeholders, it is refused."""
    binary = tollgate_binary()
    shutil.copyfile(REPLICA_CONFIG, tmp_path / "tollgate.yaml")
    (tmp_path / "providers").symlink_to(REPO_ROOT / "providers")
    command = [str(binary), "check", "--config", str(tmp_path / "tollgate.yaml")]
    base = {key: value for key, value in os.environ.items() if key not in CHECK_ENVIRONMENT}
    assert set(CHECK_ENVIRONMENT) == secret_variables(replica_config())
    result = run(command, cwd=tmp_path, env={**base, **CHECK_ENVIRONMENT})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "meter:     postgres://" in result.stdout and "openai" in result.stdout, result.stdout
    without_password = {key: value for key, value in CHECK_ENVIRONMENT.items() if key != "TOLLGATE_METER_PASSWORD"}
    result = run(command, cwd=tmp_path, env={**base, **without_password})
    assert result.returncode != 0 and "TOLLGATE_METER_PASSWORD" in result.stderr, result.stdout + result.stderr
    placeholders = {key: str(value) for key, value in the_one("Secret")["stringData"].items()}
    result = run(command, cwd=tmp_path, env={**base, **placeholders})
    assert result.returncode != 0 and "16 characters" in result.stderr, "the example Secret's admin token must be refused"


def compose_seconds(duration: str | int) -> float:
    """A Compose duration (`45s`, `1m30s`) in seconds."""
    if isinstance(duration, (int, float)):
        return float(duration)
    units = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", duration)
    assert parts and "".join(number + unit for number, unit in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def compose_mounts(service: dict) -> dict[str, str]:
    """A Compose service's bind mounts: target → source, resolved against deploy/ (short and long syntax)."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        if source.startswith("."):
            mounts[target] = str((COMPOSE.parent / source).resolve())
    return mounts


def test_compose_file_follows_the_compose_specification() -> None:
    """deploy/compose.yaml against the Compose Specification's schema that check-jsonschema bundles (offline)."""
    python_package("check_jsonschema", "check-jsonschema")
    result = run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_replicas_wait_for_postgres_and_run_the_replica_config() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    config = replica_config()
    url = urllib.parse.urlsplit(config["meter"]["url"])
    database = services[url.hostname]  # the meter URL's host is the compose service
    assert database["image"].startswith("postgres:"), database["image"]
    assert database["healthcheck"]["test"], "postgres needs a healthcheck for the replicas to wait on"
    assert any(str(volume).split(":")[1].startswith("/var/lib/postgresql/data") for volume in database["volumes"])
    environment = database["environment"]
    assert environment["POSTGRES_USER"] == url.username and environment["POSTGRES_DB"] == url.path.lstrip("/")
    password = config["meter"]["password_env"]
    assert f"${{{password}" in environment["POSTGRES_PASSWORD"], "postgres and the replicas must share the password"
    replicas = {name: service for name, service in services.items() if name != url.hostname}
    count = sum(service.get("deploy", {}).get("replicas", 1) for service in replicas.values())
    assert count >= 3, f"{count} Tollgate replicas"
    proxy_port, published = listen_port(config["listen"]), []
    for name, service in replicas.items():
        assert service["depends_on"][url.hostname]["condition"] == "service_healthy", name
        command = service["command"]
        config_path = command[command.index("--config") + 1]
        assert compose_mounts(service).get(config_path) == str(REPLICA_CONFIG.resolve()), f"{name}: {config_path} is not the replica config"
        assert set(service["environment"]) >= secret_variables(config), f"{name}: secrets missing from its environment"
        assert compose_seconds(service["stop_grace_period"]) > shutdown_grace(config), f"{name}: stop_grace_period"
        assert service.get("read_only") is True and service.get("cap_drop") == ["ALL"], name
        published += [str(port).rsplit(":", 1)[0] for port in service.get("ports", []) if str(port).endswith(f":{proxy_port}")]
    assert published and len(published) == len(set(published)), f"the replicas' proxy host ports: {published}"
