import Foundation
import Testing

@testable import TollgateCore

/// A plan change in the middle of a billing period: events are priced by the plan in force when they happen, and the
/// period is rated per plan with base fees, allowances and minimums prorated by time — checked against a hand-computed
/// example (Stripe's proration rule: time on each plan ÷ the period's length).
@Suite struct PlanChangeTests {
    static let starter = """
        name: starter
        currency: USD
        base_fee: "30.00"
        charges:
          - {name: API calls, meter: requests, included: 300, unit_price: "0.01"}
        """
    static let growth = """
        name: growth
        currency: USD
        base_fee: "90.00"
        minimum: "80.00"
        charges:
          - {name: API calls, meter: requests, included: 3000, unit_price: "0.005"}
        """
    /// November 2026 (30 days); the move to growth at the start of the 10th: 9 days on starter, 21 on growth.
    static let november = (start: Timestamps.parse("2026-11-01")!, end: Timestamps.parse("2026-12-01")!)
    static let change = Timestamps.parse("2026-11-10")!

    static func rules() throws -> PricingRules {
        var terms = CustomerPricing(priceBook: "starter")
        terms.planChanges = [CustomerPricing.PlanChange(priceBook: "growth", fromMs: change)]
        return PricingRules(
            priceBooks: [
                "starter": try PriceBookFile.parse(yaml: starter, file: "starter.yaml", name: "starter"),
                "growth": try PriceBookFile.parse(yaml: growth, file: "growth.yaml", name: "growth"),
            ],
            customers: ["acme": terms])
    }

    /// `count` calls of acme from `start`, a minute apart, priced as the proxy prices them.
    static func calls(_ count: Int, from start: Int64, rules: PricingRules) -> [UsageEvent] {
        (0..<count).map { index in
            let time = start + Int64(index) * 60_000
            let priced = rules.price(
                customer: "acme", usage: TokenUsage(inputTokens: 10, outputTokens: 5), cost: .zero, models: ["gpt-4o"], serviceTier: nil, at: time,
                billable: true)
            return UsageEvent(
                id: "evt_\(start)_\(index)", timestampMs: time, customer: "acme", keyID: "k", provider: "openai", route: "openai.chat",
                path: "/v1/chat/completions", model: "gpt-4o", servedModel: "gpt-4o", status: 200, stream: false,
                usage: TokenUsage(inputTokens: 10, outputTokens: 5), latencyMs: 1, ttfbMs: nil, upstreamMs: nil, cost: .zero, price: priced.price,
                currency: "USD", estimated: false, priced: true, priceBook: priced.label)
        }
    }

    @Test func eventsArePricedByThePlanInForceWhenTheyHappen() throws {
        let rules = try Self.rules()
        #expect(rules.priceBookName(for: "acme", at: Self.change - 1) == "starter")
        #expect(rules.priceBookName(for: "acme", at: Self.change) == "growth")
        let before = Self.calls(1, from: Self.change - 60_000, rules: rules)[0]
        let after = Self.calls(1, from: Self.change, rules: rules)[0]
        // Both plans include calls: an event carries no provisional charge while an allowance remains.
        #expect(before.priceBook == "starter" && before.price == .zero)
        #expect(after.priceBook == "growth" && after.price == .zero)
    }

    /// By hand: starter's fee 30.00 × 9/30 = 9.00, its 300 calls included × 9/30 = 90, so 100 calls bill 10 × 0.01 =
    /// 0.10; growth's fee 90.00 × 21/30 = 63.00, 3000 included × 21/30 = 2100, so 2200 calls bill 100 × 0.005 = 0.50;
    /// growth's minimum 80.00 × 21/30 = 56.00 is met (63.50). Total 72.60.
    @Test func aChangeOnTheTenthProratesFeesAllowancesAndMinimumsByTime() throws {
        let rules = try Self.rules()
        var builder = PeriodAggregate.Builder()
        for event in Self.calls(100, from: Self.november.start, rules: rules) + Self.calls(2200, from: Self.change, rules: rules) {
            builder.add(event)
        }
        let statement = PeriodRater.rate(
            customer: "acme", startMs: Self.november.start, endMs: Self.november.end, aggregates: builder.aggregates, rules: rules)
        let byDescription = Dictionary(uniqueKeysWithValues: statement.lines.filter { $0.kind != .usage }.map { ($0.description, $0) })
        #expect(byDescription["Base fee — starter, prorated 9.00 of 30.00 days"]?.amount == Money("9.00")!)
        #expect(byDescription["Base fee — growth, prorated 21.00 of 30.00 days"]?.amount == Money("63.00")!)
        let starterCalls = try #require(byDescription["API calls — starter"])
        #expect(starterCalls.quantity == 100 && starterCalls.amount == Money("0.10")!)
        let growthCalls = try #require(byDescription["API calls — growth"])
        #expect(growthCalls.quantity == 2200 && growthCalls.amount == Money("0.50")!)
        #expect(!statement.lines.contains { $0.kind == .minimum }, "growth's prorated minimum of 56.00 is met")
        // Usage lines carry nothing beyond the charges: the books have no usage price.
        #expect(statement.lines.filter { $0.kind == .usage }.allSatisfy { $0.amount == .zero })
        #expect(statement.totals["USD"] == Money("72.60")!)
        #expect(statement.priceBook == "starter → growth")

        // The statement's charge lines pair with their plans' events.
        let charges = PeriodRater.planCharges(customer: "acme", rules: rules, startMs: Self.november.start, endMs: Self.november.end)
        #expect(charges.map(\.charge.name) == ["API calls — starter", "API calls — growth"])
        #expect(charges.map(\.charge.included) == [90, 2100])
    }

    @Test func aPeriodWithoutAChangeIsRatedAsAlways() throws {
        let rules = try Self.rules()
        let december = (start: Timestamps.parse("2026-12-01")!, end: Timestamps.parse("2027-01-01")!)
        let parts = PeriodRater.planParts(customer: "acme", rules: rules, startMs: december.start, endMs: december.end)
        #expect(parts.count == 1 && parts[0].isWholePeriod && parts[0].book.name == "growth")
        #expect(parts[0].charges.map(\.name) == ["API calls"] && parts[0].charges[0].included == 3000)
        // Minimum of a month with few calls on growth alone: 90 fee + 0 calls < 80? No: the fee meets it.
        var builder = PeriodAggregate.Builder()
        for event in Self.calls(10, from: december.start, rules: rules) { builder.add(event) }
        let statement = PeriodRater.rate(customer: "acme", startMs: december.start, endMs: december.end, aggregates: builder.aggregates, rules: rules)
        #expect(statement.lines.first { $0.kind == .baseFee }?.description == "Base fee")
        #expect(statement.totals["USD"] == Money("90.00")!)
    }

    @Test func planChangesAreReadFromTheConfigOldestFirst() throws {
        let document = try ConfigLoader.parse(
            yaml: """
                pricing:
                  customers:
                    acme:
                      price_book: starter
                      plan_changes:
                        - {price_book: growth, from: "2026-11-10T00:00:00Z"}
                        - {price_book: starter, from: "2027-02-01"}
                """, file: "tollgate.yaml")
        #expect(document.config.pricing.customers["acme"]?.planChanges.map(\.priceBook) == ["growth", "starter"])
        #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(
                yaml: """
                    pricing:
                      customers:
                        acme:
                          plan_changes:
                            - {price_book: growth, from: "2027-01-01"}
                            - {price_book: starter, from: "2026-01-01"}
                    """, file: "tollgate.yaml")
        }
    }
}
