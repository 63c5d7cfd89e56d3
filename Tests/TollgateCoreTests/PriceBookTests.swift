import Testing

@testable import TollgateCore

/// The file name the price-book tests parse under.
private let bookFile = "price-books/standard.yaml"

/// Parses a book from `yaml` as if read from ``bookFile``.
private func parse(_ yaml: String, name: String = "standard") throws(ConfigError) -> PriceBook {
    try PriceBookFile.parse(yaml: yaml, file: bookFile, name: name)
}

/// A price book file: the first version from the top-level keys, later versions in `versions:` each taking the one
/// before and changing what it lists, period charges of every scheme, and complaints with file and line.
@Suite("Price book files")
struct PriceBookFileTests {
    static let full = """
        name: retail
        description: The plan on the website
        currency: EUR
        effective: 2026-01-01
        markup: "1.30"
        per_request: "0.001"
        minimum_per_request: "0.002"
        base_fee: "500.00"
        minimum: "1000.00"
        rates:
          gpt-4o: {input: "3.00", output: "12.00"}
          gpt-4o-mini: {input: "0.20", output: "0.80"}
        charges:
          - name: API calls
            meter: requests
            included: 100000
            unit_price: "0.004"
          - meter: tokens
            per: 1000
            tiered:
              - {up_to: 1000, unit_price: "0.10"}
              - {up_to: 10000, unit_price: "0.07", flat_fee: "5.00"}
              - {unit_price: "0.05"}
          - meter: output_tokens
            models: ["gpt-4o*"]
            volume:
              - up_to: 1000
                unit_price: "0.10"
              - unit_price: "0.07"
          - meter: web_search_requests
            package: {size: 1000, price: "5.00"}
        versions:
          - effective: 2026-06-01
            note: price rise
            markup: "1.40"
            rates:
              gpt-4o: {input: "3.50", output: "14.00"}
          - effective: 2026-09-01T00:00:00Z
            charges:
              - meter: requests
                unit_price: "0.005"
        """

    @Test("every key of the first version is read")
    func firstVersion() throws {
        let book = try parse(Self.full)
        #expect(book.name == "retail", "the file's own name wins over the file name")
        #expect(book.currency == "EUR")
        #expect(book.versions.count == 3)
        let first = book.versions[0]
        #expect(first.effectiveMs == at("2026-01-01"))
        #expect(first.markup == DecimalRatio("1.3"))
        #expect(first.perRequest == money("0.001"))
        #expect(first.minimumPerRequest == money("0.002"))
        #expect(first.baseFee == money("500"))
        #expect(first.periodMinimum == money("1000"))
        #expect(first.rates.models.keys.sorted() == ["gpt-4o", "gpt-4o-mini"])
        #expect(first.rates.models["gpt-4o"] == ModelPrice(input: perMillion("3"), output: perMillion("12")))
        #expect(book.label(of: first) == "retail@2026-01-01T00:00:00Z")
    }

    @Test("charges of every scheme are read, with their names, meters, models, allowances and units")
    func charges() throws {
        let charges = try parse(Self.full).versions[0].charges
        #expect(
            charges == [
                Charge(name: "API calls", meter: .requests, included: 100_000, scheme: .unit(money("0.004"))),
                Charge(
                    name: "tokens", meter: .tokens,
                    scheme: .tiered([
                        Charge.Tier(upTo: 1_000, unitPrice: money("0.10")), Charge.Tier(upTo: 10_000, unitPrice: money("0.07"), flatFee: money("5")),
                        Charge.Tier(upTo: nil, unitPrice: money("0.05")),
                    ]), per: 1_000),
                Charge(
                    name: "output_tokens", meter: .outputTokens, models: ["gpt-4o*"],
                    scheme: .volume([Charge.Tier(upTo: 1_000, unitPrice: money("0.10")), Charge.Tier(upTo: nil, unitPrice: money("0.07"))])),
                Charge(name: "web_search_requests", meter: .webSearchRequests, scheme: .package(size: 1_000, price: money("5"))),
            ])
    }

    @Test("a later version takes the one before it and changes what it lists; rates are merged model by model")
    func laterVersions() throws {
        let book = try parse(Self.full)
        let (first, second, third) = (book.versions[0], book.versions[1], book.versions[2])
        #expect(second.effectiveMs == at("2026-06-01"))
        #expect(second.markup == DecimalRatio("1.4"))
        #expect(second.rates.models["gpt-4o"] == ModelPrice(input: perMillion("3.5"), output: perMillion("14")))
        #expect(second.rates.models["gpt-4o-mini"] == first.rates.models["gpt-4o-mini"], "a model the version does not list is kept")
        #expect(second.perRequest == first.perRequest && second.minimumPerRequest == first.minimumPerRequest)
        #expect(second.baseFee == first.baseFee && second.periodMinimum == first.periodMinimum)
        #expect(second.charges == first.charges)

        #expect(third.effectiveMs == at("2026-09-01"))
        #expect(third.markup == second.markup, "inherited from the version before, not the first")
        #expect(third.rates == second.rates)
        #expect(
            third.charges == [Charge(name: "requests", meter: .requests, scheme: .unit(money("0.005")))], "a charges list replaces the whole list")
        #expect(book.label(of: third) == "retail@2026-09-01T00:00:00Z")
    }

    @Test("the version in force at a time, at and around each change")
    func versionAt() throws {
        let book = try parse(Self.full)
        #expect(book.version(at: at("2025-06-01")).effectiveMs == at("2026-01-01"), "before every version: the first")
        #expect(book.version(at: at("2026-05-31T23:59:59.999Z")).effectiveMs == at("2026-01-01"))
        #expect(book.version(at: at("2026-06-01T00:00:00Z")).effectiveMs == at("2026-06-01"))
        #expect(book.version(at: at("2030-01-01")).effectiveMs == at("2026-09-01"))
        #expect(book.version(effectiveAt: at("2026-06-01"))?.markup == DecimalRatio("1.4"))
        #expect(book.version(effectiveAt: at("2026-06-02")) == nil)
    }

    @Test("a file that does not name itself is named by its file; without currency or effective: USD, always in force")
    func defaults() throws {
        let book = try parse("markup: \"1.25\"\n", name: "gold")
        #expect(book.name == "gold")
        #expect(book.currency == "USD")
        #expect(book.versions.map(\.effectiveMs) == [.min])
        #expect(book.label(of: book.versions[0]) == "gold", "a version always in force is labelled by the book's name alone")
        #expect(book.versions[0].charges.isEmpty && book.versions[0].rates.models.isEmpty)
        #expect(try parse("", name: "empty").versions.count == 1, "an empty file is a book with no prices")
    }

    @Test("the hybrid plan from a file: 500.00 a month with 100,000 calls, then 0.004 a call")
    func hybridPlan() throws {
        let book = try parse(
            """
            base_fee: "500.00"
            charges:
              - name: API calls
                meter: requests
                included: 100000
                unit_price: "0.004"
            """)
        let plan = book.versions[0]
        func invoice(_ calls: Int) -> Money { plan.charges.reduce(plan.baseFee ?? .zero) { $0 + $1.rate(quantity: calls).amount } }
        #expect(invoice(100_000) == money("500.00"))
        #expect(invoice(150_000) == money("700.00"))
        #expect(plan.charges[0].rate(quantity: 150_000).brackets.map(\.quantity) == [100_000, 50_000])
    }

    /// A broken book, the line the complaint must name, and text the message must contain.
    struct Broken: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let yaml: String
        let line: Int
        let mentions: [String]
    }

    static let broken: [Broken] = [
        Broken(
            testDescription: "unknown top-level key",
            yaml: """
                currency: USD
                markups: "1.2"
                """, line: 2, mentions: ["unknown key 'markups'", "markup"]),
        Broken(
            testDescription: "unknown key in a charge",
            yaml: """
                charges:
                  - meter: requests
                    unit_prize: "0.01"
                """, line: 3, mentions: ["unknown key 'charges[0].unit_prize'", "unit_price"]),
        Broken(
            testDescription: "unknown key in a version",
            yaml: """
                versions:
                  - effective: 2026-01-01
                    currency: EUR
                """, line: 3, mentions: ["unknown key 'versions[0].currency'"]),
        Broken(
            testDescription: "tiers not increasing",
            yaml: """
                charges:
                  - meter: requests
                    tiered:
                      - {up_to: 1000, unit_price: "0.10"}
                      - {up_to: 500, unit_price: "0.07"}
                      - {unit_price: "0.05"}
                """, line: 5, mentions: ["tiers go up: up_to 500 is not above 1000"]),
        Broken(
            testDescription: "two tiers ending at the same unit",
            yaml: """
                charges:
                  - meter: requests
                    volume:
                      - up_to: 1000
                        unit_price: "0.10"
                      - up_to: 1000
                        unit_price: "0.07"
                """, line: 6, mentions: ["up_to 1000 is not above 1000"]),
        Broken(
            testDescription: "a tier without up_to that is not last",
            yaml: """
                charges:
                  - meter: requests
                    tiered:
                      - {unit_price: "0.10"}
                      - {up_to: 1000, unit_price: "0.07"}
                """, line: 4, mentions: ["only the last tier may leave out 'up_to'"]),
        Broken(
            testDescription: "a last tier with an up_to (units above it would have no price)",
            yaml: """
                charges:
                  - meter: requests
                    volume:
                      - {up_to: 1000, unit_price: "0.10"}
                      - {up_to: 5000, unit_price: "0.07"}
                """, line: 5, mentions: ["the last tier has no 'up_to'"]),
        Broken(
            testDescription: "a tier without a price",
            yaml: """
                charges:
                  - meter: requests
                    tiered:
                      - {up_to: 1000}
                """, line: 4, mentions: ["a tier needs 'unit_price'"]),
        Broken(
            testDescription: "no tiers",
            yaml: """
                charges:
                  - meter: requests
                    tiered: []
                """, line: 3, mentions: ["give at least one tier"]),
        Broken(
            testDescription: "missing meter",
            yaml: """
                per_request: "0.01"
                charges:
                  - name: API calls
                    unit_price: "0.004"
                """, line: 3, mentions: ["a charge needs 'meter'", "requests", "web_search_requests"]),
        Broken(
            testDescription: "unknown meter",
            yaml: """
                charges:
                  - meter: calls
                    unit_price: "0.004"
                """, line: 2, mentions: ["unknown meter 'calls'", "requests"]),
        Broken(
            testDescription: "a charge without a price",
            yaml: """
                charges:
                  - meter: requests
                    included: 1000
                """, line: 2, mentions: ["a charge needs a price"]),
        Broken(
            testDescription: "two prices in one charge",
            yaml: """
                charges:
                  - meter: requests
                    unit_price: "0.004"
                    package: {size: 10, price: "1"}
                """, line: 4, mentions: ["one of unit_price, tiered, volume or package"]),
        Broken(
            testDescription: "a package without a price",
            yaml: """
                charges:
                  - meter: requests
                    package: {size: 1000}
                """, line: 3, mentions: ["a package needs 'size'"]),
        Broken(
            testDescription: "a package of zero units",
            yaml: """
                charges:
                  - meter: requests
                    package: {size: 0, price: "1"}
                """, line: 3, mentions: ["between 1 and"]),
        Broken(
            testDescription: "bad decimal unit price",
            yaml: """
                charges:
                  - meter: requests
                    unit_price: ten cents
                """, line: 3, mentions: ["'ten cents'", "decimal amount"]),
        Broken(
            testDescription: "a price with an exponent",
            yaml: """
                base_fee: 5e2
                """, line: 1, mentions: ["'5e2'"]),
        Broken(
            testDescription: "a negative fee",
            yaml: """
                per_request: "-0.01"
                """, line: 1, mentions: ["'-0.01'"]),
        Broken(
            testDescription: "bad decimal markup",
            yaml: """
                currency: USD
                markup: 1,25
                """, line: 2, mentions: ["'1,25'"]),
        Broken(
            testDescription: "bad decimal rate",
            yaml: """
                rates:
                  gpt-4o:
                    input: "3.00"
                    output: fifteen
                """, line: 4, mentions: ["'fifteen'", "per million tokens"]),
        Broken(
            testDescription: "versions out of order",
            yaml: """
                effective: 2026-06-01
                markup: "1.2"
                versions:
                  - effective: 2026-09-01
                    markup: "1.3"
                  - effective: 2026-03-01
                    markup: "1.4"
                """, line: 6, mentions: ["oldest first"]),
        Broken(
            testDescription: "a version at the time of the one above it",
            yaml: """
                effective: 2026-06-01
                versions:
                  - effective: 2026-06-01T00:00:00Z
                    markup: "1.3"
                """, line: 3, mentions: ["oldest first"]),
        Broken(
            testDescription: "a version without effective",
            yaml: """
                markup: "1.2"
                versions:
                  - markup: "1.3"
                """, line: 3, mentions: ["a price book version needs 'effective: TIME'"]),
        Broken(
            testDescription: "not a time",
            yaml: """
                effective: next monday
                """, line: 1, mentions: ["'next monday'", "ISO 8601"]),
        Broken(
            testDescription: "currency in words",
            yaml: """
                currency: euro
                """, line: 1, mentions: ["three-letter currency code", "'euro'"]),
        Broken(
            testDescription: "charges not a list",
            yaml: """
                charges:
                  meter: requests
                """, line: 2, mentions: ["expected a list"]),
    ]

    @Test("a broken price book is refused with file, line and what is wrong", arguments: broken)
    func refused(_ broken: Broken) throws {
        let error = try #require(throws: ConfigError.self) { try parse(broken.yaml) }
        #expect(error.file == bookFile)
        #expect(error.line == broken.line, "\(error)")
        for text in broken.mentions { #expect(error.message.contains(text), "\(error)") }
        #expect(error.description.hasPrefix("\(bookFile):\(broken.line): "))
    }
}

/// A customer's terms as `pricing.customers.ID` writes them.
@Suite("Customer terms")
struct CustomerTermsTests {
    @Test("a discount is a percentage between 0 and 100 and leaves the rest to pay")
    func discount() throws {
        let ten = try CustomerPricing.Discount(percent: "10")
        #expect(money("1").multiplied(by: ten.share) == money("0.1"))
        #expect(ten.percentText == "10")
        #expect(money("1").multiplied(by: ten.remaining) == money("0.9"))
        #expect(money("8").multiplied(by: try CustomerPricing.Discount(percent: "12.5").remaining) == money("7"))
        #expect(money("3").multiplied(by: try CustomerPricing.Discount(percent: "100").remaining) == .zero)
        #expect(money("3").multiplied(by: try CustomerPricing.Discount(percent: "0").remaining) == money("3"))
        #expect(ten.applies(at: .min) && ten.applies(at: .max - 1), "without from and until: always")
        for bad in ["100.5", "-5", "ten", "10%"] {
            #expect(throws: PricingError.self) { try CustomerPricing.Discount(percent: bad) }
        }
    }

    @Test("a discount window includes its start and excludes its end")
    func window() throws {
        let march = try CustomerPricing.Discount(percent: "10", fromMs: at("2026-03-01"), untilMs: at("2026-04-01"))
        #expect(!march.applies(at: at("2026-02-28T23:59:59.999Z")))
        #expect(march.applies(at: at("2026-03-01T00:00:00Z")))
        #expect(march.applies(at: at("2026-03-31T23:59:59.999Z")))
        #expect(!march.applies(at: at("2026-04-01T00:00:00Z")))
    }
}
