import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Testing
import TollgateCore

@testable import TollgateBilling
@testable import TollgateStore

/// The API sinks' requests (paths, headers, form and JSON fields, limits) and their reading of every answer, from their
/// pure parts; then each sink end to end against a scripted receiver on loopback, and through faults and repeats
/// against a stub of the systems' ingestion. The e2e suite drives the same sinks against Tests/e2e/billing_sim.py.
@Suite("Billing sinks")
struct BillingSinkTests {
    /// 2026-11-21T10:00:00.250Z.
    static let usageMs: Int64 = 1_795_255_200_250
    /// November 2026.
    static let november = (startMs: Int64(1_793_491_200_000), endMs: Int64(1_796_083_200_000))

    // MARK: - Shared conventions

    @Test("properties are flat strings: exact decimal amounts, token classes, version; corrections say so and name the period")
    func properties() {
        let original = SinkWire.properties(Self.usageLine())
        #expect(
            original == [
                "customer": "acme", "period": "2026-11", "meter": "usage:gpt-4o|list", "kind": "usage", "model": "gpt-4o", "quantity": "3",
                "input_tokens": "1000", "cache_read_tokens": "200", "cache_write_tokens": "30", "output_tokens": "400",
                "reasoning_tokens": "50", "amount": "12.3456789", "currency": "USD", "version": "0",
            ])
        let correction = SinkWire.properties(Self.usageLine(version: 2, amount: "-0.000000000000001"))
        #expect(correction["correction"] == "true" && correction["original_period"] == "2026-11" && correction["version"] == "2")
        #expect(correction["amount"] == "-0.000000000000001")
        #expect(SinkWire.properties(Self.feeLine())["model"] == nil)
    }

    @Test("times: Unix seconds rounded down, RFC 3339 UTC with milliseconds only when there are some")
    func times() {
        #expect(SinkWire.unixSeconds(Self.usageMs) == 1_795_255_200)
        #expect(SinkWire.unixSeconds(Self.november.endMs - 1) == Self.november.endMs / 1000 - 1)
        #expect(SinkWire.unixSeconds(-1) == -1)
        #expect(Timestamps.iso8601(Self.usageMs) == "2026-11-21T10:00:00.250Z")
        #expect(Timestamps.iso8601(Self.november.startMs) == "2026-11-01T00:00:00Z")
    }

    @Test(
        "amounts in the currency's minor unit, exact",
        arguments: [
            ("12.3456789", "USD", "1234.56789"), ("-0.5", "usd", "-50"), ("1234.5", "JPY", "1234.5"), ("1.2345", "KWD", "1234.5"),
            ("0", "EUR", "0"),
        ])
    func minorUnits(amount: String, currency: String, expected: String) throws {
        #expect(SinkWire.minorUnits(try #require(Money(amount)), currency: currency).description == expected)
    }

    @Test("lines go in requests of at most 100, in order; a line without a customer id is refused without a request")
    func batching() async {
        let recorder = Recorder()
        var lines = (0..<250).map { OutboundLine(line: Self.usageLine(key: Self.key($0)), externalCustomerID: "ext_\($0)") }
        lines[7].externalCustomerID = nil
        let outcomes = await SinkWire.sendInRounds(lines, system: "Test") { batch throws(SinkTransportError) in
            await recorder.add(batch.map(\.line.key))
            return Self.reply(200)
        } read: { reply, batch in
            Array(repeating: reply.outcome, count: batch.count)
        }
        let requests = await recorder.requests
        #expect(requests.map(\.count) == [100, 100, 49])
        #expect(requests.flatMap { $0 } == lines.map(\.line.key).filter { $0 != Self.key(7) })
        #expect(outcomes.count == 250)
        #expect(outcomes[7] == .rejected("customer acme has no id in Test"))
        #expect(outcomes.enumerated().allSatisfy { $0.offset == 7 || $0.element == .sent })
    }

    @Test("events left undecided go again in a follow-up request; no answer, or no progress, leaves them to retry")
    func rounds() async {
        let lines = (0..<4).map { OutboundLine(line: Self.usageLine(key: Self.key($0)), externalCustomerID: "ext") }
        let recorder = Recorder()
        let outcomes = await SinkWire.sendInRounds(lines, system: "Test") { batch throws(SinkTransportError) in
            await recorder.add(batch.map(\.line.key))
            let count = await recorder.requests.count
            return Self.reply(count == 1 ? 422 : 200)
        } read: { reply, batch in
            reply.status == 422 ? [.sent, nil, .rejected("bad"), nil] : Array(repeating: .sent, count: batch.count)
        }
        #expect(outcomes == [.sent, .sent, .rejected("bad"), .sent])
        #expect(await recorder.requests == [lines.map(\.line.key), [Self.key(1), Self.key(3)]])

        let dropped = await SinkWire.sendInRounds(lines, system: "Test") { _ throws(SinkTransportError) in
            throw SinkTransportError(description: "connection reset")
        } read: { _, _ in
            []
        }
        #expect(dropped == Array(repeating: .retry("connection reset", retryAfterSeconds: nil), count: 4))

        let stuck = await SinkWire.sendInRounds(lines, system: "Test") { _ throws(SinkTransportError) in
            Self.reply(200)
        } read: { _, batch in
            Array(repeating: nil, count: batch.count)
        }
        #expect(stuck.allSatisfy { if case .retry = $0 { true } else { false } })
    }

    // MARK: - Stripe invoice items

    @Test("invoice item: customer, lowercase currency, amount due in cents, period, metadata, Idempotency-Key = key")
    func stripeInvoiceItem() throws {
        let line = Self.usageLine()
        let (path, fields, idempotencyKey) = try Self.post(
            StripeSink.request(.init(line: line, externalCustomerID: "cus_123"), mode: .invoiceItems, eventName: "x"))
        #expect(path == "/v1/invoiceitems")
        #expect(idempotencyKey == line.key)
        let form = Self.dictionary(fields)
        #expect(
            form == [
                "customer": "cus_123", "currency": "usd", "amount": "1235", "description": "gpt-4o usage",
                "period[start]": "1793491200", "period[end]": "1796083200", "metadata[tollgate_key]": line.key, "metadata[customer]": "acme",
                "metadata[period]": "2026-11", "metadata[meter]": "usage:gpt-4o|list", "metadata[kind]": "usage", "metadata[model]": "gpt-4o",
                "metadata[quantity]": "3", "metadata[version]": "0", "metadata[amount]": "12.3456789", "metadata[currency]": "USD",
            ])
        #expect(fields.count == form.count)
        // Form encoding escapes the brackets and spaces.
        let body = String(decoding: SinkHTTP.formEncoded(fields.map { ($0.name, $0.value) }), as: UTF8.self)
        #expect(body.contains("metadata%5Bmeter%5D=usage%3Agpt-4o%7Clist") && body.contains("description=gpt-4o%20usage"))
        #expect(fields.allSatisfy { !$0.name.hasPrefix("metadata[") || $0.name.count - 10 <= 40 })
    }

    @Test(
        "invoice item amounts are whole smallest units, rounded half to even: 2, 0 and 3 minor digits, negative, zero",
        arguments: [
            ("12.345", "USD", "usd", "1234"), ("12.355", "USD", "usd", "1236"), ("1234.5", "JPY", "jpy", "1234"),
            ("1235.5", "JPY", "jpy", "1236"), ("1.2345", "KWD", "kwd", "1234"), ("-0.505", "EUR", "eur", "-50"), ("0", "USD", "usd", "0"),
            ("1000000000.01", "USD", "usd", "100000000001"),
        ])
    func stripeAmounts(amount: String, currency: String, sentCurrency: String, expected: String) throws {
        let line = Self.usageLine(amount: amount, currency: currency)
        let form = Self.dictionary(
            try Self.post(StripeSink.request(.init(line: line, externalCustomerID: "cus_1"), mode: .invoiceItems, eventName: "x")).1)
        #expect(form["amount"] == expected && form["currency"] == sentCurrency)
        #expect(form["metadata[amount]"] == Money(amount)?.description)
    }

    @Test("a correction invoice item carries the difference, its own key, and correction + original_period metadata")
    func stripeCorrection() throws {
        let line = Self.usageLine(version: 1, amount: "-1.25", key: "tg_correction")
        let (_, fields, key) = try Self.post(StripeSink.request(.init(line: line, externalCustomerID: "cus_1"), mode: .invoiceItems, eventName: "x"))
        let form = Self.dictionary(fields)
        #expect(key == "tg_correction" && form["metadata[tollgate_key]"] == "tg_correction")
        #expect(form["amount"] == "-125" && form["metadata[correction]"] == "true" && form["metadata[original_period]"] == "2026-11")
        #expect(form["metadata[version]"] == "1")
        #expect(
            Self.dictionary(
                try Self.post(StripeSink.request(.init(line: Self.usageLine(), externalCustomerID: "c"), mode: .invoiceItems, eventName: "x")).1)[
                    "metadata[correction]"] == nil)
    }

    @Test("metadata values are cut to Stripe's 500 characters")
    func stripeMetadataLimit() throws {
        var line = Self.usageLine()
        line.meter = "usage:" + String(repeating: "m", count: 600)
        let form = Self.dictionary(
            try Self.post(StripeSink.request(.init(line: line, externalCustomerID: "c"), mode: .invoiceItems, eventName: "x")).1)
        #expect(form["metadata[meter]"]?.count == 500)
    }

    // MARK: - Stripe meter events

    @Test("meter event: event_name, customer, total tokens as a whole value, identifier = key, Unix seconds; no Idempotency-Key")
    func stripeMeterEvent() throws {
        let line = Self.usageLine()
        let (path, fields, key) = try Self.post(
            StripeSink.request(.init(line: line, externalCustomerID: "cus_9"), mode: .meterEvents, eventName: "llm_tokens"))
        #expect(path == "/v1/billing/meter_events" && key == nil)
        #expect(fields.map(\.name) == ["event_name", "payload[stripe_customer_id]", "payload[value]", "identifier", "timestamp"])
        #expect(
            Self.dictionary(fields) == [
                "event_name": "llm_tokens", "payload[stripe_customer_id]": "cus_9", "payload[value]": "1630", "identifier": line.key,
                "timestamp": "1795255200",
            ])
        let charge = Self.dictionary(
            try Self.post(StripeSink.request(.init(line: Self.chargeLine(quantity: 42), externalCustomerID: "c"), mode: .meterEvents, eventName: "e"))
                .1)
        #expect(charge["payload[value]"] == "42")
        var positive = Self.usageLine(version: 1, amount: "0.5")
        positive.usage = TokenUsage(inputTokens: 10, outputTokens: 5)
        let correction = Self.dictionary(
            try Self.post(StripeSink.request(.init(line: positive, externalCustomerID: "c"), mode: .meterEvents, eventName: "e")).1)
        #expect(correction["payload[value]"] == "15" && correction["identifier"] == positive.key)
    }

    @Test("what a meter event cannot carry is refused (or a fee held) without a request, with the reason")
    func stripeMeterEventRefusals() throws {
        var negative = Self.usageLine(version: 1, amount: "-0.5")
        negative.usage = TokenUsage(inputTokens: -10)
        let refusal = try Self.refusal(StripeSink.request(.init(line: negative, externalCustomerID: "c"), mode: .meterEvents, eventName: "e"))
        #expect(refusal.contains("correction 1 of 2026-11") && refusal.contains("only add") && refusal.contains("invoice_items"))
        var zero = negative
        zero.usage = .zero
        try Self.refusal(StripeSink.request(.init(line: zero, externalCustomerID: "c"), mode: .meterEvents, eventName: "e"))
        // A fee has no usage to count: held (not an error), with what to configure instead.
        guard case .hold(let fee) = StripeSink.request(.init(line: Self.feeLine(), externalCustomerID: "c"), mode: .meterEvents, eventName: "e")
        else { throw NotAPost() }
        #expect(fee.contains("base_fee") && fee.contains("invoice_items"))
        let long = try Self.refusal(
            StripeSink.request(
                .init(line: Self.usageLine(), externalCustomerID: "c"), mode: .meterEvents, eventName: String(repeating: "e", count: 101)))
        #expect(long.contains("1 to 100 characters"))
        _ = try Self.post(
            StripeSink.request(
                .init(line: Self.usageLine(), externalCustomerID: "c"), mode: .meterEvents, eventName: String(repeating: "e", count: 100)))
        #expect(Self.usageLine().key.count <= 100)
        let noCustomer = try Self.refusal(
            StripeSink.request(.init(line: Self.usageLine(), externalCustomerID: nil), mode: .invoiceItems, eventName: "e"))
        #expect(noCustomer.contains("acme"))
    }

    @Test("Stripe answers: 2xx and duplicates sent, 409/429/5xx retried with Retry-After, 4xx refused with Stripe's message")
    func stripeOutcomes() {
        #expect(StripeSink.outcome(Self.reply(200, #"{"object":"invoiceitem"}"#)) == .sent)
        let duplicate =
            #"{"error":{"type":"invalid_request_error","message":"An event already exists with identifier tg_1.","param":"identifier","code":"resource_already_exists"}}"#
        #expect(StripeSink.outcome(Self.reply(400, duplicate)) == .sent)
        #expect(
            StripeSink.outcome(Self.reply(429, #"{"error":{"type":"rate_limit_error"}}"#, retryAfter: "7"))
                == .retry(#"HTTP 429: {"error":{"type":"rate_limit_error"}}"#, retryAfterSeconds: 7))
        #expect(StripeSink.outcome(Self.reply(500, "")) == .retry("HTTP 500", retryAfterSeconds: nil))
        #expect(StripeSink.outcome(Self.reply(503, "", retryAfter: "30")) == .retry("HTTP 503", retryAfterSeconds: 30))
        if case .retry = StripeSink.outcome(Self.reply(409, #"{"error":{"type":"idempotency_error"}}"#)) {} else { Issue.record("409 is retried") }
        let old =
            #"{"error":{"type":"invalid_request_error","message":"timestamp must be within the past 35 days","param":"timestamp","code":"timestamp_too_far_in_past"}}"#
        #expect(
            StripeSink.outcome(Self.reply(400, old))
                == .rejected(
                    "Stripe refused the line (HTTP 400): timestamp must be within the past 35 days (timestamp_too_far_in_past, param timestamp)"))
        let reuse =
            #"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}"#
        guard case .rejected(let reason) = StripeSink.outcome(Self.reply(400, reuse)) else {
            Issue.record("a reused key is refused")
            return
        }
        #expect(reason.contains("idempotency_error") && reason.contains("other parameters"))
        #expect(StripeSink.outcome(Self.reply(401, "nope")) == .rejected("Stripe refused the line: HTTP 401: nope"))
    }

    // MARK: - Lago

    @Test("Lago: events/batch with transaction_id = key, subscription, code, Unix seconds, properties, precise cents")
    func lagoRequest() throws {
        let line = Self.usageLine()
        let document = try Self.object(
            LagoWire.body(
                [.init(line: line, externalCustomerID: "sub_1"), .init(line: Self.jpyLine(), externalCustomerID: "sub_2")], eventName: "llm"))
        let events = try #require(document["events"] as? [[String: Any]])
        #expect(LagoWire.path == "/api/v1/events/batch" && events.count == 2 && document.count == 1)
        let event = events[0]
        #expect(Set(event.keys) == ["transaction_id", "external_subscription_id", "code", "timestamp", "properties", "precise_total_amount_cents"])
        #expect(event["transaction_id"] as? String == line.key && event["external_subscription_id"] as? String == "sub_1")
        #expect(event["code"] as? String == "llm" && event["timestamp"] as? Int == 1_795_255_200)
        #expect(event["precise_total_amount_cents"] as? String == "1234.56789")
        #expect(event["properties"] as? [String: String] == SinkWire.properties(line))
        #expect(events[1]["precise_total_amount_cents"] as? String == "12.345675")  // JPY has no minor unit
        let correction = try Self.object(
            LagoWire.body([.init(line: Self.usageLine(version: 1, amount: "-2"), externalCustomerID: "s")], eventName: "c"))
        let properties = try #require((correction["events"] as? [[String: Any]])?.first?["properties"] as? [String: String])
        #expect(properties["correction"] == "true" && properties["original_period"] == "2026-11")
        #expect((correction["events"] as? [[String: Any]])?.first?["precise_total_amount_cents"] as? String == "-200")
    }

    @Test("Lago answers: 2xx sent; a 422 of duplicates marks those sent and leaves the others for a follow-up")
    func lagoDuplicates() {
        #expect(LagoWire.reading(Self.reply(200, #"{"events":[]}"#), count: 2) == [.sent, .sent])
        let duplicates =
            #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"0":["transaction_id: value_already_exist"],"2":["transaction_id: value_already_exist"]}}"#
        #expect(LagoWire.reading(Self.reply(422, duplicates), count: 4) == [.sent, nil, .sent, nil])
        let fieldShape = #"{"status":422,"error_details":{"1":{"transaction_id":["value_already_exist"]}}}"#
        #expect(LagoWire.reading(Self.reply(422, fieldShape), count: 2) == [nil, .sent])
    }

    @Test("Lago answers: other 422s refuse the events they name (the rest go again), or all when none is named; 429/500 retry")
    func lagoRefusals() {
        let mixed =
            #"{"status":422,"error_details":{"0":["transaction_id: value_already_exist"],"1":["code: value_is_mandatory","timestamp: invalid_format"],"2":["transaction_id: value_already_exist","precise_total_amount_cents: invalid_format"]}}"#
        #expect(
            LagoWire.reading(Self.reply(422, mixed), count: 4) == [
                .sent, .rejected("Lago refused the event (HTTP 422): code: value_is_mandatory, timestamp: invalid_format"),
                .rejected("Lago refused the event (HTTP 422): transaction_id: value_already_exist, precise_total_amount_cents: invalid_format"),
                nil,
            ])
        let whole = #"{"status":422,"error_details":{"events":["too_many_events"]}}"#
        let all = LagoWire.reading(Self.reply(422, whole), count: 2)
        #expect(all.count == 2 && all.allSatisfy { if case .rejected(let reason) = $0 { reason.contains("too_many_events") } else { false } })
        #expect(LagoWire.reading(Self.reply(422, "not json"), count: 1) == [.rejected("Lago refused the batch: HTTP 422: not json")])
        #expect(
            LagoWire.reading(Self.reply(429, "", retryAfter: "3"), count: 2) == Array(repeating: .retry("HTTP 429", retryAfterSeconds: 3), count: 2))
        #expect(LagoWire.reading(Self.reply(500, "boom"), count: 1) == [.retry("HTTP 500: boom", retryAfterSeconds: nil)])
        #expect(LagoWire.reading(Self.reply(400, "bad"), count: 1) == [.rejected("HTTP 400: bad")])
    }

    // MARK: - OpenMeter

    @Test("OpenMeter: CloudEvents with id = key, source tollgate, type, subject, RFC 3339 time, data = properties")
    func openMeterRequest() throws {
        let line = Self.usageLine()
        let events = try #require(
            try Self.json(OpenMeterWire.body([.init(line: line, externalCustomerID: "customer-1")], eventName: "llm_usage")) as? [[String: Any]])
        #expect(OpenMeterWire.path == "/api/v1/events" && OpenMeterWire.contentType == "application/cloudevents-batch+json")
        let event = try #require(events.first)
        #expect(Set(event.keys) == ["specversion", "id", "source", "type", "subject", "time", "data"])
        #expect(event["specversion"] as? String == "1.0" && event["id"] as? String == line.key && event["source"] as? String == "tollgate")
        #expect(event["type"] as? String == "llm_usage" && event["subject"] as? String == "customer-1")
        #expect(event["time"] as? String == "2026-11-21T10:00:00.250Z")
        #expect(event["data"] as? [String: String] == SinkWire.properties(line))
    }

    @Test("OpenMeter answers: 204 sent; a 400 naming an event refuses it (the rest go again), else all; 429/500 retry")
    func openMeterOutcomes() {
        #expect(SinkWire.readingIndexedRefusal(Self.reply(204, ""), count: 2, system: "OpenMeter") == [.sent, .sent])
        let named = #"{"title":"Bad Request","detail":"event 1: time is required"}"#
        #expect(
            SinkWire.readingIndexedRefusal(Self.reply(400, named), count: 3, system: "OpenMeter") == [
                nil, .rejected("OpenMeter refused the event (HTTP 400): event 1: time is required"), nil,
            ])
        let unnamed = #"{"title":"Bad Request","detail":"body is not JSON"}"#
        #expect(
            SinkWire.readingIndexedRefusal(Self.reply(400, unnamed), count: 2, system: "OpenMeter")
                == Array(repeating: .rejected("OpenMeter refused the request (HTTP 400): body is not JSON"), count: 2))
        #expect(SinkWire.readingIndexedRefusal(Self.reply(400, #"{"detail":"event 9: x"}"#), count: 2, system: "O").allSatisfy { $0 != nil })
        #expect(
            SinkWire.readingIndexedRefusal(Self.reply(429, "", retryAfter: "2"), count: 1, system: "OpenMeter") == [
                .retry("HTTP 429", retryAfterSeconds: 2)
            ])
        #expect(SinkWire.readingIndexedRefusal(Self.reply(500, ""), count: 1, system: "OpenMeter") == [.retry("HTTP 500", retryAfterSeconds: nil)])
    }

    // MARK: - Metronome

    @Test("Metronome: a JSON array with transaction_id = key, customer_id, event_type, RFC 3339 timestamp, properties")
    func metronomeRequest() throws {
        let line = Self.usageLine(version: 1, amount: "0.25")
        let events = try #require(
            try Self.json(MetronomeWire.body([.init(line: line, externalCustomerID: "9f2c")], eventName: "tokens")) as? [[String: Any]])
        #expect(MetronomeWire.path == "/v1/ingest" && events.count == 1)
        let event = try #require(events.first)
        #expect(Set(event.keys) == ["transaction_id", "customer_id", "event_type", "timestamp", "properties"])
        #expect(event["transaction_id"] as? String == line.key && event["customer_id"] as? String == "9f2c")
        #expect(event["event_type"] as? String == "tokens" && event["timestamp"] as? String == "2026-11-21T10:00:00.250Z")
        let properties = try #require(event["properties"] as? [String: String])
        #expect(properties["amount"] == "0.25" && properties["correction"] == "true" && properties["original_period"] == "2026-11")
    }

    @Test("Metronome answers: 200 sent; a 400 naming an event refuses it, else all; 429/500 retry")
    func metronomeOutcomes() {
        #expect(SinkWire.readingIndexedRefusal(Self.reply(200, "{}"), count: 1, system: "Metronome") == [.sent])
        let named = #"{"message":"event 0: customer_id is required and must be a string"}"#
        #expect(
            SinkWire.readingIndexedRefusal(Self.reply(400, named), count: 2, system: "Metronome") == [
                .rejected("Metronome refused the event (HTTP 400): event 0: customer_id is required and must be a string"), nil,
            ])
        #expect(
            SinkWire.readingIndexedRefusal(Self.reply(400, #"{"message":"body must be an array of 1 to 100 events"}"#), count: 1, system: "Metronome")
                == [.rejected("Metronome refused the request (HTTP 400): body must be an array of 1 to 100 events")])
        #expect(
            SinkWire.readingIndexedRefusal(Self.reply(429, "", retryAfter: "5"), count: 1, system: "M") == [.retry("HTTP 429", retryAfterSeconds: 5)])
        #expect(SinkWire.readingIndexedRefusal(Self.reply(502, ""), count: 1, system: "M") == [.retry("HTTP 502", retryAfterSeconds: nil)])
    }

    @Test("OpenMeter and Metronome read answers the indexed way, under their own names; Lago and Orb their own way")
    func wireReadings() {
        let batch = (0..<2).map { OutboundLine(line: Self.usageLine(key: Self.key($0)), externalCustomerID: "ext") }
        let named = Self.reply(400, #"{"detail":"event 1: time is required"}"#)
        #expect(OpenMeterWire.reading(named, of: batch) == [nil, .rejected("OpenMeter refused the event (HTTP 400): event 1: time is required")])
        #expect(MetronomeWire.reading(named, of: batch) == [nil, .rejected("Metronome refused the event (HTTP 400): event 1: time is required")])
        let duplicate = Self.reply(422, #"{"error_details":{"1":["transaction_id: value_already_exist"]}}"#)
        #expect(LagoWire.reading(duplicate, of: batch) == LagoWire.reading(duplicate, count: 2))
        let orb = Self.reply(200, #"{"validation_failed":[],"debug":{"ingested":[],"duplicate":["\#(Self.key(0))"]}}"#)
        #expect(OrbWire.reading(orb, of: batch) == OrbWire.reading(orb, keys: [Self.key(0), Self.key(1)]))
        #expect([LagoWire.contentType, MetronomeWire.contentType, OrbWire.contentType] == Array(repeating: "application/json", count: 3))
    }

    // MARK: - Orb

    @Test("Orb: {events} with idempotency_key = key, external_customer_id, event_name, ISO 8601 timestamp, flat properties")
    func orbRequest() throws {
        let line = Self.chargeLine(quantity: 5)
        let document = try Self.object(OrbWire.body([.init(line: line, externalCustomerID: "ext-acme")], eventName: "api_calls"))
        #expect(OrbWire.path == "/ingest?debug=true")
        let event = try #require((document["events"] as? [[String: Any]])?.first)
        #expect(Set(event.keys) == ["idempotency_key", "external_customer_id", "event_name", "timestamp", "properties"])
        #expect(event["idempotency_key"] as? String == line.key && event["external_customer_id"] as? String == "ext-acme")
        #expect(event["event_name"] as? String == "api_calls" && event["timestamp"] as? String == "2026-11-21T10:00:00.250Z")
        let properties = try #require(event["properties"] as? [String: String])
        #expect(properties["quantity"] == "5" && properties["kind"] == "charge" && properties["model"] == nil)
    }

    @Test("Orb answers: validation_failed lines refused with their errors, ingested and duplicates sent, others retried")
    func orbOutcomes() {
        let keys = ["tg_a", "tg_b", "tg_c", "tg_d"]
        let body = #"""
            {"validation_failed":[{"idempotency_key":"tg_b","validation_errors":["timestamp is more than 1 hour ahead","properties must be a flat object"]}],
             "debug":{"ingested":["tg_a"],"duplicate":["tg_c"]}}
            """#
        #expect(
            OrbWire.reading(Self.reply(200, body), keys: keys) == [
                .sent, .rejected("Orb refused the event: timestamp is more than 1 hour ahead; properties must be a flat object"), .sent,
                .retry("Orb's answer lists the event neither as ingested nor as a duplicate", retryAfterSeconds: nil),
            ])
        #expect(OrbWire.reading(Self.reply(200, #"{"validation_failed":[]}"#), keys: keys) == Array(repeating: .sent, count: 4))
        #expect(
            OrbWire.reading(Self.reply(400, #"{"title":"events must be a non-empty array","status":400}"#), keys: ["tg_a"])
                == [.rejected("Orb refused the request (HTTP 400): events must be a non-empty array")])
        #expect(OrbWire.reading(Self.reply(429, "", retryAfter: "4"), keys: ["tg_a"]) == [.retry("HTTP 429", retryAfterSeconds: 4)])
        #expect(OrbWire.reading(Self.reply(500, ""), keys: ["tg_a"]) == [.retry("HTTP 500", retryAfterSeconds: nil)])
    }

    // MARK: - Sinks

    @Test("every API sink needs the customer's id; Stripe sends one line a request, the others 100")
    func limits() {
        let sinks: [any BillingSink] = [
            StripeSink(settings: Self.settings(.stripe, port: 1)), LagoSink(settings: Self.settings(.lago, port: 1)),
            OpenMeterSink(settings: Self.settings(.openmeter, port: 1)), MetronomeSink(settings: Self.settings(.metronome, port: 1)),
            OrbSink(settings: Self.settings(.orb, port: 1)),
        ]
        #expect(sinks.map(\.batchLimit) == [1, 100, 100, 100, 100])
        #expect(sinks.allSatisfy { $0.needsCustomerID })
    }

    @Test("each sink end to end on loopback: path, bearer key, content type, Idempotency-Key, and the reading of the answer")
    func loopback() async throws {
        let lines = [Self.usageLine(key: "tg_one"), Self.chargeLine(quantity: 2)].map { OutboundLine(line: $0, externalCustomerID: "ext_1") }
        let replies = [
            SinkReply(status: 200, body: "{}"), SinkReply(status: 200, body: "{}"),  // Stripe invoice items
            SinkReply(status: 400, body: #"{"error_details":{"0":["transaction_id: value_already_exist"]}}"#),  // Lago: a 400 is not a 422
            SinkReply(status: 204), SinkReply(status: 200, body: "{}"),  // OpenMeter, Metronome
            SinkReply(status: 200, body: #"{"validation_failed":[],"debug":{"ingested":["tg_one"],"duplicate":[]}}"#),  // Orb
            SinkReply(status: 429, headers: ["Retry-After": "9"]),  // Stripe meter events
        ]
        try await withSinkReceiver(replies: replies) { port, inbox in
            #expect(await StripeSink(settings: Self.settings(.stripe, port: port)).send(lines) == [.sent, .sent])
            let lago = await LagoSink(settings: Self.settings(.lago, port: port)).send(lines)
            #expect(lago == Array(repeating: .rejected("HTTP 400: {\"error_details\":{\"0\":[\"transaction_id: value_already_exist\"]}}"), count: 2))
            #expect(await OpenMeterSink(settings: Self.settings(.openmeter, port: port)).send(lines) == [.sent, .sent])
            #expect(await MetronomeSink(settings: Self.settings(.metronome, port: port)).send(lines) == [.sent, .sent])
            let orb = await OrbSink(settings: Self.settings(.orb, port: port)).send(lines)
            #expect(
                orb[0] == .sent && orb[1] == .retry("Orb's answer lists the event neither as ingested nor as a duplicate", retryAfterSeconds: nil))
            var meterEvents = Self.settings(.stripe, port: port)
            meterEvents.stripeMode = .meterEvents
            #expect(await StripeSink(settings: meterEvents).send(Array(lines.prefix(1))) == [.retry("HTTP 429", retryAfterSeconds: 9)])

            let received = await inbox.received
            #expect(
                received.map(\.path) == [
                    "/v1/invoiceitems", "/v1/invoiceitems", "/api/v1/events/batch", "/api/v1/events", "/v1/ingest", "/ingest?debug=true",
                    "/v1/billing/meter_events",
                ])
            #expect(received.allSatisfy { $0.header("Authorization") == "Bearer sk_test_sinks" && $0.header("User-Agent") == "tollgate" })
            #expect(
                received.map { $0.header("Content-Type") ?? "" } == [
                    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded", "application/json",
                    "application/cloudevents-batch+json", "application/json", "application/json", "application/x-www-form-urlencoded",
                ])
            #expect(received[0].header("Idempotency-Key") == "tg_one" && received[1].header("Idempotency-Key") == lines[1].line.key)
            #expect(received[6].header("Idempotency-Key") == nil)
            #expect(String(decoding: received[0].body, as: UTF8.self).hasPrefix("customer=ext_1&currency=usd&amount=1235&"))
            let lagoBody = try Self.json(received[2].body) as? [String: Any]
            #expect(lagoBody?["events"] as? [Any] != nil)
        }
    }

    @Test("a Lago 422 of duplicates is followed, within the same send, by a request with the other events")
    func lagoFollowUp() async throws {
        let lines = (0..<3).map { OutboundLine(line: Self.usageLine(key: Self.key($0)), externalCustomerID: "sub") }
        let duplicate = #"{"status":422,"code":"validation_errors","error_details":{"1":["transaction_id: value_already_exist"]}}"#
        try await withSinkReceiver(replies: [SinkReply(status: 422, body: duplicate), SinkReply(status: 200, body: "{}")]) { port, inbox in
            #expect(await LagoSink(settings: Self.settings(.lago, port: port)).send(lines) == [.sent, .sent, .sent])
            let requests = await inbox.received
            try #require(requests.count == 2)
            let keys = try requests.map { request in
                ((try Self.json(request.body) as? [String: Any])?["events"] as? [[String: Any]] ?? []).compactMap { $0["transaction_id"] as? String }
            }
            #expect(keys == [lines.map(\.line.key), [Self.key(0), Self.key(2)]])
        }
    }

    @Test("no answer (nothing listening) is a retry for every sink")
    func unreachable() async throws {
        let port = try await withSinkReceiver { port, _ in port }
        let lines = [OutboundLine(line: Self.usageLine(), externalCustomerID: "ext")]
        // The HTTP client keeps trying to connect until the deadline: keep it short.
        let settings = [SinkSettings.Kind.stripe, .lago, .openmeter, .metronome, .orb].map { kind in
            var settings = Self.settings(kind, port: port)
            settings.timeoutSeconds = 0.3
            return settings
        }
        let sinks = settings.map(SinkFactory.make)
        for sink in sinks {
            let outcomes = await sink.send(lines)
            #expect(outcomes.count == 1)
            guard case .retry(let reason, nil) = outcomes.first else {
                Issue.record("\(sink.settings.kind) should retry, got \(outcomes)")
                continue
            }
            #expect(reason.contains("127.0.0.1"))
        }
    }

    @Test("through faults every line ends sent and each key is kept once; sent again, every line is a duplicate, still sent")
    func throughFaults() async throws {
        let stub = IngestStub()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await withSinkReceiver(answer: { await stub.answer($0) }) { port, _ in
            for kind in [SinkSettings.Kind.stripe, .lago, .openmeter, .metronome, .orb] {
                for mode in kind == .stripe ? SinkSettings.StripeMode.allCases.map(\.rawValue) : [""] {
                    var settings = Self.settings(kind, port: port)
                    if let mode = SinkSettings.StripeMode(rawValue: mode) { settings.stripeMode = mode }
                    let lines = (0..<(kind == .stripe ? 12 : 250)).map { index in
                        var line =
                            index % 3 == 1
                            ? Self.chargeLine(quantity: index) : Self.usageLine(version: index % 3 == 2 ? 1 : 0, amount: "\(index).015")
                        line.key = "tg_\(kind)_\(mode)_\(index)"
                        line.usageMs = now - 3_600_000
                        line.currency = ["USD", "JPY", "KWD"][index % 3]
                        return OutboundLine(line: line, externalCustomerID: "cus_\(index % 7)")
                    }
                    let sink = SinkFactory.make(settings)
                    // Sends until every line is sent (retried ones again, as the exporter would), twice: the second time all
                    // are duplicates.
                    for pass in ["first", "again"] {
                        var pending = lines
                        for _ in 0..<40 where !pending.isEmpty {
                            var retry: [OutboundLine] = []
                            for start in stride(from: 0, to: pending.count, by: sink.batchLimit) {
                                let batch = Array(pending[start..<min(start + sink.batchLimit, pending.count)])
                                for (line, outcome) in zip(batch, await sink.send(batch)) {
                                    switch outcome {
                                    case .sent: break
                                    case .retry: retry.append(line)
                                    case .rejected(let reason), .held(let reason):
                                        Issue.record("\(kind) \(mode) \(pass) \(line.line.key): \(reason)")
                                    }
                                }
                            }
                            pending = retry
                        }
                        let neverSent = pending.map(\.line.key)
                        #expect(neverSent.isEmpty, "\(kind) \(mode) \(pass)")
                    }
                    #expect(await stub.kept(prefix: "tg_\(kind)_\(mode)_") == Set(lines.map(\.line.key)), "\(kind) \(mode)")
                }
            }
            #expect(await stub.faultsServed >= 10)
        }
    }

    // MARK: - Fixtures

    static func key(_ index: Int) -> String { "tg_" + String(repeating: "0", count: 36) + String(format: "%04d", index) }

    static func line(
        key: String = "tg_0123456789abcdef0123456789abcdef01234567", meter: String, version: Int = 0, kind: RatedLine.Kind, description: String,
        model: String?, quantity: Int, usage: TokenUsage, amount: String, currency: String
    ) -> ExportLine {
        ExportLine(
            key: key, sink: "billing", customer: "acme", period: "2026-11", periodStartMs: november.startMs, periodEndMs: november.endMs,
            meter: meter, version: version, kind: kind, description: description, model: model, quantity: quantity, usage: usage,
            amount: Money(amount) ?? .zero, currency: currency, bracketsJSON: "[]", eventIDs: ["ev_1"], usageMs: usageMs, createdMs: usageMs,
            state: .pending, attempts: 0, nextAttemptMs: usageMs, lastError: nil, sentMs: nil)
    }

    /// 3 requests to gpt-4o: 1000 input, 200 cache read, 30 cache write, 400 output (50 reasoning) tokens.
    static func usageLine(
        version: Int = 0, amount: String = "12.3456789", currency: String = "USD", key: String = "tg_0123456789abcdef0123456789abcdef01234567"
    ) -> ExportLine {
        line(
            key: key, meter: "usage:gpt-4o|list", version: version, kind: .usage, description: "gpt-4o usage", model: "gpt-4o", quantity: 3,
            usage: TokenUsage(inputTokens: 1000, cacheReadTokens: 200, cacheWriteTokens: 30, outputTokens: 400, reasoningTokens: 50), amount: amount,
            currency: currency)
    }

    static func jpyLine() -> ExportLine { usageLine(amount: "12.345675", currency: "JPY", key: "tg_jpy") }

    static func chargeLine(quantity: Int) -> ExportLine {
        line(
            key: "tg_charge_\(quantity)", meter: "charge:API calls|api_calls", kind: .charge, description: "API calls", model: nil,
            quantity: quantity, usage: .zero, amount: "0.5", currency: "USD")
    }

    static func feeLine() -> ExportLine {
        line(
            key: "tg_fee", meter: "base_fee", kind: .baseFee, description: "Base fee", model: nil, quantity: 1, usage: .zero, amount: "49",
            currency: "USD")
    }

    static func settings(_ kind: SinkSettings.Kind, port: Int) -> SinkSettings {
        var settings = SinkSettings(name: kind.rawValue, kind: kind)
        settings.baseURL = "http://127.0.0.1:\(port)"
        settings.apiKey = "sk_test_sinks"
        settings.timeoutSeconds = 5
        return settings
    }

    static func reply(_ status: Int, _ body: String = "", retryAfter: String? = nil) -> HTTPReply {
        var headers = HTTPHeaders()
        if let retryAfter { headers.add(name: "Retry-After", value: retryAfter) }
        return HTTPReply(status: status, headers: headers, body: body)
    }

    struct NotAPost: Error {}

    /// The parts of a Stripe request, or a failure when it is a refusal.
    static func post(_ request: StripeSink.Request) throws -> (String, [(name: String, value: String)], String?) {
        guard case .post(let path, let fields, let key) = request else { throw NotAPost() }
        return (path, fields, key)
    }

    /// The reason of a Stripe refusal; a failure when the request would be sent.
    @discardableResult
    static func refusal(_ request: StripeSink.Request) throws -> String {
        guard case .refuse(let reason) = request else { throw NotAPost() }
        return reason
    }

    static func dictionary(_ fields: [(name: String, value: String)]) -> [String: String] {
        Dictionary(fields.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
    }

    static func json(_ bytes: [UInt8]) throws -> Any { try JSONSerialization.jsonObject(with: Data(bytes)) }

    static func object(_ bytes: [UInt8]) throws -> [String: Any] { try #require(try json(bytes) as? [String: Any]) }
}

/// The keys of each request a fake transport got.
private actor Recorder {
    private(set) var requests: [[String]] = []
    func add(_ keys: [String]) { requests.append(keys) }
}

// MARK: - Ingestion stub

/// The five systems' ingestion reduced to what the sinks' retries rely on: each key is kept once, a key sent again is
/// answered the way the system answers a repeat, and every fourth request meets a fault in turn: 500 before
/// processing, 429 with `Retry-After`, processed and then answered 500 (so that the retry is a repeat). The field
/// formats and limits are Tests/e2e/billing_sim.py's business (Tests/e2e/test_export.py drives the same sinks there).
private actor IngestStub {
    /// The keys the systems kept (an invoice item's: its `Idempotency-Key`).
    private var keys: Set<String> = []
    private var served = 0
    private(set) var faultsServed = 0

    /// The kept keys that start with `prefix`.
    func kept(prefix: String) -> Set<String> { keys.filter { $0.hasPrefix(prefix) } }

    func answer(_ request: SinkRequest) -> SinkReply {
        served += 1
        let fault = served % 4 == 0 ? served / 4 % 3 : nil
        if fault != nil { faultsServed += 1 }
        if fault == 0 { return SinkReply(status: 500, body: #"{"error":{"type":"api_error"}}"#) }
        if fault == 1 { return SinkReply(status: 429, headers: ["Retry-After": "1"]) }
        let reply = process(request)
        return fault == 2 && reply.status < 300 ? SinkReply(status: 500) : reply
    }

    /// Keeps `key`; `false` when it was kept already.
    private func keep(_ key: String) -> Bool { keys.insert(key).inserted }

    private func process(_ request: SinkRequest) -> SinkReply {
        let json = try? JSONSerialization.jsonObject(with: Data(request.body))
        let events = (json as? [[String: Any]]) ?? ((json as? [String: Any])?["events"] as? [[String: Any]]) ?? []
        func sent(_ field: String) -> [String] { events.map { $0[field] as? String ?? "" } }
        switch request.path {
        case "/v1/invoiceitems":
            // Stripe replays the first answer to a repeated Idempotency-Key.
            _ = keep(request.header("Idempotency-Key") ?? "")
            return SinkReply(status: 200, body: #"{"object":"invoiceitem"}"#)
        case "/v1/billing/meter_events":
            let form = String(decoding: request.body, as: UTF8.self).split(separator: "&").map { $0.split(separator: "=", maxSplits: 1) }
            let identifier = form.first { $0.first == "identifier" }.flatMap { $0.last?.removingPercentEncoding } ?? ""
            if keep(identifier) { return SinkReply(status: 200, body: #"{"object":"billing.meter_event"}"#) }
            return SinkReply(
                status: 400,
                body:
                    #"{"error":{"type":"invalid_request_error","message":"An event already exists with identifier \#(identifier).","param":"identifier","code":"resource_already_exists"}}"#
            )
        case "/api/v1/events/batch":
            // Lago ingests none of a batch with a transaction_id it has, and names each such event.
            let repeated = sent("transaction_id").enumerated().filter { keys.contains($0.element) }.map(\.offset)
            guard repeated.isEmpty else {
                let details = repeated.map { #""\#($0)":["transaction_id: value_already_exist"]"# }.joined(separator: ",")
                return SinkReply(status: 422, body: #"{"status":422,"code":"validation_errors","error_details":{\#(details)}}"#)
            }
            for key in sent("transaction_id") { _ = keep(key) }
            return SinkReply(status: 200, body: #"{"event":{}}"#)
        case "/api/v1/events":
            // OpenMeter and Metronome drop a repeat silently.
            for key in sent("id") { _ = keep(key) }
            return SinkReply(status: 204)
        case "/v1/ingest":
            for key in sent("transaction_id") { _ = keep(key) }
            return SinkReply(status: 200, body: "{}")
        case "/ingest?debug=true":
            let (ingested, duplicate) = sent("idempotency_key").reduce(into: ([String](), [String]())) { lists, key in
                if keep(key) { lists.0.append(key) } else { lists.1.append(key) }
            }
            let answer = ["validation_failed": [] as [Any], "debug": ["ingested": ingested, "duplicate": duplicate]] as [String: Any]
            return SinkReply(status: 200, body: String(decoding: try! JSONSerialization.data(withJSONObject: answer), as: UTF8.self))
        default:
            return SinkReply(status: 404)
        }
    }
}

// MARK: - Receiver

/// A scripted answer of the receiver.
private struct SinkReply: Sendable {
    var status: Int
    var headers: [String: String] = [:]
    var body = ""
}

/// A request the receiver got.
private struct SinkRequest: Sendable {
    let path: String
    let headers: HTTPFields
    let body: [UInt8]

    func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
}

/// What the receiver got, and the replies it has left to give (200 once they run out).
private actor SinkInbox {
    private(set) var received: [SinkRequest] = []
    private var replies: [SinkReply]

    init(replies: [SinkReply]) { self.replies = replies }

    func take(_ request: SinkRequest) -> SinkReply {
        received.append(request)
        return replies.isEmpty ? SinkReply(status: 200, body: "{}") : replies.removeFirst()
    }
}

/// Runs `body` with a receiver listening on a free loopback port and stops it after: it gives the scripted `replies`
/// in turn (200 once they run out), or what `answer` says.
private func withSinkReceiver<T: Sendable>(
    replies: [SinkReply] = [], answer: (@Sendable (SinkRequest) async -> SinkReply)? = nil,
    _ body: (_ port: Int, _ inbox: SinkInbox) async throws -> T
) async throws -> T {
    let inbox = SinkInbox(replies: replies)
    let router = Router()
    router.post("**") { request, _ -> Response in
        let bytes = try await request.body.collect(upTo: 1 << 20)
        let received = SinkRequest(path: request.uri.description, headers: request.headers, body: Array(buffer: bytes))
        let reply = if let answer { await answer(received) } else { await inbox.take(received) }
        var headers = HTTPFields()
        for (name, value) in reply.headers { headers[HTTPField.Name(name)!] = value }
        return Response(status: .init(code: reply.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: reply.body)))
    }
    var logger = Logger(label: "sink-receiver")
    logger.logLevel = .critical
    let (ports, bound) = AsyncStream.makeStream(of: Int.self)
    let application = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in bound.yield(channel.localAddress?.port ?? 0) }, logger: logger)
    let server = Task {
        defer { bound.finish() }
        try await application.runService(gracefulShutdownSignals: [])
    }
    defer { server.cancel() }
    var iterator = ports.makeAsyncIterator()
    guard let listening = await iterator.next() else {
        try await server.value
        throw CancellationError()
    }
    let result: Result<T, any Error>
    do {
        result = .success(try await body(listening, inbox))
    } catch {
        result = .failure(error)
    }
    server.cancel()
    _ = await server.result
    return try result.get()
}
