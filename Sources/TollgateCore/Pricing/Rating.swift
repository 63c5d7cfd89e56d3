/// Everything that prices an event: the providers' catalogs (cost), the price books and each customer's terms
/// (price). One immutable value; a reload builds a new one and swaps it in whole.
public struct PricingRules: Sendable {
    /// Provider catalogs by provider name.
    public var catalogs: [String: PriceCatalog]
    /// Price books by name.
    public var priceBooks: [String: PriceBook]
    /// The book for customers without their own (`nil`: price = cost × ``markup``).
    public var defaultPriceBook: String?
    /// Markup for customers without a book.
    public var markup: DecimalRatio
    /// Currency of prices for customers without a book.
    public var currency: String
    /// Customers' own terms by customer id.
    public var customers: [String: CustomerPricing]
    /// The rate of a model no catalog prices (`pricing.unpriced_models.fallback`), if the operator set one.
    public var fallback: ModelPrice?
    /// The billing cycle of customers whose terms and price book name none (`pricing.billing_cycle`).
    public var billingCycle: BillingCycle

    /// Creates rules.
    public init(
        catalogs: [String: PriceCatalog] = [:], priceBooks: [String: PriceBook] = [:], defaultPriceBook: String? = nil,
        markup: DecimalRatio = .one, currency: String = "USD", customers: [String: CustomerPricing] = [:], fallback: ModelPrice? = nil,
        billingCycle: BillingCycle = .calendarMonthUTC
    ) {
        self.billingCycle = billingCycle
        self.fallback = fallback
        self.catalogs = catalogs
        self.priceBooks = priceBooks
        self.defaultPriceBook = defaultPriceBook
        self.markup = markup
        self.currency = currency
        self.customers = customers
    }

    /// A customer's billing cycle and where it comes from: `override` (the cycle recorded in the meter for the
    /// customer), else the customer's terms, else its price book's, else ``billingCycle``.
    public func billingCycle(for customer: String, override: BillingCycle? = nil) -> (cycle: BillingCycle, source: BillingCycleSource) {
        if let override { return (override, .customer) }
        let terms = customers[customer]
        if let own = terms?.billingCycle { return (own, .customerTerms) }
        if let name = terms?.priceBook ?? defaultPriceBook, let book = priceBooks[name], let cycle = book.billingCycle {
            return (cycle, .priceBook(name))
        }
        return (billingCycle, .default)
    }

    /// The name of the book a customer is on at a time: its last plan change by then, else its book, else the default.
    public func priceBookName(for customer: String, at timestampMs: Int64) -> String? {
        let terms = customers[customer]
        return terms?.planChanges.last(where: { $0.fromMs <= timestampMs })?.priceBook ?? terms?.priceBook ?? defaultPriceBook
    }

    /// The book and version that price a customer's events at a time (`nil`: no book, the markup rule).
    public func priceBook(for customer: String, at timestampMs: Int64) -> (book: PriceBook, version: PriceBook.Version)? {
        let terms = customers[customer]
        guard let name = priceBookName(for: customer, at: timestampMs), let book = priceBooks[name] else { return nil }
        if name == terms?.priceBook ?? defaultPriceBook, let hold = terms?.hold, timestampMs < hold.untilMs,
            let held = book.version(effectiveAt: hold.versionEffectiveMs),
            book.version(at: timestampMs).effectiveMs > held.effectiveMs
        {
            return (book, held)
        }
        return (book, book.version(at: timestampMs))
    }

    /// The provider cost of a usage: the served model's price (what the provider bills), else the requested one's.
    public func cost(
        provider: String, usage: TokenUsage, models: [String], serviceTier: String?, at timestampMs: Int64, billable: Bool
    ) -> (breakdown: PriceBreakdown, currency: String, pricedAs: String)? {
        func costed(_ price: ModelPrice) -> PriceBreakdown {
            billable ? price.cost(of: usage, serviceTier: serviceTier) : PriceBreakdown(usage: .zero, rates: TokenRates())
        }
        if let catalog = catalogs[provider] {
            for model in models {
                if let (name, price) = catalog.price(for: model, at: timestampMs) { return (costed(price), catalog.currency, name) }
            }
        }
        guard let fallback else { return nil }
        return (costed(fallback), catalogs[provider]?.currency ?? currency, Self.fallbackName)
    }

    /// The `pricedAs` of an event priced at the fallback rate.
    public static let fallbackName = "(fallback rate)"

    /// Rates one event: its cost from the provider catalog in force at its time, its price from the customer's
    /// terms. `billable` is false for failed requests: they carry neither per-request fees nor tokens' price.
    public func rate(
        provider: String, customer: String, usage: TokenUsage, servedModel: String?, requestedModel: String?, serviceTier: String?,
        at timestampMs: Int64, billable: Bool = true
    ) -> Rating {
        let models = [servedModel, requestedModel].compactMap { $0 }
        let costed = cost(provider: provider, usage: usage, models: models, serviceTier: serviceTier, at: timestampMs, billable: billable)
        let cost = costed?.breakdown.total ?? .zero
        let costCurrency = costed?.currency ?? catalogs[provider]?.currency ?? currency
        let (price, priceCurrency, label, pricedByBook) = self.price(
            customer: customer, usage: usage, cost: cost, costCurrency: costCurrency, models: models, serviceTier: serviceTier, at: timestampMs,
            billable: billable)
        return Rating(
            cost: cost, price: price, currency: costCurrency, priceCurrency: priceCurrency, priced: costed != nil || pricedByBook,
            pricedAs: costed?.pricedAs, priceBook: label)
    }

    /// The customer price of one event (usage part plus provisional period charges, less discounts in force).
    /// Without a book, a price from the customer's own rates is in ``currency`` and a marked-up cost in the cost's
    /// currency (`costCurrency`, default ``currency``).
    public func price(
        customer: String, usage: TokenUsage, cost: Money, costCurrency: String? = nil, models: [String], serviceTier: String?,
        at timestampMs: Int64, billable: Bool
    ) -> (price: Money, currency: String, label: String, pricedByRateCard: Bool) {
        let terms = customers[customer]
        var remaining = DecimalRatio.one
        for discount in terms?.discounts ?? [] where discount.applies(at: timestampMs) { remaining = remaining * discount.remaining }
        guard let (book, bookVersion) = priceBook(for: customer, at: timestampMs) else {
            let version = PriceBook.Version(markup: terms?.markup ?? markup, rates: terms?.rates ?? PriceTable())
            let usagePrice = version.usagePrice(usage: usage, cost: cost, models: models, serviceTier: serviceTier, billable: billable) ?? .zero
            let byOwnRates = models.contains { version.rates.price(for: $0) != nil }
            return (apply(remaining, to: usagePrice), byOwnRates ? currency : costCurrency ?? currency, "markup", byOwnRates)
        }
        var version = bookVersion
        if let terms {
            version.rates = PriceTable(models: version.rates.models.merging(terms.rates.models) { $1 })
            version.markup = terms.markup ?? version.markup
        }
        let usagePrice = version.usagePrice(usage: usage, cost: cost, models: models, serviceTier: serviceTier, billable: billable)
        let provisional = version.provisionalChargePrice(usage: usage, model: models.first ?? "", billable: billable)
        let byCard = models.contains { version.rates.price(for: $0) != nil }
        return (apply(remaining, to: usagePrice ?? .zero) + provisional, book.currency, book.label(of: bookVersion), byCard)
    }

    private func apply(_ ratio: DecimalRatio, to amount: Money) -> Money {
        ratio == .one ? amount : amount.multiplied(by: ratio)
    }
}

/// The cost and price of one event: what the provider charges us and what the customer is charged.
public struct Rating: Sendable, Equatable {
    /// What the provider charges.
    public var cost: Money
    /// What the customer is charged (provisional when the customer's plan has period charges).
    public var price: Money
    /// Currency of the cost.
    public var currency: String
    /// Currency of the price.
    public var priceCurrency: String
    /// Whether a price was found; when not, the cost is zero and the event says so.
    public var priced: Bool
    /// The catalog entry used.
    public var pricedAs: String?
    /// The price book label (`standard@2026-01-01T00:00:00Z`, or `markup`).
    public var priceBook: String?
}

/// Where a customer's billing cycle is set.
public enum BillingCycleSource: Sendable, Equatable, CustomStringConvertible {
    /// In the meter, for the customer (`tollgate customers set --cycle`, the admin API).
    case customer
    /// In the config's `pricing.customers.ID.billing_cycle`.
    case customerTerms
    /// In the customer's price book (`billing_cycle:` at the top of the file).
    case priceBook(String)
    /// `pricing.billing_cycle`, or the calendar month in UTC when the config has none.
    case `default`

    public var description: String {
        switch self {
        case .customer: "customer"
        case .customerTerms: "pricing.customers"
        case .priceBook(let name): "price book \(name)"
        case .default: "default"
        }
    }
}
