/// A customer's events of one period summed by model and price-book version: what a period is rated from.
public struct PeriodAggregate: Sendable, Equatable {
    /// The group's customer.
    public var customer: String
    /// Served model (else requested).
    public var model: String
    /// The price-book label the events were priced under (`standard@…`, `markup`).
    public var priceBook: String
    /// Currency of ``price``.
    public var priceCurrency: String
    /// Currency of ``cost``.
    public var costCurrency: String
    /// Events in the group.
    public var events: Int
    /// Billable events (successful, or carrying tokens).
    public var requests: Int
    /// Token classes summed over billable events.
    public var usage: TokenUsage
    /// Sum of the events' costs.
    public var cost: Money
    /// Sum of the events' prices (usage part plus provisional charges).
    public var price: Money

    /// An empty group.
    public init(customer: String, model: String, priceBook: String, priceCurrency: String, costCurrency: String) {
        self.customer = customer
        self.model = model
        self.priceBook = priceBook
        self.priceCurrency = priceCurrency
        self.costCurrency = costCurrency
        self.events = 0
        self.requests = 0
        self.usage = .zero
        self.cost = .zero
        self.price = .zero
    }

    /// Adds one event, priced at `price`.
    public mutating func add(_ event: UsageEvent, price: Money) {
        events += 1
        cost += event.cost
        self.price += price
        if event.isBillable {
            requests += 1
            usage = usage + event.usage
        }
    }

    /// Sums events into groups keyed by customer, model, price book and currency, in a stable order.
    public static func group(_ events: some Sequence<UsageEvent>) -> [PeriodAggregate] {
        var builder = Builder()
        for event in events { builder.add(event) }
        return builder.aggregates
    }

    /// Incremental grouping (for streaming through many events).
    public struct Builder: Sendable {
        private var groups: [String: PeriodAggregate] = [:]

        /// An empty builder.
        public init() {}

        /// Adds an event with its stored price, or with another price and label (re-rating).
        public mutating func add(_ event: UsageEvent, price: Money? = nil, priceBook: String? = nil, priceCurrency: String? = nil) {
            let model = event.servedModel ?? event.model ?? ""
            let book = priceBook ?? event.priceBook ?? "markup"
            let currency = priceCurrency ?? event.effectivePriceCurrency
            let key = "\(event.customer)\u{1}\(model)\u{1}\(book)\u{1}\(currency)\u{1}\(event.currency)"
            groups[
                key,
                default: PeriodAggregate(
                    customer: event.customer, model: model, priceBook: book, priceCurrency: currency, costCurrency: event.currency)
            ]
            .add(event, price: price ?? event.price)
        }

        /// The groups, sorted by customer, model, price book.
        public var aggregates: [PeriodAggregate] {
            groups.values.sorted { ($0.customer, $0.model, $0.priceBook, $0.priceCurrency) < ($1.customer, $1.model, $1.priceBook, $1.priceCurrency) }
        }
    }
}

/// One line of a customer's period: usage of a model, a plan charge, a base fee, a discount or a minimum true-up.
public struct RatedLine: Sendable, Equatable {
    /// What the line is.
    public enum Kind: String, Sendable, Codable {
        case usage, charge
        case baseFee = "base_fee"
        case discount
        case minimum
    }

    /// The line's kind.
    public var kind: Kind
    /// What it says on a statement (`gpt-4o`, `API calls`, `Base fee`).
    public var description: String
    /// The model (usage lines).
    public var model: String?
    /// The meter (charge lines).
    public var meter: String?
    /// The price book label.
    public var priceBook: String?
    /// Units: requests for usage lines, the period total of the meter for charges, 1 for fees.
    public var quantity: Int
    /// Exact amount (negative for discounts).
    public var amount: Money
    /// Currency of the amount.
    public var currency: String
    /// Provider cost behind the line (usage lines).
    public var cost: Money
    /// Tokens behind the line (usage lines).
    public var usage: TokenUsage?
    /// Bracket breakdown (charges).
    public var brackets: [ChargeRating.Bracket]
    /// Events behind the line.
    public var events: Int

    /// The amount rounded half to even to the currency's minor unit: the one rounding of an invoiced amount.
    public var amountDue: Money { amount.rounded(toDigits: Currency.minorUnits(currency)) }
}

/// A customer's rated period: its lines and totals.
public struct PeriodStatement: Sendable, Equatable {
    /// The customer.
    public var customer: String
    /// Period start (inclusive), milliseconds.
    public var startMs: Int64
    /// Period end (exclusive), milliseconds.
    public var endMs: Int64
    /// The book (and version) of the period's charges, or `markup`.
    public var priceBook: String
    /// Lines in statement order: usage by model, charges, base fee, discount, minimum.
    public var lines: [RatedLine]
    /// Sum of the lines' exact amounts, by currency.
    public var totals: [String: Money]
    /// Sum of the lines' rounded amounts, by currency: what is invoiced.
    public var totalsDue: [String: Money]
    /// Provider cost of the period, by currency.
    public var costs: [String: Money]
    /// Events in the period.
    public var events: Int

    /// The period's total in its main currency (the book's), and that currency.
    public var total: (amount: Money, currency: String) {
        let currency = lines.first(where: { $0.kind != .usage })?.currency ?? totals.keys.sorted().first ?? "USD"
        return (totals[currency] ?? .zero, currency)
    }
}

/// Rates a customer's period from its aggregates: usage lines are the sums of the events' prices (less their
/// provisional share of the charges), and the plan's charges, base fee, discount and minimum are rated on the
/// period totals under the book version in force at the period's start.
public enum PeriodRater {
    /// Rates one customer's period.
    public static func rate(customer: String, startMs: Int64, endMs: Int64, aggregates: [PeriodAggregate], rules: PricingRules) -> PeriodStatement {
        var lines: [RatedLine] = []
        let mine = aggregates.filter { $0.customer == customer }
        for aggregate in mine {
            let version = bookVersion(labelled: aggregate.priceBook, rules: rules)
            var provisional = Money.zero
            if let version {
                for charge in version.charges where charge.counts(model: aggregate.model) {
                    provisional += charge.provisionalUnitPrice.times(charge.meter.quantity(requests: aggregate.requests, usage: aggregate.usage))
                }
            }
            lines.append(
                RatedLine(
                    kind: .usage, description: aggregate.model.isEmpty ? "(no model)" : aggregate.model, model: aggregate.model,
                    meter: nil, priceBook: aggregate.priceBook, quantity: aggregate.requests, amount: aggregate.price - provisional,
                    currency: aggregate.priceCurrency, cost: aggregate.cost, usage: aggregate.usage, brackets: [], events: aggregate.events))
        }
        var label = "markup"
        if let (book, version) = rules.priceBook(for: customer, at: startMs) {
            label = book.label(of: version)
            var planAmount = Money.zero
            for charge in version.charges {
                let counted = mine.filter { charge.counts(model: $0.model) }
                let quantity = counted.reduce(0) { $0 + charge.meter.quantity(requests: $1.requests, usage: $1.usage) }
                let rating = charge.rate(quantity: quantity)
                planAmount += rating.amount
                lines.append(
                    RatedLine(
                        kind: .charge, description: charge.name, model: nil, meter: charge.meter.rawValue, priceBook: label, quantity: quantity,
                        amount: rating.amount, currency: book.currency, cost: .zero, usage: nil, brackets: rating.brackets,
                        events: counted.reduce(0) { $0 + $1.events }))
            }
            if let fee = version.baseFee {
                planAmount += fee
                lines.append(
                    RatedLine(
                        kind: .baseFee, description: "Base fee", model: nil, meter: nil, priceBook: label, quantity: 1, amount: fee,
                        currency: book.currency, cost: .zero, usage: nil, brackets: [], events: 0))
            }
            for discount in rules.customers[customer]?.discounts ?? [] where discount.applies(at: startMs) && planAmount > .zero {
                let off = planAmount - planAmount.multiplied(by: discount.remaining)
                planAmount = planAmount - off
                lines.append(
                    RatedLine(
                        kind: .discount, description: "Discount \(discount.percentText)% on plan charges", model: nil, meter: nil,
                        priceBook: label, quantity: 1, amount: .zero - off, currency: book.currency, cost: .zero, usage: nil, brackets: [],
                        events: 0))
            }
            if let minimum = version.periodMinimum {
                let sum = lines.filter { $0.currency == book.currency }.reduce(Money.zero) { $0 + $1.amount }
                if sum < minimum {
                    lines.append(
                        RatedLine(
                            kind: .minimum, description: "Minimum commitment \(minimum) \(book.currency)", model: nil, meter: nil,
                            priceBook: label, quantity: 1, amount: minimum - sum, currency: book.currency, cost: .zero, usage: nil, brackets: [],
                            events: 0))
                }
            }
        }
        var totals: [String: Money] = [:]
        var due: [String: Money] = [:]
        for line in lines {
            totals[line.currency, default: .zero] += line.amount
            due[line.currency, default: .zero] += line.amountDue
        }
        var costs: [String: Money] = [:]
        for aggregate in mine { costs[aggregate.costCurrency, default: .zero] += aggregate.cost }
        return PeriodStatement(
            customer: customer, startMs: startMs, endMs: endMs, priceBook: label, lines: lines, totals: totals, totalsDue: due, costs: costs,
            events: mine.reduce(0) { $0 + $1.events })
    }

    /// The book version an aggregate's events were priced under, found from their label.
    static func bookVersion(labelled label: String, rules: PricingRules) -> PriceBook.Version? {
        let name = label.split(separator: "@", maxSplits: 1).first.map(String.init) ?? label
        guard let book = rules.priceBooks[name] else { return nil }
        if let at = label.split(separator: "@", maxSplits: 1).dropFirst().first, let effective = Timestamps.parse(String(at)) {
            return book.version(effectiveAt: effective)
        }
        return book.versions.first
    }
}

/// Currency facts needed for invoicing.
public enum Currency {
    /// Digits of the minor unit (2 for USD cents, 0 for JPY, 3 for KWD).
    public static func minorUnits(_ code: String) -> Int {
        switch code {
        case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF": 0
        case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND": 3
        default: 2
        }
    }
}

extension UsageEvent {
    /// Whether the event is billed: a successful answer, or any answer that carried tokens.
    public var isBillable: Bool { Self.isBillable(status: status, usage: usage) }

    /// The billing rule, for an event not built yet.
    public static func isBillable(status: Int, usage: TokenUsage) -> Bool { (200..<300).contains(status) || usage.totalTokens > 0 }
}
