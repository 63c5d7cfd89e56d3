import Testing

@testable import TollgateCore

/// Rated lines of a period: usage lines reconcile with the events, charges are rated on the totals.
@Suite struct PeriodRatingTests {
    static let start = Timestamps.parse("2026-11-01")!
    static let end = Timestamps.parse("2026-12-01")!

    static func event(
        _ customer: String, model: String = "gpt-4o", at time: String = "2026-11-10T12:00:00Z", input: Int = 1000, output: Int = 100,
        status: Int = 200, rules: PricingRules
    ) -> UsageEvent {
        let usage = TokenUsage(inputTokens: input, outputTokens: output)
        let timestamp = Timestamps.parse(time)!
        let rating = rules.rate(
            provider: "openai", customer: customer, usage: usage, servedModel: model, requestedModel: model, serviceTier: nil, at: timestamp,
            billable: UsageEvent.isBillable(status: status, usage: usage))
        return UsageEvent(
            id: UsageEvent.newID(), timestampMs: timestamp, customer: customer, keyID: "key", provider: "openai", route: "openai.chat",
            path: "/v1/chat/completions", model: model, servedModel: model, status: status, stream: false, usage: usage, latencyMs: 1,
            ttfbMs: nil, upstreamMs: nil, cost: rating.cost, price: rating.price, currency: rating.currency, estimated: false,
            priced: rating.priced, priceBook: rating.priceBook, priceCurrency: rating.priceCurrency == rating.currency ? nil : rating.priceCurrency)
    }

    static func rules(_ book: String, customers: [String: CustomerPricing] = [:], defaultBook: String? = nil) throws -> PricingRules {
        let parsed = try PriceBookFile.parse(yaml: book, file: "book.yaml", name: "book")
        let catalog = PriceCatalog(models: ["gpt-4o": ModelPrice(input: Money.perMillionTokens("2.50")!, output: Money.perMillionTokens("10")!)])
        return PricingRules(
            catalogs: ["openai": catalog], priceBooks: [parsed.name: parsed], defaultPriceBook: defaultBook ?? parsed.name, customers: customers)
    }

    @Test func tieredChargeIsRatedOnTheTotalAndUsageLinesDropTheProvisionalShare() throws {
        let rules = try Self.rules(
            """
            name: calls
            markup: "1.5"
            charges:
              - name: API calls
                meter: requests
                tiered:
                  - {up_to: 1000, unit_price: "0.10"}
                  - {up_to: 10000, unit_price: "0.07"}
                  - {unit_price: "0.05"}
            """)
        let events = (0..<5000).map { _ in Self.event("acme", rules: rules) }
        let provisional = events.reduce(Money.zero) { $0 + $1.price }
        let costs = events.reduce(Money.zero) { $0 + $1.cost }
        let statement = PeriodRater.rate(
            customer: "acme", startMs: Self.start, endMs: Self.end, aggregates: PeriodAggregate.group(events), rules: rules)
        let charge = try #require(statement.lines.first { $0.kind == .charge })
        #expect(charge.amount == Money("380")!)
        #expect(charge.brackets.map(\.quantity) == [1000, 4000])
        let usage = try #require(statement.lines.first { $0.kind == .usage })
        #expect(usage.amount == costs.multiplied(by: DecimalRatio("1.5")!))
        // What the events carried = usage line + the first-bracket share the events were charged provisionally.
        #expect(provisional == usage.amount + Money("0.10")!.times(5000))
        #expect(statement.totals["USD"] == usage.amount + Money("380")!)
        #expect(statement.costs["USD"] == costs)
    }

    @Test func hybridPlanWithBaseFeeAllowanceAndMinimum() throws {
        let rules = try Self.rules(
            """
            name: growth
            base_fee: "500.00"
            minimum: "750.00"
            charges:
              - {name: Calls, meter: requests, included: 100, unit_price: "0.004"}
            """)
        let light = (0..<50).map { _ in Self.event("a", rules: rules) }
        let lightStatement = PeriodRater.rate(
            customer: "a", startMs: Self.start, endMs: Self.end, aggregates: PeriodAggregate.group(light), rules: rules)
        #expect(lightStatement.lines.map(\.kind) == [.usage, .charge, .baseFee, .minimum])
        #expect(lightStatement.totals["USD"] == Money("750")!)
        #expect(light.allSatisfy { $0.price == .zero }, "inside the allowance an event's provisional price is zero")
        let heavy = (0..<150).map { _ in Self.event("b", rules: rules) }
        let heavyStatement = PeriodRater.rate(
            customer: "b", startMs: Self.start, endMs: Self.end, aggregates: PeriodAggregate.group(heavy), rules: rules)
        let charge = try #require(heavyStatement.lines.first { $0.kind == .charge })
        #expect(charge.amount == Money("0.2")!)
        #expect(charge.brackets.map(\.label) == ["included", "units"])
    }

    @Test func failedRequestsAreNotCounted() throws {
        let rules = try Self.rules(
            """
            name: calls
            charges:
              - {name: Calls, meter: requests, unit_price: "1"}
            """)
        let events = [Self.event("a", rules: rules), Self.event("a", input: 0, output: 0, status: 500, rules: rules)]
        let statement = PeriodRater.rate(customer: "a", startMs: Self.start, endMs: Self.end, aggregates: PeriodAggregate.group(events), rules: rules)
        #expect(statement.lines.first { $0.kind == .charge }?.amount == Money("1")!)
        #expect(statement.events == 2)
        #expect(events[1].price == .zero && events[1].cost == .zero)
    }

    @Test func eventsEitherSideOfAVersionChangeAreRatedByTheirOwnVersion() throws {
        let rules = try Self.rules(
            """
            name: standard
            markup: "1.30"
            versions:
              - effective: 2026-11-15T00:00:00Z
                markup: "1.25"
            """)
        let before = Self.event("a", at: "2026-11-14T23:59:59Z", rules: rules)
        let after = Self.event("a", at: "2026-11-15T00:00:00Z", rules: rules)
        #expect(before.price == before.cost.multiplied(by: DecimalRatio("1.30")!))
        #expect(after.price == after.cost.multiplied(by: DecimalRatio("1.25")!))
        #expect(before.priceBook == "standard")
        #expect(after.priceBook == "standard@2026-11-15T00:00:00Z")
        let statement = PeriodRater.rate(
            customer: "a", startMs: Self.start, endMs: Self.end, aggregates: PeriodAggregate.group([before, after]), rules: rules)
        #expect(statement.lines.count == 2, "one usage line per version")
        #expect(statement.totals["USD"] == before.price + after.price)
    }

    @Test func discountOnPlanChargesAndAmountsDueRoundHalfToEven() throws {
        let discount = try CustomerPricing.Discount(percent: "10", fromMs: Self.start, untilMs: Self.end)
        let rules = try Self.rules(
            """
            name: plan
            currency: JPY
            base_fee: "1005"
            """, customers: ["a": CustomerPricing(discounts: [discount])])
        let statement = PeriodRater.rate(customer: "a", startMs: Self.start, endMs: Self.end, aggregates: [], rules: rules)
        #expect(statement.lines.map(\.kind) == [.baseFee, .discount])
        #expect(statement.lines[1].amount == Money("-100.5")!)
        #expect(statement.lines[1].amountDue == Money("-100")!, "half to even at JPY's 0 digits")
        #expect(statement.totals["JPY"] == Money("904.5")!)
        #expect(statement.totalsDue["JPY"] == Money("905")!)
    }
}
