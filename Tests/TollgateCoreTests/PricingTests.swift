import Testing

@testable import TollgateCore

/// The exact per-token amount of a rate written per million tokens, as in a provider file (`"2.50"`).
func perMillionRate(_ text: String) throws -> Money { try #require(Money.perMillionTokens(text), "\(text) is a rate") }

/// An exact amount of money from its decimal text.

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
        let perRequest = ModelPrice(input: try perMillionRate("1"), output: .zero, perRequest: money("0.01"))
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
        let breakdown = row.price.cost(of: row.usage)
        #expect(breakdown.total == (try money(row.cost)))
        #expect(breakdown.total.description == row.cost)
        #expect(breakdown.lines.reduce(Money.zero) { $0 + $1.amount } == breakdown.total, "the lines add up to the total")
    }
}

/// Rating without a price book: cost from the served model's price (the requested model's when the served one is
/// not listed), price as cost times the markup, rounded half to even at the 15th decimal.
@Suite("Rating")
struct RatingTests {
    static func prices() throws -> PriceCatalog {
        PriceCatalog(
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

    /// Rates `usage` against ``prices()`` (provider `openai`) with ``markup``, for a customer without a book.
    private func rate(_ usage: TokenUsage = usage, served: String?, requested: String?) throws -> Rating {
        let rules = PricingRules(catalogs: ["openai": try Self.prices()], markup: Self.markup)
        return rules.rate(
            provider: "openai", customer: "acme", usage: usage, servedModel: served, requestedModel: requested, serviceTier: nil, at: 0)
    }

    @Test("cost at the served model's price, price with a 1.25 markup")
    func servedModel() throws {
        let rating = try rate(served: "gpt-4o-2024-08-06", requested: "gpt-4o")
        let expected = Rating(
            cost: money("0.00775"), price: money("0.0096875"), currency: "USD", priceCurrency: "USD", priced: true, pricedAs: "gpt-4o",
            priceBook: "markup")
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
        #expect(
            rating
                == Rating(cost: .zero, price: .zero, currency: "USD", priceCurrency: "USD", priced: false, pricedAs: nil, priceBook: "markup"))
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

// MARK: - Lookup by pattern, snapshot and provider prefix

/// Lookup beyond plain names: dated snapshots of listed models, `*` patterns (the most specific wins), the longest
/// listed prefix, and names that carry a provider prefix (`openai/gpt-4o`).
@Suite("Price table patterns")
struct PriceTablePatternTests {
    static let listed = PriceTableTests.table([
        "gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "claude-*", "claude-3-5-sonnet-*", "*-embedding-*", "gemini-2.0-flash",
        "llama-3.1-*-instruct",
    ])

    @Test(
        "a model is priced as the entry the rules find",
        arguments: [
            ("gpt-4o", "gpt-4o"),
            ("gpt-4o-2024-08-06", "gpt-4o"),
            ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("gpt-4o-mini-tts", "gpt-4o-mini"),
            ("claude-sonnet-4-5", "claude-sonnet-4-5"),
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet-*"),
            ("claude-3-opus-20240229", "claude-*"),
            ("text-embedding-3-large", "*-embedding-*"),
            ("llama-3.1-70b-instruct", "llama-3.1-*-instruct"),
            ("llama-3.1-70b", nil),
            ("gemini-2.0-flash-001", "gemini-2.0-flash"),
            ("gemini-2.0-flash-lite", "gemini-2.0-flash"),
            ("openai/gpt-4o", "gpt-4o"),
            ("openai/gpt-4o-2024-08-06", "gpt-4o"),
            ("openrouter/openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("anthropic/claude-3-5-sonnet-20241022", "claude-3-5-sonnet-*"),
            ("openai/text-embedding-3-small", "*-embedding-*"),
            ("mistral-large", nil),
            ("openai/", nil),
        ] as [(String, String?)])
    func lookup(model: String, entry: String?) {
        let found = Self.listed.price(for: model)
        #expect(found?.name == entry)
        #expect(found?.price == entry.flatMap { Self.listed.models[$0] })
    }

    @Test("exact names and snapshots come before patterns, patterns before prefixes")
    func order() {
        let table = PriceTableTests.table(["gpt-4o", "gpt-*", "gpt-4o-audio"])
        #expect(table.price(for: "gpt-4o")?.name == "gpt-4o")
        #expect(table.price(for: "gpt-4o-2024-08-06")?.name == "gpt-4o", "the snapshot of a listed name is that name")
        #expect(table.price(for: "gpt-5")?.name == "gpt-*")
        #expect(table.price(for: "gpt-4o-audio-preview")?.name == "gpt-*", "a pattern is tried before the longest prefix")
        #expect(PriceTableTests.table(["gpt-4o"]).price(for: "gpt-4o-audio-preview")?.name == "gpt-4o")
    }

    @Test("of two patterns the one with more literal characters wins; a tie goes to the name that sorts first")
    func specificity() {
        #expect(PriceTableTests.table(["*", "claude-*", "claude-3-*"]).price(for: "claude-3-haiku")?.name == "claude-3-*")
        #expect(PriceTableTests.table(["*"]).price(for: "anything at all")?.name == "*")
        for _ in 0..<20 {
            // Dictionary order differs from table to table: the answer must not.
            #expect(PriceTableTests.table(["ab*", "a*c"]).price(for: "abc")?.name == "a*c")
        }
    }

    @Test(
        "a * stands for any run of characters, the empty one included",
        arguments: [
            ("gpt-*", "gpt-", true), ("gpt-*", "gpt", false), ("*-mini", "o4-mini", true), ("*-mini", "o4-mini-high", false),
            ("a*a", "a", false), ("a*a", "aa", true), ("a*b*b", "ab", false), ("a*b*b", "abb", true), ("ab*ba", "aba", false),
            ("ab*ba", "abba", true), ("*x*", "x", true), ("**", "", true), ("gpt-4o", "gpt-4o", true), ("gpt-4o", "gpt-4o-mini", false),
        ])
    func glob(pattern: String, text: String, matches: Bool) {
        #expect(PriceTable.glob(pattern, matches: text) == matches)
    }

    @Test(
        "snapshot suffixes are recognised in the providers' forms",
        arguments: [
            ("gpt-4o-2024-08-06", "gpt-4o"), ("gpt-4-0613", "gpt-4"), ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"), ("babbage:2023-07-21-v2", "babbage"), ("gemini-2.0-flash-001", "gemini-2.0-flash"),
            ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"), ("gpt-4o", "gpt-4o"), ("gpt-4o-mini", "gpt-4o-mini"),
            ("text-embedding-3-small", "text-embedding-3-small"), ("llama-3.1-70b", "llama-3.1-70b"),
        ])
    func snapshotSuffix(model: String, family: String) {
        #expect(PriceTable.withoutSnapshotSuffix(model) == family)
    }
}

// MARK: - Rates, fallbacks, long context and service tiers

/// A per-token rate from its per-million text.
private func rate(_ perMillion: String) -> Money {
    guard let value = Money.perMillionTokens(perMillion) else { preconditionFailure("'\(perMillion)' is not a rate per million") }
    return value
}

/// An exact amount from its decimal text.
private func cash(_ text: String) -> Money {
    guard let value = Money(text) else { preconditionFailure("'\(text)' is not an amount") }
    return value
}

/// The breakdown's lines add up to its total.
private func expectLinesAddUp(_ breakdown: PriceBreakdown, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(breakdown.lines.reduce(Money.zero) { $0 + $1.amount } == breakdown.total, "lines add up", sourceLocation: sourceLocation)
    for line in breakdown.lines {
        #expect(line.rate.times(line.quantity) == line.amount, "\(line.priceClass): quantity × rate", sourceLocation: sourceLocation)
    }
}

/// What a class without its own rate is billed at, class by class, and the classes priced apart.
@Suite("Rate fallbacks")
struct RateFallbackTests {
    /// Only the text rates (and, for the 1-hour write, the 5-minute write rate).
    static let base = TokenRates([.input: rate("2"), .output: rate("8"), .cacheWrite: rate("2.5")])

    @Test(
        "a class without its own rate is billed at its fallback's rate, and the line says where the rate came from",
        arguments: [
            (PriceClass.cacheRead, TokenUsage(cacheReadTokens: 1_000_000), PriceClass.input, "2"),
            (.cacheWrite, TokenUsage(cacheWriteTokens: 1_000_000), nil, "2.5"),
            (.cacheWrite1h, TokenUsage(cacheWriteTokens: 1_000_000, cacheWrite1hTokens: 1_000_000), .cacheWrite, "2.5"),
            (.inputAudio, TokenUsage(inputTokens: 1_000_000, inputAudioTokens: 1_000_000), .input, "2"),
            (.inputImage, TokenUsage(inputTokens: 1_000_000, inputImageTokens: 1_000_000), .input, "2"),
            (.reasoning, TokenUsage(outputTokens: 1_000_000, reasoningTokens: 1_000_000), .output, "8"),
            (.outputAudio, TokenUsage(outputTokens: 1_000_000, outputAudioTokens: 1_000_000), .output, "8"),
            (.outputImage, TokenUsage(outputTokens: 1_000_000, outputImageTokens: 1_000_000), .output, "8"),
        ] as [(PriceClass, TokenUsage, PriceClass?, String)])
    func fallback(priceClass: PriceClass, usage: TokenUsage, source: PriceClass?, total: String) throws {
        let breakdown = ModelPrice(rates: Self.base).cost(of: usage)
        #expect(breakdown.lines.map(\.priceClass) == [priceClass], "the usage is all in one class")
        let line = try #require(breakdown.lines.first)
        #expect(line.quantity == 1_000_000)
        #expect(line.rateFrom == source)
        #expect(breakdown.total == cash(total))
        expectLinesAddUp(breakdown)
    }

    @Test("a 1-hour cache write falls back through the 5-minute write rate to the input rate")
    func twoStepFallback() {
        let rates = TokenRates([.input: rate("3"), .output: rate("15")])
        #expect(rates.effective(.cacheWrite1h) == rate("3"))
        #expect(rates.source(of: .cacheWrite1h) == .input)
        #expect(TokenRates().effective(.reasoning) == .zero, "no rate at all is zero")
        #expect(TokenRates().source(of: .reasoning) == nil)
    }

    @Test("every class's fallback chain ends at input, output or nothing", arguments: PriceClass.allCases)
    func chains(priceClass: PriceClass) {
        var current = priceClass
        var steps = 0
        while let next = current.fallback {
            current = next
            steps += 1
        }
        #expect(steps <= 2)
        if priceClass.isTokenClass {
            #expect([PriceClass.input, .output].contains(current))
        } else {
            #expect(steps == 0, "units have no fallback")
        }
    }

    @Test("reasoning with its own rate is priced apart from the rest of the output")
    func reasoningApart() {
        let usage = TokenUsage(inputTokens: 1_000, outputTokens: 1_000, reasoningTokens: 400)
        let apart = ModelPrice(rates: TokenRates([.input: rate("1"), .output: rate("4"), .reasoning: rate("10")])).cost(of: usage)
        // 1,000 × 1e-6 + 600 × 4e-6 + 400 × 1e-5
        #expect(apart.total == cash("0.0074"))
        #expect(apart.lines.map(\.priceClass) == [.input, .output, .reasoning])
        #expect(apart.lines.map(\.quantity) == [1_000, 600, 400])
        expectLinesAddUp(apart)
        let together = ModelPrice(input: rate("1"), output: rate("4")).cost(of: usage)
        #expect(together.total == cash("0.005"), "without a reasoning rate every output token is at the output rate")
    }

    @Test("image and audio tokens inside the input and output counts are priced at their own rates")
    func modalities() {
        let price = ModelPrice(
            rates: TokenRates([
                .input: rate("1"), .output: rate("4"), .inputImage: rate("5"), .inputAudio: rate("40"), .outputImage: rate("30"),
                .outputAudio: rate("80"),
            ]))
        let usage = TokenUsage(
            inputTokens: 1_000, outputTokens: 500, inputAudioTokens: 100, outputAudioTokens: 50, inputImageTokens: 200, outputImageTokens: 150)
        let breakdown = price.cost(of: usage)
        // input 700 × 1e-6 + image 200 × 5e-6 + audio 100 × 4e-5; output 300 × 4e-6 + image 150 × 3e-5 + audio 50 × 8e-5
        #expect(breakdown.total == cash("0.0154"))
        #expect(
            breakdown.lines.map { "\($0.priceClass.rawValue)=\($0.quantity)" } == [
                "input=700", "input_audio=100", "input_image=200", "output=300", "output_audio=50", "output_image=150",
            ])
        expectLinesAddUp(breakdown)
    }
}

/// Long-context tiers: above a prompt size (input + cache reads + cache writes) the whole request is re-priced.
@Suite("Long context")
struct LongContextTests {
    static func price(inclusive: Bool) -> ModelPrice {
        ModelPrice(
            rates: TokenRates([.input: rate("3"), .output: rate("15"), .cacheRead: rate("0.30")]),
            longContext: [
                LongContextTier(
                    threshold: 200_000, inclusive: inclusive,
                    rates: TokenRates([.input: rate("6"), .output: rate("22.50"), .cacheRead: rate("0.60")]))
            ])
    }

    /// A prompt of `input` + 30,000 cache reads + 20,000 cache writes, and 1,000 output tokens.
    static func usage(input: Int) -> TokenUsage {
        TokenUsage(inputTokens: input, cacheReadTokens: 30_000, cacheWriteTokens: 20_000, outputTokens: 1_000)
    }

    @Test(
        "the prompt counts input, cache reads and cache writes; 'above' excludes the threshold, 'from' includes it",
        arguments: [
            // 150,000 × 3e-6 + 30,000 × 3e-7 + 20,000 × 3e-6 (writes at the input rate) + 1,000 × 1.5e-5
            (false, 149_999, "0.533997", nil),
            (false, 150_000, "0.534", nil),
            // every class at the long-context rate: 150,001 × 6e-6 + 30,000 × 6e-7 + 20,000 × 6e-6 + 1,000 × 2.25e-5
            (false, 150_001, "1.060506", 200_000),
            (true, 149_999, "0.533997", nil),
            (true, 150_000, "1.0605", 200_000),
            (true, 150_001, "1.060506", 200_000),
        ] as [(Bool, Int, String, Int?)])
    func threshold(inclusive: Bool, input: Int, total: String, crossed: Int?) {
        let usage = Self.usage(input: input)
        let breakdown = Self.price(inclusive: inclusive).cost(of: usage)
        #expect(breakdown.total == cash(total))
        #expect(breakdown.longContextThreshold == crossed)
        expectLinesAddUp(breakdown)
    }

    @Test("cache reads alone can carry a prompt over the threshold, and then the output is re-priced too")
    func cacheCarriesOver() throws {
        let usage = TokenUsage(inputTokens: 10, cacheReadTokens: 250_000, outputTokens: 100)
        let breakdown = Self.price(inclusive: false).cost(of: usage)
        #expect(breakdown.longContextThreshold == 200_000)
        // 10 × 6e-6 + 250,000 × 6e-7 + 100 × 2.25e-5
        #expect(breakdown.total == cash("0.15231"))
        #expect(try #require(breakdown.lines.last).rate == rate("22.50"))
    }

    @Test("of several tiers every crossed one applies, lowest first, whatever order they were given in")
    func severalTiers() {
        let price = ModelPrice(
            rates: TokenRates([.input: rate("2"), .output: rate("8")]),
            longContext: [
                LongContextTier(threshold: 200_000, rates: TokenRates([.input: rate("6"), .output: rate("20")])),
                LongContextTier(threshold: 128_000, rates: TokenRates([.input: rate("4")])),
            ])
        #expect(price.longContext.map(\.threshold) == [128_000, 200_000])
        let middle = price.cost(of: TokenUsage(inputTokens: 150_000, outputTokens: 1_000))
        #expect(middle.total == cash("0.608"), "150,000 × 4e-6 + 1,000 × 8e-6: the 128k tier changes only input")
        #expect(middle.longContextThreshold == 128_000)
        let top = price.cost(of: TokenUsage(inputTokens: 250_000, outputTokens: 1_000))
        #expect(top.total == cash("1.52"), "250,000 × 6e-6 + 1,000 × 2e-5")
        #expect(top.longContextThreshold == 200_000)
    }
}

/// Service tiers: flex and priority lay their own rates over the standard ones, batch bills half of every standard
/// rate it does not set itself; the standard tier answers to several names.
@Suite("Service tiers")
struct ServiceTierTests {
    static let price = ModelPrice(
        rates: TokenRates([.input: rate("2.50"), .output: rate("10"), .cacheRead: rate("1.25")]),
        serviceTiers: [
            "flex": ServiceTierPrice(rates: TokenRates([.input: rate("1.25"), .output: rate("5")])),
            "priority": ServiceTierPrice(rates: TokenRates([.input: rate("4.25"), .output: rate("17")])),
        ])
    static let usage = TokenUsage(inputTokens: 1_000, cacheReadTokens: 1_000, outputTokens: 1_000)

    @Test(
        "each tier's total and the tier the breakdown names",
        arguments: [
            // standard: 1,000 × (2.5 + 1.25 + 10) e-6
            (nil, "0.01375", nil),
            ("default", "0.01375", nil), ("standard", "0.01375", nil), ("auto", "0.01375", nil), ("on_demand", "0.01375", nil),
            ("Default", "0.01375", nil), ("", "0.01375", nil),
            // flex sets input and output; cache reads stay at the standard 1.25
            ("flex", "0.0075", "flex"),
            ("priority", "0.0225", "priority"),
            // batch without its own rates: half of every standard rate
            ("batch", "0.006875", "batch"), ("BATCH", "0.006875", "batch"), ("batches", "0.006875", "batch"),
            // a tier with no price of its own is billed at the standard rates and not named
            ("scale", "0.01375", nil),
        ] as [(String?, String, String?)])
    func tiers(tier: String?, total: String, named: String?) {
        let breakdown = Self.price.cost(of: Self.usage, serviceTier: tier)
        #expect(breakdown.total == cash(total))
        #expect(breakdown.serviceTier == named)
        expectLinesAddUp(breakdown)
    }

    @Test("batch with rates of its own uses them, and half the standard rate for the classes it leaves out")
    func batchWithOwnRates() {
        var price = Self.price
        price.serviceTiers["batch"] = ServiceTierPrice(rates: TokenRates([.input: rate("1")]))
        let breakdown = price.cost(of: Self.usage, serviceTier: "batch")
        // 1,000 × 1e-6 + 1,000 × 6.25e-7 + 1,000 × 5e-6
        #expect(breakdown.total == cash("0.006625"))
        #expect(breakdown.lines.map(\.rate) == [rate("1"), rate("0.625"), rate("5")])
    }

    @Test("batch halves a rate exactly down to the last digit, rounding half to even below it")
    func batchHalving() {
        let price = ModelPrice(rates: TokenRates([.input: rate("0.000000003"), .output: rate("0.000000001")]))
        // 3e-15 / 2 = 1.5e-15 → 2e-15; 1e-15 / 2 = 0.5e-15 → 0
        let rates = price.rates(for: TokenUsage(inputTokens: 1), serviceTier: "batch").rates
        #expect(rates[.input] == Money(raw: 2))
        #expect(rates[.output] == Money(raw: 0))
    }

    @Test("a service tier's own long-context rates follow the standard long-context rates at the same threshold")
    func tierLongContext() {
        let price = ModelPrice(
            rates: TokenRates([.input: rate("2"), .output: rate("8")]),
            longContext: [LongContextTier(threshold: 100, rates: TokenRates([.input: rate("4")]))],
            serviceTiers: [
                "flex": ServiceTierPrice(
                    rates: TokenRates([.input: rate("1")]), longContext: [LongContextTier(threshold: 100, rates: TokenRates([.input: rate("2")]))])
            ])
        #expect(price.cost(of: TokenUsage(inputTokens: 50), serviceTier: "flex").total == rate("1").times(50))
        #expect(price.cost(of: TokenUsage(inputTokens: 150), serviceTier: "flex").total == rate("2").times(150))
        #expect(price.cost(of: TokenUsage(inputTokens: 150)).total == rate("4").times(150))
    }

    @Test("batch is half price above the long-context threshold too")
    func batchLongContext() {
        // Anthropic and Google bill batch requests at half the price that applies, long-context price included.
        let price = LongContextTests.price(inclusive: false)
        let usage = TokenUsage(inputTokens: 250_000, outputTokens: 1_000)
        #expect(price.cost(of: usage).total == cash("1.5225"), "250,000 × 6e-6 + 1,000 × 2.25e-5")
        #expect(price.cost(of: TokenUsage(inputTokens: 100_000, outputTokens: 1_000), serviceTier: "batch").total == cash("0.1575"))
        #expect(price.cost(of: usage, serviceTier: "batch").total == cash("0.76125"))
    }
}

/// The breakdown: one line per class with a quantity, in class order, per-request and per-search units included.
@Suite("Price breakdown")
struct PriceBreakdownTests {
    static let price = ModelPrice(
        rates: TokenRates([.input: rate("1"), .output: rate("2"), .perRequest: cash("0.01"), .webSearch: cash("0.01")]))

    @Test("per-request and per-search units are billed per unit and listed")
    func units() {
        let breakdown = Self.price.cost(of: TokenUsage(inputTokens: 1_000, outputTokens: 500, webSearchRequests: 3, webFetchRequests: 4))
        // 1,000 × 1e-6 + 500 × 2e-6 + 0.01 + 3 × 0.01; fetches have no rate and no line
        #expect(breakdown.total == cash("0.042"))
        #expect(breakdown.lines.map(\.priceClass) == [.input, .output, .perRequest, .webSearch])
        #expect(breakdown.lines.map(\.quantity) == [1_000, 500, 1, 3])
        #expect(breakdown.lines.map(\.amount) == [cash("0.001"), cash("0.001"), cash("0.01"), cash("0.03")])
        expectLinesAddUp(breakdown)
    }

    @Test("a request without tokens still pays the per-request fee; a model without one costs nothing")
    func emptyUsage() {
        #expect(Self.price.cost(of: .zero).total == cash("0.01"))
        #expect(Self.price.cost(of: .zero).lines.map(\.priceClass) == [.perRequest])
        #expect(ModelPrice(input: rate("1"), output: rate("2")).cost(of: .zero).lines.isEmpty)
    }

    @Test("classes without tokens have no line; cache and reasoning lines say which rate they were billed at")
    func lines() {
        let breakdown = ModelPrice(input: rate("3"), output: rate("15")).cost(
            of: TokenUsage(inputTokens: 10, cacheReadTokens: 5, outputTokens: 20, reasoningTokens: 20))
        #expect(breakdown.lines.map(\.priceClass) == [.input, .cacheRead, .reasoning])
        #expect(breakdown.lines.map(\.rateFrom) == [nil, .input, .output])
        #expect(breakdown.total == cash("0.000345"))
        expectLinesAddUp(breakdown)
    }
}

// MARK: - Effective-dated catalogs

/// Milliseconds of an ISO 8601 time written in a test.
func at(_ text: String) -> Int64 {
    guard let milliseconds = Timestamps.parse(text) else { preconditionFailure("'\(text)' is not a time") }
    return milliseconds
}

/// A provider's prices over time: an event is priced by the version in force at its timestamp.
@Suite("Price catalog")
struct PriceCatalogTests {
    static let before = ModelPrice(input: rate("2.50"), output: rate("10"))
    static let after = ModelPrice(input: rate("2"), output: rate("8"))
    static let mini = ModelPrice(input: rate("0.15"), output: rate("0.60"))
    static let catalog = PriceCatalog(
        versions: [
            // given newest first: the catalog sorts them
            .init(effectiveMs: at("2026-12-01T00:00:00Z"), table: PriceTable(models: ["gpt-4o": after, "gpt-4o-mini": mini])),
            .init(effectiveMs: .min, table: PriceTable(models: ["gpt-4o": before, "gpt-4o-mini": mini])),
        ], currency: "USD")

    @Test("the last millisecond before a change and the first one after are priced by different versions")
    func boundary() throws {
        let last = at("2026-11-30T23:59:59.999Z")
        let first = at("2026-12-01T00:00:00Z")
        #expect(first - last == 1)
        #expect(Self.catalog.price(for: "gpt-4o", at: last)?.price == Self.before)
        #expect(Self.catalog.price(for: "gpt-4o-2024-08-06", at: first)?.price == Self.after)
        #expect(Self.catalog.price(for: "gpt-4o-mini", at: last)?.price == Self.mini)
        #expect(Self.catalog.latest.models["gpt-4o"] == Self.after)
        #expect(Self.catalog.versions.map(\.effectiveMs) == [.min, first])
        #expect(Self.catalog.modelCount == 2)

        let rules = PricingRules(catalogs: ["openai": Self.catalog])
        let usage = TokenUsage(inputTokens: 1_000, outputTokens: 1_000)
        func cost(_ time: Int64) -> Money {
            rules.rate(provider: "openai", customer: "c", usage: usage, servedModel: "gpt-4o", requestedModel: nil, serviceTier: nil, at: time).cost
        }
        #expect(cost(last) == cash("0.0125"))
        #expect(cost(first) == cash("0.01"))
    }

    @Test("before its first version a catalog prices at that first version")
    func beforeFirstVersion() {
        let catalog = PriceCatalog(versions: [.init(effectiveMs: at("2026-01-01"), table: PriceTable(models: ["m": Self.mini]))], currency: "EUR")
        #expect(catalog.price(for: "m", at: at("2025-06-01"))?.price == Self.mini)
        #expect(catalog.price(for: "m", at: .min)?.price == Self.mini)
        #expect(PriceCatalog(versions: [], currency: "USD").price(for: "m", at: 0) == nil, "an empty catalog prices nothing")
    }

    static let providerFile = """
        base_url: https://api.example.com
        currency: EUR
        prices:
          gpt-4o: {input: "2.50", output: "10.00", cache_read: "1.25"}
          gpt-4o-mini: {input: "0.15", output: "0.60"}
          claude-sonnet-4-5:
            input: "3"
            output: "15"
            cache_write_1h: "6"
            web_search: "0.01"
            max_output_tokens: 64000
            long_context:
              - {above: 200000, input: "6", output: "22.50"}
            tiers:
              batch: {input: "1.50"}
              priority: {input: "5", output: "25", long_context: [{from: 200000, input: "10"}]}
        prices_effective: 2026-01-01
        price_versions:
          - effective: 2027-03-01
            prices:
              o3: {input: "2", output: "8"}
          - effective: 2026-12-01T00:00:00Z
            note: price cut
            prices:
              gpt-4o: {input: "2.00", output: "8.00"}
        """

    @Test("a provider file's prices and price_versions make a catalog; later versions change only the models they list")
    func providerVersions() throws {
        let spec = try ProviderSpec.parse(yaml: Self.providerFile, file: "providers/example.yaml")
        let catalog = spec.catalog(currency: "USD")
        #expect(catalog.currency == "EUR")
        #expect(catalog.versions.map(\.effectiveMs) == [at("2026-01-01"), at("2026-12-01"), at("2027-03-01")])
        #expect(
            catalog.versions.map { $0.table.models.keys.sorted() } == [
                ["claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini"], ["claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini"],
                ["claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini", "o3"],
            ])
        let old = ModelPrice(input: rate("2.50"), output: rate("10"), cacheRead: rate("1.25"))
        #expect(catalog.price(for: "gpt-4o", at: at("2026-11-30T23:59:59.999Z"))?.price == old)
        #expect(catalog.price(for: "gpt-4o", at: at("2026-12-01T00:00:00Z"))?.price == ModelPrice(input: rate("2"), output: rate("8")))
        #expect(catalog.price(for: "o3", at: at("2027-02-28T23:59:59.999Z")) == nil)
        #expect(catalog.price(for: "o3", at: at("2027-03-01"))?.name == "o3")
        #expect(catalog.latest.models["gpt-4o-mini"] == Self.mini)

        let sonnet = try #require(catalog.latest.models["claude-sonnet-4-5"])
        #expect(sonnet.maxOutputTokens == 64_000)
        #expect(sonnet.rates[.webSearch] == cash("0.01"), "unit classes are written per unit, not per million")
        #expect(sonnet.rates[.cacheWrite1h] == rate("6"))
        #expect(
            sonnet.longContext == [
                LongContextTier(threshold: 200_000, inclusive: false, rates: TokenRates([.input: rate("6"), .output: rate("22.50")]))
            ])
        #expect(sonnet.serviceTiers["batch"] == ServiceTierPrice(rates: TokenRates([.input: rate("1.50")])))
        #expect(sonnet.serviceTiers["priority"]?.longContext.first?.inclusive == true)
        // 1,000 × 1.5e-6 (batch's own) + 1,000 × 7.5e-6 (half of output) + 2 searches × 0.01 (units are not halved)
        let batch = sonnet.cost(of: TokenUsage(inputTokens: 1_000, outputTokens: 1_000, webSearchRequests: 2), serviceTier: "batch")
        #expect(batch.total == cash("0.029"))
    }

    @Test("a provider file without a currency takes the one it is given; without prices_effective its base is in force always")
    func defaults() throws {
        let spec = try ProviderSpec.parse(yaml: "base_url: https://x.example\nprices:\n  m: {input: \"1\", output: \"2\"}\n", file: "p.yaml")
        let catalog = spec.catalog(currency: "GBP")
        #expect(catalog.currency == "GBP")
        #expect(catalog.versions.map(\.effectiveMs) == [.min])
        #expect(catalog == PriceCatalog(models: ["m": ModelPrice(input: rate("1"), output: rate("2"))], currency: "GBP"))
    }

    @Test(
        "broken price versions and model prices are refused with file and line",
        arguments: [
            ("price_versions:\n  - prices: {m: {input: \"1\"}}\n", 2, "needs 'effective: TIME'"),
            ("price_versions:\n  - {effective: 2026-01-01, prices: {}}\n  - {effective: 2026-01-01T00:00:00Z, prices: {}}\n", 3, "same time"),
            ("price_versions:\n  - {effective: next week, prices: {}}\n", 2, "'next week'"),
            ("prices_effective: 2026-13-01\n", 1, "'2026-13-01'"),
            ("prices:\n  m: {max_output_tokens: 10}\n", 2, "at least 'input', 'output', 'per_request', 'image', 'audio_second' or 'input_character'"),
            ("prices:\n  m:\n    input: \"1\"\n    cached_input: \"0.5\"\n", 4, "unknown key 'prices.m.cached_input'"),
            ("prices:\n  m: {input: \"1\", web_search: \"ten\"}\n", 2, "price per unit"),
            ("prices:\n  m: {input: \"0.0000000001\"}\n", 2, "at most 9 decimals"),
            ("prices:\n  m:\n    input: \"1\"\n    long_context:\n      - {above: 100, from: 100, input: \"2\"}\n", 5, "either 'above' or 'from'"),
            ("prices:\n  m:\n    input: \"1\"\n    long_context:\n      - {input: \"2\"}\n", 5, "needs 'above: TOKENS'"),
            ("prices:\n  m:\n    input: \"1\"\n    long_context:\n      - {above: 1000}\n", 5, "at least one rate"),
            ("prices:\n  m:\n    input: \"1\"\n    tiers:\n      standard: {input: \"1\"}\n", 5, "is the standard tier"),
            ("currency: euro\n", 1, "three-letter currency code"),
        ] as [(String, Int, String)])
    func broken(yaml: String, line: Int, mentions: String) throws {
        let error = try #require(throws: ConfigError.self) { try ProviderSpec.parse(yaml: yaml, file: "providers/broken.yaml") }
        #expect(error.file == "providers/broken.yaml")
        #expect(error.line == line, "\(error)")
        #expect(error.message.contains(mentions), "\(error)")
    }
}

/// Times as config files write them.
@Suite("Timestamps")
struct TimestampTests {
    @Test(
        "ISO 8601 times, dates and UTC times without a zone are read to the millisecond",
        arguments: [
            ("2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z"),
            ("2026-12-01", "2026-12-01T00:00:00Z"),
            ("2026-11-30T23:59:59.999Z", "2026-11-30T23:59:59.999Z"),
            ("2026-11-21T10:00:00.250+01:00", "2026-11-21T09:00:00.250Z"),
            (" 2026-11-21T10:00:00Z ", "2026-11-21T10:00:00Z"),
        ])
    func parse(text: String, utc: String) throws {
        let milliseconds = try #require(Timestamps.parse(text))
        #expect(Timestamps.iso8601(milliseconds) == utc)
    }

    @Test("a time written without a zone is UTC and keeps its time of day", arguments: ["2026-11-21 10:00:00", "2026-11-21T10:00:00"])
    func withoutZone(text: String) throws {
        // Documented on Timestamps.parse; used for `effective:`, `hold.until`, discount windows.
        let milliseconds = try #require(Timestamps.parse(text))
        #expect(Timestamps.iso8601(milliseconds) == "2026-11-21T10:00:00Z")
    }

    @Test("what is not a time is refused", arguments: ["", "soon", "2026-13-01", "01/12/2026", "1764547200"])
    func refuses(text: String) {
        #expect(Timestamps.parse(text) == nil)
    }

    @Test("a day that does not exist is refused, not rolled over into the next month")
    func impossibleDay() {
        #expect(Timestamps.parse("2026-02-30") == nil)
    }

    @Test("a month is the half-open range from its first millisecond to the next month's")
    func month() throws {
        let november = try #require(Timestamps.month("2026-11"))
        #expect(november.startMs == at("2026-11-01"))
        #expect(november.endMs == at("2026-12-01"))
        #expect(try #require(Timestamps.month("2026-12")).endMs == at("2027-01-01"))
        #expect(Timestamps.month("2026-13") == nil)
        #expect(Timestamps.monthName(of: at("2026-11-30T23:59:59.999Z")) == "2026-11")
    }
}
