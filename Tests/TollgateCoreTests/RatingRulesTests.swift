import Testing

@testable import TollgateCore

/// A ratio from its decimal text.
private func ratio(_ text: String) -> DecimalRatio {
    guard let value = DecimalRatio(text) else { preconditionFailure("'\(text)' is not a ratio") }
    return value
}

/// The provider catalog every rule here costs against (USD).
private let openAI = PriceCatalog(
    models: [
        "gpt-4o": ModelPrice(input: perMillion("2.50"), output: perMillion("10"), cacheRead: perMillion("1.25")),
        "gpt-4o-mini": ModelPrice(input: perMillion("0.15"), output: perMillion("0.60")),
        "o3": ModelPrice(input: perMillion("2"), output: perMillion("8")),
    ], currency: "USD")

/// 1,000 input, 200 cache reads, 500 output: 0.00775 on gpt-4o, 0.00048 on gpt-4o-mini, 0.0064 on o3.
private let usage = TokenUsage(inputTokens: 1_000, cacheReadTokens: 200, outputTokens: 500)

/// A book of one version in force always.
private func book(_ name: String, currency: String = "USD", _ version: PriceBook.Version) -> PriceBook {
    PriceBook(name: name, currency: currency, versions: [version])
}

/// A book's rate card.
private func card(_ models: [String: (input: String, output: String)]) -> PriceTable {
    PriceTable(models: models.mapValues { ModelPrice(input: perMillion($0.input), output: perMillion($0.output)) })
}

extension PricingRules {
    /// Rates `usage` of one model on the `openai` catalog for a customer.
    fileprivate func rate(
        _ customer: String = "acme", model: String? = "gpt-4o", requested: String? = nil, usage: TokenUsage = usage, tier: String? = nil,
        at time: String = "2026-07-01", billable: Bool = true
    ) -> Rating {
        rate(
            provider: "openai", customer: customer, usage: usage, servedModel: model, requestedModel: requested, serviceTier: tier,
            at: at(time), billable: billable)
    }
}

/// `PricingRules`: an event's cost from the provider catalog in force at its time and its price from the customer's
/// terms: the markup rule without a book, a book's rate card or markup, fees and minimums, provisional period
/// charges, customers' own rates and markups, grandfathering holds and time-boxed discounts.
@Suite("Pricing rules")
struct RatingRulesTests {
    // MARK: Without a book

    @Test("without a book the price is the cost times the markup, in the rules' currency")
    func markupRule() {
        let rules = PricingRules(catalogs: ["openai": openAI], markup: ratio("1.25"))
        let rating = rules.rate()
        #expect(
            rating
                == Rating(
                    cost: money("0.00775"), price: money("0.0096875"), currency: "USD", priceCurrency: "USD", priced: true, pricedAs: "gpt-4o",
                    priceBook: "markup"))
        #expect(PricingRules(catalogs: ["openai": openAI]).rate().price == money("0.00775"), "the default markup is 1")
    }

    @Test("a customer's own markup replaces the rules' markup")
    func customerMarkup() {
        let rules = PricingRules(
            catalogs: ["openai": openAI], markup: ratio("1.25"), customers: ["acme": CustomerPricing(markup: ratio("2"))])
        #expect(rules.rate("acme").price == money("0.0155"))
        #expect(rules.rate("globex").price == money("0.0096875"))
    }

    @Test("a customer's own rates price the models they list, without a book too")
    func customerRatesWithoutBook() {
        let rules = PricingRules(
            catalogs: ["openai": openAI], markup: ratio("1.25"),
            customers: ["acme": CustomerPricing(rates: card(["gpt-4o": ("2", "8"), "house-model": ("1", "2")]))])
        // 1,200 × 2e-6 + 500 × 8e-6
        #expect(rules.rate(model: "gpt-4o").price == money("0.0064"))
        #expect(rules.rate(model: "o3").price == money("0.008"), "models the customer does not list: the markup rule")
        let house = rules.rate(model: "house-model")
        #expect(house.cost == .zero && house.price == money("0.0022"))
        #expect(house.priced, "a price was found, as for a book's rate card")
    }

    @Test("the markup rule's price is in the currency of the cost it marks up")
    func markupRuleCurrency() {
        // A provider that prices in EUR (`currency: EUR` in its file) under `pricing.currency` USD (the default):
        // the price is the EUR cost × 1.25, so it is an EUR amount. ConfigLoader refuses this only for books.
        let euro = PriceCatalog(models: ["mistral-large": ModelPrice(input: perMillion("2"), output: perMillion("6"))], currency: "EUR")
        let rules = PricingRules(catalogs: ["mistral": euro], markup: ratio("1.25"), currency: "USD")
        let rating = rules.rate(
            provider: "mistral", customer: "acme", usage: TokenUsage(inputTokens: 1_000_000), servedModel: "mistral-large", requestedModel: nil,
            serviceTier: nil, at: 0)
        #expect(rating.currency == "EUR")
        #expect(rating.price == money("2.5"))
        #expect(rating.priceCurrency == "EUR")
    }

    // MARK: A book's rate card, markup, fees

    static let standard = book("standard", .init(markup: ratio("1.5"), rates: card(["gpt-4o-mini": ("0.30", "1.20"), "house-model": ("1", "2")])))

    @Test(
        "a book prices the models on its card at the card's rates and the others at cost times its markup",
        arguments: [
            // card: 1,200 × 3e-7 + 500 × 1.2e-6; cost 0.00048
            ("gpt-4o-mini", "0.00048", "0.00096", "gpt-4o-mini" as String?),
            ("gpt-4o-mini-2024-07-18", "0.00048", "0.00096", "gpt-4o-mini"),
            // markup: 0.00775 × 1.5
            ("gpt-4o", "0.00775", "0.011625", "gpt-4o"),
            ("openai/gpt-4o-2024-08-06", "0.00775", "0.011625", "gpt-4o"),
            // on the card, not in the provider's catalog: no cost, still priced
            ("house-model", "0", "0.0022", nil),
        ])
    func cardOrMarkup(model: String, cost: String, price: String, pricedAs: String?) {
        let rules = PricingRules(catalogs: ["openai": openAI], priceBooks: ["standard": Self.standard], defaultPriceBook: "standard")
        let rating = rules.rate(model: model)
        #expect(rating.cost == money(cost))
        #expect(rating.price == money(price))
        #expect(rating.pricedAs == pricedAs)
        #expect(rating.priced)
        #expect(rating.priceBook == "standard")
    }

    @Test("a model neither the catalog nor the card prices is unpriced; a book without a markup gives other models no usage price")
    func unpriced() {
        let rules = PricingRules(catalogs: ["openai": openAI], priceBooks: ["standard": Self.standard], defaultPriceBook: "standard")
        let unknown = rules.rate(model: "llama-3-70b")
        #expect(!unknown.priced && unknown.cost == .zero && unknown.price == .zero)

        let cardOnly = book("card", .init(rates: card(["gpt-4o-mini": ("0.30", "1.20")])))
        let strict = PricingRules(catalogs: ["openai": openAI], priceBooks: ["card": cardOnly], defaultPriceBook: "card")
        let gpt4o = strict.rate(model: "gpt-4o")
        #expect(gpt4o.priced && gpt4o.cost == money("0.00775") && gpt4o.price == .zero)
    }

    @Test("the served model is priced first, then the requested one, on the card as in the catalog")
    func servedThenRequested() {
        let rules = PricingRules(catalogs: ["openai": openAI], priceBooks: ["standard": Self.standard], defaultPriceBook: "standard")
        let rating = rules.rate(model: "unlisted-snapshot", requested: "gpt-4o-mini")
        #expect(rating.pricedAs == "gpt-4o-mini")
        #expect(rating.price == money("0.00096"))
        #expect(rules.rate(model: nil, requested: "gpt-4o").price == money("0.011625"))
    }

    @Test(
        "a per-request fee is added to every successful inference, and the usage price never falls below the minimum",
        arguments: [
            // 0.00775 + 0.001
            ("gpt-4o", TokenUsage(inputTokens: 1_000, cacheReadTokens: 200, outputTokens: 500), "0.00875"),
            // 10 × 1.5e-7 + 0.001 = 0.0010015, below the minimum
            ("gpt-4o-mini", TokenUsage(inputTokens: 10), "0.005"),
            ("gpt-4o", TokenUsage.zero, "0.005"),
            // 4,000 × 2.5e-6 + 0.001 = 0.011
            ("gpt-4o", TokenUsage(inputTokens: 4_000), "0.011"),
        ])
    func feeAndMinimum(model: String, usage: TokenUsage, price: String) {
        let fees = book("fees", .init(markup: .one, perRequest: money("0.001"), minimumPerRequest: money("0.005")))
        let rules = PricingRules(catalogs: ["openai": openAI], priceBooks: ["fees": fees], defaultPriceBook: "fees")
        #expect(rules.rate(model: model, usage: usage).price == money(price))
    }

    @Test("a fee with neither a card rate nor a markup is the whole usage price; with a card rate it is added to it")
    func feeAlone() {
        let feeOnly = book("fee", .init(perRequest: money("0.001")))
        let withCard = book("card", .init(rates: card(["gpt-4o-mini": ("0.30", "1.20")]), perRequest: money("0.001")))
        let rules = PricingRules(catalogs: ["openai": openAI], priceBooks: ["fee": feeOnly, "card": withCard])
        let customers = ["a": CustomerPricing(priceBook: "fee"), "b": CustomerPricing(priceBook: "card")]
        var priced = rules
        priced.customers = customers
        #expect(priced.rate("a", model: "gpt-4o").price == money("0.001"))
        #expect(priced.rate("b", model: "gpt-4o-mini").price == money("0.00196"))
        #expect(priced.rate("b", model: "gpt-4o").price == money("0.001"))
    }

    @Test("a book's rate card is billed in the event's service tier like a provider price")
    func cardServiceTier() {
        let cardBook = book("card", .init(rates: card(["gpt-4o": ("3", "12")])))
        let rules = PricingRules(catalogs: ["openai": openAI], priceBooks: ["card": cardBook], defaultPriceBook: "card")
        let batch = rules.rate(tier: "batch")
        // half of 1,200 × 3e-6 + 500 × 1.2e-5; cost half of 0.00775
        #expect(batch.price == money("0.0048"))
        #expect(batch.cost == money("0.003875"))
        #expect(rules.rate(tier: "default").price == money("0.0096"))
    }

    // MARK: Provisional share of period charges

    static let metered = book(
        "metered",
        .init(
            charges: [
                Charge(name: "calls", meter: .requests, scheme: .unit(money("0.004"))),
                Charge(
                    name: "tokens", meter: .tokens,
                    scheme: .tiered([Charge.Tier(upTo: 1_000, unitPrice: money("0.10")), Charge.Tier(upTo: nil, unitPrice: money("0.05"))]),
                    per: 1_000),
                Charge(name: "mini output", meter: .outputTokens, models: ["gpt-4o-mini*"], scheme: .unit(money("0.001"))),
                Charge(name: "allowance", meter: .requests, included: 1_000, scheme: .unit(money("9.99"))),
            ]))

    @Test("an event carries its quantities at each counting charge's first billed rate, nothing for charges in their allowance")
    func provisional() {
        let rules = PricingRules(catalogs: ["openai": openAI], priceBooks: ["metered": Self.metered], defaultPriceBook: "metered")
        // 1 × 0.004 + 1,700 tokens × 0.0001; the mini charge does not count gpt-4o
        #expect(rules.rate(model: "gpt-4o").price == money("0.174"))
        // + 500 output tokens × 0.001 (served as a snapshot: the pattern matches it)
        #expect(rules.rate(model: "gpt-4o-mini-2024-07-18").price == money("0.674"))
        #expect(Self.metered.versions[0].provisionalChargePrice(usage: usage, model: "gpt-4o", billable: true) == money("0.174"))

        var marked = Self.metered
        marked.versions[0].markup = ratio("1.5")
        let both = PricingRules(catalogs: ["openai": openAI], priceBooks: ["metered": marked], defaultPriceBook: "metered")
        #expect(both.rate(model: "gpt-4o").price == money("0.185625"), "usage price 0.011625 plus the provisional 0.174")
    }

    // MARK: Customers' terms

    static let withCard = book(
        "standard", .init(markup: ratio("1.5"), rates: card(["gpt-4o": ("3", "12"), "gpt-4o-mini": ("0.30", "1.20")])))

    @Test("a customer's own rates are laid over the book's card and its markup replaces the book's")
    func overrides() {
        let rules = PricingRules(
            catalogs: ["openai": openAI], priceBooks: ["standard": Self.withCard], defaultPriceBook: "standard",
            customers: ["acme": CustomerPricing(rates: card(["gpt-4o": ("2", "8")]), markup: ratio("2"))])
        // acme's own gpt-4o: 1,200 × 2e-6 + 500 × 8e-6; the book's: 1,200 × 3e-6 + 500 × 1.2e-5
        #expect(rules.rate("acme", model: "gpt-4o").price == money("0.0064"))
        #expect(rules.rate("globex", model: "gpt-4o").price == money("0.0096"))
        #expect(rules.rate("acme", model: "gpt-4o-2024-08-06").price == money("0.0064"))
        // the book's card for what acme does not list
        #expect(rules.rate("acme", model: "gpt-4o-mini").price == money("0.00096"))
        // o3 is on neither card: cost 0.0064 × acme's 2 or the book's 1.5
        #expect(rules.rate("acme", model: "o3").price == money("0.0128"))
        #expect(rules.rate("globex", model: "o3").price == money("0.0096"))
        #expect(rules.rate("acme").priceBook == "standard")
    }

    /// `standard` at markup 1.2 from 2026-01-01 and 1.5 from 2026-06-01; `old` held on the first until 2026-09-01.
    static let versioned = PricingRules(
        catalogs: ["openai": openAI],
        priceBooks: [
            "standard": PriceBook(
                name: "standard", currency: "USD",
                versions: [.init(effectiveMs: at("2026-06-01"), markup: ratio("1.5")), .init(effectiveMs: at("2026-01-01"), markup: ratio("1.2"))])
        ], defaultPriceBook: "standard",
        customers: [
            "old": CustomerPricing(hold: .init(versionEffectiveMs: at("2026-01-01"), untilMs: at("2026-09-01"))),
            "early": CustomerPricing(hold: .init(versionEffectiveMs: at("2026-06-01"), untilMs: at("2027-01-01"))),
        ])

    @Test(
        "a held customer keeps the old version until the hold ends; others move on when the new version takes effect",
        arguments: [
            ("old", "2026-03-01", "0.0093", "standard@2026-01-01T00:00:00Z"),
            ("new", "2026-03-01", "0.0093", "standard@2026-01-01T00:00:00Z"),
            ("old", "2026-07-01", "0.0093", "standard@2026-01-01T00:00:00Z"),
            ("new", "2026-07-01", "0.011625", "standard@2026-06-01T00:00:00Z"),
            ("new", "2026-05-31T23:59:59.999Z", "0.0093", "standard@2026-01-01T00:00:00Z"),
            ("new", "2026-06-01T00:00:00Z", "0.011625", "standard@2026-06-01T00:00:00Z"),
            ("old", "2026-08-31T23:59:59.999Z", "0.0093", "standard@2026-01-01T00:00:00Z"),
            ("old", "2026-09-01T00:00:00Z", "0.011625", "standard@2026-06-01T00:00:00Z"),
            // a hold on a version not yet in force does not bring it forward
            ("early", "2026-03-01", "0.0093", "standard@2026-01-01T00:00:00Z"),
            ("early", "2026-07-01", "0.011625", "standard@2026-06-01T00:00:00Z"),
        ])
    func hold(customer: String, time: String, price: String, label: String) {
        let rating = Self.versioned.rate(customer, at: time)
        #expect(rating.price == money(price))
        #expect(rating.priceBook == label)
        #expect(Self.versioned.priceBook(for: customer, at: at(time)).map { $0.book.label(of: $0.version) } == label)
    }

    @Test(
        "a 10 % discount applies to events inside its window only",
        arguments: [
            ("2026-02-28T23:59:59.999Z", "0.0096875"),
            ("2026-03-01T00:00:00Z", "0.00871875"),
            ("2026-03-31T23:59:59.999Z", "0.00871875"),
            ("2026-04-01T00:00:00Z", "0.0096875"),
        ])
    func discountWindow(time: String, price: String) throws {
        let march = try CustomerPricing.Discount(percent: "10", fromMs: at("2026-03-01"), untilMs: at("2026-04-01"))
        let rules = PricingRules(catalogs: ["openai": openAI], markup: ratio("1.25"), customers: ["acme": CustomerPricing(discounts: [march])])
        let rating = rules.rate(at: time)
        #expect(rating.price == money(price))
        #expect(rating.cost == money("0.00775"), "a discount changes the price, never the cost")
        #expect(rules.rate("globex", at: time).price == money("0.0096875"))
    }

    @Test("a discount applies to the usage price after fee and minimum, not to the provisional share of period charges")
    func discountScope() throws {
        let tenPercent = try CustomerPricing.Discount(percent: "10")
        var plan = Self.metered
        plan.versions[0].rates = card(["gpt-4o-mini": ("0.30", "1.20")])
        plan.versions[0].perRequest = money("0.001")
        plan.versions[0].minimumPerRequest = money("0.005")
        let rules = PricingRules(
            catalogs: ["openai": openAI], priceBooks: ["plan": plan], defaultPriceBook: "plan",
            customers: ["acme": CustomerPricing(discounts: [tenPercent])])
        // usage: card 0.00096 + fee 0.001 = 0.00196 → minimum 0.005 → less 10 % = 0.0045; provisional 0.004 + 0.17 + 0.5
        #expect(rules.rate("acme", model: "gpt-4o-mini").price == money("0.6785"))
        #expect(rules.rate("globex", model: "gpt-4o-mini").price == money("0.679"))
        let free = PricingRules(
            catalogs: ["openai": openAI], markup: ratio("1.25"), customers: ["acme": CustomerPricing(discounts: [try .init(percent: "100")])])
        #expect(free.rate().price == .zero)
    }

    @Test("two discounts in force together multiply")
    func overlappingDiscounts() async {
        // Ratios are kept in lowest terms (0.9 × 0.9 = 81/100), so raw × numerator stays far from Int128's limit.
        // Run in a child process: an overflow would trap.
        await #expect(processExitsWith: .success) {
            let catalog = PriceCatalog(models: ["m": ModelPrice(input: Money.perMillionTokens("1")!, output: .zero)])
            let discounts = [try! CustomerPricing.Discount(percent: "10"), try! CustomerPricing.Discount(percent: "10")]
            let rules = PricingRules(catalogs: ["p": catalog], customers: ["acme": CustomerPricing(discounts: discounts)])
            let rating = rules.rate(
                provider: "p", customer: "acme", usage: TokenUsage(inputTokens: 1_000_000), servedModel: "m", requestedModel: nil,
                serviceTier: nil, at: 0)
            // 1.00 × 0.9 × 0.9
            precondition(rating.price == Money("0.81")!)
        }
    }

    @Test("a discount on a yen-sized event price does not overflow")
    func discountOnLargeAmount() async {
        // A regression guard: unreduced ratios once made raw × 9e19 overflow for prices above ~1,890 units.
        await #expect(processExitsWith: .success) {
            let yen = PriceBook(
                name: "yen", currency: "JPY",
                versions: [.init(rates: PriceTable(models: ["m": ModelPrice(input: Money.perMillionTokens("2250")!, output: .zero)]))])
            let rules = PricingRules(
                catalogs: ["p": PriceCatalog(models: ["m": ModelPrice(input: Money.perMillionTokens("15")!, output: .zero)])],
                priceBooks: ["yen": yen], defaultPriceBook: "yen",
                customers: ["acme": CustomerPricing(discounts: [try! CustomerPricing.Discount(percent: "10")])])
            let rating = rules.rate(
                provider: "p", customer: "acme", usage: TokenUsage(inputTokens: 1_000_000), servedModel: "m", requestedModel: nil,
                serviceTier: nil, at: 0)
            precondition(rating.price == Money("2025")!)
        }
    }

    // MARK: Failed requests, currency

    @Test("a failed request costs and is priced nothing: no tokens, no fee, no minimum, no provisional charges")
    func failedRequests() {
        var plan = Self.metered
        plan.versions[0].markup = ratio("1.5")
        plan.versions[0].perRequest = money("0.001")
        plan.versions[0].minimumPerRequest = money("0.005")
        let withBook = PricingRules(catalogs: ["openai": openAI], priceBooks: ["plan": plan], defaultPriceBook: "plan")
        let withoutBook = PricingRules(catalogs: ["openai": openAI], markup: ratio("1.25"))
        for rules in [withBook, withoutBook] {
            let rating = rules.rate(billable: false)
            #expect(rating.cost == .zero)
            #expect(rating.price == .zero)
            #expect(rating.priced && rating.pricedAs == "gpt-4o", "the model is still known")
            #expect(rules.rate(usage: .zero, billable: false).price == .zero)
        }
        let breakdown = withBook.cost(provider: "openai", usage: usage, models: ["gpt-4o"], serviceTier: nil, at: 0, billable: false)
        #expect(breakdown?.breakdown.lines.isEmpty == true)
        #expect(plan.versions[0].usagePrice(usage: usage, cost: money("1"), models: ["gpt-4o"], serviceTier: nil, billable: false) == .zero)
    }

    @Test("the price is in the book's currency, the cost in the catalog's")
    func bookCurrency() {
        let euros = book("euro", currency: "EUR", .init(rates: card(["gpt-4o": ("2.30", "9.20")])))
        let rules = PricingRules(
            catalogs: ["openai": openAI], priceBooks: ["euro": euros], currency: "USD", customers: ["acme": .init(priceBook: "euro")])
        let rating = rules.rate("acme")
        #expect(rating.currency == "USD" && rating.cost == money("0.00775"))
        // 1,200 × 2.3e-6 + 500 × 9.2e-6
        #expect(rating.priceCurrency == "EUR" && rating.price == money("0.00736"))
        #expect(rating.priceBook == "euro")
        let other = rules.rate("globex")
        #expect(other.priceCurrency == "USD" && other.priceBook == "markup", "a customer without a book is on the markup rule")
    }

    @Test("an unknown provider costs nothing and is unpriced")
    func unknownProvider() {
        let rules = PricingRules(catalogs: ["openai": openAI], currency: "CHF")
        let rating = rules.rate(
            provider: "nowhere", customer: "acme", usage: usage, servedModel: "gpt-4o", requestedModel: nil, serviceTier: nil, at: 0)
        #expect(!rating.priced && rating.cost == .zero && rating.price == .zero)
        #expect(rating.currency == "CHF")
    }
}
