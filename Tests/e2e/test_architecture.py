"""The module layout the architecture promises (docs/ARCHITECTURE.md), checked on the package manifest itself.

Dependencies point one way, toward the pure core; the billing and finance side never depends on an HTTP server; the
finance commands use only the billing, store and core modules.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import REPO_ROOT

# Each library target and the project targets it may depend on (directly). Anything else is a violation.
ALLOWED = {
    "TollgateCore": set(),
    "TollgateConfiguration": {"TollgateCore"},
    "TollgateStore": {"TollgateCore"},
    "TollgateGateway": {"TollgateCore", "TollgateStore", "CZlib", "CBrotli"},
    "TollgateBilling": {"TollgateCore", "TollgateStore"},
    "TollgateAdmin": {"TollgateCore", "TollgateStore", "TollgateBilling"},
}
SERVER_PRODUCTS = {"Hummingbird", "HummingbirdCore", "HummingbirdHTTP2", "HummingbirdTLS"}
FINANCE_COMMANDS = ["Report.swift", "Statement.swift", "Lines.swift", "Export.swift"]


@pytest.fixture(scope="module")
def targets() -> dict[str, dict]:
    swift = shutil.which("swift")
    if swift is None:
        pytest.fail("swift is not on PATH: the manifest cannot be read")
    # A scratch path of its own: reading the manifest must not wait for the lock of a build running in .build.
    with tempfile.TemporaryDirectory() as scratch:
        dumped = subprocess.run(
            [swift, "package", "--scratch-path", scratch, "dump-package"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
        )
    assert dumped.returncode == 0, dumped.stderr
    return {target["name"]: target for target in json.loads(dumped.stdout)["targets"]}


def dependencies(target: dict) -> set[str]:
    names = set()
    for dependency in target["dependencies"]:
        ((_, value),) = dependency.items()
        names.add(value[0])
    return names


def project_dependencies(targets: dict[str, dict], name: str) -> set[str]:
    return {dependency for dependency in dependencies(targets[name]) if dependency in targets}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_dependencies_point_toward_the_core(targets: dict[str, dict], name: str) -> None:
    assert name in targets, f"target {name} is missing"
    extra = project_dependencies(targets, name) - ALLOWED[name]
    assert not extra, f"{name} depends on {sorted(extra)}, against the architecture"


def transitive(targets: dict[str, dict], name: str) -> set[str]:
    seen: set[str] = set()
    stack = [name]
    while stack:
        for dependency in dependencies(targets[stack.pop()]):
            if dependency not in seen:
                seen.add(dependency)
                if dependency in targets:
                    stack.append(dependency)
    return seen


@pytest.mark.parametrize("name", ["TollgateCore", "TollgateConfiguration", "TollgateStore", "TollgateBilling"])
def test_no_http_server_below_the_listeners(targets: dict[str, dict], name: str) -> None:
    assert not transitive(targets, name) & SERVER_PRODUCTS, f"{name} reaches an HTTP server library"


@pytest.mark.parametrize("file", FINANCE_COMMANDS)
def test_finance_commands_import_no_server(file: str) -> None:
    source = (REPO_ROOT / "Sources" / "tollgate" / "Commands" / file).read_text()
    imports = set(re.findall(r"^import (\w+)", source, flags=re.MULTILINE))
    assert not imports & ({"TollgateGateway", "TollgateAdmin"} | SERVER_PRODUCTS), f"{file} imports {sorted(imports)}"
