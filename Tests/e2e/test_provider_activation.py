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
import time
from pathlib import Path

import anthropic
import httpx
import pytest

from conftest import (
    HTTP_TIMEOUT, MESSAGES, PROVIDER_KEY, READY_TIMEOUT, REPO_ROOT, TOLLGATE_BIN, Simulator, Tollgate, anthropic_client, free_port,
    stop_process, tail,
)

pytestmark = pytest.mark.proxy

# Every variable a bundled definition reads its credentials from: unset for these proxies unless a test sets it.
CREDENTIAL_VARIABLES = (
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "AZURE_OPENAI_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "COHERE_API_KEY", "MISTRAL_API_KEY", "GROQ_API_KEY", "DEEPSEEK_API_KEY",
    "XAI_API_KEY", "OPENROUTER_API_KEY", "TOGETHER_API_KEY", "FIREWORKS_API_KEY", "CEREBRAS_API_KEY", "HF_TOKEN",
)


def serve(arguments: list[str], directory: Path, environment: dict[str, str]) -> Tollgate:
    """Starts `tollgate serve ARGUMENTS` in `directory` with only `environment`'s credentials; waits for /healthz."""
    env = {name: value for name, value in os.environ.items() if name not in CREDENTIAL_VARIABLES}
    env.update(environment)
    port = free_port()
    stderr_path = directory / "tollgate.stderr.log"
    proc = subprocess.Popen(
        [str(TOLLGATE_BIN), "serve", *arguments, "--listen", f"127.0.0.1:{port}"], cwd=directory, env=env,
        stdout=(directory / "tollgate.stdout.log").open("wb"), stderr=stderr_path.open("wb"))
    proxy = Tollgate(proc, f"http://127.0.0.1:{port}", directory / "tollgate.yaml", stderr_path)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(proxy.origin + "/healthz", timeout=1.0).status_code == 200:
                return proxy
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_process(proc)
    pytest.fail(f"tollgate serve did not become ready; stderr:\n{tail(stderr_path)}", pytrace=False)


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
