#!/usr/bin/env python3
"""Soak test for Tollgate (issue 16, part 7): thousands of mixed requests with random client disconnects, upstream
cuts, slow upstreams, retries with and without `Idempotency-Key` and a `kill -9` of the proxy in the middle; at the
end the meter's invariants are checked against what the clients received and what the upstream sent.

    .venv/bin/python bench/soak.py --requests 3000 --seed 1          # TOLLGATE_BIN=.build/debug/tollgate by default

Pieces:

- a stub upstream (OpenAI chat completions, plain and SSE with the `stream_options.include_usage` usage chunk) whose
  behaviour per request comes from a RNG seeded with (seed, arrival number): normal, slow (delays between chunks),
  slow first byte, cut (connection closed mid-body / mid-stream), truncated (a clean end before the usage and
  `[DONE]`), dropped (closed before any header), 500 and 429. Every answer has its own id and `x-request-id`, and
  the stub logs what it received (the derived `Idempotency-Key`, the operation tag in the body) and whether it wrote
  its whole answer;
- client workers (threads) running "operations" drawn from the seeded RNG: a customer with prepaid credits (and a
  money and a request cap, so reservations and settlement run) or one without, plain or stream, with an
  `Idempotency-Key` or without; the first attempt may read to the end, hang up after the headers or mid-body, or
  give up on a short read timeout; a failed or abandoned attempt is retried (with the same key, sometimes several
  at once, or without a key: a new request); some keyed operations send a duplicate after success, or the same key
  with another body (must get 422), or reuse another customer's key string (must be independent);
- after about half the operations, `kill -9` of the proxy and a restart on the same config and meter;
- after the last operation, once the upstream is idle, a clean stop (SIGTERM) and the checks (the meter is read with
  sqlite3, read-only):

  1. every response a client received completely has exactly one event carrying its provider request id, with its
     usage; no provider request id in two events;
  2. no double charge for a key: per (customer, key) at most one non-replay event whose upstream answer was complete;
     replays have price 0 and point at a completed event of the same customer and key; every complete answer a
     client got for a key is byte-identical, and identical to what the upstream sent for the original;
  3. the ledger explains the balance: granted − spent − expired − (reserve − release) = `tollgate credits balance`,
     Σ spend lines = Σ price of the customer's events, spend lines per event = that event's price, Σ grants'
     remaining = granted − spent, each reservation has one reserve and one release line; the caps' used amounts equal
     the settled prices and requests;
  4. no reservation left (table empty, accounts' and caps' `reserved` zero), no key left in flight, no process left
     registered;
  5. events written once: one event per request at most (by the attempt tag in `x-tollgate-end-user`), event ids
     unique, every upstream call has its event and every event with a request id an upstream call, except the
     calls in flight at the kill.

Exits 1 (printing the evidence) on any violation. `--json FILE` writes the report as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BIN = REPO_ROOT / ".build" / "debug" / "tollgate"
PROVIDER_KEY = "sk-soak-provider"
MODEL = "gpt-4o-mini"
SERVED_MODEL = "gpt-4o-mini-2024-07-18"
CREDIT_CUSTOMER = "soak-prepaid"
PLAIN_CUSTOMER = "soak-postpaid"

# Upstream behaviours and their weights.
UPSTREAM_BEHAVIOURS = {
    "normal": 52, "slow": 15, "slow_first_byte": 8, "cut": 8, "truncated": 4, "drop": 2, "e500": 5, "e429": 6,
}
COMPLETE_BEHAVIOURS = {"normal", "slow", "slow_first_byte"}
# Client behaviours of a first attempt (keyed operations draw from all, key-less ones from the first four).
CLIENT_BEHAVIOURS = {
    "read": 58, "abandon_mid": 12, "abandon_headers": 5, "timeout": 13, "dup_after_success": 6, "concurrent": 6,
}
KILL_GRACE_S = 3.0  # an upstream call that ended this close to the kill may have lost its event with the process


def now() -> float:
    return time.monotonic()


# --- stub upstream -----------------------------------------------------------------------------------------------


@dataclass
class UpstreamCall:
    serial: int
    request_id: str
    behaviour: str
    t_start: float
    op: str = ""
    variant: str = ""
    stream: bool = False
    include_usage: bool = False
    client_asked_usage: bool = True
    idem_header: str | None = None
    attempt_header: str | None = None
    usage: dict | None = None
    body: bytes = b""  # the whole answer as the upstream meant to send it (de-chunked)
    sent_headers: bool = False
    wrote_all: bool = False
    t_end: float | None = None
    error: str | None = None


class StubUpstream:
    """OpenAI chat completions upstream with seeded random faults; logs every call."""

    def __init__(self, seed: int, slow_scale: float = 1.0) -> None:
        self.seed = seed
        self.slow_scale = slow_scale
        self.calls: list[UpstreamCall] = []
        self.lock = threading.Lock()
        self.active = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                with stub.lock:
                    serial = len(stub.calls) + 1
                    rng = random.Random(stub.seed * 1_000_003 + serial)
                    behaviour = rng.choices(list(UPSTREAM_BEHAVIOURS), weights=list(UPSTREAM_BEHAVIOURS.values()))[0]
                    call = UpstreamCall(serial=serial, request_id=f"req_soak_{serial}", behaviour=behaviour, t_start=now())
                    stub.calls.append(call)
                    stub.active += 1
                try:
                    stub.answer(self, call, raw, rng)
                except OSError as error:  # the proxy went away (killed) or hung up
                    call.error = f"{type(error).__name__}: {error}"
                    self.close_connection = True
                finally:
                    call.t_end = now()
                    with stub.lock:
                        stub.active -= 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, handler: BaseHTTPRequestHandler, call: UpstreamCall, raw: bytes, rng: random.Random) -> None:
        request = json.loads(raw)
        meta = request.get("metadata") or {}
        call.op = meta.get("soak_op", "")
        call.variant = meta.get("soak_variant", "")
        call.client_asked_usage = meta.get("soak_iu", "1") == "1"
        call.stream = bool(request.get("stream"))
        call.include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        call.idem_header = headers.get("idempotency-key")
        call.attempt_header = headers.get("x-soak-attempt")
        b = call.behaviour
        scale = self.slow_scale
        if b == "drop":
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            call.wrote_all = True
            return
        if b in ("e500", "e429"):
            status = 500 if b == "e500" else 429
            payload = json.dumps({"error": {"message": "soak fault", "type": "server_error" if status == 500 else "rate_limit",
                                            "code": None}}).encode()
            call.body = payload
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(payload)))
            handler.send_header("x-request-id", call.request_id)
            if status == 429:
                handler.send_header("retry-after", "0")
            handler.end_headers()
            call.sent_headers = True
            handler.wfile.write(payload)
            handler.wfile.flush()
            call.wrote_all = True
            return
        prompt = 12 + call.serial % 37
        completion = 3 + call.serial % 11
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        call.usage = usage
        if b == "slow_first_byte":
            time.sleep(rng.uniform(0.2, 1.2) * scale)
        words = [f"w{call.serial}-{i}" for i in range(rng.randint(2, 6))]
        cid = f"chatcmpl-soak-{call.serial}"
        if call.stream:
            base = {"id": cid, "object": "chat.completion.chunk", "created": 1, "model": SERVED_MODEL}
            events = []
            for i, word in enumerate(words):
                delta = {"role": "assistant", "content": word + " "} if i == 0 else {"content": word + " "}
                chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                if call.include_usage:
                    chunk["usage"] = None
                events.append(chunk)
            last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            if call.include_usage:
                last["usage"] = None
            events.append(last)
            pieces = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
            if call.include_usage:
                pieces.append(b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n")
            pieces.append(b"data: [DONE]\n\n")
            call.body = b"".join(pieces)
            handler.send_response(200)
            handler.send_header("content-type", "text/event-stream")
            handler.send_header("transfer-encoding", "chunked")
            handler.send_header("x-request-id", call.request_id)
            handler.end_headers()
            call.sent_headers = True
            stop_after = len(pieces)
            if b in ("cut", "truncated"):
                stop_after = rng.randint(1, len(pieces) - 2)  # never the usage chunk nor [DONE]
            for index, piece in enumerate(pieces[:stop_after]):
                if b == "slow" and index:
                    time.sleep(rng.uniform(0.05, 0.35) * scale)
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                handler.wfile.flush()
            if b == "cut":
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            if b == "truncated":
                handler.wfile.write(b"0\r\n\r\n")  # a clean end of the chunked body, before the usage and [DONE]
                handler.wfile.flush()
                return
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
            call.wrote_all = True
            return
        payload = json.dumps({
            "id": cid, "object": "chat.completion", "created": 1, "model": SERVED_MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)}, "finish_reason": "stop"}],
            "usage": usage,
        }).encode()
        call.body = payload
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        if b == "truncated":
            handler.send_header("connection", "close")  # body delimited by the close: a clean early end
        else:
            handler.send_header("content-length", str(len(payload)))
        handler.send_header("x-request-id", call.request_id)
        handler.end_headers()
        call.sent_headers = True
        if b == "slow":
            half = len(payload) // 2
            handler.wfile.write(payload[:half])
            handler.wfile.flush()
            time.sleep(rng.uniform(0.1, 0.8) * scale)
            handler.wfile.write(payload[half:])
        elif b in ("cut", "truncated"):
            handler.wfile.write(payload[: rng.randint(1, len(payload) - 2)])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        else:
            handler.wfile.write(payload)
        handler.wfile.flush()
        call.wrote_all = True

    def in_flight(self) -> int:
        with self.lock:
            return self.active

    def idle(self) -> bool:
        with self.lock:
            return self.active == 0

    def close(self) -> None:
        self.server.shutdown()


# --- proxy -------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Proxy:
    """`tollgate serve` on a fixed config and meter, restartable."""

    def __init__(self, binary: Path, directory: Path, upstream_origin: str, drain_s: float, wait_s: float) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.db_path = directory / "tollgate.db"
        self.config_path = directory / "tollgate.yaml"
        self.config_path.write_text(
            f'listen: "127.0.0.1:{self.port}"\n'
            f'meter: {{path: "{self.db_path}", durability: strict}}\n'
            "providers:\n"
            f'  openai: {{base_url: "{upstream_origin}", api_key: "{PROVIDER_KEY}"}}\n'
            f"proxy: {{disconnect_drain_s: {drain_s}}}\n"
            f"idempotency: {{in_flight_wait_s: {wait_s}}}\n")
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def cli(self, *args: str) -> str:
        result = subprocess.run([str(self.binary), *args, "--config", str(self.config_path)], capture_output=True, text=True,
                                timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"tollgate {' '.join(args)} exited {result.returncode}: {result.stderr}{result.stdout}")
        return result.stdout

    def start(self, timeout: float = 60.0) -> float:
        self.starts += 1
        log = self.directory / f"tollgate.{self.starts}.stderr.log"
        self.proc = subprocess.Popen([str(self.binary), "serve", "--config", str(self.config_path)],
                                     stdout=(self.directory / f"tollgate.{self.starts}.stdout.log").open("wb"), stderr=log.open("wb"))
        began = now()
        while now() - began < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tollgate serve exited {self.proc.returncode}: {log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(self.origin + "/healthz", timeout=1.0).status_code == 200:
                    return now() - began
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"tollgate serve not ready in {timeout}s: {log.read_text(errors='replace')[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
                return -9
        return self.proc.returncode


# --- clients -----------------------------------------------------------------------------------------------------


@dataclass
class Operation:
    index: int
    tag: str
    customer: str
    stream: bool
    include_usage: bool
    idem_key: str | None
    behaviour: str
    max_attempts: int
    mismatch_after: bool = False
    words: int = 3


@dataclass
class Attempt:
    tag: str  # x-tollgate-end-user: unique per attempt
    op: int
    number: int
    customer: str
    idem_key: str | None
    stream: bool
    variant: str
    behaviour: str
    t_start: float
    t_end: float = 0.0
    status: int | None = None
    headers: dict = field(default_factory=dict)
    raw: bytes = b""
    outcome: str = ""  # complete | http_error | abandoned | timeout | broken | connect_error
    error: str | None = None
    response_id: str | None = None


def request_body(op: Operation, variant: str = "") -> bytes:
    body: dict[str, Any] = {
        "model": MODEL, "max_tokens": 64,
        "messages": [{"role": "user", "content": f"soak op {op.index}: " + " ".join(["token"] * op.words)}],
        "metadata": {"soak_op": op.tag, "soak_iu": "1" if op.include_usage else "0"},
    }
    if variant:
        body["metadata"]["soak_variant"] = variant
        body["messages"][0]["content"] += f" ({variant})"
    if op.stream:
        body["stream"] = True
        if op.include_usage:
            body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


class Clients:
    def __init__(self, proxy: Proxy, keys: dict[str, str], ops: list[Operation], workers: int, seed: int,
                 on_progress: Any = None) -> None:
        self.proxy = proxy
        self.keys = keys
        self.ops = ops
        self.workers = workers
        self.seed = seed
        self.attempts: list[Attempt] = []
        self.lock = threading.Lock()
        self.next_op = 0
        self.started_ops = 0
        self.on_progress = on_progress

    def take(self) -> Operation | None:
        with self.lock:
            if self.next_op >= len(self.ops):
                return None
            op = self.ops[self.next_op]
            self.next_op += 1
            return op

    def run(self) -> None:
        threads = [threading.Thread(target=self.worker, args=(i,), daemon=True) for i in range(self.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def worker(self, index: int) -> None:
        while (op := self.take()) is not None:
            if self.on_progress:
                self.on_progress(op.index)
            self.run_op(op, random.Random(self.seed * 7919 + op.index))

    def send(self, op: Operation, number: int, behaviour: str, rng: random.Random, variant: str = "") -> Attempt:
        """One attempt; retries a refused connection (the proxy restarting) for up to 60 s under the same number."""
        tag = f"{op.tag}-a{number}"
        body = request_body(op, variant)
        headers = {"Authorization": f"Bearer {self.keys[op.customer]}", "Content-Type": "application/json",
                   "Accept-Encoding": "identity", "x-tollgate-end-user": tag, "x-soak-attempt": tag}
        if op.idem_key:
            headers["Idempotency-Key"] = op.idem_key
        read_timeout = 30.0
        if behaviour == "timeout":
            read_timeout = rng.uniform(0.05, 0.5)
        deadline = now() + 60
        while True:
            attempt = Attempt(tag=tag, op=op.index, number=number, customer=op.customer, idem_key=op.idem_key, stream=op.stream,
                              variant=variant, behaviour=behaviour, t_start=now())
            try:
                self.one(attempt, body, headers, behaviour, read_timeout, rng)
            except httpx.ConnectError as error:
                attempt.outcome, attempt.error = "connect_error", str(error)
            attempt.t_end = now()
            if attempt.outcome == "connect_error" and now() < deadline:
                time.sleep(0.2)
                continue
            with self.lock:
                self.attempts.append(attempt)
            return attempt

    def one(self, attempt: Attempt, body: bytes, headers: dict, behaviour: str, read_timeout: float, rng: random.Random) -> None:
        timeout = httpx.Timeout(30.0, read=read_timeout)
        with httpx.Client(timeout=timeout) as client:
            try:
                with client.stream("POST", self.proxy.origin + "/v1/chat/completions", content=body, headers=headers) as response:
                    attempt.status = response.status_code
                    attempt.headers = {k.lower(): v for k, v in response.headers.items()}
                    if behaviour == "abandon_headers":
                        attempt.outcome = "abandoned"
                        return
                    raw = b""
                    cut_at = rng.randint(1, 200) if behaviour == "abandon_mid" else None
                    for piece in response.iter_raw():
                        raw += piece
                        attempt.raw = raw  # kept as it comes: a stream may show its end before the connection breaks
                        if cut_at is not None and len(raw) >= cut_at:
                            attempt.raw = raw
                            attempt.outcome = "abandoned"
                            return
                    attempt.raw = raw
            except httpx.TimeoutException as error:
                attempt.outcome, attempt.error = "timeout", f"{type(error).__name__}"
                return
            except httpx.ConnectError:
                raise
            except httpx.HTTPError as error:
                attempt.outcome, attempt.error = "broken", f"{type(error).__name__}: {error}"
                # a stream may have shown its end before the connection broke: that counts as received
                if attempt.status == 200 and attempt.stream and complete_answer(attempt.raw, True):
                    attempt.outcome, attempt.response_id = "complete", answer_id(attempt.raw, True)
                return
        if attempt.status != 200:
            attempt.outcome = "http_error"
            return
        attempt.outcome = "complete" if complete_answer(attempt.raw, attempt.stream) else "broken"
        if attempt.outcome == "complete":
            attempt.response_id = answer_id(attempt.raw, attempt.stream)

    def run_op(self, op: Operation, rng: random.Random) -> None:
        number = 0

        def next_number() -> int:
            nonlocal number
            number += 1
            return number

        behaviour = op.behaviour
        if behaviour == "concurrent":
            count = rng.randint(2, 3)
            results: list[Attempt] = []
            numbers = [next_number() for _ in range(count)]
            threads = [threading.Thread(target=lambda n=n: results.append(self.send(op, n, "read", rng))) for n in numbers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            done = any(a.outcome == "complete" for a in results)
        else:
            first = self.send(op, next_number(), "read" if behaviour == "dup_after_success" else behaviour, rng)
            done = first.outcome == "complete"
        while not done and number < op.max_attempts:
            time.sleep(rng.uniform(0.02, 0.3))
            retry_behaviour = rng.choices(["read", "abandon_mid", "timeout"], weights=[80, 10, 10])[0]
            if op.idem_key and rng.random() < 0.15:  # a burst of concurrent retries with the key
                numbers = [next_number(), next_number()]
                results = []
                threads = [threading.Thread(target=lambda n=n: results.append(self.send(op, n, "read", rng))) for n in numbers]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                done = any(a.outcome == "complete" for a in results)
            else:
                done = self.send(op, next_number(), retry_behaviour, rng).outcome == "complete"
        if op.idem_key and done and behaviour == "dup_after_success":
            self.send(op, next_number(), "read", rng)  # the client lost the answer and sends it again
        if op.idem_key and op.mismatch_after:
            self.send(op, next_number(), "read", rng, variant="mismatch")  # the key with another body: 422


def complete_answer(raw: bytes, stream: bool) -> bool:
    if stream:
        return raw.endswith(b"data: [DONE]\n\n")
    try:
        return "usage" in json.loads(raw)
    except ValueError:
        return False


def answer_id(raw: bytes, stream: bool) -> str | None:
    try:
        if stream:
            for line in raw.split(b"\n"):
                if line.startswith(b"data: {"):
                    return json.loads(line[6:])["id"]
            return None
        return json.loads(raw)["id"]
    except (ValueError, KeyError):
        return None


def make_operations(count: int, seed: int) -> list[Operation]:
    rng = random.Random(seed)
    ops: list[Operation] = []
    keyed_by_customer: dict[str, list[str]] = defaultdict(list)
    for index in range(count):
        customer = CREDIT_CUSTOMER if rng.random() < 0.6 else PLAIN_CUSTOMER
        stream = rng.random() < 0.5
        include_usage = (not stream) or rng.random() < 0.85
        keyed = rng.random() < 0.6
        idem_key = None
        if keyed:
            other = PLAIN_CUSTOMER if customer == CREDIT_CUSTOMER else CREDIT_CUSTOMER
            if keyed_by_customer[other] and rng.random() < 0.08:
                # the other customer's key string: keys are per customer, so this one is independent
                idem_key = rng.choice(keyed_by_customer[other])
            else:
                idem_key = f"soak-{seed}-{index}-{rng.getrandbits(32):08x}"
            keyed_by_customer[customer].append(idem_key)
        names = list(CLIENT_BEHAVIOURS) if keyed else list(CLIENT_BEHAVIOURS)[:4]
        weights = [CLIENT_BEHAVIOURS[n] for n in names]
        behaviour = rng.choices(names, weights=weights)[0]
        ops.append(Operation(index=index, tag=f"s{seed}-op{index}", customer=customer, stream=stream, include_usage=include_usage,
                             idem_key=idem_key, behaviour=behaviour, max_attempts=rng.choice([1, 2, 3, 4, 4]),
                             mismatch_after=keyed and rng.random() < 0.03, words=rng.randint(1, 30)))
    # a key string shared across customers must not have been drawn twice for one customer
    seen: set[tuple[str, str]] = set()
    for op in ops:
        if op.idem_key:
            if (op.customer, op.idem_key) in seen:
                op.idem_key = f"soak-{seed}-{op.index}-dedup"
            seen.add((op.customer, op.idem_key))
    return ops


# --- checks ------------------------------------------------------------------------------------------------------


class Violations:
    def __init__(self) -> None:
        self.items: dict[str, list[str]] = defaultdict(list)

    def add(self, invariant: str, message: str) -> None:
        self.items[invariant].append(message)

    def count(self, invariant: str) -> int:
        return len(self.items.get(invariant, []))


def dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def check(db_path: Path, proxy: Proxy, stub: StubUpstream, clients: Clients, kill_times: list[float]) -> tuple[Violations, dict]:
    v = Violations()
    facts: dict[str, Any] = {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    events = [dict(r) for r in conn.execute("SELECT * FROM events ORDER BY ts_ms, id")]
    ledger = [dict(r) for r in conn.execute("SELECT * FROM ledger ORDER BY seq")]
    reservations = [dict(r) for r in conn.execute("SELECT * FROM reservations")]
    accounts = [dict(r) for r in conn.execute("SELECT * FROM credit_accounts")]
    grants = [dict(r) for r in conn.execute("SELECT * FROM credit_grants")]
    limit_rows = [dict(r) for r in conn.execute("SELECT l.id, l.scope_id, l.metric, u.used, u.reserved FROM limits l LEFT JOIN limit_usage u ON u.limit_id = l.id")]
    keys_in_flight = [dict(r) for r in conn.execute("SELECT customer_id, key, event_id, instance FROM idempotency_keys WHERE state = 'in_flight'")]
    instances = [dict(r) for r in conn.execute("SELECT * FROM instances")]
    conn.close()

    by_id = {e["id"]: e for e in events}
    by_rid: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        if e["request_id"]:
            by_rid[e["request_id"]].append(e)
    calls = {c.request_id: c for c in stub.calls}
    attempts = clients.attempts
    kill = kill_times[0] if kill_times else None

    def in_kill_window(t_start: float, t_end: float | None) -> bool:
        return any(t_start < k and (t_end is None or t_end >= k - KILL_GRACE_S) for k in kill_times)

    # 5a. event ids unique, one event per request at most (by attempt tag), no request id twice (also invariant 1)
    ids = Counter(e["id"] for e in events)
    for eid, n in ids.items():
        if n > 1:
            v.add("5 events once", f"event id {eid} appears {n} times")
    tags = Counter(e["end_user"] for e in events if e["end_user"])
    for tag, n in tags.items():
        if n > 1:
            v.add("5 events once", f"request {tag} has {n} events: {[e['id'] for e in events if e['end_user'] == tag]}")
    for rid, es in by_rid.items():
        if len(es) > 1:
            v.add("1 one event per completed inference", f"provider request id {rid} is on {len(es)} events: {[e['id'] for e in es]}")

    # 1. every complete answer a client received has exactly one event with its provider request id and its usage
    complete = [a for a in attempts if a.outcome == "complete"]
    for a in complete:
        rid = a.headers.get("x-request-id")
        from_body = a.response_id.replace("chatcmpl-soak-", "req_soak_") if a.response_id else None
        if rid != from_body:
            v.add("1 one event per completed inference", f"{a.tag}: x-request-id {rid} but body id {a.response_id}")
        es = by_rid.get(from_body or "", [])
        if len(es) != 1:
            v.add("1 one event per completed inference", f"{a.tag}: complete answer {from_body} has {len(es)} events")
            continue
        event = es[0]
        call = calls.get(from_body)
        if call is None or call.usage is None:
            v.add("1 one event per completed inference", f"{a.tag}: {from_body} unknown to the upstream")
            continue
        if (event["input_tokens"], event["output_tokens"]) != (call.usage["prompt_tokens"], call.usage["completion_tokens"]) or event["estimated"]:
            v.add("1 one event per completed inference",
                  f"{a.tag}: event {event['id']} has {event['input_tokens']}/{event['output_tokens']} tokens (estimated={event['estimated']}), upstream said {call.usage}")
        replayed = a.headers.get("idempotent-replayed") == "true"
        own = by_id.get(a.headers.get("x-tollgate-event-id", ""))
        if own is None:
            v.add("1 one event per completed inference", f"{a.tag}: its event {a.headers.get('x-tollgate-event-id')} is not in the meter")
        elif replayed:
            if own["replay_of"] != event["id"] or a.headers.get("x-tollgate-replay-of") != event["id"]:
                v.add("2 no double charge", f"{a.tag}: replay event {own['id']} points at {own['replay_of']}, header at "
                                            f"{a.headers.get('x-tollgate-replay-of')}, the answer's event is {event['id']}")
        elif own["id"] != event["id"]:
            v.add("1 one event per completed inference", f"{a.tag}: header names event {own['id']}, request id is on {event['id']}")
        if event["customer_id"] != a.customer:
            v.add("1 one event per completed inference", f"{a.tag}: event {event['id']} is customer {event['customer_id']}'s")

    # 2. no double charge for a key; replays are free and exact
    keyed_events: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for e in events:
        if e["idempotency_key"]:
            keyed_events[(e["customer_id"], e["idempotency_key"])].append(e)
    double = 0
    for (customer, key), es in keyed_events.items():
        charged_complete = [e for e in es if not e["replay_of"] and (200 <= e["status"] < 300 or e["status"] == 499)
                            and e["request_id"] in calls and calls[e["request_id"]].behaviour in COMPLETE_BEHAVIOURS
                            and calls[e["request_id"]].wrote_all]
        if len(charged_complete) > 1:
            double += 1
            v.add("2 no double charge", f"{customer}/{key}: {len(charged_complete)} complete charged answers: "
                                        + ", ".join(f"{e['id']} ({e['request_id']}, {e['status']}, price {e['price']})" for e in charged_complete))
    facts["keys_charged_twice_for_cut_attempts"] = sum(
        1 for es in keyed_events.values() if sum(1 for e in es if not e["replay_of"] and dec(e["price"]) > 0) > 1)
    replays = [e for e in events if e["replay_of"]]
    for e in replays:
        original = by_id.get(e["replay_of"])
        if dec(e["price"]) != 0 or dec(e["cost"]) != 0 or e["input_tokens"] or e["output_tokens"]:
            v.add("2 no double charge", f"replay {e['id']} charged price {e['price']} cost {e['cost']} tokens {e['input_tokens']}/{e['output_tokens']}")
        if original is None:
            v.add("2 no double charge", f"replay {e['id']} points at missing event {e['replay_of']}")
            continue
        if (original["customer_id"], original["idempotency_key"]) != (e["customer_id"], e["idempotency_key"]) or original["replay_of"]:
            v.add("2 no double charge", f"replay {e['id']} ({e['customer_id']}/{e['idempotency_key']}) points at {original['id']} "
                                        f"({original['customer_id']}/{original['idempotency_key']}, replay_of {original['replay_of']})")
        call = calls.get(original["request_id"] or "")
        if call is None or call.behaviour not in COMPLETE_BEHAVIOURS or not call.wrote_all:
            v.add("2 no double charge", f"replay {e['id']} replays {original['id']} (status {original['status']}, note {original['note']!r}) "
                                        f"whose upstream answer was {call.behaviour if call else 'unknown'} (wrote_all={call.wrote_all if call else None})")
    # bytes: every complete answer for one (customer, key) is the same, and the same as the upstream's original
    answers: dict[tuple[str, str], list[Attempt]] = defaultdict(list)
    for a in sorted(complete, key=lambda a: a.t_end):
        if a.idem_key and not a.variant:
            answers[(a.customer, a.idem_key)].append(a)
    replayed_attempts = 0
    for (customer, key), group in answers.items():
        first = group[0]
        for a in group[1:]:
            if a.raw != first.raw:
                v.add("2 no double charge", f"{customer}/{key}: {a.tag} got {len(a.raw)} bytes ({a.response_id}), different from "
                                            f"{first.tag}'s {len(first.raw)} bytes ({first.response_id})")
        for a in group:
            if a.headers.get("idempotent-replayed") == "true":
                replayed_attempts += 1
                call = calls.get((a.response_id or "").replace("chatcmpl-soak-", "req_soak_"))
                if call and call.client_asked_usage and a.raw != call.body:
                    v.add("2 no double charge", f"{a.tag}: replayed bytes differ from what the upstream sent for {call.request_id}:\n"
                                                f"  replay:   {a.raw[:300]!r}\n  upstream: {call.body[:300]!r}")
    for a in attempts:
        if a.variant == "mismatch":
            code = None
            try:
                code = json.loads(a.raw)["error"]["code"] if a.raw else None
            except (ValueError, KeyError, TypeError):
                pass
            if a.outcome != "connect_error" and (a.status, code) != (422, "idempotency_key_reused") and a.status is not None:
                # only a fault if the key still belonged to the first body (it completes unless every attempt failed)
                op_done = any(b.op == a.op and b.outcome == "complete" and not b.variant for b in attempts)
                if op_done:
                    v.add("2 no double charge", f"{a.tag}: the key with another body got {a.status} {code}, not 422 idempotency_key_reused")
        if a.outcome == "http_error" and a.status == 422 and not a.variant:
            v.add("2 no double charge", f"{a.tag}: 422 for a key used with the same body (or by another customer): {a.raw[:200]!r}")
    for c in stub.calls:
        if c.variant == "mismatch" and any(b.op == int(c.op.split("op")[1]) and b.outcome == "complete" and not b.variant for b in attempts):
            # the first body completed, so the key was bound to it: the mismatching body must never reach the provider
            v.add("2 no double charge", f"upstream received the mismatching body of {c.op} ({c.request_id})")

    # 3. the ledger explains the balance
    account = f"customer:{CREDIT_CUSTOMER}"
    lines = [l for l in ledger if l["account"] == account]
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for l in lines:
        sums[l["kind"]] += dec(l["amount"])
    balance = json.loads(proxy.cli("credits", "balance", "--customer", CREDIT_CUSTOMER, "--format", "json"))
    explained = sums["grant"] - sums["spend"] - sums["expire"] - sums["void"] - (sums["reserve"] - sums["release"])
    facts["ledger"] = {k: str(s) for k, s in sorted(sums.items())} | {"balance_available": balance["available"],
                                                                          "lines": len(lines)}
    if explained != dec(balance["available"]):
        v.add("3 ledger explains balance", f"granted − spent − expired − held from the ledger = {explained}, balance says available {balance['available']}")
    if dec(balance["spent"]) != sums["spend"] or dec(balance["granted"]) != sums["grant"]:
        v.add("3 ledger explains balance", f"balance {balance} vs ledger sums {dict(sums)}")
    credit_events = [e for e in events if e["customer_id"] == CREDIT_CUSTOMER]
    priced = sum((dec(e["price"]) for e in credit_events), Decimal(0))
    facts["credit_customer_price_sum"] = str(priced)
    if priced != sums["spend"]:
        v.add("3 ledger explains balance", f"Σ spend lines {sums['spend']} ≠ Σ price of {CREDIT_CUSTOMER}'s events {priced}")
    spend_by_event: dict[str, Decimal] = defaultdict(Decimal)
    for l in lines:
        if l["kind"] == "spend":
            spend_by_event[l["event_id"]] += dec(l["amount"])
    for e in credit_events:
        if spend_by_event.get(e["id"], Decimal(0)) != dec(e["price"]):
            v.add("3 ledger explains balance", f"event {e['id']} price {e['price']}, spend lines {spend_by_event.get(e['id'], 0)}")
    for eid in spend_by_event:
        if eid not in by_id:
            v.add("3 ledger explains balance", f"spend line for missing event {eid}")
    remaining = sum((dec(g["remaining"]) for g in grants if g["account"] == account), Decimal(0))
    overdraft = next((dec(a["overdraft"]) for a in accounts if a["id"] == account), Decimal(0))
    if remaining != sums["grant"] - sums["spend"] + overdraft - sums["expire"] - sums["void"]:
        v.add("3 ledger explains balance", f"grants' remaining {remaining} ≠ granted {sums['grant']} − spent {sums['spend']} (+ overdraft {overdraft})")
    per_reservation: dict[str, Counter] = defaultdict(Counter)
    for l in lines:
        if l["kind"] in ("reserve", "release"):
            per_reservation[l["reservation_id"]][l["kind"]] += 1
    for rid, kinds in per_reservation.items():
        if kinds["reserve"] != 1 or kinds["release"] != 1:
            v.add("3 ledger explains balance", f"reservation {rid}: {dict(kinds)}")
    released_at_restart = sum(1 for l in lines if l["kind"] == "release" and (l["note"] or "").startswith("released at restart"))
    settled = sum(1 for l in lines if l["kind"] == "release" and l["event_id"])
    facts["reservations"] = {"taken": sum(k["reserve"] for k in per_reservation.values()), "settled_by_event": settled,
                             "released_at_restart": released_at_restart,
                             "released_otherwise": sum(k["release"] for k in per_reservation.values()) - settled - released_at_restart}
    for row in limit_rows:
        if row["scope_id"] != CREDIT_CUSTOMER:
            continue
        expected = priced if row["metric"] == "money" else Decimal(settled)
        if row["used"] is None or dec(row["used"]) != expected:
            v.add("3 ledger explains balance", f"cap {row['id']} ({row['metric']}) used {row['used']}, settled {expected}")

    # 4. nothing left held
    if reservations:
        v.add("4 no reservation left", f"{len(reservations)} reservations open: {[(r['id'], r['instance'], r['amount']) for r in reservations[:10]]}")
    for a in accounts:
        if dec(a["reserved"]) != 0:
            v.add("4 no reservation left", f"account {a['id']} still holds {a['reserved']}")
    for row in limit_rows:
        if row["reserved"] is not None and dec(row["reserved"]) != 0:
            v.add("4 no reservation left", f"cap {row['id']} ({row['metric']}) still holds {row['reserved']}")
    if keys_in_flight:
        v.add("4 no reservation left", f"{len(keys_in_flight)} idempotency keys still in flight: {keys_in_flight[:5]}")
    if instances:
        v.add("4 no reservation left", f"processes still registered after a clean stop: {instances}")

    # 5b. upstream calls ↔ events
    excused = 0
    for c in stub.calls:
        if c.behaviour == "drop":
            continue  # no request id reaches the proxy; reconciled per operation below
        es = by_rid.get(c.request_id, [])
        if not es and c.sent_headers:
            if in_kill_window(c.t_start, c.t_end):
                excused += 1
                continue
            v.add("5 events once", f"upstream call {c.request_id} ({c.op}, {c.behaviour}, {c.t_start - clients_t0:.1f}-"
                                   f"{(c.t_end or 0) - clients_t0:.1f} s) has no event")
        elif not es and not c.sent_headers and not in_kill_window(c.t_start, c.t_end):
            v.add("5 events once", f"upstream call {c.request_id} ({c.op}, {c.behaviour}) failed before its headers: {c.error}")
    for rid in by_rid:
        if rid not in calls:
            v.add("5 events once", f"event with request id {rid} that the upstream never answered")
    drops_by_op = Counter(c.op for c in stub.calls if c.behaviour == "drop" and not in_kill_window(c.t_start, c.t_end))
    ops_by_tag = {op.tag: op for op in clients.ops}
    drop_events_by_op = Counter(e["end_user"].rsplit("-a", 1)[0] for e in events
                                if e["end_user"] and not e["request_id"] and not e["replay_of"] and e["status"] in (502, 503, 504))
    for op_tag, n in drops_by_op.items():
        if drop_events_by_op.get(op_tag, 0) < n:
            v.add("5 events once", f"{op_tag}: the upstream dropped {n} connection(s), {drop_events_by_op.get(op_tag, 0)} event(s) say so")
    # every request that got an answer with an event id has that event, unless the process that answered died
    for a in attempts:
        eid = a.headers.get("x-tollgate-event-id")
        if eid and eid not in by_id:
            call = calls.get(a.headers.get("x-request-id", ""))
            end = call.t_end if call else a.t_end
            if a.outcome != "complete" and (in_kill_window(a.t_start, end) or (call is None and a.t_start < (kill or 0))):
                continue
            v.add("5 events once", f"{a.tag} ({a.outcome}, {a.status}) was answered under event {eid}, not in the meter")
    facts["upstream_calls_excused_by_kill"] = excused
    facts["double_charged_keys"] = double
    facts["replay_events"] = len(replays)
    facts["replayed_answers_received"] = replayed_attempts
    facts["events"] = len(events)
    facts["events_by_status"] = dict(sorted(Counter(e["status"] for e in events).items()))
    facts["events_estimated"] = sum(1 for e in events if e["estimated"])
    facts["keyless_ops_charged_more_than_once"] = sum(
        1 for op in clients.ops if not op.idem_key and sum(1 for e in events if e["end_user"] and e["end_user"].startswith(op.tag + "-a")
                                                           and dec(e["price"]) > 0) > 1)
    return v, facts


clients_t0 = 0.0


# --- driver ------------------------------------------------------------------------------------------------------


def run(requests: int, seed: int, workers: int, binary: Path, directory: Path, kill_at: float | None = 0.5,
        drain_s: float = 8.0, wait_s: float = 3.0, slow_scale: float = 1.0, quiet: bool = False,
        keep_state: bool = False) -> dict:
    """Runs the soak and checks it; the report's `state` (with `keep_state`) lets a caller check the meter again."""
    global clients_t0
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    began = now()
    stub = StubUpstream(seed, slow_scale)
    proxy = Proxy(binary, directory, stub.origin, drain_s, wait_s)
    ops = make_operations(requests, seed)
    try:
        proxy.start()
        keys = {}
        for customer in (CREDIT_CUSTOMER, PLAIN_CUSTOMER):
            keys[customer] = [l.strip() for l in proxy.cli("keys", "create", "--customer", customer).splitlines() if l.strip()][-1]
        proxy.cli("credits", "grant", "--customer", CREDIT_CUSTOMER, "--amount", "25", "--note", "soak")
        proxy.cli("limits", "create", "--customer", CREDIT_CUSTOMER, "--metric", "money", "--period", "total", "--amount", "1000")
        proxy.cli("limits", "create", "--customer", CREDIT_CUSTOMER, "--metric", "requests", "--period", "total", "--amount", "10000000")
        kill_times: list[float] = []
        kill_in_flight: list[int] = []
        restart_s: list[float] = []
        kill_lock = threading.Lock()
        kill_index = int(len(ops) * kill_at) if kill_at is not None else None

        def progress(index: int) -> None:
            if index and index % 500 == 0:
                say(f"  op {index}/{len(ops)} at {now() - clients_t0:.1f} s")
            if kill_index is not None and index == kill_index:
                with kill_lock:
                    # kill while upstream calls are in flight (streams and drains mid-way), not in a lull
                    wait_until = now() + 5
                    while now() < wait_until and stub.in_flight() < 2:
                        time.sleep(0.01)
                    time.sleep(0.05)
                    kill_times.append(now())
                    kill_in_flight.append(stub.in_flight())
                    proxy.kill9()
                    say(f"  kill -9 at op {index}, {now() - clients_t0:.1f} s; restarting")
                    time.sleep(0.5)
                    restart_s.append(proxy.start())

        clients = Clients(proxy, keys, ops, workers, seed, on_progress=progress)
        clients_t0 = now()
        say(f"soak: {len(ops)} operations, {workers} workers, seed {seed}, meter {proxy.db_path}")
        clients.run()
        load_s = now() - clients_t0
        # quiescence: the upstream idle (drains done) and a moment for the last commits
        deadline = now() + drain_s + 30
        while not stub.idle() and now() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        exit_code = proxy.stop()
        violations, facts = check(proxy.db_path, proxy, stub, clients, kill_times)
    finally:
        if proxy.proc and proxy.proc.poll() is None:
            proxy.proc.kill()
        stub.close()
    attempts = clients.attempts
    report = {
        "seed": seed, "operations": len(ops), "workers": workers, "wall_s": round(now() - began, 1), "load_s": round(load_s, 1),
        "requests": len(attempts), "requests_per_s": round(len(attempts) / load_s, 1),
        "ops_by_kind": dict(Counter(("stream" if op.stream else "plain") + ("+key" if op.idem_key else "") for op in ops)),
        "ops_by_customer": dict(Counter(op.customer for op in ops)),
        "ops_by_first_behaviour": dict(Counter(op.behaviour for op in ops)),
        "ops_completed": sum(1 for op in ops if any(a.op == op.index and a.outcome == "complete" and not a.variant for a in attempts)),
        "requests_by_outcome": dict(Counter(a.outcome for a in attempts)),
        "requests_by_status": dict(sorted(Counter(str(a.status) for a in attempts).items())),
        "retries": sum(1 for a in attempts if a.number > 1 and not a.variant),
        "retries_with_key": sum(1 for a in attempts if a.number > 1 and a.idem_key and not a.variant),
        "retries_without_key": sum(1 for a in attempts if a.number > 1 and not a.idem_key),
        "mismatch_probes": sum(1 for a in attempts if a.variant == "mismatch"),
        "upstream_calls": len(stub.calls),
        "upstream_by_behaviour": dict(Counter(c.behaviour for c in stub.calls)),
        "kills": len(kill_times), "upstream_in_flight_at_kill": kill_in_flight, "restart_s": [round(s, 2) for s in restart_s], "final_stop_exit": exit_code,
        **facts,
        "invariants": {name: ("ok" if not violations.count(name) else f"{violations.count(name)} violation(s)") for name in (
            "1 one event per completed inference", "2 no double charge", "3 ledger explains balance", "4 no reservation left",
            "5 events once")},
        "violations": {name: items[:50] for name, items in violations.items.items()},
        "directory": str(directory),
    }
    if keep_state:
        report["state"] = (proxy, stub, clients, kill_times)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="operations (each one request plus its retries)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction of operations before kill -9 (negative: no kill)")
    parser.add_argument("--drain-s", type=float, default=8.0, help="proxy.disconnect_drain_s")
    parser.add_argument("--wait-s", type=float, default=3.0, help="idempotency.in_flight_wait_s")
    parser.add_argument("--keep", action="store_true", help="keep the meter and logs")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args()
    binary = Path(os.environ.get("TOLLGATE_BIN", DEFAULT_BIN))
    if not binary.exists():
        print(f"tollgate binary not found at {binary}; set TOLLGATE_BIN or `swift build --product tollgate`", file=sys.stderr)
        return 2
    directory = Path(tempfile.mkdtemp(prefix="tollgate-soak-"))
    report = run(args.requests, args.seed, args.workers, binary, directory, None if args.kill_at < 0 else args.kill_at,
                 args.drain_s, args.wait_s)
    print(json.dumps({k: v for k, v in report.items() if k != "violations"}, indent=1))
    for name, items in report["violations"].items():
        print(f"\nVIOLATION {name} ({len(items)} shown):")
        for item in items:
            print("  - " + item)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print("\nSOAK " + ("PASSED: every invariant holds" if not report["violations"] else "FAILED"))
    if not args.keep and not report["violations"]:
        import shutil
        shutil.rmtree(directory, ignore_errors=True)
    return 1 if report["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
