import Foundation
import Logging
import Testing
import TollgateCore

@testable import TollgateBilling
@testable import TollgateStore

/// The operator's watch over what no limit counts: a low credit balance (once, until a new grant re-arms it) and a
/// customer whose revenue was below its cost over a day (once per day), delivered as their own webhook types.
@Suite("Account watch")
struct AccountWatchTests {
    static func withMeter(_ body: (MeterStore) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-watch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await body(MeterStore(path: directory.appendingPathComponent("meter.db").path))
    }

    static func spend(_ meter: MeterStore, _ account: String, _ amount: String, at ms: Int64) async throws {
        try await meter.database.write { db in
            try Ledger.spend(db, account: account, amount: Money(amount)!, eventID: "evt_\(UUID())", customer: "acme", keyID: "k", nowMs: ms)
        }
    }

    @Test("a balance below 10 % of its grants fires credits.balance_low once; a new grant re-arms the watch")
    func lowBalance() async throws {
        try await Self.withMeter { meter in
            let watch = AccountWatch(meter: meter, settings: AlertSettings(), logger: Logger(label: "test"))
            let start = Timestamps.parse("2026-11-01")!
            _ = try await meter.grantCredits(account: "customer:acme", amount: Money("100")!, currency: "USD", effectiveMs: start)
            try await Self.spend(meter, "customer:acme", "85", at: start + 1000)
            #expect(try await watch.pass(nowMs: start + 2000).isEmpty, "15 left of 100: above 10 %")
            try await Self.spend(meter, "customer:acme", "6", at: start + 3000)
            let fired = try await watch.pass(nowMs: start + 4000)
            #expect(fired.map(\.kind) == [.lowBalance])
            #expect(fired.first.map { ($0.scopeID, $0.amount, $0.used, $0.threshold) } ?? ("", "", "", 0) == ("acme", "10", "9", 10))
            #expect(try await watch.pass(nowMs: start + 5000).isEmpty, "once")
            let body = try #require(JSONSerialization.jsonObject(with: Data(WebhookSender.body(for: fired[0]))) as? [String: Any])
            #expect(body["type"] as? String == "credits.balance_low")
            // 50 more: 150 granted, 59 available, above 15.
            _ = try await meter.grantCredits(account: "customer:acme", amount: Money("50")!, currency: "USD", effectiveMs: start + 6000)
            #expect(try await watch.pass(nowMs: start + 7000).isEmpty)
            try await Self.spend(meter, "customer:acme", "50", at: start + 8000)
            #expect(try await watch.pass(nowMs: start + 9000).map(\.kind) == [.lowBalance], "the grant re-armed it")
        }
    }

    @Test("a customer whose revenue was below its cost over yesterday fires customer.margin_negative once")
    func negativeMargin() async throws {
        try await Self.withMeter { meter in
            let yesterday = Timestamps.parse("2026-11-20T10:00:00Z")!
            func event(_ id: String, _ customer: String, cost: String, price: String) -> UsageEvent {
                UsageEvent(
                    id: id, timestampMs: yesterday, customer: customer, keyID: "k", provider: "openai", route: "openai.chat",
                    path: "/v1/chat/completions", model: "gpt-4o", servedModel: "gpt-4o", status: 200, stream: false,
                    usage: TokenUsage(inputTokens: 10, outputTokens: 5), latencyMs: 1, ttfbMs: nil, upstreamMs: nil, cost: Money(cost)!,
                    price: Money(price)!, currency: "USD", estimated: false, priced: true)
            }
            try await meter.insert([event("e1", "loss", cost: "0.50", price: "0.40"), event("e2", "profit", cost: "0.50", price: "0.60")])
            let watch = AccountWatch(meter: meter, settings: AlertSettings(), logger: Logger(label: "test"))
            let today = Timestamps.parse("2026-11-21T08:00:00Z")!
            let fired = try await watch.pass(nowMs: today)
            #expect(fired.map(\.scopeID) == ["loss"] && fired.map(\.kind) == [.negativeMargin])
            #expect(fired.first.map { ($0.amount, $0.used) } ?? ("", "") == ("0.4", "0.5"))
            #expect(try await watch.pass(nowMs: today + 60_000).isEmpty, "once per day")
            var off = AlertSettings()
            off.negativeMargin = false
            off.lowBalance = nil
            #expect(try await AccountWatch(meter: meter, settings: off, logger: Logger(label: "test")).pass(nowMs: today + 86_400_000).isEmpty)
        }
    }
}
