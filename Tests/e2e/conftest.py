"""Fixtures for Tollgate's end-to-end suite.

One simulator (`tollgate-sim`) and one proxy (`tollgate serve`) per session. The proxy fixtures fail fast, with
the proxy's stderr in the message, when the binary is missing or never becomes ready: nothing here waits without
a timeout.

The simulator speaks OpenAI, Anthropic and Gemini. Its Anthropic and Gemini routes only accept PROVIDER_KEY (the
key the proxy is configured with), so a request the proxy forwards with the client's key instead fails upstream;
direct clients of those two families use PROVIDER_KEY too. OpenAI routes accept any key.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types as genai_types

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
RECORDED_DIR = E2E_DIR / "fixtures" / "recorded"

TOLLGATE_BIN = Path(os.environ.get("TOLLGATE_BIN", REPO_ROOT / ".build" / "debug" / "tollgate"))
SIM_BIN = Path(os.environ.get("TOLLGATE_SIM_BIN", REPO_ROOT / ".build" / "debug" / "tollgate-sim"))

PROVIDER_KEY = "sk-provider-secret"
DIRECT_KEY = "sk-direct-to-sim"
CUSTOMER = "cust-e2e"

READY_TIMEOUT = 10.0  # seconds for a server to come up
CLI_TIMEOUT = 20.0  # seconds for one `tollgate` CLI command
HTTP_TIMEOUT = 10.0  # seconds for one HTTP request
EVENT_TIMEOUT = 10.0  # seconds for an event to show up in `tollgate events`

# Streams are paced by the simulator; a small delay keeps them real (several writes) without slowing the suite.
SIM_TOKEN_DELAY_MS = 2

TOKEN_CLASSES = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")


def pytest_configure(config: pytest.Config) -> None:
    """Registers the suite's marker."""
    config.addinivalue_line("markers", "proxy: needs the tollgate binary (tests against the proxy)")


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler for the tests' loopback upstreams: HTTP/1.1 (keep-alive), no access log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server whose threads die with the tests, with room for bursts of connections."""

    daemon_threads = True
    request_queue_size = 512


def serve_in_background(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    """Serves `handler` on 127.0.0.1 (a port the system picks) from daemon threads; returns the server and its origin."""
    server = LoopbackServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, limit: int = 4000) -> str:
    """The end of a log file, for failure messages."""
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "<no log>"


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if the process does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


# --- simulator ---------------------------------------------------------------------------------------------------


class Simulator:
    """A running `tollgate-sim`."""

    def __init__(self, proc: subprocess.Popen, origin: str, stderr_path: Path) -> None:
        self.proc = proc
        self.origin = origin
        self.base_url = origin + "/v1"
        self.stderr_path = stderr_path

    def client(self, **kwargs: Any) -> openai.OpenAI:
        """An SDK client talking to the simulator directly."""
        return openai.OpenAI(base_url=self.base_url, api_key=DIRECT_KEY, max_retries=0, timeout=HTTP_TIMEOUT, **kwargs)

    def anthropic_client(self, key: str = PROVIDER_KEY) -> anthropic.Anthropic:
        """An `anthropic` SDK client talking to the simulator directly."""
        return anthropic_client(self.origin, key)

    def gemini_client(self, key: str = PROVIDER_KEY, api_version: str = "v1beta") -> genai.Client:
        """A `google-genai` SDK client talking to the simulator directly."""
        return gemini_client(self.origin, key, api_version)

    def requests(self) -> list[dict]:
        """What the simulator received, oldest first (its last 200 requests)."""
        response = httpx.get(self.origin + "/_sim/requests", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def clear_requests(self) -> None:
        """Forgets the received requests."""
        httpx.delete(self.origin + "/_sim/requests", timeout=HTTP_TIMEOUT).raise_for_status()


def anthropic_client(base_url: str, key: str) -> anthropic.Anthropic:
    """An `anthropic` SDK client for `base_url` (the SDK appends /v1/messages), without retries."""
    return anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0, timeout=HTTP_TIMEOUT)


def gemini_client(base_url: str, key: str, api_version: str = "v1beta") -> genai.Client:
    """A `google-genai` SDK client for `base_url` (the SDK appends /API_VERSION/models/...); it never retries by default.

    google-genai 3.x defaults to API version v1; the suite asks for v1beta, the version Gemini's native paths use.
    """
    options = genai_types.HttpOptions(base_url=base_url, api_version=api_version, timeout=int(HTTP_TIMEOUT * 1000))
    return genai.Client(api_key=key, http_options=options)


def start_simulator(extra_args: Iterable[str], log_dir: Path) -> Simulator:
    """Starts the simulator on a free port and waits for its ready line."""
    if not SIM_BIN.exists():
        pytest.fail(f"simulator binary not found at {SIM_BIN}; build it with `swift build --product tollgate-sim`", pytrace=False)
    stderr_path = log_dir / "sim.stderr.log"
    proc = subprocess.Popen(
        [str(SIM_BIN), "--port", "0", "--api-key", PROVIDER_KEY, *extra_args],
        stdout=subprocess.PIPE,
        stderr=stderr_path.open("wb"),
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    # readline() blocks, so a thread feeds a queue that is read with a timeout; it also keeps draining stdout.
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT
    prefix = "tollgate-sim listening on "
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        if line.startswith(prefix):
            return Simulator(proc, line[len(prefix):].strip(), stderr_path)
    stop_process(proc)
    pytest.fail(f"tollgate-sim did not become ready in {READY_TIMEOUT}s; stderr:\n{tail(stderr_path)}", pytrace=False)


@pytest.fixture(scope="session")
def log_dir() -> Iterable[Path]:
    """A scratch folder for logs, configs and the meter database; removed at the end unless KEEP_E2E_LOGS is set."""
    path = Path(tempfile.mkdtemp(prefix="tollgate-e2e-"))
    yield path
    if not os.environ.get("KEEP_E2E_LOGS"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def sim(log_dir: Path) -> Iterable[Simulator]:
    """The session's simulator, replaying the recorded cases from this suite's own fixtures folder."""
    simulator = start_simulator(
        ["--token-delay-ms", str(SIM_TOKEN_DELAY_MS), "--replay-dir", str(RECORDED_DIR)], log_dir
    )
    yield simulator
    stop_process(simulator.proc)


@pytest.fixture
def direct(sim: Simulator) -> openai.OpenAI:
    """An SDK client for the simulator."""
    return sim.client()


# --- proxy -------------------------------------------------------------------------------------------------------


def run_cli(config_path: Path, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Runs `tollgate ARGS --config FILE`; with `check`, fails the test with its output unless it exits 0."""
    command = [str(TOLLGATE_BIN), *args, "--config", str(config_path)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=CLI_TIMEOUT, cwd=cwd)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"`{' '.join(command)}` did not finish in {CLI_TIMEOUT}s: {error.stderr}", pytrace=False)
    if check and result.returncode != 0:
        pytest.fail(
            f"`{' '.join(command)}` exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}",
            pytrace=False,
        )
    return result


class Tollgate:
    """A running `tollgate serve`, plus its CLI on the same config."""

    def __init__(self, proc: subprocess.Popen, origin: str, config_path: Path, stderr_path: Path) -> None:
        self.proc = proc
        self.origin = origin
        self.base_url = origin + "/v1"
        self.config_path = config_path
        self.stderr_path = stderr_path
        self.key = ""

    def stderr(self) -> str:
        """Everything the proxy logged so far."""
        return tail(self.stderr_path, limit=10**9)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs `tollgate ARGS --config FILE`."""
        return run_cli(self.config_path, *args, check=check)

    def create_key(self, customer: str) -> str:
        """A new virtual key for `customer` (the last line `keys create` prints)."""
        lines = [line.strip() for line in self.cli("keys", "create", "--customer", customer).stdout.splitlines()]
        lines = [line for line in lines if line]
        assert lines, "`tollgate keys create` printed nothing"
        return lines[-1]

    def client(self, key: str | None = None, **kwargs: Any) -> openai.OpenAI:
        """An SDK client talking to the proxy with a virtual key (the session's by default)."""
        return openai.OpenAI(
            base_url=self.base_url, api_key=key or self.key, max_retries=0, timeout=HTTP_TIMEOUT, **kwargs
        )

    def anthropic_client(self, key: str | None = None, prefix: str = "") -> anthropic.Anthropic:
        """An `anthropic` SDK client for the proxy: native paths, or under `prefix` (e.g. "/anthropic")."""
        return anthropic_client(self.origin + prefix, key or self.key)

    def gemini_client(self, key: str | None = None, prefix: str = "", api_version: str = "v1beta") -> genai.Client:
        """A `google-genai` SDK client for the proxy: native paths, or under `prefix` (e.g. "/gemini")."""
        return gemini_client(self.origin + prefix, key or self.key, api_version)

    def events_output(self) -> str:
        """What `tollgate events --format jsonl` prints."""
        return self.cli("events", "--format", "jsonl").stdout

    def events(self) -> list[dict]:
        """Every metered event.

        Read as a sequence of JSON values rather than line by line, so that a formatting slip in the JSONL output
        (checked on its own in test_events_cli.py) does not hide every other result.
        """
        output = self.events_output()
        decoder = json.JSONDecoder()
        events, index = [], 0
        while True:
            while index < len(output) and output[index].isspace():
                index += 1
            if index == len(output):
                return events
            event, index = decoder.raw_decode(output, index)
            events.append(event)

    def mark(self) -> set:
        """The ids of the events recorded so far; pass to `new_events` after making calls."""
        return {event["id"] for event in self.events()}

    def new_events(
        self, mark: set, count: int = 1, timeout: float = EVENT_TIMEOUT, where: Callable[[dict], bool] | None = None
    ) -> list[dict]:
        """Events not in `mark` (and matching `where`), once at least `count` exist; fails after `timeout`.

        Metering may finish after the client has its response (streams are settled when they end), so this polls.
        After the first `count` arrive it looks once more a little later, so a duplicate event is caught too.
        """
        deadline = time.monotonic() + timeout
        while True:
            new = [event for event in self.events() if event["id"] not in mark and (where is None or where(event))]
            if len(new) >= count:
                time.sleep(0.3)
                return [event for event in self.events() if event["id"] not in mark and (where is None or where(event))]
            if time.monotonic() > deadline:
                pytest.fail(
                    f"expected {count} new event(s) within {timeout}s, found {len(new)}: {new}\n"
                    f"tollgate stderr (tail):\n{tail(self.stderr_path)}",
                    pytrace=False,
                )
            time.sleep(0.1)

    def one_new_event(self, mark: set, **kwargs: Any) -> dict:
        """The single event recorded since `mark`."""
        new = self.new_events(mark, count=1, **kwargs)
        assert len(new) == 1, f"expected exactly one new event, got {len(new)}: {new}"
        return new[0]


# The simulator's test controls (`x-sim-replay`, `x-sim-stall-ms`, faults …) are headers no provider needs: Tollgate
# forwards only what a provider's API takes, so the suite's providers list them (`forward_headers`).
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


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls `condition` until it is truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(0.05)


SIM_HEADERS = 'forward_headers: ["x-sim-*"]'


def write_config(path: Path, port: int, sim_origin: str, db_path: Path, durability: str = "strict", extra: str = "",
                 meter: str | None = None) -> None:
    """The proxy's YAML config (written by hand: the suite needs no YAML library); `extra` is appended as is.
    `meter` replaces the SQLite file with other `meter:` settings (`url: postgres://…` and its options)."""
    meter = meter or f'path: "{db_path}"'
    path.write_text(
        f'listen: "127.0.0.1:{port}"\n'
        f'meter: {{{meter}, durability: {durability}}}\n'
        "providers:\n"
        f'  openai: {{base_url: "{sim_origin}", api_key: "{PROVIDER_KEY}", {SIM_HEADERS}}}\n'
        f'  anthropic: {{base_url: "{sim_origin}", api_key: "{PROVIDER_KEY}", {SIM_HEADERS}}}\n'
        f'  gemini: {{base_url: "{sim_origin}", api_key: "{PROVIDER_KEY}", {SIM_HEADERS}}}\n' + extra
    )


# With TOLLGATE_E2E_POSTGRES_URL set (a PostgreSQL database), every proxy `start_tollgate` starts keeps its meter there
# instead of in a SQLite file: .ci/run runs the files that need no SQLite file of their own this way too.
E2E_POSTGRES_URL = os.environ.get("TOLLGATE_E2E_POSTGRES_URL")


def after_key_change() -> None:
    """Waits until a key, limit or grant changed from the CLI reaches the proxies: at once on SQLite; on PostgreSQL
    each replica keeps a key's principal for up to a second (docs/SCALING.md)."""
    if E2E_POSTGRES_URL:
        time.sleep(1.1)


def meter_schema(directory: Path) -> str:
    """The PostgreSQL schema of the proxy started in `directory`: one per folder, so that a proxy restarted in the
    same folder finds its meter again (as it finds its SQLite file)."""
    return "e2e_" + hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]


def default_meter(directory: Path) -> str | None:
    """The `meter:` settings of a proxy started in `directory` under TOLLGATE_E2E_POSTGRES_URL."""
    if not E2E_POSTGRES_URL:
        return None
    return f'url: "{E2E_POSTGRES_URL}?schema={meter_schema(directory)}"'


def meter_sql(directory: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Runs one statement (`?` placeholders) on the meter of the proxy started in `directory`, whichever database
    holds it (its SQLite file, or its schema under TOLLGATE_E2E_POSTGRES_URL), committed; returns the rows."""
    if E2E_POSTGRES_URL:
        import psycopg  # only the PostgreSQL runs need it

        with psycopg.connect(E2E_POSTGRES_URL, options=f"-c search_path={meter_schema(directory)}", autocommit=True) as connection:
            cursor = connection.execute(sql.replace("?", "%s"), tuple(params))
            return cursor.fetchall() if cursor.description else []
    connection = sqlite3.connect(directory / "tollgate.db", timeout=10)
    try:
        with connection:
            return connection.execute(sql, tuple(params)).fetchall()
    finally:
        connection.close()


def start_tollgate(sim_origin: str, directory: Path, durability: str = "strict", extra_config: str = "",
                   meter: str | None = None) -> Tollgate:
    """Starts `tollgate serve` with its own config and meter in `directory` (or the `meter:` settings given); fails
    fast if it never gets ready."""
    if not TOLLGATE_BIN.exists():
        pytest.fail(f"tollgate binary not found at {TOLLGATE_BIN}; build it with `swift build --product tollgate`",
                    pytrace=False)
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config_path = directory / "tollgate.yaml"
    write_config(config_path, port, sim_origin, directory / "tollgate.db", durability, extra_config, meter or default_meter(directory))
    stderr_path = directory / "tollgate.stderr.log"
    proc = subprocess.Popen(
        [str(TOLLGATE_BIN), "serve", "--config", str(config_path)],
        stdout=(directory / "tollgate.stdout.log").open("wb"),
        stderr=stderr_path.open("wb"),
    )
    proxy = Tollgate(proc, f"http://127.0.0.1:{port}", config_path, stderr_path)
    deadline = time.monotonic() + READY_TIMEOUT
    ready = False
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            ready = httpx.get(proxy.origin + "/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready:
            break
        time.sleep(0.1)
    if not ready:
        stop_process(proc)
        pytest.fail(
            f"tollgate serve did not answer GET /healthz with 200 within {READY_TIMEOUT}s "
            f"(exit code {proc.returncode}); stderr:\n{tail(stderr_path)}",
            pytrace=False,
        )
    return proxy


@contextmanager
def running_tollgate(sim_origin: str, directory: Path, extra_config: str, customer: str) -> Iterable[Tollgate]:
    """A proxy of its own (config `extra_config` appended under `providers:`) with a virtual key for `customer`,
    stopped on exit."""
    proxy = start_tollgate(sim_origin, directory, extra_config=extra_config)
    try:
        proxy.key = proxy.create_key(customer)
        yield proxy
    finally:
        stop_process(proxy.proc)


# The recorded traffic names models the current catalogs no longer list (claude-3-opus, gemini-2.0-flash, …), which
# Tollgate refuses by default: the proxies that replay it price them at a fallback rate instead.
RETIRED_MODELS_PRICED = 'pricing: {unpriced_models: {fallback: {input: "1.00", output: "4.00"}}}\n'


@pytest.fixture(scope="session")
def tollgate(sim: Simulator, log_dir: Path) -> Iterable[Tollgate]:
    """The session's proxy, in front of the session's simulator, with a virtual key for customer `cust-e2e`."""
    with running_tollgate(sim.origin, log_dir, RETIRED_MODELS_PRICED, CUSTOMER) as proxy:
        yield proxy


@pytest.fixture
def proxied(tollgate: Tollgate) -> openai.OpenAI:
    """An SDK client for the proxy, with the session's virtual key."""
    return tollgate.client()


# --- helpers shared by the tests ---------------------------------------------------------------------------------

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me, what is a token meter?"}]


def sse_data(raw: bytes) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    return [line[len("data: "):] for line in raw.decode().split("\n") if line.startswith("data: ")]


class RawResponse:
    """A response read without decoding: status, headers and the bytes exactly as they came off the wire."""

    def __init__(self, status: int, headers: httpx.Headers, raw: bytes) -> None:
        self.status = status
        self.headers = headers
        self.raw = raw

    def decoded(self) -> bytes:
        """The body with any gzip content-encoding undone."""
        if self.headers.get("content-encoding") == "gzip":
            return gzip.decompress(self.raw)
        return self.raw


def raw_post(url: str, body: Any, key: str | None, headers: dict[str, str] | None = None) -> RawResponse:
    """POSTs `body` (JSON, or bytes sent as they are) and reads the undecoded response."""
    all_headers = {"Authorization": f"Bearer {key}"} if key else {}
    all_headers.update(headers or {})
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers.setdefault("Content-Type", "application/json")
    with httpx.Client(timeout=HTTP_TIMEOUT) as client:
        with client.stream("POST", url, content=content, headers=all_headers) as response:
            return RawResponse(response.status_code, response.headers, b"".join(response.iter_raw()))


# --- assertions shared by the tests ------------------------------------------------------------------------------


def usage_classes(usage: Any, api: str) -> dict[str, int]:
    """Canonical token classes for a usage object (SDK model or dict) of the given wire format (as the recorded
    fixtures' README defines them): "chat" (and completions), "responses", "anthropic" or "gemini"."""
    if hasattr(usage, "model_dump"):
        usage = usage.model_dump()
    if api == "anthropic":
        return {
            "input_tokens": usage["input_tokens"],
            "cache_read_tokens": usage.get("cache_read_input_tokens") or 0,
            "cache_write_tokens": usage.get("cache_creation_input_tokens") or 0,
            "output_tokens": usage["output_tokens"],
            "reasoning_tokens": (usage.get("output_tokens_details") or {}).get("thinking_tokens") or 0,
        }
    if api == "gemini":
        # SDK models dump snake_case; raw bodies are camelCase.
        def count(snake: str, camel: str) -> int:
            return usage.get(snake, usage.get(camel)) or 0

        cached = count("cached_content_token_count", "cachedContentTokenCount")
        thoughts = count("thoughts_token_count", "thoughtsTokenCount")
        return {
            "input_tokens": count("prompt_token_count", "promptTokenCount") - cached
            + count("tool_use_prompt_token_count", "toolUsePromptTokenCount"),
            "cache_read_tokens": cached,
            "cache_write_tokens": 0,
            "output_tokens": count("candidates_token_count", "candidatesTokenCount") + thoughts,
            "reasoning_tokens": thoughts,
        }
    if api == "responses":
        cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
        return {
            "input_tokens": usage["input_tokens"] - cached,
            "cache_read_tokens": cached,
            "cache_write_tokens": 0,
            "output_tokens": usage["output_tokens"],
            "reasoning_tokens": (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0,
        }
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {
        "input_tokens": usage["prompt_tokens"] - cached,
        "cache_read_tokens": cached,
        "cache_write_tokens": 0,
        "output_tokens": usage.get("completion_tokens") or 0,
        "reasoning_tokens": (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0,
    }


def event_classes(event: dict) -> dict[str, int]:
    """The token classes an event recorded."""
    return {name: event[name] for name in TOKEN_CLASSES}


def zero_classes() -> dict[str, int]:
    """Every token class at zero."""
    return dict.fromkeys(TOKEN_CLASSES, 0)


def is_decimal_string(value: Any) -> bool:
    """Whether `value` is money as the proxy prints it: a decimal number in a string."""
    if not isinstance(value, str):
        return False
    try:
        return Decimal(value).is_finite()
    except InvalidOperation:
        return False


def check_event(
    event: dict, *, model: str, served_model: str, stream: bool, route: str, status: int = 200, provider: str = "openai"
) -> None:
    """The fields every successful inference event must have right; `route` is the wire format, e.g. openai.chat."""
    assert event["customer"] == CUSTOMER
    assert event["provider"] == provider
    assert event["model"] == model
    assert event["served_model"] == served_model
    assert event["stream"] is stream
    assert event["status"] == status
    assert event["route"] == route
    assert event["latency_ms"] >= event["ttfb_ms"] >= 0
    assert is_decimal_string(event["cost"]), f"cost is not a decimal string: {event['cost']!r}"
    assert is_decimal_string(event["price"]), f"price is not a decimal string: {event['price']!r}"
    assert isinstance(event["estimated"], bool)
