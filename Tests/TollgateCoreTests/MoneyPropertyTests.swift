import Testing

@testable import TollgateCore

extension SeededGenerator {
    /// A number in `0..<bound` (the modulo bias of a 64-bit draw is irrelevant here, and it is fast in a debug build).
    fileprivate mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// True one time in `odds`.
    fileprivate mutating func oneIn(_ odds: UInt64) -> Bool { next() % odds == 0 }

    /// A consistent usage (parts never larger than their whole) with every class sometimes empty.
    fileprivate mutating func usage() -> TokenUsage {
        let inputImage = oneIn(4) ? below(3_000) : 0
        let inputAudio = oneIn(4) ? below(2_000) : 0
        let cacheWrite = oneIn(3) ? below(20_000) : 0
        let reasoning = oneIn(3) ? below(8_000) : 0
        let outputAudio = oneIn(8) ? below(1_000) : 0
        let outputImage = oneIn(8) ? below(1_500) : 0
        return TokenUsage(
            inputTokens: inputImage + inputAudio + below(50_000), cacheReadTokens: oneIn(2) ? below(100_000) : 0, cacheWriteTokens: cacheWrite,
            cacheWrite1hTokens: cacheWrite > 0 && oneIn(2) ? below(cacheWrite + 1) : 0,
            outputTokens: reasoning + outputAudio + outputImage + below(4_000), reasoningTokens: reasoning, inputAudioTokens: inputAudio,
            outputAudioTokens: outputAudio, inputImageTokens: inputImage, outputImageTokens: outputImage,
            webSearchRequests: oneIn(10) ? below(5) : 0, webFetchRequests: oneIn(20) ? below(3) : 0, images: oneIn(20) ? below(4) : 0,
            audioSeconds: oneIn(20) ? below(600) : 0, inputCharacters: oneIn(20) ? below(4_096) : 0)
    }
}

/// Rating one event at a time and summing is the same, to the last of the 15 digits, as rating the summed usage:
/// the promise docs/PRICING.md makes for costs and rate-card prices (no rounding anywhere on that path).
@Suite("Money properties")
struct MoneyPropertyTests {
    static let events = 1_000_000

    /// A linear price with a rate in every class, 9-decimal rates per million among them, and per-unit prices
    /// down to the smallest amount Money holds.
    static let linear = ModelPrice(
        rates: TokenRates([
            .input: perMillion("0.000000123"), .cacheRead: perMillion("0.075"), .cacheWrite: perMillion("3.75"),
            .cacheWrite1h: perMillion("6.000000001"), .inputAudio: perMillion("40"), .inputImage: perMillion("0.000000001"),
            .output: perMillion("15.000000007"), .reasoning: perMillion("60.123456789"), .outputAudio: perMillion("80.000000009"),
            .outputImage: perMillion("30"), .perRequest: money("0.000123456789012"), .webSearch: money("0.01"),
            .webFetch: money("0.000000000000007"), .image: money("0.04"), .audioSecond: money("0.0001"),
            .inputCharacter: money("0.000015"),
        ]))

    @Test("a million events costed one by one sum exactly to the cost of their summed usage, class by class")
    func costSumsExactly() {
        var generator = SeededGenerator(seed: 0x5EED_0001)
        var total = Money.zero
        var aggregate = TokenUsage.zero
        var byClass = [Money](repeating: .zero, count: PriceClass.allCases.count)
        let index = Dictionary(uniqueKeysWithValues: PriceClass.allCases.enumerated().map { ($1, $0) })
        for _ in 0..<Self.events {
            let usage = generator.usage()
            let breakdown = Self.linear.cost(of: usage)
            total += breakdown.total
            for line in breakdown.lines { byClass[index[line.priceClass]!] += line.amount }
            aggregate = aggregate + usage
        }
        let whole = Self.linear.cost(of: aggregate)
        // The per-request fee is in every event's cost and once in the aggregate's.
        let fee = Self.linear.rates[.perRequest]!
        #expect(total == whole.total + fee.times(Self.events - 1))
        for line in whole.lines where line.priceClass != .perRequest {
            #expect(byClass[index[line.priceClass]!] == line.amount, "\(line.priceClass)")
        }
        #expect(byClass[index[.perRequest]!] == fee.times(Self.events))
        #expect(aggregate.cacheWrite1hTokens > 0 && aggregate.outputImageTokens > 0 && aggregate.webFetchRequests > 0, "every class was used")
        #expect(whole.lines.count == PriceClass.allCases.count)
    }

    @Test("a million events rated by the rules: costs and rate-card prices sum exactly; markups stay within half a digit each")
    func ratedSumsExactly() {
        let card = ModelPrice(
            rates: TokenRates([
                .input: perMillion("0.300000001"), .cacheRead: perMillion("0.030000003"), .output: perMillion("1.199999999"),
                .reasoning: perMillion("2.5"), .inputAudio: perMillion("12.345678912"), .webSearch: money("0.0125"),
            ]))
        let book = PriceBook(name: "card", currency: "EUR", versions: [.init(rates: PriceTable(models: ["m": card]), perRequest: money("0.0005"))])
        let rules = PricingRules(catalogs: ["p": PriceCatalog(models: ["m": Self.linear])], priceBooks: ["card": book], defaultPriceBook: "card")
        let markup = DecimalRatio("1.234567891")!
        var generator = SeededGenerator(seed: 0x5EED_0002)
        var cost = Money.zero
        var price = Money.zero
        var markedUp = Money.zero
        var aggregate = TokenUsage.zero
        for _ in 0..<Self.events {
            let usage = generator.usage()
            let rating = rules.rate(
                provider: "p", customer: "c", usage: usage, servedModel: "m", requestedModel: nil, serviceTier: nil, at: 0)
            cost += rating.cost
            price += rating.price
            markedUp += rating.cost.multiplied(by: markup)
            aggregate = aggregate + usage
        }
        let wholeCost = Self.linear.cost(of: aggregate).total + Self.linear.rates[.perRequest]!.times(Self.events - 1)
        #expect(cost == wholeCost)
        #expect(price == card.cost(of: aggregate).total + money("0.0005").times(Self.events))
        // Each event's markup rounds half to even at the 15th digit: the sum is off by at most half a unit per event.
        let drift = (markedUp - wholeCost.multiplied(by: markup)).raw.magnitude
        #expect(drift <= UInt128(Self.events / 2 + 1), "drift \(drift) × 1e-15")
    }

    @Test(
        "rounding a rated line to the minor unit is half to even on the exact decimal",
        arguments: [
            ("0.125", 2, "0.12"), ("0.135", 2, "0.14"), ("2.675", 2, "2.68"), ("-0.125", 2, "-0.12"), ("-0.135", 2, "-0.14"),
            ("0.124999999999999", 2, "0.12"), ("0.125000000000001", 2, "0.13"), ("1.5", 0, "2"), ("2.5", 0, "2"), ("1234.5005", 3, "1234.5"),
            ("0.000000000000001", 14, "0"), ("0.000000000000015", 14, "0.00000000000002"), ("7.123456789012345", 15, "7.123456789012345"),
            ("7.123456789012345", 20, "7.123456789012345"),
        ])
    func rounded(amount: String, digits: Int, expected: String) {
        #expect(money(amount).rounded(toDigits: digits) == money(expected))
    }

    @Test("a price per N units divides exactly when it can, and otherwise within half a digit, half to even")
    func divided() {
        #expect(money("0.50").divided(by: 1_000) == money("0.0005"))
        #expect(money("5").divided(by: 1_000_000) == money("0.000005"))
        #expect(money("1").divided(by: 3) == money("0.333333333333333"))
        #expect(money("2").divided(by: 3) == money("0.666666666666667"))
        #expect(Money(raw: 5).divided(by: 10) == .zero, "0.5e-15 → 0")
        #expect(Money(raw: 15).divided(by: 10) == Money(raw: 2), "1.5e-15 → 2")
        #expect(Money(raw: -15).divided(by: 10) == Money(raw: -2))
        #expect(money("123.456").divided(by: 1) == money("123.456"))
        var generator = SeededGenerator(seed: 0x5EED_0003)
        for _ in 0..<10_000 {
            let amount = Money(raw: Int128(generator.below(1 << 50)) * Int128(generator.below(1 << 20)))
            let count = 1 + generator.below(1_000_000)
            let quotient = amount.divided(by: count)
            let error = (quotient.times(count) - amount).raw.magnitude
            #expect(error * 2 <= UInt128(count), "\(amount) / \(count)")
            #expect(amount.times(count).divided(by: count) == amount, "exact when the division is")
        }
    }

    @Test("a product of ratios is exact: a markup of 1.25 and 10 % off is 1.125")
    func ratioProduct() {
        let product = DecimalRatio("1.25")! * DecimalRatio("0.9")!
        #expect(money("8").multiplied(by: product) == money("9"))
        #expect(product.description == "1.125")
    }
}
