"""Faithful loopback simulators of the billing systems' ingestion APIs, for the export tests.

One HTTP server answers the shapes of five systems, each on its real path, with the field names, types, limits and
deduplication rules of the real API (Tests/e2e/README.md lists the sources):

- Stripe: `POST /v1/billing/meter_events` (form-encoded; event_name ≤ 100 chars, payload[stripe_customer_id],
  payload[value] a whole number, identifier ≤ 100 chars and unique, timestamp in Unix seconds within the past 35
  days and at most 5 minutes ahead) and `POST /v1/invoiceitems` (customer, currency, amount in the smallest unit or
  unit_amount_decimal with ≤ 12 decimals and quantity, period[start]/period[end], description, metadata[...]).
  The `Idempotency-Key` header (≤ 255 chars) replays the first response; reuse with other parameters is a 400; a
  request arriving while another with the same key is still being processed is a 409 (`idempotency_error`, retry).
- Lago: `POST /api/v1/events/batch` `{"events": [...]}` with ≤ 100 events (transaction_id, external_subscription_id,
  code, timestamp, properties, precise_total_amount_cents); a transaction_id already ingested makes the batch 422.
- OpenMeter: `POST /api/v1/events` as `application/cloudevents-batch+json` (or one `application/cloudevents+json`):
  specversion 1.0, id, source, type, subject, time, data; deduplicated on source + id; 204.
- Metronome: `POST /v1/ingest`, a JSON array of 1–100 (transaction_id, customer_id, event_type, RFC 3339 timestamp,
  properties); deduplicated on transaction_id.
- Orb: `POST /ingest` `{"events": [...]}` (idempotency_key, external_customer_id or customer_id, event_name, ISO 8601
  timestamp, flat properties); at most once per key; `?debug=true` lists ingested and duplicate keys.

Every API wants `Authorization: Bearer <api_key>`. Faults on demand (`configure(...)`): a share of requests fails
before processing (500), is rate limited (429 with Retry-After), is processed and then answered 500, is processed and
then the connection is dropped without an answer, is processed only after a delay (`slow`), or is processed at once
and answered only after a delay (`slow_after`: the window in which a sender that dies has been billed without
knowing it). What each system kept (once per key) and every request seen (with when it came, how it was answered
and the fault it met) are readable for assertions.
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
WHOLE = re.compile(r"^\d+$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


class Rejection(Exception):
    """A 4xx answer in the system's error shape."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def parse_time(text: Any) -> float:
    if not isinstance(text, str) or not RFC3339.match(text):
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class BillingSimulator:
    """The five ingestion APIs on one loopback port."""

    def __init__(self, api_key: str = "sk_test_billing", seed: int = 7) -> None:
        self.api_key = api_key
        self.lock = threading.Lock()
        self.random = random.Random(seed)
        self.faults: dict[str, float] = {}
        self.sequence: list[str | None] = []
        self.retry_after = 1
        self.delay_s = 0.0
        self.now: float | None = None
        self.reset()
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                sim.handle(self)

            def do_GET(self) -> None:  # noqa: N802
                sim.handle(self)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A sender killed or timed out while its answer was on the way: what the fault is for, not an error.
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # ---- control --------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forgets everything received."""
        with getattr(self, "lock", threading.Lock()):
            self.requests: list[dict] = []
            self.stripe_meter_events: dict[str, dict] = {}
            self.stripe_invoice_items: list[dict] = []
            self.stripe_idempotency: dict[str, tuple[str, int, Any]] = {}
            self.stripe_in_flight: set[str] = set()
            self.lago_events: dict[str, dict] = {}
            self.openmeter_events: dict[tuple[str, str], dict] = {}
            self.metronome_events: dict[str, dict] = {}
            self.orb_events: dict[str, dict] = {}
            self.duplicates: list[str] = []
            self.faults_served: list[str] = []

    def configure(self, *, fail_before: float = 0, rate_limit: float = 0, fail_after: float = 0, drop_after: float = 0,
                  slow: float = 0, slow_after: float = 0, retry_after: int = 1, delay_s: float = 0.0,
                  sequence: tuple[str, ...] = (), now: float | None = None) -> None:
        """Shares of requests (0–1) that meet each fault; `slow` and `slow_after` wait `delay_s` before and after
        processing; `sequence` names the faults the next requests meet, in order (`None` for none), before the shares
        apply, so that a test with few requests still meets each one; `now` fixes the clock the time windows are
        checked against."""
        faults = {"fail_before": fail_before, "rate_limit": rate_limit, "fail_after": fail_after,
                  "drop_after": drop_after, "slow": slow, "slow_after": slow_after}
        unknown = [name for name in sequence if name is not None and name not in faults]
        if unknown:
            raise ValueError(f"unknown faults {unknown}: use {', '.join(faults)}")
        with self.lock:
            self.faults = faults
            self.sequence = list(sequence)
        self.retry_after = retry_after
        self.delay_s = delay_s
        self.now = now

    def clock(self) -> float:
        return self.now if self.now is not None else time.time()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- dispatch -------------------------------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        headers = {name.lower(): value for name, value in handler.headers.items()}
        # Each request as received, with when it came (time.monotonic()) and how it was answered (`status`: the HTTP
        # status, or None for a dropped connection; `fault`: the fault it met).
        record: dict[str, Any] = {"method": handler.command, "path": url.path, "query": url.query, "headers": headers,
                                  "body": body, "time": time.monotonic(), "status": None, "fault": None}
        with self.lock:
            self.requests.append(record)
        routes = {
            ("POST", "/v1/billing/meter_events"): self.stripe_meter_event,
            ("POST", "/v1/invoiceitems"): self.stripe_invoice_item,
            ("POST", "/api/v1/events/batch"): self.lago_batch,
            ("POST", "/api/v1/events"): self.openmeter_ingest,
            ("POST", "/v1/ingest"): self.metronome_ingest,
            ("POST", "/ingest"): self.orb_ingest,
        }

        def answer(status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
            record["status"] = status
            self.reply(handler, status, payload, extra)

        route = routes.get((handler.command, url.path))
        if route is None:
            return answer(404, {"error": f"no route {handler.command} {url.path}"})
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return answer(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}})
        fault = record["fault"] = self.pick_fault()
        if fault == "fail_before":
            return answer(500, {"error": {"type": "api_error", "message": "simulated failure before processing"}})
        if fault == "rate_limit":
            return answer(429, {"error": {"type": "rate_limit_error", "message": "Too many requests"}},
                          {"Retry-After": str(self.retry_after)})
        # Stripe: a request whose Idempotency-Key is still being processed is answered 409 (retry later).
        in_flight = headers.get("idempotency-key") if url.path.startswith("/v1/") and route.__name__.startswith("stripe") else None
        if in_flight is not None:
            with self.lock:
                busy = in_flight in self.stripe_in_flight
                if not busy:
                    self.stripe_in_flight.add(in_flight)
            if busy:
                return answer(409, {"error": {"type": "idempotency_error", "message":
                                              "There is currently another in-progress request using this Idempotent Key "
                                              "(that probably means you submitted twice, and the other request is still "
                                              f"going through): {in_flight}. Please try again later."}})
        try:
            if fault == "slow":
                time.sleep(self.delay_s)
            try:
                status, payload = route(headers, body, dict(parse_qsl(url.query)))
            except Rejection as rejection:
                status, payload = rejection.status, rejection.body
        finally:
            if in_flight is not None:
                with self.lock:
                    self.stripe_in_flight.discard(in_flight)
        if fault == "slow_after":
            time.sleep(self.delay_s)
        # Whatever processing decided (a 2xx, or a 422 for keys already kept), the sender never learns it: so a fault in
        # `sequence` is met on the request it falls on, however the sender grouped its retries.
        if fault == "fail_after":
            return answer(500, {"error": {"type": "api_error", "message": "simulated failure after processing"}})
        if fault == "drop_after":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return None
        return answer(status, payload)

    def pick_fault(self) -> str | None:
        with self.lock:
            if self.sequence:
                fault = self.sequence.pop(0)
                if fault is not None:
                    self.faults_served.append(fault)
                return fault
            draw = self.random.random()
            for name, share in self.faults.items():
                if draw < share:
                    self.faults_served.append(name)
                    return name
                draw -= share
        return None

    @staticmethod
    def reply(handler: BaseHTTPRequestHandler, status: int, body: Any, extra: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        for name, value in (extra or {}).items():
            handler.send_header(name, value)
        if payload:
            handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    # ---- Stripe ---------------------------------------------------------------------------------------------

    @staticmethod
    def stripe_error(message: str, param: str | None = None, code: str | None = None) -> Rejection:
        error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
        if param:
            error["param"] = param
        if code:
            error["code"] = code
        return Rejection(400, {"error": error})

    def stripe_form(self, headers: dict[str, str], body: bytes) -> dict[str, str]:
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise self.stripe_error("Stripe takes form-encoded bodies (application/x-www-form-urlencoded)")
        return dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body)))

    def stripe_idempotent(self, headers: dict[str, str], form: dict[str, str], endpoint: str, process) -> tuple[int, Any]:
        key = headers.get("idempotency-key")
        if key is None:
            return process()
        if len(key) > 255:
            raise self.stripe_error("Idempotency-Key is longer than 255 characters", code="idempotency_key_too_long")
        fingerprint = endpoint + json.dumps(form, sort_keys=True)
        with self.lock:
            saved = self.stripe_idempotency.get(key)
        if saved is not None:
            if saved[0] != fingerprint:
                raise Rejection(400, {"error": {"type": "idempotency_error", "message":
                                                "Keys for idempotent requests can only be used with the same parameters "
                                                "they were first used with."}})
            with self.lock:
                self.duplicates.append(f"stripe:{key}")
            return saved[1], saved[2]
        status, answer = process()
        with self.lock:
            self.stripe_idempotency[key] = (fingerprint, status, answer)
        return status, answer

    def stripe_meter_event(self, headers: dict[str, str], body: bytes, query: dict[str, str]) -> tuple[int, Any]:
        form = self.stripe_form(headers, body)

        def process() -> tuple[int, Any]:
            for field in ("event_name", "payload[stripe_customer_id]", "payload[value]", "identifier", "timestamp"):
                if not form.get(field):
                    raise self.stripe_error(f"Missing required param: {field}.", param=field)
            if len(form["event_name"]) > 100:
                raise self.stripe_error("event_name must be at most 100 characters", param="event_name")
            if len(form["identifier"]) > 100:
                raise self.stripe_error("identifier must be at most 100 characters", param="identifier")
            if not WHOLE.match(form["payload[value]"]):
                raise self.stripe_error("payload[value] must be a whole number", param="payload[value]")
            if not WHOLE.match(form["timestamp"]):
                raise self.stripe_error("timestamp must be an integer (Unix seconds)", param="timestamp")
            stamp = int(form["timestamp"])
            now = self.clock()
            if stamp < now - 35 * 86400:
                raise self.stripe_error("timestamp must be within the past 35 days", param="timestamp",
                                        code="timestamp_too_far_in_past")
            if stamp > now + 300:
                raise self.stripe_error("timestamp must be at most 5 minutes in the future", param="timestamp",
                                        code="timestamp_in_future")
            with self.lock:
                if form["identifier"] in self.stripe_meter_events:
                    self.duplicates.append(f"stripe-meter:{form['identifier']}")
                    raise self.stripe_error(f"An event already exists with identifier {form['identifier']}.",
                                            param="identifier", code="resource_already_exists")
                event = {"object": "billing.meter_event", "event_name": form["event_name"], "identifier": form["identifier"],
                         "payload": {"stripe_customer_id": form["payload[stripe_customer_id]"], "value": form["payload[value]"]},
                         "timestamp": stamp, "created": int(now)}
                self.stripe_meter_events[form["identifier"]] = event
            return 200, event

        return self.stripe_idempotent(headers, form, "meter_events", process)

    def stripe_invoice_item(self, headers: dict[str, str], body: bytes, query: dict[str, str]) -> tuple[int, Any]:
        form = self.stripe_form(headers, body)

        def process() -> tuple[int, Any]:
            for field in ("customer", "currency"):
                if not form.get(field):
                    raise self.stripe_error(f"Missing required param: {field}.", param=field)
            if not re.match(r"^[a-z]{3}$", form["currency"]):
                raise self.stripe_error("currency must be a three-letter ISO code in lowercase", param="currency")
            has_amount = "amount" in form
            has_unit = "unit_amount_decimal" in form
            if has_amount == has_unit:
                raise self.stripe_error("Give exactly one of amount or unit_amount_decimal.", param="amount")
            if has_amount and not re.match(r"^-?\d+$", form["amount"]):
                raise self.stripe_error("amount must be an integer in the currency's smallest unit", param="amount")
            if has_unit:
                if not DECIMAL.match(form["unit_amount_decimal"]) or len(form["unit_amount_decimal"].partition(".")[2]) > 12:
                    raise self.stripe_error("unit_amount_decimal must be a decimal with at most 12 decimal places",
                                            param="unit_amount_decimal")
                if not WHOLE.match(form.get("quantity", "1")):
                    raise self.stripe_error("quantity must be a whole number", param="quantity")
            for field in ("period[start]", "period[end]"):
                if field in form and not WHOLE.match(form[field]):
                    raise self.stripe_error(f"{field} must be Unix seconds", param=field)
            metadata = {key[9:-1]: value for key, value in form.items() if key.startswith("metadata[")}
            if len(metadata) > 50 or any(len(key) > 40 or len(value) > 500 for key, value in metadata.items()):
                raise self.stripe_error("metadata: at most 50 keys, keys ≤ 40 and values ≤ 500 characters", param="metadata")
            with self.lock:
                item = {"object": "invoiceitem", "id": f"ii_{len(self.stripe_invoice_items) + 1:08d}", **form,
                        "metadata": metadata, "idempotency_key": headers.get("idempotency-key")}
                self.stripe_invoice_items.append(item)
            return 200, item

        return self.stripe_idempotent(headers, form, "invoiceitems", process)

    # ---- Lago -----------------------------------------------------------------------------------------------

    @staticmethod
    def json_body(headers: dict[str, str], body: bytes, content_types: tuple[str, ...]) -> Any:
        content_type = headers.get("content-type", "").split(";")[0].strip()
        if content_type not in content_types:
            raise Rejection(415, {"error": f"content type must be one of {', '.join(content_types)}, not {content_type!r}"})
        try:
            return json.loads(body)
        except ValueError as error:
            raise Rejection(400, {"error": f"body is not JSON: {error}"}) from error

    def lago_batch(self, headers: dict[str, str], body: bytes, query: dict[str, str]) -> tuple[int, Any]:
        document = self.json_body(headers, body, ("application/json",))
        events = document.get("events") if isinstance(document, dict) else None
        if not isinstance(events, list) or not events:
            raise Rejection(422, {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                                  "error_details": {"events": ["must be a non-empty array"]}})
        if len(events) > 100:
            raise Rejection(422, {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                                  "error_details": {"events": ["too_many_events"]}})
        errors: dict[str, Any] = {}
        with self.lock:
            for index, event in enumerate(events):
                problems = []
                for field in ("transaction_id", "external_subscription_id", "code", "timestamp"):
                    if not isinstance(event, dict) or event.get(field) in (None, ""):
                        problems.append(f"{field}: value_is_mandatory")
                if isinstance(event, dict):
                    if not isinstance(event.get("properties", {}), dict):
                        problems.append("properties: invalid_format")
                    stamp = event.get("timestamp")
                    if stamp is not None and not (isinstance(stamp, (int, float)) or (isinstance(stamp, str) and DECIMAL.match(stamp))):
                        problems.append("timestamp: invalid_format")
                    cents = event.get("precise_total_amount_cents")
                    if cents is not None and not (isinstance(cents, str) and DECIMAL.match(cents)):
                        problems.append("precise_total_amount_cents: invalid_format")
                    if event.get("transaction_id") in self.lago_events:
                        problems.append("transaction_id: value_already_exist")
                if problems:
                    errors[str(index)] = problems
            if errors:
                if all(problem == ["transaction_id: value_already_exist"] for problem in errors.values()):
                    self.duplicates += [f"lago:{events[int(index)]['transaction_id']}" for index in errors]
                raise Rejection(422, {"status": 422, "error": "Unprocessable Entity", "code": "validation_errors",
                                      "error_details": errors})
            for event in events:
                self.lago_events[event["transaction_id"]] = event
        return 200, {"events": [{"lago_id": f"lago-{event['transaction_id']}", **event} for event in events]}

    # ---- OpenMeter ------------------------------------------------------------------------------------------

    def openmeter_ingest(self, headers: dict[str, str], body: bytes, query: dict[str, str]) -> tuple[int, Any]:
        document = self.json_body(headers, body, ("application/cloudevents-batch+json", "application/cloudevents+json",
                                                  "application/json"))
        events = document if isinstance(document, list) else [document]
        for index, event in enumerate(events):
            if not isinstance(event, dict):
                raise Rejection(400, {"title": "Bad Request", "detail": f"event {index} is not an object"})
            for field in ("specversion", "id", "source", "type", "subject", "time", "data"):
                if event.get(field) in (None, ""):
                    raise Rejection(400, {"title": "Bad Request", "detail": f"event {index}: {field} is required"})
            if event["specversion"] != "1.0":
                raise Rejection(400, {"title": "Bad Request", "detail": f"event {index}: specversion must be 1.0"})
            try:
                parse_time(event["time"])
            except ValueError as error:
                raise Rejection(400, {"title": "Bad Request", "detail": f"event {index}: {error}"}) from error
            if not isinstance(event["data"], dict):
                raise Rejection(400, {"title": "Bad Request", "detail": f"event {index}: data must be an object"})
        with self.lock:
            for event in events:
                key = (event["source"], event["id"])
                if key in self.openmeter_events:
                    self.duplicates.append(f"openmeter:{event['id']}")
                else:
                    self.openmeter_events[key] = event
        return 204, None

    # ---- Metronome ------------------------------------------------------------------------------------------

    def metronome_ingest(self, headers: dict[str, str], body: bytes, query: dict[str, str]) -> tuple[int, Any]:
        events = self.json_body(headers, body, ("application/json",))
        if not isinstance(events, list) or not 1 <= len(events) <= 100:
            raise Rejection(400, {"message": "body must be an array of 1 to 100 events"})
        now = self.clock()
        for index, event in enumerate(events):
            for field in ("transaction_id", "customer_id", "event_type", "timestamp"):
                if not isinstance(event, dict) or not isinstance(event.get(field), str) or not event[field]:
                    raise Rejection(400, {"message": f"event {index}: {field} is required and must be a string"})
            try:
                stamp = parse_time(event["timestamp"])
            except ValueError as error:
                raise Rejection(400, {"message": f"event {index}: {error}"}) from error
            if stamp > now + 86400:
                raise Rejection(400, {"message": f"event {index}: timestamp more than 24 hours ahead"})
            if not isinstance(event.get("properties", {}), dict):
                raise Rejection(400, {"message": f"event {index}: properties must be an object"})
        with self.lock:
            for event in events:
                if event["transaction_id"] in self.metronome_events:
                    self.duplicates.append(f"metronome:{event['transaction_id']}")
                else:
                    self.metronome_events[event["transaction_id"]] = event
        return 200, {}

    # ---- Orb ------------------------------------------------------------------------------------------------

    def orb_ingest(self, headers: dict[str, str], body: bytes, query: dict[str, str]) -> tuple[int, Any]:
        document = self.json_body(headers, body, ("application/json",))
        events = document.get("events") if isinstance(document, dict) else None
        if not isinstance(events, list) or not events:
            raise Rejection(400, {"type": "https://docs.withorb.com/reference/error-responses#400-bad-request",
                                  "title": "events must be a non-empty array", "status": 400})
        failed, ingested, duplicate = [], [], []
        now = self.clock()
        with self.lock:
            for event in events:
                problems = []
                if not isinstance(event, dict):
                    failed.append({"idempotency_key": None, "validation_errors": ["event must be an object"]})
                    continue
                for field in ("idempotency_key", "event_name", "timestamp"):
                    if not isinstance(event.get(field), str) or not event[field]:
                        problems.append(f"{field} is required")
                if bool(event.get("customer_id")) == bool(event.get("external_customer_id")):
                    problems.append("exactly one of customer_id and external_customer_id is required")
                try:
                    if parse_time(event.get("timestamp")) > now + 3600:
                        problems.append("timestamp is more than 1 hour ahead")
                except ValueError as error:
                    problems.append(str(error))
                properties = event.get("properties", {})
                if not isinstance(properties, dict) or any(isinstance(value, (dict, list)) for value in properties.values()):
                    problems.append("properties must be a flat object")
                if problems:
                    failed.append({"idempotency_key": event.get("idempotency_key"), "validation_errors": problems})
                elif event["idempotency_key"] in self.orb_events:
                    duplicate.append(event["idempotency_key"])
                    self.duplicates.append(f"orb:{event['idempotency_key']}")
                else:
                    self.orb_events[event["idempotency_key"]] = event
                    ingested.append(event["idempotency_key"])
        answer: dict[str, Any] = {"validation_failed": failed}
        if query.get("debug") == "true":
            answer["debug"] = {"duplicate": duplicate, "ingested": ingested}
        return 200, answer


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api-key", default="sk_test_billing")
    arguments = parser.parse_args()
    simulator = BillingSimulator(api_key=arguments.api_key)
    print(f"billing simulator on {simulator.origin} (api key {arguments.api_key})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        simulator.close()
