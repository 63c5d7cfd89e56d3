/// Rating a period for several customers at once, and tracing a rated line back to the events behind it: what
/// `tollgate lines`, `tollgate rerate`, customer statements and the dashboard share.
extension PeriodRater {
    /// Rated periods for every customer with events in the aggregates, plus the customers whose plan bills a period
    /// without events (a base fee or a minimum commitment), sorted by customer; with `only`, that customer alone.
    public static func statements(
        aggregates: [PeriodAggregate], rules: PricingRules, startMs: Int64, endMs: Int64, only: String? = nil
    ) -> [PeriodStatement] {
        var customers = Set(aggregates.map(\.customer))
        for customer in rules.customers.keys where billsEmptyPeriod(customer: customer, rules: rules, startMs: startMs) {
            customers.insert(customer)
        }
        if let only { customers = customers.filter { $0 == only } }
        return customers.sorted().map { rate(customer: $0, startMs: startMs, endMs: endMs, aggregates: aggregates, rules: rules) }
    }

    /// Whether the customer's plan charges something for a period without events: a base fee or a minimum
    /// commitment in the book version in force at the period's start.
    public static func billsEmptyPeriod(customer: String, rules: PricingRules, startMs: Int64) -> Bool {
        guard let (_, version) = rules.priceBook(for: customer, at: startMs) else { return false }
        return version.baseFee != nil || version.periodMinimum != nil
    }

    /// The part of an event's stored price that was its provisional share of the plan's period charges (each charge's
    /// first billed rate times the event's quantity): what its usage line takes off, because the charge lines rate
    /// those quantities on the period's totals instead. Summed over a usage line's events it is exactly what
    /// ``rate(customer:startMs:endMs:aggregates:rules:)`` subtracts from the line.
    public static func provisionalShare(of event: UsageEvent, rules: PricingRules) -> Money {
        provisionalShare(of: event, charges: charges(pricedUnder: event.priceBook ?? "markup", rules: rules))
    }

    /// ``provisionalShare(of:rules:)`` with the charges of the event's book version already looked up (once per price
    /// book label, when walking many events).
    public static func provisionalShare(of event: UsageEvent, charges: [Charge]) -> Money {
        let model = PeriodAggregate.lineModel(of: event)
        var share = Money.zero
        for charge in charges where charge.counts(model: model) {
            share += charge.provisionalUnitPrice.times(units(of: event, on: charge.meter))
        }
        return share
    }

    /// The period charges of the book version a price-book label (`calls@2026-01-01T00:00:00Z`, `markup`) names: the
    /// charges whose provisional share events priced under that label carry.
    public static func charges(pricedUnder label: String, rules: PricingRules) -> [Charge] {
        bookVersion(labelled: label, rules: rules)?.charges ?? []
    }

    /// The units an event adds to a period charge's meter: its requests and tokens when it is billable, nothing
    /// otherwise (the rule ``PeriodAggregate`` sums by).
    public static func units(of event: UsageEvent, on meter: Charge.Metric) -> Int {
        guard event.isBillable else { return 0 }
        return meter.quantity(requests: 1, usage: event.usage)
    }

    /// The period charges of the customer's plans (the book version in force at the start of each plan in the period),
    /// in the order of the statement's `.charge` lines: one line per charge, quantity zero included; each with the
    /// plan whose events it counts.
    public static func planCharges(customer: String, rules: PricingRules, startMs: Int64, endMs: Int64) -> [(charge: Charge, plan: PlanPart)] {
        planParts(customer: customer, rules: rules, startMs: startMs, endMs: endMs).flatMap { part in part.charges.map { ($0, part) } }
    }
}

extension PeriodAggregate {
    /// The model an event is grouped (and its usage line named) by: the served model, else the requested one.
    public static func lineModel(of event: UsageEvent) -> String { event.servedModel ?? event.model ?? "" }
}
