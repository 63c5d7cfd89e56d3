import Foundation
import Logging
import Testing
import TollgateCore

@testable import TollgateBilling
@testable import TollgateStore

/// serve's true-ups: each prepaid customer's last closed period, once, and again only when its events change.
@Suite("True-up scheduler")
struct TrueUpSchedulerTests {
    @Test("the last closed period of a prepaid customer on a tiered plan is credited back once")
    func closesTheLastPeriodOnce() async throws {
        let book = try PriceBookFile.parse(
            yaml: """
                name: tiered
                currency: USD
                charges:
                  - name: Calls
                    meter: requests
                    tiered:
                      - {up_to: 1, unit_price: "0.10"}
                      - {unit_price: "0.04"}
                """, file: "tiered.yaml", name: "tiered")
        let rules = PricingRules(priceBooks: ["tiered": book], customers: ["acme": CustomerPricing(priceBook: "tiered")])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-trueups-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let meter = try MeterStore(path: directory.appendingPathComponent("meter.db").path)
        let november = Timestamps.parse("2026-11-01")!
        _ = try await meter.grantCredits(account: "customer:acme", amount: Money("5")!, currency: "USD", effectiveMs: november)
        // Three calls in November, each spending its provisional 0.10; the tiers rate them 0.10 + 0.04 + 0.04.
        for index in 0..<3 {
            let time = november + Int64(index + 1) * 86_400_000
            let priced = rules.price(customer: "acme", usage: .zero, cost: .zero, models: ["gpt-4o"], serviceTier: nil, at: time, billable: true)
            let event = UsageEvent(
                id: "evt_\(index)", timestampMs: time, customer: "acme", keyID: "k", provider: "openai", route: "openai.chat",
                path: "/v1/chat/completions", model: "gpt-4o", servedModel: "gpt-4o", status: 200, stream: false, usage: .zero, latencyMs: 1,
                ttfbMs: nil, upstreamMs: nil, cost: .zero, price: priced.price, currency: "USD", estimated: false, priced: true,
                priceBook: priced.label)
            try await meter.insert([event])
            try await meter.database.write { db in
                try Ledger.spend(db, account: "customer:acme", amount: event.price, eventID: event.id, customer: "acme", keyID: "k", nowMs: time)
            }
        }
        let scheduler = TrueUpScheduler(meter: meter, rules: { rules }, logger: Logger(label: "test"))
        let december = Timestamps.parse("2026-12-02")!
        try await scheduler.pass(nowMs: december)
        var credited = try await meter.ledger(account: "customer:acme").filter { $0.kind == .creditBack }
        #expect(credited.map(\.amount) == [Money("0.12")!])
        try await scheduler.pass(nowMs: december + 60_000)
        credited = try await meter.ledger(account: "customer:acme").filter { $0.kind == .creditBack }
        #expect(credited.count == 1, "once")
        let statement = try await meter.customerStatement(
            customer: "acme", startMs: november, endMs: Timestamps.parse("2026-12-01")!, rules: rules, nowMs: december)
        #expect(statement.amountDueAfterCredits == .zero)
    }
}
