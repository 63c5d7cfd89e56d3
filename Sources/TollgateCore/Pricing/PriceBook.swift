/// What customers pay: a named set of customer prices in one currency, in versions that take effect at set times.
///
/// A version prices each event (the "usage" part: the book's own rate card for the model, else the provider cost
/// times a markup, plus a fee per request, never below a minimum per request) and adds period charges rated on
/// the period's totals (tiered, volume, package, allowances, a base fee, a period minimum).
public struct PriceBook: Sendable, Equatable {
    /// One version of the book.
    public struct Version: Sendable, Equatable {
        /// When it takes effect (milliseconds since 1970, UTC); `Int64.min` for "always".
        public var effectiveMs: Int64
        /// Price = provider cost × markup, for models without a rate in ``rates`` (`nil`: such models get no
        /// usage price, only the period charges).
        public var markup: DecimalRatio?
        /// The book's own rates by model name or pattern, looked up like a provider catalog.
        public var rates: PriceTable
        /// Fee added to every successful inference.
        public var perRequest: Money?
        /// Lowest usage price of a successful inference.
        public var minimumPerRequest: Money?
        /// Flat fee per period (the base of a hybrid plan).
        public var baseFee: Money?
        /// Lowest total of a period; a shortfall becomes a true-up line.
        public var periodMinimum: Money?
        /// Period charges.
        public var charges: [Charge]

        /// Creates a version.
        public init(
            effectiveMs: Int64 = .min, markup: DecimalRatio? = nil, rates: PriceTable = PriceTable(), perRequest: Money? = nil,
            minimumPerRequest: Money? = nil, baseFee: Money? = nil, periodMinimum: Money? = nil, charges: [Charge] = []
        ) {
            self.effectiveMs = effectiveMs
            self.markup = markup
            self.rates = rates
            self.perRequest = perRequest
            self.minimumPerRequest = minimumPerRequest
            self.baseFee = baseFee
            self.periodMinimum = periodMinimum
            self.charges = charges
        }

        /// The usage price of one event under this version, before discounts; `nil` when neither the rate card
        /// nor a markup covers the model.
        public func usagePrice(usage: TokenUsage, cost: Money, models: [String], serviceTier: String?, billable: Bool) -> Money? {
            guard billable else { return .zero }
            var price: Money?
            for model in models {
                if let (_, modelPrice) = rates.price(for: model) {
                    price = modelPrice.cost(of: usage, serviceTier: serviceTier).total
                    break
                }
            }
            if price == nil, let markup { price = cost.multiplied(by: markup) }
            guard var total = price ?? (perRequest != nil || minimumPerRequest != nil ? .zero : nil) else { return nil }
            total += perRequest ?? .zero
            if let minimum = minimumPerRequest, total < minimum { total = minimum }
            return total
        }

        /// The provisional share of the period charges an event carries (its quantities at each charge's first
        /// billed rate); the period's rated lines replace it with the charges rated on the totals.
        public func provisionalChargePrice(usage: TokenUsage, model: String, billable: Bool) -> Money {
            guard billable else { return .zero }
            var total = Money.zero
            for charge in charges where charge.counts(model: model) {
                total += charge.provisionalUnitPrice.times(charge.meter.quantity(requests: 1, usage: usage))
            }
            return total
        }
    }

    /// The book's name (its file name without extension unless it says otherwise).
    public var name: String
    /// Currency of every amount in it.
    public var currency: String
    /// Versions, oldest first.
    public var versions: [Version]
    /// The billing cycle of the customers on this book, unless their own terms name one (`nil`: the config's).
    public var billingCycle: BillingCycle?

    /// Creates a book.
    public init(name: String, currency: String, versions: [Version], billingCycle: BillingCycle? = nil) {
        self.name = name
        self.currency = currency
        self.billingCycle = billingCycle
        self.versions = versions.sorted { $0.effectiveMs < $1.effectiveMs }
    }

    /// The version in force at a time (the earliest one before every version starts).
    public func version(at timestampMs: Int64) -> Version {
        versions.last(where: { $0.effectiveMs <= timestampMs }) ?? versions[0]
    }

    /// The version that took effect at exactly `effectiveMs`, if any.
    public func version(effectiveAt effectiveMs: Int64) -> Version? {
        versions.first { $0.effectiveMs == effectiveMs }
    }

    /// `name@2026-01-01T00:00:00Z`, the label events carry.
    public func label(of version: Version) -> String {
        version.effectiveMs == .min ? name : "\(name)@\(Timestamps.iso8601(version.effectiveMs))"
    }
}

/// How one customer is priced: the book, a version held until a date, time-boxed discounts, own overrides.
public struct CustomerPricing: Sendable, Equatable {
    /// A customer kept on an older version of their book until a date (grandfathering).
    public struct Hold: Sendable, Hashable {
        /// Effective time of the version kept.
        public var versionEffectiveMs: Int64
        /// Until when (exclusive).
        public var untilMs: Int64

        /// Creates a hold.
        public init(versionEffectiveMs: Int64, untilMs: Int64) {
            self.versionEffectiveMs = versionEffectiveMs
            self.untilMs = untilMs
        }
    }

    /// A percentage off the customer's prices between two times.
    public struct Discount: Sendable, Hashable {
        /// Share taken off (0.1 for 10 %).
        public var share: DecimalRatio
        /// Start (inclusive), `Int64.min` for "always".
        public var fromMs: Int64
        /// End (exclusive), `Int64.max` for "never".
        public var untilMs: Int64
        /// The percentage as written, for line labels.
        public var percentText: String

        /// Creates a discount.
        public init(percent: String, fromMs: Int64 = .min, untilMs: Int64 = .max) throws(PricingError) {
            guard let ratio = DecimalRatio(percent), let hundred = DecimalRatio("100"), ratio.numerator <= hundred.numerator else {
                throw PricingError("a discount is a percentage between 0 and 100, not '\(percent)'")
            }
            self.share = DecimalRatio(numerator: ratio.numerator, denominator: ratio.denominator * 100)
            self.fromMs = fromMs
            self.untilMs = untilMs
            self.percentText = percent
        }

        /// Whether the discount is in force at a time.
        public func applies(at timestampMs: Int64) -> Bool { fromMs <= timestampMs && timestampMs < untilMs }

        /// What remains to pay after the discount (0.9 for 10 %).
        public var remaining: DecimalRatio { DecimalRatio(numerator: share.denominator - share.numerator, denominator: share.denominator) }
    }

    /// The book's name (`nil`: the default book).
    public var priceBook: String?
    /// Grandfathering, if any.
    public var hold: Hold?
    /// Discounts.
    public var discounts: [Discount]
    /// The customer's own rates, laid over the book's rate card (same model lookup).
    public var rates: PriceTable
    /// The customer's own markup, replacing the book's.
    public var markup: DecimalRatio?
    /// The customer's ids in billing systems (`stripe: cus_123`), for billing export; an id set with `tollgate
    /// customers set --external` wins.
    public var externalIDs: [String: String] = [:]
    /// The customer's own billing cycle (`pricing.customers.ID.billing_cycle`); one set in the meter (`tollgate
    /// customers set --cycle`) comes before it.
    public var billingCycle: BillingCycle?
    /// Moves to another price book at a time (`plan_changes: [{price_book, from}]`), oldest first: the customer is on
    /// ``priceBook`` before the first, then on each change's book from its time. A period across a change is rated by
    /// plan, with base fees, allowances and minimums prorated by time (``PeriodRater``).
    public var planChanges: [PlanChange] = []

    /// A move to another price book.
    public struct PlanChange: Sendable, Hashable {
        /// The book from then on.
        public var priceBook: String
        /// When (ms since 1970).
        public var fromMs: Int64

        /// A change.
        public init(priceBook: String, fromMs: Int64) {
            self.priceBook = priceBook
            self.fromMs = fromMs
        }
    }

    /// Creates an assignment.
    public init(
        priceBook: String? = nil, hold: Hold? = nil, discounts: [Discount] = [], rates: PriceTable = PriceTable(), markup: DecimalRatio? = nil
    ) {
        self.priceBook = priceBook
        self.hold = hold
        self.discounts = discounts
        self.rates = rates
        self.markup = markup
    }
}

/// A pricing rule that cannot be used as written.
public struct PricingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}
