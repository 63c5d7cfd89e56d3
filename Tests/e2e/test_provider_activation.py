"""Safe defaults (issue 16): with no `providers:` in the config, a bundled provider is active only when its
credentials are in the environment, and one that needs no authentication (Ollama, vLLM) only when the config lists
it. `serve` says which are active and why the others are not; a request for an inactive provider is answered 404
`provider_inactive` in its family's shape, saying how to activate it, and reaches nothing; `serve` with the embedded
defaults and no key still starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import anthropic
import httpx
import pytest

from conftest import (
    CREDENTIAL_VARIABLES, HTTP_TIMEOUT, MESSAGES, PROVIDER_KEY, REPO_ROOT, TOLLGATE_BIN, Simulator, anthropic_client, serve,
    stop_process,
)

pytestmark = pytest.mark.proxy

def check(config: Path, environment: dict[str, str]) -> str:
    """What `tollgate check` prints with only `environment`'s credentials."""
    env = {name: value for name, value in os.environ.items() if name not in CREDENTIAL_VARIABLES}
    env.update(environment)
    result = subprocess.run([str(TOLLGATE_BIN), "check", "--config", str(config)], env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def definitions_pointing_at(origin: str, folder: Path) -> None:
    """providers/ copied into `folder`, OpenAI, Anthropic and Ollama pointed at the simulator."""
    shutil.copytree(REPO_ROOT / "providers", folder)
    for name in ("openai", "anthropic", "ollama"):
        path = folder / f"{name}.yaml"
        lines = path.read_text().splitlines()
        path.write_text("\n".join(f"base_url: {origin}" if line.startswith("base_url:") else line for line in lines) + "\n")


def test_without_providers_only_providers_with_credentials_are_active(sim: Simulator, tmp_path: Path) -> None:
    definitions_pointing_at(sim.origin, tmp_path / "providers")
    (tmp_path / "tollgate.yaml").write_text(f'meter: {{path: "{tmp_path / "tollgate.db"}"}}\nproviders_dir: providers\n')
    proxy = serve(["--config", str(tmp_path / "tollgate.yaml")], tmp_path, {"OPENAI_API_KEY": PROVIDER_KEY})
    try:
        log = proxy.stderr()
        assert "providers active: openai (OPENAI_API_KEY set); inactive: anthropic (ANTHROPIC_API_KEY unset)," in log, log
        assert "ollama (no authentication: used only when listed under providers:)" in log
        assert "vllm (no authentication: used only when listed under providers:)" in log

        # `tollgate check` reports the same, for the environment it runs in.
        checked = check(tmp_path / "tollgate.yaml", {"OPENAI_API_KEY": PROVIDER_KEY})
        assert "provider:  openai" in checked and "active: OPENAI_API_KEY set" in checked, checked
        assert "inactive:  ollama" in checked and "inactive:  anthropic" in checked, checked
        assert "inactive:  openai" in check(tmp_path / "tollgate.yaml", {})

        key = proxy.create_key("cust-activation")
        sim.clear_requests()
        # OpenAI, whose key is set, serves as usual.
        reply = proxy.client(key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=8)
        assert reply.choices[0].message.content
        assert len(sim.requests()) == 1

        # Anthropic (no key set) through its own SDK at a root path: 404 in Anthropic's shape, saying what to set.
        with pytest.raises(anthropic.NotFoundError) as refused:
            anthropic_client(proxy.origin, key).messages.create(
                model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
        body = refused.value.response.json()
        assert body["type"] == "error" and body["error"]["type"] == "not_found_error", body
        assert "Provider 'anthropic' is not active" in body["error"]["message"]
        assert "set ANTHROPIC_API_KEY" in body["error"]["message"]

        # Ollama (loopback, no authentication) is never active unless listed: 404 in Ollama's shape.
        ollama = httpx.post(proxy.origin + "/ollama/api/chat", json={"model": "llama3", "messages": []},
                            headers={"Authorization": f"Bearer {key}"}, timeout=HTTP_TIMEOUT)
        assert ollama.status_code == 404
        assert "lists it under providers: (ollama: {})" in ollama.json()["error"], ollama.text

        # Nothing but the OpenAI request reached an upstream, and the refusals left no event.
        assert len(sim.requests()) == 1
        assert len(proxy.events()) == 1
    finally:
        stop_process(proxy.proc)


def test_a_listed_local_provider_is_active_and_the_others_are_not(sim: Simulator, tmp_path: Path) -> None:
    definitions_pointing_at(sim.origin, tmp_path / "providers")
    (tmp_path / "tollgate.yaml").write_text(
        f'meter: {{path: "{tmp_path / "tollgate.db"}"}}\nproviders_dir: providers\nproviders:\n  ollama: {{}}\n')
    proxy = serve(["--config", str(tmp_path / "tollgate.yaml")], tmp_path, {"OPENAI_API_KEY": PROVIDER_KEY})
    try:
        assert "providers active: ollama (listed in the config)" in proxy.stderr(), proxy.stderr()
        key = proxy.create_key("cust-listed")
        # OpenAI's key is set, but a providers: section activates only what it lists: /v1/... has no provider.
        response = httpx.post(proxy.origin + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES},
                              headers={"Authorization": f"Bearer {key}"}, timeout=HTTP_TIMEOUT)
        assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_route", response.text
    finally:
        stop_process(proxy.proc)


def test_serve_with_the_embedded_defaults_and_no_key_starts_and_says_so(tmp_path: Path) -> None:
    """README's quick start (`tollgate serve`, no config) in a folder of its own with no provider key set."""
    proxy = serve([], tmp_path, {})
    try:
        log = proxy.stderr()
        assert "providers active: none; inactive: openai (OPENAI_API_KEY unset)" in log, log
        assert "every proxied request is refused until a provider's key is set" in log
        response = httpx.post(proxy.origin + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES},
                              timeout=HTTP_TIMEOUT)
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "provider_inactive" and "set OPENAI_API_KEY" in error["message"], error
        assert (tmp_path / "tollgate.db").exists(), "the meter is in the working folder"
    finally:
        stop_process(proxy.proc)
