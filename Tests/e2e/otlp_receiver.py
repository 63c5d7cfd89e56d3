"""An OpenTelemetry collector stub on loopback: OTLP/HTTP with JSON bodies (`POST /v1/traces`,
`Content-Type: application/json`, gzip allowed), as the OTLP specification's JSON mapping defines them.

It keeps every span received, flattened: trace and span ids as the hex strings the JSON mapping requires (ids sent
base64-encoded, as the plain protobuf JSON mapping would, are decoded and listed in `base64_ids`), the
attributes decoded to Python values (`intValue` may come as a JSON string, as int64s do in proto3 JSON), and the
resource's attributes beside them. Anything else it receives (a protobuf body, another path, JSON it cannot read) is
answered 415/404/400 and kept in `rejected`, so a test can say what the exporter sent instead.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import threading
import time
from typing import Any

from conftest import QuietHandler, serve_in_background


HEX = re.compile(r"[0-9a-fA-F]*")


def hex_id(value: str, size: int, misencoded: list[str]) -> str:
    """A trace or span id of `size` bytes as lowercase hex. The OTLP JSON mapping requires hex, not protobuf JSON's
    base64: a base64 id is decoded all the same (so the other checks still run) and noted in `misencoded`."""
    if not value or (len(value) == 2 * size and HEX.fullmatch(value)):
        return value.lower()
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value
    if len(decoded) != size:
        return value
    misencoded.append(value)
    return decoded.hex()


def attribute_value(value: dict) -> Any:
    """The Python value of an OTLP `AnyValue` in JSON: {"stringValue": …} | {"intValue": …} | … ."""
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])  # int64: a JSON string or number
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [attribute_value(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(pairs: list[dict]) -> dict[str, Any]:
    """`[{key, value: AnyValue}]` as a dict; a repeated key is an error (the exporter must not send one)."""
    decoded: dict[str, Any] = {}
    for pair in pairs:
        assert pair["key"] not in decoded, f"attribute {pair['key']!r} appears twice in {pairs}"
        decoded[pair["key"]] = attribute_value(pair.get("value") or {})
    return decoded


class OTLPReceiver:
    """The stub collector: `origin` is what goes in `tracing.endpoint`."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.posts: list[dict] = []  # every accepted export request: its headers and span count
        self.rejected: list[str] = []
        self.base64_ids: list[str] = []  # ids sent base64-encoded (protobuf JSON) instead of hex (OTLP JSON)
        self.lock = threading.Lock()
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, reason = receiver.accept(self.path, dict(self.headers.items()), body)
                payload = b"{}" if status == 200 else json.dumps({"message": reason}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server, self.origin = serve_in_background(Handler)

    def accept(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """Reads one export request; returns the status to answer and, when refused, why."""
        lowered = {name.lower(): value for name, value in headers.items()}
        content_type = lowered.get("content-type", "")
        if path.split("?")[0] != "/v1/traces":
            return self.reject(404, f"POST {path} (expected /v1/traces)")
        if not content_type.startswith("application/json"):
            return self.reject(415, f"Content-Type {content_type!r} (expected application/json: tracing.protocol http/json)")
        try:
            if lowered.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            spans = list(self.flatten(json.loads(body)))
        except (ValueError, KeyError, TypeError, AssertionError, OSError) as error:
            return self.reject(400, f"unreadable OTLP/JSON body ({error!r}): {body[:500]!r}")
        with self.lock:
            self.spans.extend(spans)
            self.posts.append({"headers": lowered, "spans": len(spans)})
        return 200, ""

    def reject(self, status: int, reason: str) -> tuple[int, str]:
        with self.lock:
            self.rejected.append(reason)
        return status, reason

    def flatten(self, document: dict) -> Any:
        """Every span of an `ExportTraceServiceRequest`, with its resource's and scope's attributes beside it."""
        for resource_spans in document.get("resourceSpans", []):
            resource = attributes((resource_spans.get("resource") or {}).get("attributes", []))
            for scope_spans in resource_spans.get("scopeSpans", []):
                scope = scope_spans.get("scope") or {}
                for span in scope_spans.get("spans", []):
                    yield {
                        "traceId": hex_id(span.get("traceId", ""), 16, self.base64_ids),
                        "spanId": hex_id(span.get("spanId", ""), 8, self.base64_ids),
                        "parentSpanId": hex_id(span.get("parentSpanId", ""), 8, self.base64_ids),
                        "name": span.get("name", ""),
                        "kind": span.get("kind"),
                        "status": span.get("status") or {},
                        "startTimeUnixNano": int(span.get("startTimeUnixNano") or 0),
                        "endTimeUnixNano": int(span.get("endTimeUnixNano") or 0),
                        "attributes": attributes(span.get("attributes", [])),
                        "resource": resource,
                        "scope": scope.get("name", ""),
                    }

    def snapshot(self) -> list[dict]:
        """The spans received so far."""
        with self.lock:
            return list(self.spans)

    def wait_for(self, count: int, timeout: float) -> list[dict]:
        """The spans received, once there are at least `count` or `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        while len(self.snapshot()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.snapshot()

    def close(self) -> None:
        self.server.shutdown()
