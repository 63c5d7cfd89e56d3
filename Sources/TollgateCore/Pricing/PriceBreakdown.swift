/// A priced usage, class by class: the quantity of each class, the rate it was billed at and the amount.
public struct PriceBreakdown: Sendable, Hashable {
    /// One priced class.
    public struct Line: Sendable, Hashable, Codable {
        /// The class billed.
        public var priceClass: PriceClass
        /// Tokens or units.
        public var quantity: Int
        /// Rate per token or unit.
        public var rate: Money
        /// The class whose rate was used, when it is not the class itself (cache reads at the input rate).
        public var rateFrom: PriceClass?
        /// quantity × rate, exact.
        public var amount: Money
    }

    /// The classes with a non-zero quantity, in ``PriceClass`` order.
    public var lines: [Line]
    /// Sum of the lines.
    public var total: Money
    /// The service tier whose rates applied, if not the standard one.
    public var serviceTier: String?
    /// The long-context threshold crossed, if any.
    public var longContextThreshold: Int?

    /// Prices every class of a usage at resolved rates.
    public init(usage: TokenUsage, rates: TokenRates, serviceTier: String? = nil, longContextThreshold: Int? = nil) {
        var lines: [Line] = []
        var total = Money.zero
        for priceClass in PriceClass.allCases {
            let quantity = priceClass.quantity(in: usage)
            guard quantity > 0, priceClass.isTokenClass || rates[priceClass] != nil else { continue }
            let rate = rates.effective(priceClass)
            let source = rates.source(of: priceClass)
            let amount = rate.times(quantity)
            lines.append(Line(priceClass: priceClass, quantity: quantity, rate: rate, rateFrom: source == priceClass ? nil : source, amount: amount))
            total += amount
        }
        self.lines = lines
        self.total = total
        self.serviceTier = serviceTier
        self.longContextThreshold = longContextThreshold
    }
}
