import Testing

@testable import TollgateCore

/// The tiers of the worked examples: 1–1,000 at 0.10, 1,001–10,000 at 0.07, above at 0.05.
private let threeTiers = [
    Charge.Tier(upTo: 1_000, unitPrice: money("0.10")),
    Charge.Tier(upTo: 10_000, unitPrice: money("0.07")),
    Charge.Tier(upTo: nil, unitPrice: money("0.05")),
]

/// A bracket as (from, to, quantity, amount), compared as one value.
private struct B: Equatable, CustomStringConvertible {
    var from: Int
    var to: Int?
    var quantity: Int
    var amount: Money

    init(_ from: Int, _ to: Int?, _ quantity: Int, _ text: String) {
        self.from = from
        self.to = to
        self.quantity = quantity
        self.amount = money(text)
    }

    init(_ bracket: ChargeRating.Bracket) {
        from = bracket.from
        to = bracket.to
        quantity = bracket.quantity
        amount = bracket.amount
    }

    var description: String { "[\(from)…\(to.map(String.init) ?? "∞") × \(quantity) = \(amount)]" }
}

/// Every rating's brackets: quantities add up to the period quantity, amounts to the charge's amount, and each
/// bracket starts where the one before ended.
private func expectConsistent(_ rating: ChargeRating, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(rating.brackets.reduce(Money.zero) { $0 + $1.amount } == rating.amount, "brackets add up to the amount", sourceLocation: sourceLocation)
    #expect(rating.brackets.reduce(0) { $0 + $1.quantity } == rating.quantity, "brackets add up to the quantity", sourceLocation: sourceLocation)
    for (previous, next) in zip(rating.brackets, rating.brackets.dropFirst()) where previous.label != "volume" {
        #expect(previous.to.map { $0 + 1 } == next.from, "\(previous) is followed by \(next)", sourceLocation: sourceLocation)
    }
}

/// Period charges priced on the period total: graduated tiers, volume tiers, packages, unit prices, allowances and
/// prices written per thousand units, each with a bracket-by-bracket breakdown that adds up.
@Suite("Charges")
struct ChargeTests {
    // MARK: Worked examples

    @Test("5,000 units on 0.10 / 0.07 / 0.05 tiers: 380.00 graduated, with the breakdown")
    func tieredWorkedExample() {
        let charge = Charge(name: "API calls", meter: .requests, scheme: .tiered(threeTiers))
        let rating = charge.rate(quantity: 5_000)
        #expect(rating.amount == money("380.00"))
        #expect(rating.quantity == 5_000)
        #expect(rating.brackets.map(B.init) == [B(1, 1_000, 1_000, "100"), B(1_001, 10_000, 4_000, "280")])
        #expect(rating.brackets.allSatisfy { $0.label == "tier" })
        #expect(rating.brackets.map(\.unitPrice) == [money("0.10"), money("0.07")])
        expectConsistent(rating)
    }

    @Test("5,000 units on the same tiers as volume: every unit at 0.07, 350.00")
    func volumeWorkedExample() {
        let charge = Charge(name: "API calls", meter: .requests, scheme: .volume(threeTiers))
        let rating = charge.rate(quantity: 5_000)
        #expect(rating.amount == money("350.00"))
        #expect(rating.brackets.map(B.init) == [B(1_001, 10_000, 5_000, "350")])
        #expect(rating.brackets.first?.label == "volume")
        #expect(rating.brackets.first?.unitPrice == money("0.07"))
        expectConsistent(rating)
    }

    @Test("3,400 units on 0–1,000 at 0.10 and above at 0.07 cost 268.00")
    func twoTiers() {
        let tiers = [Charge.Tier(upTo: 1_000, unitPrice: money("0.10")), Charge.Tier(upTo: nil, unitPrice: money("0.07"))]
        let rating = Charge(name: "calls", meter: .requests, scheme: .tiered(tiers)).rate(quantity: 3_400)
        #expect(rating.amount == money("268.00"))
        #expect(rating.brackets.map(B.init) == [B(1, 1_000, 1_000, "100"), B(1_001, nil, 2_400, "168")])
        expectConsistent(rating)
    }

    @Test(
        "graduated and volume amounts at and around every tier boundary",
        arguments: [
            (0, "0", "0"),
            (1, "0.10", "0.10"),
            (999, "99.90", "99.90"),
            (1_000, "100", "100"),
            (1_001, "100.07", "70.07"),
            (5_000, "380", "350"),
            (10_000, "730", "700"),
            (10_001, "730.05", "500.05"),
            (20_000, "1230", "1000"),
            (1_000_000, "50230", "50000"),
        ])
    func boundaries(quantity: Int, tiered: String, volume: String) {
        let graduated = Charge(name: "calls", meter: .requests, scheme: .tiered(threeTiers)).rate(quantity: quantity)
        let byVolume = Charge(name: "calls", meter: .requests, scheme: .volume(threeTiers)).rate(quantity: quantity)
        #expect(graduated.amount == money(tiered))
        #expect(byVolume.amount == money(volume))
        expectConsistent(graduated)
        expectConsistent(byVolume)
        if quantity == 0 {
            #expect(graduated.brackets.isEmpty && byVolume.brackets.isEmpty, "nothing used, nothing listed")
        }
    }

    @Test("a volume total exactly on a boundary is priced by the lower bracket, one more by the next")
    func volumeBoundary() {
        let charge = Charge(name: "calls", meter: .requests, scheme: .volume(threeTiers))
        #expect(charge.rate(quantity: 1_000).brackets.map(B.init) == [B(1, 1_000, 1_000, "100")])
        #expect(charge.rate(quantity: 1_001).brackets.map(B.init) == [B(1_001, 10_000, 1_001, "70.07")])
        #expect(charge.rate(quantity: 10_001).brackets.map(B.init) == [B(10_001, nil, 10_001, "500.05")])
    }

    // MARK: Hybrid plan: allowance then overage

    static let calls = Charge(name: "API calls", meter: .requests, included: 100_000, scheme: .unit(money("0.004")))

    @Test(
        "100,000 calls included, then 0.004 per call",
        arguments: [
            (0, "0", [B(1, 100_000, 0, "0")]),
            (50_000, "0", [B(1, 100_000, 50_000, "0")]),
            (100_000, "0", [B(1, 100_000, 100_000, "0")]),
            (100_001, "0.004", [B(1, 100_000, 100_000, "0"), B(100_001, nil, 1, "0.004")]),
            (150_000, "200.00", [B(1, 100_000, 100_000, "0"), B(100_001, nil, 50_000, "200")]),
        ] as [(Int, String, [B])])
    fileprivate func allowance(quantity: Int, overage: String, brackets: [B]) {
        let rating = Self.calls.rate(quantity: quantity)
        #expect(rating.amount == money(overage))
        #expect(rating.brackets.map(B.init) == brackets)
        #expect(rating.brackets.first?.label == "included")
        expectConsistent(rating)
    }

    @Test("the hybrid plan: a 500.00 base fee with 100,000 calls, then 0.004 a call")
    func hybridPlan() throws {
        let plan = PriceBook.Version(baseFee: money("500.00"), charges: [Self.calls])
        let baseFee = try #require(plan.baseFee)
        func invoice(_ calls: Int) -> Money { plan.charges.reduce(baseFee) { $0 + $1.rate(quantity: calls).amount } }
        #expect(invoice(0) == money("500.00"))
        #expect(invoice(100_000) == money("500.00"))
        #expect(invoice(150_000) == money("700.00"))
    }

    @Test("an allowance in front of graduated tiers moves the brackets up by the allowance")
    func allowanceBeforeTiers() {
        let tiers = [Charge.Tier(upTo: 1_000, unitPrice: money("0.10")), Charge.Tier(upTo: nil, unitPrice: money("0.05"))]
        let rating = Charge(name: "calls", meter: .requests, included: 1_000, scheme: .tiered(tiers)).rate(quantity: 3_000)
        #expect(rating.amount == money("150"))
        #expect(rating.brackets.map(B.init) == [B(1, 1_000, 1_000, "0"), B(1_001, 2_000, 1_000, "100"), B(2_001, nil, 1_000, "50")])
        expectConsistent(rating)
    }

    // MARK: Packages

    @Test(
        "packages of 1,000 at 5.00: a partial package is billed whole",
        arguments: [(0, 0, "0"), (1, 1, "5.00"), (999, 1, "5"), (1_000, 1, "5"), (1_001, 2, "10"), (2_000, 2, "10"), (2_001, 3, "15.00")])
    func packages(quantity: Int, blocks: Int, total: String) {
        let rating = Charge(name: "searches", meter: .webSearchRequests, scheme: .package(size: 1_000, price: money("5.00"))).rate(
            quantity: quantity)
        #expect(rating.amount == money(total))
        #expect(rating.brackets.first?.blocks == (quantity == 0 ? nil : blocks))
        #expect(rating.brackets.first?.label == (quantity == 0 ? nil : "packages of 1000"))
        expectConsistent(rating)
    }

    @Test("packages after an allowance count only the units above it")
    func packagesAfterAllowance() {
        let rating = Charge(name: "searches", meter: .webSearchRequests, included: 500, scheme: .package(size: 1_000, price: money("5")))
            .rate(quantity: 2_501)
        #expect(rating.amount == money("15"))
        #expect(rating.brackets.map(B.init) == [B(1, 500, 500, "0"), B(501, nil, 2_001, "15")])
        #expect(rating.brackets.last?.blocks == 3)
    }

    // MARK: Prices per thousand (or million) units

    @Test("a unit price per 1,000 tokens: 12,345 tokens at 0.50 per thousand cost 6.1725")
    func unitPerThousand() {
        let rating = Charge(name: "tokens", meter: .tokens, scheme: .unit(money("0.50")), per: 1_000).rate(quantity: 12_345)
        #expect(rating.amount == money("6.1725"))
        #expect(rating.brackets.map(B.init) == [B(1, nil, 12_345, "6.1725")])
        #expect(rating.brackets.first?.unitPrice == money("0.50"), "the bracket shows the price as written, per thousand")
    }

    @Test("graduated prices per million tokens: 3.5 M tokens at 2.00 for the first million and 1.50 after cost 5.75")
    func tieredPerMillion() {
        let tiers = [Charge.Tier(upTo: 1_000_000, unitPrice: money("2.00")), Charge.Tier(upTo: nil, unitPrice: money("1.50"))]
        let rating = Charge(name: "tokens", meter: .tokens, scheme: .tiered(tiers), per: 1_000_000).rate(quantity: 3_500_000)
        #expect(rating.amount == money("5.75"))
        #expect(rating.brackets.map(B.init) == [B(1, 1_000_000, 1_000_000, "2"), B(1_000_001, nil, 2_500_000, "3.75")])
        expectConsistent(rating)
    }

    @Test("volume prices per 1,000 tokens are exact to the token")
    func volumePerThousand() {
        let tiers = [Charge.Tier(upTo: 10_000, unitPrice: money("0.02")), Charge.Tier(upTo: nil, unitPrice: money("0.01"))]
        let charge = Charge(name: "tokens", meter: .tokens, scheme: .volume(tiers), per: 1_000)
        #expect(charge.rate(quantity: 12_345).amount == money("0.12345"))
        #expect(charge.rate(quantity: 7).amount == money("0.00014"))
    }

    // MARK: Flat fees

    @Test("a bracket's flat fee is charged once the bracket is reached, not before")
    func flatFees() {
        let tiers = [
            Charge.Tier(upTo: 1_000, unitPrice: money("0.10")), Charge.Tier(upTo: nil, unitPrice: money("0.07"), flatFee: money("25")),
        ]
        let graduated = Charge(name: "calls", meter: .requests, scheme: .tiered(tiers))
        #expect(graduated.rate(quantity: 500).amount == money("50"))
        #expect(graduated.rate(quantity: 1_000).amount == money("100"))
        #expect(graduated.rate(quantity: 3_400).amount == money("293"))
        expectConsistent(graduated.rate(quantity: 3_400))
        let byVolume = Charge(name: "calls", meter: .requests, scheme: .volume(tiers))
        #expect(byVolume.rate(quantity: 500).amount == money("50"))
        #expect(byVolume.rate(quantity: 2_000).amount == money("165"))
    }

    // MARK: Invariants

    @Test("for random totals the breakdown adds up and a larger total never costs less", arguments: ["tiered", "volume-flat", "unit", "package"])
    func randomTotals(scheme: String) {
        let tiers = [
            Charge.Tier(upTo: 100, unitPrice: money("0.5")), Charge.Tier(upTo: 5_000, unitPrice: money("0.25"), flatFee: money("1")),
            Charge.Tier(upTo: nil, unitPrice: money("0.125"), flatFee: money("2")),
        ]
        let charge: Charge =
            switch scheme {
            case "tiered": Charge(name: "x", meter: .tokens, included: 50, scheme: .tiered(tiers), per: 10)
            case "volume-flat": Charge(name: "x", meter: .tokens, scheme: .volume(tiers))
            case "unit": Charge(name: "x", meter: .tokens, included: 1_000, scheme: .unit(money("0.000123")), per: 1_000)
            default: Charge(name: "x", meter: .tokens, included: 7, scheme: .package(size: 333, price: money("1.11")))
            }
        var generator = SeededGenerator(seed: 0xC4A26E)
        var previous = (quantity: 0, amount: Money.zero)
        for quantity in (0..<2_000).map({ _ in Int.random(in: 0...50_000, using: &generator) }).sorted() {
            let rating = charge.rate(quantity: quantity)
            #expect(rating.brackets.reduce(Money.zero) { $0 + $1.amount } == rating.amount)
            #expect(rating.brackets.reduce(0) { $0 + $1.quantity } == quantity)
            if scheme != "volume-flat" {
                // Volume pricing can drop at a boundary (that is what it is for); the others never do.
                #expect(rating.amount >= previous.amount, "\(quantity) costs less than \(previous.quantity)")
            }
            previous = (quantity, rating.amount)
        }
    }

    @Test("graduated tiers whose last bracket has an up_to still bill every unit above it")
    func unitsAboveTheLastBoundedTier() {
        // Files cannot write such tiers (the parser wants an unbounded last tier); built in code, the units above the
        // last bound are billed at its price, as volume pricing does.
        let tiers = [Charge.Tier(upTo: 1_000, unitPrice: money("0.10")), Charge.Tier(upTo: 2_000, unitPrice: money("0.05"))]
        let byVolume = Charge(name: "calls", meter: .requests, scheme: .volume(tiers)).rate(quantity: 3_000)
        #expect(byVolume.amount == money("150"))
        let graduated = Charge(name: "calls", meter: .requests, scheme: .tiered(tiers)).rate(quantity: 3_000)
        #expect(graduated.brackets.reduce(0) { $0 + $1.quantity } == 3_000)
        #expect(graduated.amount == money("200"))
    }

    // MARK: Provisional share and meters

    @Test(
        "the provisional unit price is the first billed unit's price, per unit; zero while an allowance remains",
        arguments: [
            (Charge(name: "a", meter: .requests, scheme: .unit(money("0.004"))), "0.004"),
            (Charge(name: "b", meter: .tokens, scheme: .unit(money("0.50")), per: 1_000), "0.0005"),
            (Charge(name: "c", meter: .requests, scheme: .tiered(threeTiers)), "0.10"),
            (Charge(name: "d", meter: .requests, scheme: .volume(threeTiers), per: 100), "0.001"),
            (Charge(name: "e", meter: .webSearchRequests, scheme: .package(size: 1_000, price: money("5.00"))), "0.005"),
            (Charge(name: "f", meter: .requests, included: 100_000, scheme: .unit(money("0.004"))), "0"),
        ])
    func provisional(charge: Charge, perUnit: String) {
        #expect(charge.provisionalUnitPrice == money(perUnit))
    }

    @Test("each meter counts its own quantity of an aggregate", arguments: Charge.Metric.allCases)
    func meters(meter: Charge.Metric) {
        let usage = TokenUsage(
            inputTokens: 100, cacheReadTokens: 20, cacheWriteTokens: 30, cacheWrite1hTokens: 10, outputTokens: 50, reasoningTokens: 10,
            webSearchRequests: 2)
        let expected: Int =
            switch meter {
            case .requests: 3
            case .tokens: 200
            case .inputTokens: 150
            case .outputTokens: 50
            case .cacheReadTokens: 20
            case .cacheWriteTokens: 30
            case .reasoningTokens: 10
            case .webSearchRequests: 2
            }
        #expect(meter.quantity(requests: 3, usage: usage) == expected)
    }

    @Test("a charge limited to model patterns counts only their events")
    func modelFilter() {
        let all = Charge(name: "a", meter: .requests, scheme: .unit(money("1")))
        let family = Charge(name: "b", meter: .requests, models: ["gpt-4o*", "o3"], scheme: .unit(money("1")))
        #expect(all.counts(model: "anything"))
        #expect(family.counts(model: "gpt-4o"))
        #expect(family.counts(model: "gpt-4o-mini-2024-07-18"))
        #expect(family.counts(model: "o3"))
        #expect(!family.counts(model: "o3-mini"), "a name without * is matched exactly")
        #expect(!family.counts(model: "gpt-5"))
    }
}
