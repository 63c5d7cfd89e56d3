import Testing

@testable import TollgateCore

/// The exact per-token amount of a rate written per million tokens, as in a provider file (`"2.50"`).
func perMillionRate(_ text: String) throws -> Money { try #require(Money.perMillionTokens(text), "\(text) is a rate") }

/// An exact amount of money from its decimal text.
private func money(_ text: String) throws -> Money { try #require(Money(text), "\(text) is an amount") }

/// Price-table lookup: the exact name, then the name without a date or version suffix, then the longest listed
/// name the model starts with followed by `-` or `:`; nothing for models that are not listed.
@Suite("Price table")
struct PriceTableTests {
    /// A price per listed name, distinct per name, so that a lookup shows which entry it found.
    static func table(_ names: [String]) -> PriceTable {
        var models: [String: ModelPrice] = [:]
        for (index, name) in names.enumerated() { models[name] = ModelPrice(input: Money(raw: Int128(index + 1)), output: .zero) }
        return PriceTable(models: models)
    }

    static let listed = table([
        "gpt-4o", "gpt-4o-2024-05-13", "gpt-4o-mini", "gpt-4", "gpt-5", "gpt-5-mini", "o1", "babbage", "babbage-002",
        "text-embedding-3-small",
    ])

    @Test(
        "a model is priced as the entry the rules find",
        arguments: [
            ("gpt-4o", "gpt-4o"),
            ("gpt-4o-2024-08-06", "gpt-4o"),
            ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
            ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("gpt-4-0613", "gpt-4"),
            ("o1-2024-12-17", "o1"),
            ("babbage:2023-07-21-v2", "babbage"),
            ("babbage-002", "babbage-002"),
            ("gpt-5-mini-preview", "gpt-5-mini"),
            ("gpt-5-codex", "gpt-5"),
            ("text-embedding-3-small", "text-embedding-3-small"),
            ("gpt-4oo", nil),
            ("gpt", nil),
            ("claude-3-5-sonnet-20241022", nil),
            ("", nil),
        ] as [(String, String?)])
    func lookup(model: String, entry: String?) {
        let found = Self.listed.price(for: model)
        #expect(found?.name == entry)
        #expect(found?.price == entry.flatMap { Self.listed.models[$0] })
    }

    @Test("a version-suffixed snapshot is not priced as its family when the family is not listed")
    func unlistedFamily() {
        let table = Self.table(["babbage-002", "davinci-002"])
        #expect(table.price(for: "babbage:2023-07-21-v2") == nil)
        #expect(table.price(for: "babbage-002")?.name == "babbage-002")
    }
}

/// The cost of a usage: every token class at its own exact rate, with the fallbacks providers bill by (cache reads
/// and writes at the input rate, 1-hour writes at the write rate, audio at its side's text rate).
@Suite("Model price")
struct ModelPriceTests {
    @Test("a rate per million tokens is kept exactly per token")
    func perTokenRates() throws {
        #expect(try perMillionRate("2.50") == (try money("0.0000025")))
        #expect(try perMillionRate("0.075") == (try money("0.000000075")))
        #expect(try perMillionRate("0.000000001") == Money(raw: 1))
        #expect(Money.perMillionTokens("0.0000000001") == nil, "more than 9 decimals per million")
        #expect(Money.perMillionTokens("-1") == nil)
        #expect(try perMillionRate("0.075").perMillionDescription == "0.075")
    }

    /// A price, a usage, and the cost worked out by hand.
    struct Case: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let price: ModelPrice
        let usage: TokenUsage
        let cost: String
    }

    static func cases() throws -> [Case] {
        let gpt4o = ModelPrice(input: try perMillionRate("2.50"), output: try perMillionRate("10"), cacheRead: try perMillionRate("1.25"))
        let plain = ModelPrice(input: try perMillionRate("3"), output: try perMillionRate("15"))
        let caching = ModelPrice(
            input: try perMillionRate("3"), output: try perMillionRate("15"), cacheRead: try perMillionRate("0.30"),
            cacheWrite: try perMillionRate("3.75"), cacheWrite1h: try perMillionRate("6"))
        let audio = ModelPrice(
            input: try perMillionRate("2.50"), output: try perMillionRate("10"), inputAudio: try perMillionRate("40"),
            outputAudio: try perMillionRate("80"))
        let writeOnly = ModelPrice(input: try perMillionRate("3"), output: try perMillionRate("15"), cacheWrite: try perMillionRate("3.75"))
        let tiny = ModelPrice(input: try perMillionRate("0.000000001"), output: try perMillionRate("0.000000003"))
        let perRequest = ModelPrice(input: try perMillionRate("1"), output: .zero, perRequest: try money("0.01"))
        let cachedUsage = TokenUsage(
            inputTokens: 10, cacheReadTokens: 100, cacheWriteTokens: 300, cacheWrite1hTokens: 100, outputTokens: 20)
        let audioUsage = TokenUsage(inputTokens: 1000, outputTokens: 300, inputAudioTokens: 400, outputAudioTokens: 100)
        return [
            // 1000 × 2.5e-6 + 200 × 1.25e-6 + 500 × 1e-5 = 0.0025 + 0.00025 + 0.005
            Case(
                testDescription: "gpt-4o with cache reads", price: gpt4o,
                usage: TokenUsage(inputTokens: 1000, cacheReadTokens: 200, outputTokens: 500, reasoningTokens: 100), cost: "0.00775"),
            // reads and writes without their own rate at the input rate: (10 + 100 + 300) × 3e-6 + 20 × 1.5e-5
            Case(testDescription: "cache read and write fall back to input", price: plain, usage: cachedUsage, cost: "0.00153"),
            // 10 × 3e-6 + 100 × 3e-7 + 200 × 3.75e-6 + 100 × 6e-6 + 20 × 1.5e-5
            Case(
                testDescription: "cache read, 5-minute and 1-hour writes at their rates", price: caching, usage: cachedUsage,
                cost: "0.00171"),
            // 1-hour writes without their own rate at the write rate: 10 × 3e-6 + 300 × 3.75e-6
            Case(
                testDescription: "1-hour writes fall back to the write rate", price: writeOnly,
                usage: TokenUsage(inputTokens: 10, cacheWriteTokens: 300, cacheWrite1hTokens: 100), cost: "0.001155"),
            // 600 × 2.5e-6 + 400 × 4e-5 + 200 × 1e-5 + 100 × 8e-5 = 0.0015 + 0.016 + 0.002 + 0.008
            Case(testDescription: "audio at its own rates", price: audio, usage: audioUsage, cost: "0.0275"),
            // without audio rates audio tokens cost what text tokens do: 1000 × 2.5e-6 + 300 × 1e-5
            Case(testDescription: "audio falls back to the text rate of its side", price: gpt4o, usage: audioUsage, cost: "0.0055"),
            // 7 × 1e-15 + 5 × 3e-15: no rounding at the smallest rates
            Case(
                testDescription: "the smallest rates stay exact", price: tiny, usage: TokenUsage(inputTokens: 7, outputTokens: 5),
                cost: "0.000000000000022"),
            Case(testDescription: "per-request fee", price: perRequest, usage: TokenUsage(inputTokens: 1000), cost: "0.011"),
            Case(testDescription: "no usage costs nothing", price: gpt4o, usage: .zero, cost: "0"),
        ]
    }

    @Test("costs are exact to the last digit", arguments: try cases())
    func cost(_ row: Case) throws {
        #expect(row.price.cost(of: row.usage) == (try money(row.cost)))
        #expect(row.price.cost(of: row.usage).description == row.cost)
    }
}

/// Rating: cost from the served model's price (the requested model's when the served one is not listed), price as
/// cost times the markup, rounded half to even at the 15th decimal.
@Suite("Rating")
struct RatingTests {
    static func prices() throws -> PriceTable {
        PriceTable(
            models: [
                "gpt-4o": ModelPrice(
                    input: try perMillionRate("2.50"), output: try perMillionRate("10"), cacheRead: try perMillionRate("1.25")),
                "gpt-4o-mini": ModelPrice(input: try perMillionRate("0.15"), output: try perMillionRate("0.60")),
                "nano": ModelPrice(input: try perMillionRate("0.000000001"), output: .zero),
            ],
            currency: "USD")
    }

    static let markup = DecimalRatio("1.25")!
    static let usage = TokenUsage(inputTokens: 1000, cacheReadTokens: 200, outputTokens: 500)

    /// Rates `usage` against ``prices()`` with ``markup``.
    private func rate(_ usage: TokenUsage = usage, served: String?, requested: String?) throws -> Rating {
        Rating.rate(usage: usage, servedModel: served, requestedModel: requested, prices: try Self.prices(), markup: Self.markup)
    }

    @Test("cost at the served model's price, price with a 1.25 markup")
    func servedModel() throws {
        let rating = try rate(served: "gpt-4o-2024-08-06", requested: "gpt-4o")
        let expected = Rating(cost: try money("0.00775"), price: try money("0.0096875"), currency: "USD", priced: true, pricedAs: "gpt-4o")
        #expect(rating == expected)
    }

    @Test("the served model is priced before the requested one")
    func servedBeforeRequested() throws {
        let rating = try rate(served: "gpt-4o-mini-2024-07-18", requested: "gpt-4o")
        // 1200 × 1.5e-7 + 500 × 6e-7 = 0.00018 + 0.0003; × 1.25
        #expect(rating.pricedAs == "gpt-4o-mini")
        #expect(rating.cost == (try money("0.00048")))
        #expect(rating.price == (try money("0.0006")))
    }

    @Test("the requested model is priced when the served one is unlisted or unreported", arguments: ["llama-3-70b", nil] as [String?])
    func requestedFallback(served: String?) throws {
        let rating = try rate(served: served, requested: "gpt-4o")
        #expect(rating.pricedAs == "gpt-4o")
        #expect(rating.price == (try money("0.0096875")))
    }

    @Test("an unlisted model is rated zero and marked unpriced")
    func unpriced() throws {
        let rating = try rate(served: "llama-3-70b", requested: nil)
        #expect(rating == Rating(cost: .zero, price: .zero, currency: "USD", priced: false, pricedAs: nil))
    }

    @Test(
        "the markup rounds half to even at the 15th decimal",
        arguments: [
            (1, 1), (2, 2), (3, 4), (6, 8), (10, 12),
        ])
    func rounding(tokens: Int, priceRaw: Int) throws {
        // "nano" costs 1e-15 per token: a cost of n × 1e-15 marked up by 1.25.
        let rating = try rate(TokenUsage(inputTokens: tokens), served: "nano", requested: nil)
        #expect(rating.cost == Money(raw: Int128(tokens)))
        #expect(rating.price == Money(raw: Int128(priceRaw)))
    }
}
