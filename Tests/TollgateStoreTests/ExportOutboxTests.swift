import Foundation
import Testing
import TollgateCore

@testable import TollgateStore

/// The export outbox: lines built from the meter deterministically, staged once with deterministic keys, late events
/// as corrections carrying only the difference, states recorded, dead lines retried, customers' ids per system.
@Suite("Export outbox")
struct ExportOutboxTests {
    /// 2026-11-01T00:00:00Z and 2026-12-01T00:00:00Z.
    static let november: (startMs: Int64, endMs: Int64) = (1_793_491_200_000, 1_796_083_200_000)

    static func event(_ id: String, customer: String, model: String, price: String, hoursIn: Int64) -> UsageEvent {
        var event = makeEvent(id: id, timestampMs: november.startMs + hoursIn * 3_600_000, customer: customer)
        event.model = model
        event.servedModel = model
        event.price = Money(price) ?? .zero
        event.cost = Money(raw: 1)
        event.usage = TokenUsage(inputTokens: 100, cacheReadTokens: 10, outputTokens: 20)
        return event
    }

    static let events = [
        event("evt_a1", customer: "acme", model: "gpt-4o", price: "0.001000000000001", hoursIn: 1),
        event("evt_a2", customer: "acme", model: "gpt-4o", price: "0.002", hoursIn: 30),
        event("evt_a3", customer: "acme", model: "gpt-4o-mini", price: "0.0003", hoursIn: 40),
        event("evt_g1", customer: "globex", model: "gpt-4o", price: "0.5", hoursIn: 50),
    ]

    func lines(_ meter: MeterStore) async throws -> [RatedExportLine] {
        try await meter.ratedExportLines(startMs: Self.november.startMs, endMs: Self.november.endMs, rules: PricingRules())
    }

    @Test("lines are one per customer and model with the events behind them; building twice gives the same lines and keys")
    func deterministicLines() async throws {
        try await withTemporaryMeter { meter in
            try await meter.insert(Self.events)
            let first = try await lines(meter)
            #expect(first == (try await lines(meter)))
            #expect(first.map(\.customer) == ["acme", "acme", "globex"])
            let gpt4o = try #require(first.first)
            #expect(gpt4o.meter == "usage:gpt-4o|markup")
            #expect(gpt4o.quantity == 2 && gpt4o.amount == Money("0.003000000000001"))
            #expect(gpt4o.eventIDs == ["evt_a1", "evt_a2"])
            #expect(gpt4o.usage.inputTokens == 200 && gpt4o.usage.cacheReadTokens == 20 && gpt4o.usage.outputTokens == 40)
            #expect(gpt4o.lastEventMs == Self.november.startMs + 30 * 3_600_000)

            let staged = try await meter.stageExport(
                sink: "s", period: "2026-11", startMs: Self.november.startMs, endMs: Self.november.endMs, lines: first, nowMs: 5)
            #expect(staged == ExportStaging(added: 3, corrections: 0, unchanged: 0))
            let keys = try await meter.exportLines(sink: "s").map(\.key)
            #expect(keys.allSatisfy { $0.hasPrefix("tg_") && $0.count == 43 } && Set(keys).count == 3)
            // Staging the same lines again adds nothing; another sink gets the same keys.
            let again = try await meter.stageExport(
                sink: "s", period: "2026-11", startMs: Self.november.startMs, endMs: Self.november.endMs, lines: first, nowMs: 6)
            #expect(again == ExportStaging(added: 0, corrections: 0, unchanged: 3))
            _ = try await meter.stageExport(
                sink: "other", period: "2026-11", startMs: Self.november.startMs, endMs: Self.november.endMs, lines: first, nowMs: 7)
            #expect(Set(try await meter.exportLines(sink: "other").map(\.key)) == Set(keys))
        }
    }

    @Test("a late event makes exactly one correction: its own key, only the difference, the original period, its event only")
    func lateEventCorrection() async throws {
        try await withTemporaryMeter { meter in
            try await meter.insert(Self.events)
            _ = try await meter.stageExport(
                sink: "s", period: "2026-11", startMs: Self.november.startMs, endMs: Self.november.endMs, lines: try await lines(meter),
                nowMs: 10)
            try await meter.insert([Self.event("evt_late", customer: "acme", model: "gpt-4o", price: "0.25", hoursIn: 100)])
            let staging = try await meter.stageExport(
                sink: "s", period: "2026-11", startMs: Self.november.startMs, endMs: Self.november.endMs, lines: try await lines(meter),
                nowMs: 20)
            #expect(staging == ExportStaging(added: 0, corrections: 1, unchanged: 2))
            let correction = try #require(try await meter.exportLines(sink: "s").first { $0.isCorrection })
            #expect(correction.version == 1 && correction.period == "2026-11" && correction.meter == "usage:gpt-4o|markup")
            #expect(correction.quantity == 1 && correction.amount == Money("0.25") && correction.eventIDs == ["evt_late"])
            #expect(correction.usage.inputTokens == 100 && correction.usageMs == 20 && correction.description.contains("correction 1 of 2026-11"))
            let original = try #require(try await meter.exportLines(sink: "s").first { $0.meter == correction.meter && !$0.isCorrection })
            #expect(original.key != correction.key && original.amount == Money("0.003000000000001"))
            // Nothing more without new events.
            let third = try await meter.stageExport(
                sink: "s", period: "2026-11", startMs: Self.november.startMs, endMs: Self.november.endMs, lines: try await lines(meter),
                nowMs: 30)
            #expect(third == ExportStaging(added: 0, corrections: 0, unchanged: 3))
        }
    }

    @Test("results move lines through their states; a sent line stays sent; dead lines can be retried; status per sink")
    func states() async throws {
        try await withTemporaryMeter { meter in
            try await meter.insert(Self.events)
            _ = try await meter.stageExport(
                sink: "s", period: "2026-11", startMs: Self.november.startMs, endMs: Self.november.endMs, lines: try await lines(meter),
                nowMs: 10)
            let keys = try await meter.exportLines(sink: "s").map(\.key)
            try await meter.recordExportResults(
                sink: "s", [(keys[0], .sent, 100, nil), (keys[1], .failed, 5_000, "HTTP 500"), (keys[2], .dead, 100, "HTTP 400: bad")], nowMs: 100)
            #expect(try await meter.exportLines(sink: "s", states: [.pending, .failed], dueBy: 1_000).isEmpty)
            #expect(try await meter.exportLines(sink: "s", states: [.failed], dueBy: 5_000).map(\.key) == [keys[1]])
            // A late result for a sent line (a second instance) does not undo it.
            try await meter.recordExportResults(sink: "s", [(keys[0], .failed, 200, "late")], nowMs: 200)
            let sent = try #require(try await meter.exportLines(sink: "s", states: [.sent]).first)
            #expect(sent.key == keys[0] && sent.sentMs == 100 && sent.attempts == 1)
            let status = try #require(try await meter.exportStatus().first)
            #expect(status.sink == "s" && status.counts == [.sent: 1, .failed: 1, .dead: 1] && status.lastSentMs == 100)
            #expect(status.lastError == "HTTP 500")
            #expect(try await meter.retryDeadExports(sink: "s", nowMs: 300) == 1)
            let retried = try #require(try await meter.exportLines(sink: "s", states: [.pending]).first)
            #expect(retried.key == keys[2] && retried.attempts == 0 && retried.nextAttemptMs == 300)
        }
    }

    @Test("customers' ids in billing systems: set, replace, remove; an unknown customer is created")
    func externalIDs() async throws {
        try await withTemporaryMeter { meter in
            try await meter.setExternalID(customer: "acme", system: "stripe", id: "cus_1")
            try await meter.setExternalID(customer: "acme", system: "lago", id: "sub_9")
            try await meter.setExternalID(customer: "acme", system: "stripe", id: "cus_2")
            #expect(try await meter.externalIDs(customer: "acme") == ["stripe": "cus_2", "lago": "sub_9"])
            try await meter.setExternalID(customer: "acme", system: "lago", id: nil)
            #expect(try await meter.externalIDs(customer: "acme") == ["stripe": "cus_2"])
            #expect(try await meter.customer(id: "acme") != nil)
            await #expect(throws: MeterError.self) { try await meter.setExternalID(customer: "bad id", system: "stripe", id: "x") }
        }
    }

    @Test("per customer, a period's fingerprint counts its events (whole hours from the rollup, edges from the events); staging remembers it")
    func periodFingerprint() async throws {
        try await withTemporaryMeter { meter in
            try await meter.insert(Self.events)
            #expect(try await meter.eventCountsByCustomer(startMs: Self.november.startMs, endMs: Self.november.endMs) == ["acme": 3, "globex": 1])
            // Edges off the hour: from 00:30 on the 2nd (hour 24.5) to 02:00 on the 3rd (hour 50) leaves evt_a2 and evt_a3.
            let from = Self.november.startMs + 24 * 3_600_000 + 1_800_000
            #expect(try await meter.eventCountsByCustomer(startMs: from, endMs: Self.november.startMs + 50 * 3_600_000) == ["acme": 2])
            #expect(try await meter.eventCountsByCustomer(startMs: from, endMs: from + 60_000) == [:])
            #expect(try await meter.firstEventMs() == Self.november.startMs + 3_600_000)
            try await meter.markExported(sink: "s", period: "2026-11", events: ["acme": 3, "globex": 1], nowMs: 1)
            try await meter.markExported(sink: "s", period: "2026-11", events: ["acme": 4], nowMs: 2)
            #expect(try await meter.exportFingerprints(sink: "s", period: "2026-11") == ["acme": 4, "globex": 1])
            #expect(try await meter.exportFingerprints(sink: "other", period: "2026-11") == [:])
        }
    }
}
