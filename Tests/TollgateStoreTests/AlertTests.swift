import Foundation
import GRDB
import Testing

@testable import TollgateStore

/// Threshold alerts in the meter: each crossing stored once, and the delivery states the webhook sender moves
/// them through (due, failed with a next attempt, delivered, given up).
@Suite("Alerts")
struct AlertTests {
    static let firedMs: Int64 = 1_767_225_600_000

    /// An alert of limit `limit` crossing `threshold` percent in the period starting at `periodStartMs`.
    static func alert(
        _ id: String, limit: String = "lim_a", periodStartMs: Int64 = 1_767_225_600_000, threshold: Int = 80, firedMs: Int64 = firedMs
    ) -> AlertRecord {
        AlertRecord(
            id: id, limitID: limit, periodStartMs: periodStartMs, threshold: threshold, scope: .customer, scopeID: "acme", metric: .money,
            period: .month, enforcement: .hard, amount: "100.00", used: "80.25", currency: "USD", periodEndMs: 1_769_904_000_000,
            firedMs: firedMs)
    }

    /// Inserts alerts in one transaction; returns, for each, whether it was stored.
    static func insert(_ records: [AlertRecord], into meter: MeterStore) async throws -> [Bool] {
        try await meter.database.write { db in try records.map { try MeterStore.insertAlert(db, $0) } }
    }

    @Test("an inserted alert reads back with every column")
    func roundTrip() async throws {
        try await withTemporaryMeter { meter in
            var record = Self.alert("alr_1")
            record.lastError = "HTTP 500"
            record.attempts = 2
            record.nextAttemptMs = Self.firedMs + 4000
            #expect(try await Self.insert([record], into: meter) == [true])
            #expect(try await meter.alerts() == [record])

            let bare = AlertRecord(
                id: "alr_2", limitID: "lim_t", periodStartMs: 0, threshold: 50, scope: .key, scopeID: "key_x", metric: .tokens, period: .total,
                enforcement: .soft, amount: "1000000", used: "500000", firedMs: Self.firedMs + 1)
            #expect(try await Self.insert([bare], into: meter) == [true])
            let stored = try await meter.alerts()
            #expect(stored.first == bare)
            #expect(bare.nextAttemptMs == bare.firedMs && bare.currency == nil && bare.periodEndMs == nil && bare.deliveredMs == nil)
        }
    }

    @Test("a crossing fires once per limit, period and threshold")
    func duplicatesIgnored() async throws {
        try await withTemporaryMeter { meter in
            let inserted = try await Self.insert(
                [
                    Self.alert("alr_1"),
                    Self.alert("alr_2"),  // same limit, period, threshold: the same crossing
                    Self.alert("alr_1", threshold: 100),  // same id
                    Self.alert("alr_3", threshold: 100),
                    Self.alert("alr_4", periodStartMs: 1_769_904_000_000),
                    Self.alert("alr_5", limit: "lim_b"),
                ], into: meter)
            #expect(inserted == [true, false, false, true, true, true])
            #expect(try await Set(meter.alerts().map(\.id)) == ["alr_1", "alr_3", "alr_4", "alr_5"])
        }
    }

    @Test("alerts are listed newest first, limited, and optionally only the undelivered")
    func listing() async throws {
        try await withTemporaryMeter { meter in
            _ = try await Self.insert(
                (0..<5).map { Self.alert("alr_\($0)", threshold: 10 * ($0 + 1), firedMs: Self.firedMs + Int64($0) * 1000) }, into: meter)
            #expect(try await meter.alerts().map(\.id) == ["alr_4", "alr_3", "alr_2", "alr_1", "alr_0"])
            #expect(try await meter.alerts(limit: 2).map(\.id) == ["alr_4", "alr_3"])
            try await meter.markAlertDelivered(id: "alr_3", nowMs: Self.firedMs + 10_000)
            #expect(try await meter.alerts(pendingOnly: true).map(\.id) == ["alr_4", "alr_2", "alr_1", "alr_0"])
        }
    }

    @Test("due alerts: undelivered, next attempt reached, oldest first; a failure pushes the next attempt back")
    func dueAndFailed() async throws {
        try await withTemporaryMeter { meter in
            let now = Self.firedMs + 60_000
            _ = try await Self.insert(
                [
                    Self.alert("alr_new", threshold: 100, firedMs: now - 1000),
                    Self.alert("alr_old", threshold: 50, firedMs: now - 5000),
                    Self.alert("alr_future", threshold: 80, firedMs: now + 1000),
                ], into: meter)
            #expect(try await meter.dueAlerts(nowMs: now, maxAttempts: 5).map(\.id) == ["alr_old", "alr_new"])
            #expect(try await meter.dueAlerts(nowMs: now, maxAttempts: 5, limit: 1).map(\.id) == ["alr_old"])

            try await meter.markAlertFailed(id: "alr_old", error: "connection refused", nextAttemptMs: now + 2000)
            #expect(try await meter.dueAlerts(nowMs: now, maxAttempts: 5).map(\.id) == ["alr_new"])
            let failed = try #require(try await meter.alerts().first { $0.id == "alr_old" })
            #expect(failed.attempts == 1 && failed.lastError == "connection refused" && failed.nextAttemptMs == now + 2000)
            #expect(failed.deliveredMs == nil)

            // The next attempt time is inclusive.
            #expect(try await meter.dueAlerts(nowMs: now + 2000, maxAttempts: 5).map(\.id) == ["alr_old", "alr_new", "alr_future"])
        }
    }

    @Test("a delivered alert is no longer due, and marking it again changes nothing")
    func delivered() async throws {
        try await withTemporaryMeter { meter in
            let now = Self.firedMs + 1000
            _ = try await Self.insert([Self.alert("alr_1")], into: meter)
            try await meter.markAlertFailed(id: "alr_1", error: "HTTP 500", nextAttemptMs: now)
            try await meter.markAlertDelivered(id: "alr_1", nowMs: now)
            #expect(try await meter.dueAlerts(nowMs: now + 1_000_000, maxAttempts: 5).isEmpty)
            let record = try #require(try await meter.alerts().first)
            #expect(record.deliveredMs == now && record.attempts == 2 && record.lastError == "HTTP 500")

            try await meter.markAlertDelivered(id: "alr_1", nowMs: now + 5)
            try await meter.markAlertFailed(id: "alr_1", error: "late", nextAttemptMs: now + 10)
            #expect(try await meter.alerts().first == record)
            // Unknown ids are no error: another instance may own them.
            try await meter.markAlertDelivered(id: "alr_missing", nowMs: now)
            try await meter.markAlertFailed(id: "alr_missing", error: "x", nextAttemptMs: now)
        }
    }

    @Test("after maxAttempts failed attempts an alert is no longer due, and stays undelivered")
    func givenUp() async throws {
        try await withTemporaryMeter { meter in
            let now = Self.firedMs
            _ = try await Self.insert([Self.alert("alr_1")], into: meter)
            for attempt in 0..<3 {
                #expect(try await meter.dueAlerts(nowMs: now, maxAttempts: 3).map(\.id) == ["alr_1"], "attempt \(attempt)")
                try await meter.markAlertFailed(id: "alr_1", error: "HTTP 502", nextAttemptMs: now)
            }
            #expect(try await meter.dueAlerts(nowMs: now, maxAttempts: 3).isEmpty)
            #expect(try await meter.dueAlerts(nowMs: now, maxAttempts: 4).map(\.id) == ["alr_1"])
            #expect(try await meter.alerts(pendingOnly: true).map(\.attempts) == [3])
        }
    }

    @Test("as JSON an alert has snake_case keys and amounts as strings")
    func json() throws {
        var record = Self.alert("alr_1")
        record.deliveredMs = Self.firedMs + 1
        let object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(record)) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "id", "limit_id", "period_start_ms", "threshold", "scope", "scope_id", "metric", "period", "enforcement", "amount", "used",
                "currency", "period_end_ms", "fired_ms", "delivered_ms", "attempts", "next_attempt_ms",
            ])
        #expect(object["amount"] as? String == "100.00" && object["used"] as? String == "80.25")
        #expect(try JSONDecoder().decode(AlertRecord.self, from: JSONEncoder().encode(record)) == record)
    }
}
