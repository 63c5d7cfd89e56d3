import Foundation
import GRDB
import Testing
import TollgateCore

@testable import TollgateStore

/// Customer statements: a tiered plan's lines with their brackets and events, totals, credits and balances, every
/// figure computed by hand below.
@Suite struct CustomerStatementTests {
    static let start = Timestamps.parse("2099-11-01")!
    static let end = Timestamps.parse("2099-12-01")!
    static let now = Timestamps.parse("2099-12-15")!

    /// API calls: 1–2 at 0.10, 3–4 at 0.07, then 0.05. Output tokens of gpt-4o-mini: 100 included, then 0.02 per
    /// thousand up to 600, then 0.01 per thousand. Usage: cost × 1.5.
    static let book = """
        name: calls
        currency: USD
        markup: "1.5"
        charges:
          - name: API calls
            meter: requests
            tiered:
              - {up_to: 2, unit_price: "0.10"}
              - {up_to: 4, unit_price: "0.07"}
              - {unit_price: "0.05"}
          - name: Output tokens
            meter: output_tokens
            models: ["gpt-4o-mini"]
            per: 1000
            included: 100
            tiered:
              - {up_to: 500, unit_price: "0.02"}
              - {unit_price: "0.01"}
        """

    static func rules() throws -> PricingRules {
        let book = try PriceBookFile.parse(yaml: Self.book, file: "calls.yaml", name: "calls")
        let catalog = PriceCatalog(models: [
            "gpt-4o": ModelPrice(input: Money.perMillionTokens("2.50")!, output: Money.perMillionTokens("10")!),
            "gpt-4o-mini": ModelPrice(input: Money.perMillionTokens("0.15")!, output: Money.perMillionTokens("0.60")!),
        ])
        return PricingRules(catalogs: ["openai": catalog], priceBooks: ["calls": book], defaultPriceBook: "calls")
    }

    /// An event priced as the proxy prices it.
    static func event(
        _ id: String, at time: String, model: String, input: Int, output: Int, status: Int = 200, customer: String = "acme",
        rules: PricingRules
    ) -> UsageEvent {
        let usage = status == 200 ? TokenUsage(inputTokens: input, outputTokens: output) : .zero
        let timestamp = Timestamps.parse(time)!
        let rating = rules.rate(
            provider: "openai", customer: customer, usage: usage, servedModel: model, requestedModel: model, serviceTier: nil, at: timestamp,
            billable: UsageEvent.isBillable(status: status, usage: usage))
        return UsageEvent(
            id: id, timestampMs: timestamp, customer: customer, keyID: "key_1", provider: "openai", route: "openai.chat",
            path: "/v1/chat/completions", model: model, servedModel: model, status: status, stream: false, usage: usage, latencyMs: 1,
            ttfbMs: nil, upstreamMs: nil, cost: rating.cost, price: rating.price, currency: rating.currency, estimated: false,
            priced: rating.priced, idempotencyKey: "idem-\(id)", priceBook: rating.priceBook, requestID: "req-\(id)")
    }

    /// Four gpt-4o calls (1,000 in, 100 out), two gpt-4o-mini calls (2,000 in, 400 out) and a failed gpt-4o call in
    /// November; an event on the period's first millisecond counts, one on the end's does not; another customer's
    /// event never shows.
    static func events(_ rules: PricingRules) -> [UsageEvent] {
        [
            event("evt_01", at: "2099-11-01T00:00:00Z", model: "gpt-4o", input: 1000, output: 100, rules: rules),
            event("evt_02", at: "2099-11-03T10:00:00Z", model: "gpt-4o", input: 1000, output: 100, rules: rules),
            event("evt_03", at: "2099-11-04T10:00:00Z", model: "gpt-4o-mini", input: 2000, output: 400, rules: rules),
            event("evt_04", at: "2099-11-05T10:00:00Z", model: "gpt-4o", input: 1000, output: 100, rules: rules),
            event("evt_05", at: "2099-11-06T10:00:00Z", model: "gpt-4o", input: 0, output: 0, status: 500, rules: rules),
            event("evt_06", at: "2099-11-07T10:00:00Z", model: "gpt-4o-mini", input: 2000, output: 400, rules: rules),
            event("evt_07", at: "2099-11-30T23:59:59.999Z", model: "gpt-4o", input: 1000, output: 100, rules: rules),
            event("evt_08", at: "2099-12-01T00:00:00Z", model: "gpt-4o", input: 1000, output: 100, rules: rules),
            event("evt_09", at: "2099-11-10T00:00:00Z", model: "gpt-4o", input: 1000, output: 100, customer: "other", rules: rules),
        ]
    }

    @Test func tieredPlanLinesBracketsAndEventsAreHandComputed() async throws {
        let rules = try Self.rules()
        try await withTemporaryMeter { meter in
            try await meter.insert(Self.events(rules))
            let statement = try await meter.customerStatement(
                customer: "acme", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.now)
            #expect(statement.lines.map(\.reference) == ["L1", "L2", "L3", "L4"])
            #expect(statement.lines.map(\.rated.kind) == [.usage, .usage, .charge, .charge])
            #expect(statement.events.map(\.id) == ["evt_01", "evt_02", "evt_03", "evt_04", "evt_05", "evt_06", "evt_07"])

            // gpt-4o: 1,000 × 2.50/M + 100 × 10/M = 0.0035 each, × 1.5 = 0.00525; four billable calls.
            let gpt = statement.lines[0]
            #expect(gpt.rated.description == "gpt-4o" && gpt.rated.quantity == 4)
            #expect(gpt.rated.amount == Money("0.021")!)
            #expect(gpt.rated.amountDue == Money("0.02")!)
            #expect(gpt.items.map { statement.event($0).id } == ["evt_01", "evt_02", "evt_04", "evt_05", "evt_07"])
            #expect(gpt.items.map(\.units) == [1, 1, 1, 0, 1])
            // Each event carried 0.00525 plus the first bracket's 0.10 provisionally; the line keeps 0.00525.
            #expect(statement.event(gpt.items[0]).price == Money("0.10525")!)
            #expect(statement.event(gpt.items[0]).usageAmount == Money("0.00525")!)
            #expect(statement.event(gpt.items[3]).price == .zero && statement.event(gpt.items[3]).usageAmount == .zero)

            // gpt-4o-mini: 2,000 × 0.15/M + 400 × 0.60/M = 0.00054, × 1.5 = 0.00081 each.
            let mini = statement.lines[1]
            #expect(mini.rated.amount == Money("0.00162")!)
            #expect(mini.rated.amountDue == .zero)
            #expect(mini.items.map { statement.event($0).id } == ["evt_03", "evt_06"])

            // API calls: 6 billable calls = 2 × 0.10 + 2 × 0.07 + 2 × 0.05 = 0.44; every model's events count.
            let calls = statement.lines[2]
            #expect(calls.rated.description == "API calls" && calls.rated.quantity == 6)
            #expect(calls.rated.brackets.map(\.quantity) == [2, 2, 2])
            #expect(calls.rated.brackets.map(\.from) == [1, 3, 5])
            #expect(calls.rated.brackets.map(\.to) == [2, 4, nil])
            #expect(calls.rated.brackets.map(\.amount) == [Money("0.2")!, Money("0.14")!, Money("0.1")!])
            #expect(calls.rated.amount == Money("0.44")!)
            #expect(calls.items.count == 7 && calls.items.reduce(0) { $0 + $1.units } == 6)

            // Output tokens of gpt-4o-mini: 800; 100 included, 500 at 0.02/1000 = 0.01, 200 at 0.01/1000 = 0.002.
            let tokens = statement.lines[3]
            #expect(tokens.per == 1000 && tokens.rated.quantity == 800)
            #expect(tokens.rated.brackets.map(\.label) == ["included", "tier", "tier"])
            #expect(tokens.rated.brackets.map(\.quantity) == [100, 500, 200])
            #expect(tokens.rated.brackets.map(\.from) == [1, 101, 601])
            #expect(tokens.rated.brackets.map(\.amount) == [.zero, Money("0.01")!, Money("0.002")!])
            #expect(tokens.rated.amount == Money("0.012")!)
            #expect(tokens.items.map { statement.event($0).id } == ["evt_03", "evt_06"])
            #expect(tokens.items.map(\.units) == [400, 400])

            // Brackets sum to their line; the events' units to its quantity; usage events' amounts to the line.
            for line in statement.lines {
                if !line.rated.brackets.isEmpty { #expect(line.rated.brackets.reduce(Money.zero) { $0 + $1.amount } == line.rated.amount) }
                #expect(line.items.reduce(0) { $0 + $1.units } == line.rated.quantity)
                #expect(line.items.count == line.rated.events)
                if line.rated.kind == .usage {
                    #expect(line.items.reduce(Money.zero) { $0 + statement.event($1).usageAmount } == line.rated.amount)
                }
            }
            // Lines sum to the total: 0.021 + 0.00162 + 0.44 + 0.012; due 0.02 + 0 + 0.44 + 0.01.
            #expect(statement.total == Money("0.47462")!)
            #expect(statement.amountDue == Money("0.47")!)
            #expect(statement.lines.reduce(Money.zero) { $0 + $1.rated.amount } == statement.total)
            #expect(statement.currency == "USD")
            #expect(statement.credits == nil, "no grant: no credits section")
            // The same figures as `tollgate lines` (PeriodRater over the period's aggregates).
            var builder = PeriodAggregate.Builder()
            try meter.forEachEvent(customer: "acme", fromMs: Self.start, toMs: Self.end) { builder.add($0) }
            let lines = PeriodRater.statements(aggregates: builder.aggregates, rules: rules, startMs: Self.start, endMs: Self.end, only: "acme")
            #expect(lines == [statement.rated])
        }
    }

    @Test func creditsAppliedAndBalancesMatchTheLedger() async throws {
        let rules = try Self.rules()
        try await withTemporaryMeter { meter in
            let events = Self.events(rules)
            try await meter.insert(events)
            try await meter.setCustomer(id: "acme", name: "Acme Corp")
            // 0.10 before the period; 1.00 and 0.05 (spent last, expiring on the 20th) from its start.
            _ = try await meter.grantCredits(
                account: "customer:acme", amount: Money("0.10")!, currency: "USD", effectiveMs: Timestamps.parse("2099-10-01")!)
            _ = try await meter.grantCredits(
                account: "customer:acme", amount: Money("1.00")!, currency: "USD", effectiveMs: Timestamps.parse("2099-11-01")!)
            let expiring = try await meter.grantCredits(
                account: "customer:acme", amount: Money("0.05")!, currency: "USD", priority: 20, effectiveMs: Timestamps.parse("2099-11-01")!,
                expiresMs: Timestamps.parse("2099-11-20")!)
            // Each billable acme event's price is spent a second after it (the last one in December, outside the period).
            for event in events where event.customer == "acme" && event.isBillable {
                try await meter.database.write { db in
                    try Ledger.spend(
                        db, account: "customer:acme", amount: event.price, eventID: event.id, customer: "acme", keyID: "key_1",
                        nowMs: event.timestampMs + 1000)
                }
            }
            let statement = try await meter.customerStatement(
                customer: "acme", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.now)
            #expect(statement.customerName == "Acme Corp")
            let credits = try #require(statement.credits)
            // Events in the period: four gpt-4o at 0.10525, two gpt-4o-mini at 0.10081 = 0.62262. evt_07's spend is
            // written on 2099-12-01T00:00:00.999Z: outside the period's spending, but it paid for a period event.
            #expect(credits.applied == Money("0.62262")!)
            #expect(credits.overdraft == .zero)
            let ledger = try await meter.ledger(account: "customer:acme")
            let periodIDs = Set(statement.events.map(\.id))
            let spends = ledger.filter { $0.kind == .spend && $0.eventID.map(periodIDs.contains) == true }
            #expect(spends.reduce(Money.zero) { $0 + $1.amount } == credits.applied)
            #expect(credits.openingBalance == Money("0.10")!)
            #expect(credits.granted == Money("1.05")!)
            // Spent in the period: every spend dated in it, evt_07's (0.10525) excepted.
            #expect(credits.spent == Money("0.51737")!)
            #expect(credits.expired == Money("0.05")!, "the 0.05 grant lapsed unspent on the 20th")
            #expect(credits.closingBalance == Money("0.58263")!)
            #expect(credits.closingBalance == credits.openingBalance + credits.granted - credits.spent - credits.expired)
            #expect(credits.movements.map(\.kind) == [.grant, .grant, .expire])
            #expect(credits.movements.last?.timestampMs == Timestamps.parse("2099-11-20")!)
            #expect(credits.movements.last?.grantID == expiring.id)
            // Now: the closing balance less the December spends (evt_07's and evt_08's, 0.10525 each).
            #expect(credits.current.available == Money("0.37213")!)
            #expect(credits.currentAsOfMs == Self.now)
            // 0.47 due, 0.62262 paid by credits: 0.15262 in the customer's favour, rounded to cents.
            #expect(statement.amountDueAfterCredits == Money("-0.15")!)
        }
    }

    /// The case: credits paid the first brackets' provisional prices, the tiers rate the period lower. The
    /// close credits the difference back; the amount due after credits is zero, the ledger says why; a second run
    /// writes nothing; a late event changes it again.
    @Test func aTrueUpCreditsBackWhatTheTiersRateBelowTheProvisionalPrices() async throws {
        let rules = try Self.rules()
        try await withTemporaryMeter { meter in
            let events = Self.events(rules)
            try await meter.insert(events)
            _ = try await meter.grantCredits(
                account: "customer:acme", amount: Money("1.00")!, currency: "USD", effectiveMs: Timestamps.parse("2099-11-01")!)
            func spend(_ event: UsageEvent) async throws {
                try await meter.database.write { db in
                    try Ledger.spend(
                        db, account: "customer:acme", amount: event.price, eventID: event.id, customer: "acme", keyID: "key_1",
                        nowMs: event.timestampMs + 1000)
                }
            }
            for event in events where event.customer == "acme" && event.isBillable { try await spend(event) }
            let before = try await meter.customerStatement(customer: "acme", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.now)
            #expect(before.amountDueAfterCredits == Money("-0.15")!)
            let available = try await meter.balance(account: "customer:acme", currency: "USD", nowMs: Self.now).available

            let trueUp = try #require(try await meter.trueUp(customer: "acme", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.now))
            // 0.47 rated (usage and charges), 0.62262 spent at provisional prices: 0.15262 back.
            #expect(trueUp.target == Money("0.47")! && trueUp.spentOnEvents == Money("0.62262")!)
            #expect(trueUp.change == Money("-0.15262")! && trueUp.total == trueUp.change)
            let after = try await meter.customerStatement(customer: "acme", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.now)
            #expect(after.credits?.trueUp == Money("-0.15262")!)
            #expect(after.amountDueAfterCredits == .zero)
            let ledger = try await meter.ledger(account: "customer:acme")
            let credited = try #require(ledger.last)
            #expect(credited.kind == .creditBack && credited.amount == Money("0.15262")! && credited.customer == "acme")
            #expect(credited.period == "2099-11-01T00:00:00Z/2099-12-01T00:00:00Z" && credited.grantID != nil)
            #expect(try await meter.balance(account: "customer:acme", currency: "USD", nowMs: Self.now).available == available + Money("0.15262")!)

            // Again: nothing to change.
            let again = try #require(try await meter.trueUp(customer: "acme", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.now))
            #expect(again.change == .zero && again.total == Money("-0.15262")!)
            #expect(try await meter.ledger(account: "customer:acme").count == ledger.count)

            // A late gpt-4o call (0.00525 + the calls tier's 0.05 from the fifth call on, provisionally 0.10525).
            let late = Self.event("evt_late", at: "2099-11-29T10:00:00Z", model: "gpt-4o", input: 1000, output: 100, rules: rules)
            try await meter.insert([late])
            try await spend(late)
            let third = try #require(try await meter.trueUp(customer: "acme", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.now))
            let final = try await meter.customerStatement(customer: "acme", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.now)
            #expect(third.change < .zero && final.amountDueAfterCredits == .zero)
            #expect(final.credits!.applied + final.credits!.trueUp == final.amountDue)
        }
    }

    /// A volume plan whose higher tier costs more: the period rates above the provisional prices, and the rest is spent
    /// from the credits, as far as they go (never into overdraft).
    @Test func aTrueUpSpendsFurtherWhenThePeriodRatesAboveTheProvisionalPrices() async throws {
        let book = try PriceBookFile.parse(
            yaml: """
                name: surge
                currency: USD
                markup: "1"
                charges:
                  - name: Calls
                    meter: requests
                    volume:
                      - {up_to: 2, unit_price: "0.10"}
                      - {unit_price: "0.20"}
                """, file: "surge.yaml", name: "surge")
        var rules = try Self.rules()
        rules.priceBooks["surge"] = book
        rules.customers["surge-co"] = CustomerPricing(priceBook: "surge")
        try await withTemporaryMeter { meter in
            let calls = (1...3).map {
                Self.event(
                    "evt_s\($0)", at: "2099-11-0\($0)T10:00:00Z", model: "gpt-4o", input: 1000, output: 100, customer: "surge-co", rules: rules)
            }
            try await meter.insert(calls)
            _ = try await meter.grantCredits(account: "customer:surge-co", amount: Money("0.40")!, currency: "USD", effectiveMs: Self.start)
            for call in calls {
                try await meter.database.write { db in
                    try Ledger.spend(
                        db, account: "customer:surge-co", amount: call.price, eventID: call.id, customer: "surge-co", keyID: "k",
                        nowMs: call.timestampMs)
                }
            }
            // Each call carried 0.0035 + 0.10 provisionally; three calls rate at 0.20 each: 0.6105 due, 0.3105 spent.
            let trueUp = try #require(
                try await meter.trueUp(customer: "surge-co", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.now))
            #expect(trueUp.target == Money("0.61")!)
            // 0.40 granted, 0.3105 spent: only 0.0895 is left to spend further.
            #expect(trueUp.change == Money("0.0895")!)
            #expect(try await meter.balance(account: "customer:surge-co", currency: "USD", nowMs: Self.now).available == .zero)
            let statement = try await meter.customerStatement(
                customer: "surge-co", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.now)
            #expect(statement.amountDueAfterCredits == Money("0.21")!)
        }
    }

    @Test func unknownCustomerIsRefusedAndKnownCustomerWithoutEventsGetsAnEmptyStatement() async throws {
        let rules = try Self.rules()
        try await withTemporaryMeter { meter in
            await #expect(throws: MeterError.self) {
                try await meter.customerStatement(customer: "nobody", startMs: Self.start, endMs: Self.end, rules: rules)
            }
            try await meter.setCustomer(id: "quiet")
            let statement = try await meter.customerStatement(customer: "quiet", startMs: Self.start, endMs: Self.end, rules: rules)
            #expect(statement.events.isEmpty)
            #expect(statement.lines.map(\.rated.kind) == [.charge, .charge])
            #expect(statement.lines.allSatisfy { $0.items.isEmpty && $0.rated.amount == .zero })
            #expect(statement.total == .zero)
            await #expect(throws: MeterError.self) {
                try await meter.customerStatement(customer: "quiet", startMs: Self.end, endMs: Self.start, rules: rules)
            }
        }
    }

    @Test func periodChargesWithAllowanceAndBaseFeeHaveNoEventsOfTheirOwn() async throws {
        let book = try PriceBookFile.parse(
            yaml: """
                name: growth
                currency: USD
                base_fee: "500.00"
                minimum: "750.00"
                charges:
                  - {name: Calls, meter: requests, included: 100, unit_price: "0.004"}
                """, file: "growth.yaml", name: "growth")
        var rules = try Self.rules()
        rules.priceBooks["growth"] = book
        rules.customers["hybrid"] = CustomerPricing(priceBook: "growth")
        try await withTemporaryMeter { meter in
            try await meter.insert([
                Self.event("evt_h1", at: "2099-11-02T00:00:00Z", model: "gpt-4o", input: 10, output: 10, customer: "hybrid", rules: rules)
            ])
            let statement = try await meter.customerStatement(customer: "hybrid", startMs: Self.start, endMs: Self.end, rules: rules)
            #expect(statement.lines.map(\.rated.kind) == [.usage, .charge, .baseFee, .minimum])
            #expect(statement.lines.map(\.items.count) == [1, 1, 0, 0])
            #expect(statement.lines[1].rated.brackets.map(\.label) == ["included"])
            #expect(statement.total == Money("750")!)
        }
    }
}
