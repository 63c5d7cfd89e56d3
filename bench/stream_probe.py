#!/usr/bin/env python3
"""Streaming probes for bench/compare.sh (standard library only, loopback only).

  ttfb URL KEY BODY_FILE [N]      (URL with its path) time to the first body byte of N sequential streaming requests on one keep-alive
                                  connection; prints `RESULT p50_us=… p99_us=… n=…`
  streams URL KEY BODY_FILE N PID [RAMP_S]
                                  N streaming requests at once (N connections), or opened evenly over RAMP_S seconds
                                  (shorter than a stream, so that all N are open together at the end of the ramp);
                                  samples the resident memory of process PID while they run; prints
                                  `RESULT streams=… ok=… peak_rss_mb=… seconds=…`

Both speak raw HTTP/1.1 over a socket so that the client's own work is the same small constant whichever server it
talks to (nginx, Tollgate or the stub): the figures that matter are differences and ratios in one run.
"""

import asyncio
import resource
import socket
import statistics
import sys
import time
from urllib.parse import urlsplit

def request_bytes(url: str, key: str, body: bytes) -> bytes:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Exchange:
    """Reads one HTTP/1.1 response off a buffered stream of bytes: head, then a chunked or sized body."""

    def __init__(self) -> None:
        self.buffer = b""
        self.status = 0
        self.head_done = False
        self.chunked = False
        self.remaining = 0  # sized body: bytes left; chunked: bytes left in the current chunk
        self.first_body_at: float | None = None
        self.done = False

    def feed(self, data: bytes, now: float) -> None:
        self.buffer += data
        if not self.head_done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            self.status = int(head[0].split(" ")[1])
            fields = {line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip() for line in head[1:] if ":" in line}
            self.chunked = fields.get("transfer-encoding", "").lower() == "chunked"
            self.remaining = int(fields.get("content-length", "0"))
            self.buffer = self.buffer[end + 4 :]
            self.head_done = True
            if not self.chunked and self.remaining == 0:
                self.done = True
                return
        if self.buffer and self.first_body_at is None:
            self.first_body_at = now
        self.consume()

    def consume(self) -> None:
        if not self.chunked:
            taken = min(self.remaining, len(self.buffer))
            self.remaining -= taken
            self.buffer = self.buffer[taken:]
            self.done = self.remaining == 0
            return
        while True:
            if self.remaining > 0:
                taken = min(self.remaining, len(self.buffer))
                self.remaining -= taken
                self.buffer = self.buffer[taken:]
                if self.remaining > 0:
                    return
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return
            line = self.buffer[:line_end]
            if line == b"":  # the CRLF after a chunk's data
                self.buffer = self.buffer[2:]
                continue
            size = int(line.split(b";")[0], 16)
            if size == 0:
                if self.buffer.find(b"\r\n\r\n", line_end) < 0:
                    return
                self.done = True
                return
            self.buffer = self.buffer[line_end + 2 :]
            self.remaining = size


def ttfb(url: str, key: str, body_file: str, count: int) -> None:
    parts = urlsplit(url)
    body = open(body_file, "rb").read()
    payload = request_bytes(url, key, body)
    connection = socket.create_connection((parts.hostname, parts.port))
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for number in range(count + count // 10):  # the first tenth warms up
        exchange = Exchange()
        started = time.perf_counter()
        connection.sendall(payload)
        while not exchange.done:
            data = connection.recv(65536)
            if not data:
                sys.exit(f"the server closed the connection (status {exchange.status})")
            exchange.feed(data, time.perf_counter())
        if exchange.status != 200:
            sys.exit(f"status {exchange.status}: {exchange.buffer[:300]!r}")
        if number >= count // 10:
            samples.append((exchange.first_body_at - started) * 1e6)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"RESULT p50_us={statistics.median(samples):.0f} p99_us={p99:.0f} n={len(samples)}")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def one_stream(host: str, port: int, payload: bytes, results: list[int], delay: float = 0.0) -> None:
    if delay > 0:
        await asyncio.sleep(delay)
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        results.append(-1)
        return
    writer.write(payload)
    await writer.drain()
    exchange = Exchange()
    while not exchange.done:
        data = await reader.read(65536)
        if not data:
            break
        exchange.feed(data, 0.0)
    results.append(exchange.status if exchange.done else -exchange.status or -2)
    writer.close()


async def streams(url: str, key: str, body_file: str, count: int, pid: int, ramp: float = 0.0) -> None:
    parts = urlsplit(url)
    payload = request_bytes(url, key, open(body_file, "rb").read())
    results: list[int] = []
    peak = 0.0
    started = time.monotonic()
    tasks = [asyncio.create_task(one_stream(parts.hostname, parts.port, payload, results, ramp * index / count)) for index in range(count)]
    while len(results) < count:
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(0.05)
    await asyncio.gather(*tasks)
    ok = sum(1 for status in results if status == 200)
    others = {}
    for status in results:
        if status != 200:
            others[status] = others.get(status, 0) + 1
    failed = ",".join(f"{status}:{number}" for status, number in sorted(others.items())) or "none"
    print(f"RESULT streams={count} ok={ok} failed={failed} peak_rss_mb={peak:.0f} seconds={time.monotonic() - started:.1f}")


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    command = sys.argv[1]
    if command == "ttfb":
        ttfb(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 2000)
    elif command == "streams":
        ramp = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
        asyncio.run(streams(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), ramp))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
