/// The cost and price of one event: what the provider charges us and what the customer is charged.
///
/// For now the customer price is the cost times the configured markup (price books come later). The served model
/// is priced first, since it is what the provider bills; the requested model is the fallback.
public struct Rating: Sendable, Equatable {
    /// What the provider charges.
    public var cost: Money
    /// What the customer is charged.
    public var price: Money
    /// Currency of both.
    public var currency: String
    /// Whether a price was found; when not, both amounts are zero and the event says so.
    public var priced: Bool
    /// The price-table entry used.
    public var pricedAs: String?

    /// Rates a usage.
    public static func rate(
        usage: TokenUsage, servedModel: String?, requestedModel: String?, prices: PriceTable, markup: DecimalRatio
    ) -> Rating {
        for model in [servedModel, requestedModel].compactMap({ $0 }) {
            if let (name, price) = prices.price(for: model) {
                let cost = price.cost(of: usage)
                return Rating(cost: cost, price: cost.multiplied(by: markup), currency: prices.currency, priced: true, pricedAs: name)
            }
        }
        return Rating(cost: .zero, price: .zero, currency: prices.currency, priced: false, pricedAs: nil)
    }
}
