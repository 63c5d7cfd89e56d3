import Foundation
import Logging
import Synchronization
import Testing
import TollgateCore

@testable import TollgateBilling
@testable import TollgateStore

/// The exporter over a scripted sink: which months it stages, how outcomes become states (sent, failed with backoff
/// and Retry-After, dead after the last attempt or a refusal, held without a customer id), and that a restart resumes
/// from the outbox without sending a sent line again.
@Suite("Exporter")
struct ExporterTests {
    /// 2026-11-01T00:00:00Z, 2026-12-01T00:00:00Z.
    static let november: Int64 = 1_793_491_200_000
    static let december: Int64 = 1_796_083_200_000

    /// A sink that answers from a script (then `.sent`), recording every line it was given.
    final class ScriptedSink: BillingSink, @unchecked Sendable {
        let settings: SinkSettings
        let batchLimit: Int
        let needsCustomerID: Bool
        let script = Mutex<[SendOutcome]>([])
        let received = Mutex<[OutboundLine]>([])

        init(needsCustomerID: Bool = false, batchLimit: Int = 10, maxAttempts: Int = 3) {
            var settings = SinkSettings(name: "scripted", kind: .stripe)
            settings.maxAttempts = maxAttempts
            settings.initialBackoffSeconds = 2
            settings.maxBackoffSeconds = 60
            self.settings = settings
            self.needsCustomerID = needsCustomerID
            self.batchLimit = batchLimit
        }

        func send(_ lines: [OutboundLine]) async -> [SendOutcome] {
            received.withLock { $0 += lines }
            return lines.map { _ in script.withLock { $0.isEmpty ? .sent : $0.removeFirst() } }
        }

        var keysReceived: [String] { received.withLock { $0.map(\.line.key) } }
    }

    static func event(_ id: String, customer: String, at ms: Int64, price: String = "0.01") -> UsageEvent {
        UsageEvent(
            id: id, timestampMs: ms, customer: customer, keyID: "key_1", provider: "openai", route: "openai.chat", path: "/v1/chat/completions",
            model: "gpt-4o", servedModel: "gpt-4o", status: 200, stream: false, usage: TokenUsage(inputTokens: 10, outputTokens: 5),
            latencyMs: 1, ttfbMs: nil, upstreamMs: nil, cost: Money("0.005") ?? .zero, price: Money(price) ?? .zero, currency: "USD",
            estimated: false, priced: true)
    }

    func withExporter(
        _ sink: ScriptedSink, clock: TestClock, _ body: (Exporter, MeterStore) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-exporter-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let meter = try MeterStore(path: directory.appendingPathComponent("meter.db").path)
        let exporter = Exporter(meter: meter, sink: sink, rules: { PricingRules() }, logger: Logger(label: "test"), clock: { clock.value })
        try await body(exporter, meter)
    }

    @Test("without a period: closed months only, once; a late event later comes as one correction")
    func stagesClosedMonths() async throws {
        let clock = TestClock(Self.december + 1000)
        try await withExporter(ScriptedSink(), clock: clock) { exporter, meter in
            try await meter.insert([
                Self.event("e1", customer: "acme", at: Self.november + 10), Self.event("e2", customer: "globex", at: Self.november + 20),
                Self.event("e3", customer: "acme", at: Self.december + 10),  // December is still open
            ])
            #expect(try await exporter.stage() == ExportStaging(added: 2))
            #expect(try await exporter.stage() == ExportStaging())  // unchanged fingerprint: nothing rated again
            try await meter.insert([Self.event("late", customer: "acme", at: Self.november + 30, price: "0.02")])
            // Only acme's November changed: globex is not rated again.
            #expect(try await exporter.stage() == ExportStaging(corrections: 1))
            let lines = try await meter.exportLines(sink: "scripted")
            #expect(lines.map(\.period) == ["2026-11", "2026-11", "2026-11"])
            #expect(lines.filter(\.isCorrection).map(\.amount) == [Money("0.02")])
        }
    }

    @Test("outcomes: sent; retry waits at least Retry-After and backs off; the last attempt or a refusal makes it dead")
    func outcomes() async throws {
        let clock = TestClock(Self.december + 1000)
        let sink = ScriptedSink(maxAttempts: 2)
        try await withExporter(sink, clock: clock) { exporter, meter in
            try await meter.insert([
                Self.event("a", customer: "a", at: Self.november + 1), Self.event("b", customer: "b", at: Self.november + 2),
                Self.event("c", customer: "c", at: Self.november + 3),
            ])
            _ = try await exporter.stage()
            sink.script.withLock { $0 = [.sent, .retry("HTTP 429", retryAfterSeconds: 30), .rejected("HTTP 400: no such customer")] }
            let first = try await exporter.sendDue()
            #expect(first.sent == 1 && first.failed == 1 && first.dead == 1)
            let failed = try #require(try await meter.exportLines(sink: "scripted", states: [.failed]).first)
            #expect(failed.nextAttemptMs >= Self.december + 1000 + 30_000 && failed.lastError == "HTTP 429" && failed.attempts == 1)
            #expect(try await meter.exportLines(sink: "scripted", states: [.dead]).first?.lastError == "HTTP 400: no such customer")
            // Not due yet: nothing is sent.
            #expect(try await exporter.sendDue() == ExportPass())
            #expect(try await exporter.nextRetryMs() == failed.nextAttemptMs)
            clock.set(failed.nextAttemptMs)
            sink.script.withLock { $0 = [.retry("HTTP 500", retryAfterSeconds: nil)] }
            let second = try await exporter.sendDue()
            #expect(second.dead == 1)  // its second attempt was its last
            #expect(sink.keysReceived.count == 4)
        }
    }

    @Test("held until the customer has an id in the sink's system, then sent with it")
    func heldWithoutCustomerID() async throws {
        let clock = TestClock(Self.december + 1000)
        let sink = ScriptedSink(needsCustomerID: true)
        try await withExporter(sink, clock: clock) { exporter, meter in
            try await meter.insert([Self.event("a", customer: "acme", at: Self.november + 1)])
            _ = try await exporter.stage()
            let pass = try await exporter.sendDue()
            #expect(pass.held == 1 && sink.keysReceived.isEmpty)
            let held = try #require(try await meter.exportLines(sink: "scripted", states: [.held]).first)
            #expect(held.lastError?.contains("tollgate customers set --customer acme --external stripe=ID") == true)
            try await meter.setExternalID(customer: "acme", system: "stripe", id: "cus_42")
            #expect(try await exporter.sendDue().sent == 1)
            #expect(sink.received.withLock { $0.map(\.externalCustomerID) } == ["cus_42"])
        }
    }

    @Test("a customer's id can come from its entry in the config (pricing.customers.ID.external_ids); the meter's wins")
    func externalIDFromConfig() async throws {
        let sink = ScriptedSink(needsCustomerID: true)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-exporter-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let meter = try MeterStore(path: directory.appendingPathComponent("meter.db").path)
        var terms = CustomerPricing()
        terms.externalIDs = ["stripe": "cus_config"]
        let rules = PricingRules(customers: ["acme": terms, "globex": terms])
        let exporter = Exporter(meter: meter, sink: sink, rules: { rules }, logger: Logger(label: "test"), clock: { Self.december + 1000 })
        try await meter.insert([Self.event("a", customer: "acme", at: Self.november + 1), Self.event("g", customer: "globex", at: Self.november + 2)])
        try await meter.setExternalID(customer: "globex", system: "stripe", id: "cus_meter")
        _ = try await exporter.stage()
        let pass = try await exporter.sendDue()
        #expect(pass.sent == 2)
        #expect(Set(sink.received.withLock { $0.compactMap(\.externalCustomerID) }) == ["cus_config", "cus_meter"])
    }

    @Test("each customer is exported by its own cycle's periods; a period in progress goes out as deltas that reconcile")
    func cyclesAndContinuousDeltas() async throws {
        let clock = TestClock(Self.december + 1000)
        try await withExporter(ScriptedSink(), clock: clock) { exporter, meter in
            try await meter.setCustomer(id: "nyc", billingCycle: try BillingCycle(cadence: "month", anchor: "15", timeZone: "America/New_York"))
            let day: Int64 = 86_400_000
            try await meter.insert([
                Self.event("n1", customer: "nyc", at: Self.november - 12 * day),  // October 20: the period from October 15
                Self.event("n2", customer: "nyc", at: Self.november + 19 * day),  // November 20: the period in progress
                Self.event("a1", customer: "acme", at: Self.november + 9 * day),  // November (calendar, UTC)
            ])
            // Closed periods only: acme's November, nyc's period from October 15 (New York time).
            #expect(try await exporter.stage() == ExportStaging(added: 2))
            var lines = try await meter.exportLines(sink: "scripted")
            #expect(lines.map(\.period).sorted() == ["2026-10-15", "2026-11"])
            let october = try #require(lines.first { $0.customer == "nyc" })
            #expect(Timestamps.iso8601(october.periodStartMs) == "2026-10-15T04:00:00Z")
            #expect(Timestamps.iso8601(october.periodEndMs) == "2026-11-15T05:00:00Z")

            // Continuous: the period in progress is staged, then only its growth, as a delta timed when it is staged.
            #expect(try await exporter.stage(includeOpen: true) == ExportStaging(added: 1))
            #expect(try await exporter.stage(includeOpen: true) == ExportStaging())
            try await meter.insert([Self.event("n3", customer: "nyc", at: Self.november + 24 * day, price: "0.25")])
            clock.set(Self.december + 60_000)
            #expect(try await exporter.stage(includeOpen: true) == ExportStaging(corrections: 1))
            lines = try await meter.exportLines(sink: "scripted").filter { $0.period == "2026-11-15" }
            #expect(lines.map(\.version) == [0, 1] && lines[1].amount == Money("0.25") && lines[1].usageMs == Self.december + 60_000)
            #expect(lines[1].eventIDs == ["n3"])

            // The deltas sum to the period as it rates now, open or closed.
            let open = try await exporter.reconcile(period: "2026-11")
            #expect(open.mismatches.isEmpty && open.lines.count == 2)
            let nyc = try #require(open.lines.first { $0.customer == "nyc" })
            #expect(nyc.open && nyc.versions == 2 && nyc.exportedAmount == Money("0.26")!)
            clock.set(Self.december + 16 * day)
            #expect(try await exporter.stage() == ExportStaging())
            try await meter.insert([Self.event("late", customer: "nyc", at: Self.november + 25 * day)])
            let behind = try await exporter.reconcile(period: "2026-11")
            #expect(behind.mismatches.map(\.customer) == ["nyc"])
            #expect(try await exporter.stage() == ExportStaging(corrections: 1))
            #expect(try await exporter.reconcile(period: "2026-11").mismatches.isEmpty)
        }
    }

    @Test("a restart resumes from the outbox: sent lines are not sent again, the rest are, in batches")
    func resumes() async throws {
        let clock = TestClock(Self.december + 1000)
        let sink = ScriptedSink(batchLimit: 2)
        try await withExporter(sink, clock: clock) { exporter, meter in
            try await meter.insert((0..<5).map { Self.event("e\($0)", customer: "c\($0)", at: Self.november + Int64($0)) })
            _ = try await exporter.stage()
            let keys = try await meter.exportLines(sink: "scripted").map(\.key)
            // A previous run got two lines through before it died.
            try await meter.recordExportResults(sink: "scripted", [(keys[0], .sent, 0, nil), (keys[1], .sent, 0, nil)])
            let fresh = Exporter(meter: meter, sink: sink, rules: { PricingRules() }, logger: Logger(label: "test"), clock: { Self.december + 2000 })
            #expect(try await fresh.stage() == ExportStaging())
            #expect(try await fresh.sendDue().sent == 3)
            #expect(sink.keysReceived == Array(keys[2...]))
            #expect(try await meter.exportLines(sink: "scripted", states: [.sent]).count == 5)
        }
    }
}

/// A clock the tests move.
final class TestClock: Sendable {
    private let now: Mutex<Int64>
    init(_ start: Int64) { now = Mutex(start) }
    var value: Int64 { now.withLock { $0 } }
    func set(_ value: Int64) { now.withLock { $0 = value } }
}
