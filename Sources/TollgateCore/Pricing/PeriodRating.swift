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
        var labels: [String] = []
        for part in planParts(customer: customer, rules: rules, startMs: startMs, endMs: endMs) {
            let (book, version, label) = (part.book, part.version, part.label)
            labels.append(label)
            let ofThisPlan = mine.filter { part.includes($0) }
            var planAmount = Money.zero
            for charge in part.charges {
                let counted = ofThisPlan.filter { charge.counts(model: $0.model) }
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
                let prorated = part.prorate(fee)
                planAmount += prorated
                lines.append(
                    RatedLine(
                        kind: .baseFee, description: part.describe("Base fee"), model: nil, meter: nil, priceBook: label, quantity: 1,
                        amount: prorated, currency: book.currency, cost: .zero, usage: nil, brackets: [], events: 0))
            }
            for discount in rules.customers[customer]?.discounts ?? [] where discount.applies(at: startMs) && planAmount > .zero {
                let off = planAmount - planAmount.multiplied(by: discount.remaining)
                planAmount = planAmount - off
                lines.append(
                    RatedLine(
                        kind: .discount, description: part.describe("Discount \(discount.percentText)% on plan charges"), model: nil, meter: nil,
                        priceBook: label, quantity: 1, amount: .zero - off, currency: book.currency, cost: .zero, usage: nil, brackets: [],
                        events: 0))
            }
            if let minimum = version.periodMinimum.map(part.prorate) {
                // This plan's lines: its usage, charges, fee and discount (in a period without a change, every line).
                let sum = lines.filter {
                    $0.currency == book.currency && (part.isWholePeriod || $0.priceBook == label || part.includesLabel($0.priceBook))
                }
                .reduce(Money.zero) { $0 + $1.amount }
                if sum < minimum {
                    lines.append(
                        RatedLine(
                            kind: .minimum, description: part.describe("Minimum commitment \(minimum) \(book.currency)"), model: nil, meter: nil,
                            priceBook: label, quantity: 1, amount: minimum - sum, currency: book.currency, cost: .zero, usage: nil, brackets: [],
                            events: 0))
                }
            }
        }
        let label = labels.isEmpty ? "markup" : labels.joined(separator: " → ")
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

    /// One plan of a customer's period: the book it was on, the version at the plan's start, and the share of the
    /// period it lasted. A period without a plan change has one part, the whole period, rated as it always was. A
    /// period across changes (``CustomerPricing/planChanges``) has one part per book, each rating the events priced
    /// under that book with its charges, and its base fee, allowances (`included` units) and minimum prorated by the
    /// time it was in force: `amount × time on the plan ÷ period length`, exact to the last digit (allowances rounded half
    /// to even to whole units). Stripe prorates a mid-cycle plan change the same way (unused time on the old plan,
    /// remaining time on the new one, by the second).
    public struct PlanPart: Sendable {
        public var book: PriceBook
        public var version: PriceBook.Version
        /// `book@version`, as events and lines name it.
        public var label: String
        /// Time on this plan within the period, and the period's length (ms).
        public var timeMs: Int64
        public var periodMs: Int64
        /// The charges, allowances prorated and, when the period has several plans, names carrying the book's.
        public var charges: [Charge]

        /// Whether the part is the whole period (no plan change in it).
        public var isWholePeriod: Bool { timeMs == periodMs }

        /// An amount prorated by the part's share of the period.
        public func prorate(_ amount: Money) -> Money {
            isWholePeriod ? amount : Money(raw: FixedPoint.divideRoundingHalfEven(amount.raw * Int128(timeMs), by: Int128(periodMs)))
        }

        /// A line's description, with the plan and its share of the period when there are several.
        func describe(_ text: String) -> String {
            guard !isWholePeriod else { return text }
            let days = { (ms: Int64) in String(format: "%.2f", Double(ms) / 86_400_000) }
            return "\(text) — \(book.name), prorated \(days(timeMs)) of \(days(periodMs)) days"
        }

        /// Whether an aggregate's events were priced under this plan.
        public func includes(_ aggregate: PeriodAggregate) -> Bool { isWholePeriod || includesLabel(aggregate.priceBook) }

        public func includesLabel(_ label: String?) -> Bool {
            (label?.split(separator: "@", maxSplits: 1).first).map(String.init) == book.name
        }
    }

    /// The plans of a customer's period, in the order they were first in force (``PlanPart``).
    public static func planParts(customer: String, rules: PricingRules, startMs: Int64, endMs: Int64) -> [PlanPart] {
        let periodMs = max(1, endMs - startMs)
        let changes = (rules.customers[customer]?.planChanges ?? []).filter { $0.fromMs > startMs && $0.fromMs < endMs }
        guard !changes.isEmpty else {
            guard let (book, version) = rules.priceBook(for: customer, at: startMs) else { return [] }
            return [
                PlanPart(book: book, version: version, label: book.label(of: version), timeMs: periodMs, periodMs: periodMs, charges: version.charges)
            ]
        }
        // Segments [from, to) with the book in force in each, merged per book.
        let bounds = [startMs] + changes.map(\.fromMs) + [endMs]
        var order: [String] = []
        var time: [String: Int64] = [:]
        var firstStart: [String: Int64] = [:]
        for index in 0..<(bounds.count - 1) {
            guard let name = rules.priceBookName(for: customer, at: bounds[index]), rules.priceBooks[name] != nil else { continue }
            if time[name] == nil {
                order.append(name)
                firstStart[name] = bounds[index]
            }
            time[name, default: 0] += bounds[index + 1] - bounds[index]
        }
        if order.count == 1, time[order[0]] == periodMs, let (book, version) = rules.priceBook(for: customer, at: startMs) {
            return [
                PlanPart(book: book, version: version, label: book.label(of: version), timeMs: periodMs, periodMs: periodMs, charges: version.charges)
            ]
        }
        return order.compactMap { name in
            guard let book = rules.priceBooks[name], let start = firstStart[name], let ms = time[name] else { return nil }
            let version = book.version(at: start)
            let charges = version.charges.map { charge in
                var prorated = charge
                prorated.name = "\(charge.name) — \(book.name)"
                prorated.included = Int(FixedPoint.divideRoundingHalfEven(Int128(charge.included) * Int128(ms), by: Int128(periodMs)))
                return prorated
            }
            return PlanPart(book: book, version: version, label: book.label(of: version), timeMs: ms, periodMs: periodMs, charges: charges)
        }
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
