import Foundation
import TollgateCore

/// One event as a statement lists it: what a customer can match against their own logs (the event id Tollgate
/// returns, the provider's request id their SDK logged, their own idempotency key) and what it added to the bill.
public struct StatementEvent: Sendable, Equatable {
    /// Tollgate's event id (`evt_…`).
    public var id: String
    /// When the request arrived (milliseconds since 1970, UTC).
    public var timestampMs: Int64
    /// The virtual key's id (never the key).
    public var keyID: String
    /// The model the client asked for.
    public var model: String?
    /// The model the provider says served it.
    public var servedModel: String?
    /// HTTP status the client got.
    public var status: Int
    /// Whether it is billed (a successful answer, or any answer that carried tokens).
    public var billable: Bool
    /// Token classes.
    public var usage: TokenUsage
    /// The price the event carried when it was recorded (what prepaid credits were spent on).
    public var price: Money
    /// Currency of ``price``.
    public var priceCurrency: String
    /// What the event adds to its usage line: ``price`` less its provisional share of the plan's period charges,
    /// which the charge lines rate on the period's totals instead.
    public var usageAmount: Money
    /// The client's `Idempotency-Key` header.
    public var idempotencyKey: String?
    /// The provider's request id (`x-request-id`), as the client's SDK logs it.
    public var requestID: String?
    /// The `x-tollgate-feature` tag.
    public var feature: String?

    /// The statement's view of a stored event; `provisionalShare` is what its usage line takes off its price.
    public init(_ event: UsageEvent, provisionalShare: Money) {
        id = event.id
        timestampMs = event.timestampMs
        keyID = event.keyID
        model = event.model
        servedModel = event.servedModel
        status = event.status
        billable = event.isBillable
        usage = event.usage
        price = event.price
        priceCurrency = event.effectivePriceCurrency
        usageAmount = event.price - provisionalShare
        idempotencyKey = event.idempotencyKey
        requestID = event.requestID
        feature = event.feature
    }

    /// The model shown for the event: served, else requested.
    public var displayModel: String { servedModel ?? model ?? "" }
}

/// A rated line of a statement with the events behind it.
public struct StatementLine: Sendable, Equatable {
    /// One event behind the line and the units it adds to the line's quantity.
    public struct Item: Sendable, Equatable {
        /// Index of the event in ``CustomerStatement/events``.
        public var event: Int
        /// Units it adds: 1 (or 0 when not billable) on a usage line, the meter's units on a charge line.
        public var units: Int
    }

    /// `L1`, `L2`, …: how the events appendix and the events CSV name the line.
    public var reference: String
    /// The rated line (amount, brackets, quantity).
    public var rated: RatedLine
    /// For a charge line, the number of units its (bracket) unit prices are per (1, 1000, 1000000); 1 otherwise.
    public var per: Int
    /// The events behind it, in time order: for a usage line the events of its model and price book, for a charge the
    /// events of the models it counts; none for a base fee, a discount or a minimum. Their units sum to the line's
    /// quantity; on a usage line their ``StatementEvent/usageAmount`` sums to its amount.
    public var items: [Item]
}

/// A credit ledger movement shown on a statement: a grant, an expiry or a void, dated when it counts.
public struct StatementCreditMovement: Sendable, Equatable {
    /// `grant`, `expire` or `void`.
    public var kind: LedgerEntry.Kind
    /// When it counts for the balance: a grant when it takes effect, an expiry when the grant lapsed, a void when
    /// it was written.
    public var timestampMs: Int64
    /// Always positive; the kind says which way it goes.
    public var amount: Money
    /// The grant it concerns.
    public var grantID: String?
    /// The ledger's note.
    public var note: String?
}

/// Prepaid credits over the statement's period, from the ledger of the account the customer draws from.
///
/// The balances at the period's edges are sums over the ledger of what counted before each edge: grants from the
/// time they take effect, spends when they were written, expiries at the grant's expiry time (the ledger records
/// an expiry when it is first noticed, dated later), voids when written. Holds of requests in flight are not part
/// of them. ``current`` is the balance now, as `tollgate credits balance` shows it.
public struct StatementCredits: Sendable, Equatable {
    /// `customer:ID`, or `team:ID` when the customer shares its team's pool.
    public var account: String
    /// The credits' currency.
    public var currency: String
    /// Spent from grants on this statement's events (the ledger's `spend` entries naming them): the credits applied.
    public var applied: Money
    /// Of this statement's events' prices, what no grant covered (`spend` entries without a grant).
    public var overdraft: Money
    /// The true-ups of this period (``TrueUp``), written when it closed: + spent further, − credited back.
    public var trueUp: Money = .zero
    /// Balance at the period's start.
    public var openingBalance: Money
    /// Granted in the period (taking effect in it).
    public var granted: Money
    /// Credited back in the period (true-ups of earlier periods, written in this one).
    public var creditedBack: Money = .zero
    /// Spent from the account in the period, by every member of a team pool (overdraft included).
    public var spent: Money
    /// Expired or voided in the period.
    public var expired: Money
    /// Balance at the period's end: opening + granted + credited back − spent − expired.
    public var closingBalance: Money
    /// Grants, expiries and voids in the period, in time order.
    public var movements: [StatementCreditMovement]
    /// The balance now (`available` excludes the holds of requests in flight).
    public var current: CreditBalance
    /// When ``current`` was read.
    public var currentAsOfMs: Int64
}

/// A customer's statement for a period: the rated lines with their brackets and the events behind each, the totals,
/// the credits applied and the balance. Built in one read of the period's events (``MeterStore/customerStatement``).
public struct CustomerStatement: Sendable, Equatable {
    /// The customer id.
    public var customer: String
    /// Its display name, if one is recorded.
    public var customerName: String?
    /// The rated period (lines, totals by currency, amounts due, costs).
    public var rated: PeriodStatement
    /// The lines, in the rated period's order, with their events.
    public var lines: [StatementLine]
    /// Every event of the period, in time order (the lines' items point into it).
    public var events: [StatementEvent]
    /// Prepaid credits, when the customer's account has ever had a grant.
    public var credits: StatementCredits?
    /// When the statement was made.
    public var generatedMs: Int64
    /// The customer's billing cycle, when the period is one of its periods (set by the caller that resolved it).
    public var billingCycle: BillingCycle?

    /// Period start (inclusive), milliseconds.
    public var startMs: Int64 { rated.startMs }
    /// Period end (exclusive), milliseconds.
    public var endMs: Int64 { rated.endMs }
    /// The main currency: the plan's, else the usage's.
    public var currency: String { rated.total.currency }
    /// The exact total in the main currency.
    public var total: Money { rated.totals[currency] ?? .zero }
    /// What is invoiced in the main currency: the sum of the lines' amounts due (each rounded half to even to the
    /// currency's minor unit).
    public var amountDue: Money { rated.totalsDue[currency] ?? .zero }
    /// Currencies with lines, main first.
    public var currencies: [String] {
        [currency] + rated.totals.keys.filter { $0 != currency }.sorted()
    }
    /// The amount due less the credits applied and the period's true-up (when the credits are in the main currency),
    /// rounded to the minor unit. Before the period's true-up it can be negative: the credits paid provisional prices
    /// above what the tiers rate the period at; the true-up credits that back.
    public var amountDueAfterCredits: Money? {
        guard let credits, credits.currency == currency else { return nil }
        return (amountDue - credits.applied - credits.trueUp).rounded(toDigits: Currency.minorUnits(currency))
    }
    /// The event behind an item.
    public func event(_ item: StatementLine.Item) -> StatementEvent { events[item.event] }
}

extension MeterStore {
    /// The statement of `customer` for [`startMs`, `endMs`) under `rules`: the period rated as `tollgate lines`
    /// rates it, each line with the events behind it, the credits applied to those events and the balance.
    /// Refused for a customer with no events in the period, no record in the meter and no terms in the rules. Without
    /// `includeCredits` (billing export) the ledger is not read and ``CustomerStatement/credits`` is `nil`.
    public func customerStatement(
        customer: String, startMs: Int64, endMs: Int64, rules: PricingRules, nowMs: Int64? = nil, includeCredits: Bool = true
    ) async throws(MeterError) -> CustomerStatement {
        guard startMs < endMs else { throw .rejected("a statement's period must end after it starts") }
        let now = nowMs ?? Timestamps.nowMs()
        var builder = PeriodAggregate.Builder()
        var events: [StatementEvent] = []
        var groups: [GroupKey: [Int]] = [:]
        var chargesByBook: [String: [Charge]] = [:]
        try forEachEvent(customer: customer, fromMs: startMs, toMs: endMs) { event in
            builder.add(event)
            let book = event.priceBook ?? "markup"
            let charges = chargesByBook[book] ?? PeriodRater.charges(pricedUnder: book, rules: rules)
            chargesByBook[book] = charges
            groups[GroupKey(event), default: []].append(events.count)
            events.append(StatementEvent(event, provisionalShare: PeriodRater.provisionalShare(of: event, charges: charges)))
        }
        let record = try await self.customer(id: customer)
        if events.isEmpty, record == nil, rules.customers[customer] == nil {
            throw .notFound(
                what: "customer", id: customer,
                detail: "no events from \(Timestamps.iso8601(startMs)) to \(Timestamps.iso8601(endMs)), "
                    + "no record in the meter and no terms in the pricing rules")
        }
        let aggregates = builder.aggregates
        let rated = PeriodRater.rate(customer: customer, startMs: startMs, endMs: endMs, aggregates: aggregates, rules: rules)
        let lines = Self.statementLines(
            rated: rated, aggregates: aggregates, groups: groups, events: events,
            charges: PeriodRater.planCharges(customer: customer, rules: rules, startMs: startMs, endMs: endMs))
        let credits: StatementCredits? =
            includeCredits
            ? try await statementCredits(
                customer: customer, account: record?.creditAccount ?? CreditAccountOwner.customer.account(customer), currency: rated.total.currency,
                eventIDs: Set(events.map(\.id)), startMs: startMs, endMs: endMs, nowMs: now) : nil
        return CustomerStatement(
            customer: customer, customerName: record?.name, rated: rated, lines: lines, events: events, credits: credits, generatedMs: now)
    }

    /// The aggregate an event falls in (its customer is the statement's).
    struct GroupKey: Hashable {
        var model: String
        var priceBook: String
        var priceCurrency: String
        var costCurrency: String

        init(_ event: UsageEvent) {
            model = PeriodAggregate.lineModel(of: event)
            priceBook = event.priceBook ?? "markup"
            priceCurrency = event.effectivePriceCurrency
            costCurrency = event.currency
        }

        init(_ aggregate: PeriodAggregate) {
            model = aggregate.model
            priceBook = aggregate.priceBook
            priceCurrency = aggregate.priceCurrency
            costCurrency = aggregate.costCurrency
        }
    }

    /// Pairs the rated lines with their events: usage lines come first, one per aggregate in the aggregates' order;
    /// charge lines follow, one per plan charge in the book's order.
    static func statementLines(
        rated: PeriodStatement, aggregates: [PeriodAggregate], groups: [GroupKey: [Int]], events: [StatementEvent],
        charges: [(charge: Charge, plan: PeriodRater.PlanPart)]
    ) -> [StatementLine] {
        let mine = aggregates.filter { $0.customer == rated.customer }
        var usageIndex = 0
        var chargeIndex = 0
        var lines: [StatementLine] = []
        for (index, line) in rated.lines.enumerated() {
            var items: [StatementLine.Item] = []
            var per = 1
            switch line.kind {
            case .usage:
                if usageIndex < mine.count, mine[usageIndex].model == line.model {
                    let indexes = groups[GroupKey(mine[usageIndex])] ?? []
                    items = indexes.map { .init(event: $0, units: events[$0].billable ? 1 : 0) }
                }
                usageIndex += 1
            case .charge:
                if chargeIndex < charges.count, charges[chargeIndex].charge.name == line.description {
                    let (charge, plan) = charges[chargeIndex]
                    per = charge.per
                    let counted = Set(mine.filter { charge.counts(model: $0.model) && plan.includes($0) }.map(GroupKey.init))
                    let indexes = counted.flatMap { groups[$0] ?? [] }.sorted()
                    items = indexes.map { .init(event: $0, units: Self.units(of: events[$0], on: charge.meter)) }
                }
                chargeIndex += 1
            case .baseFee, .discount, .minimum:
                break
            }
            lines.append(StatementLine(reference: "L\(index + 1)", rated: line, per: per, items: items))
        }
        return lines
    }

    /// The units a statement event adds to a charge's meter (``PeriodRater/units(of:on:)`` for stored events).
    static func units(of event: StatementEvent, on meter: Charge.Metric) -> Int {
        event.billable ? meter.quantity(requests: 1, usage: event.usage) : 0
    }

    /// The credits part of a statement; `nil` when the account has never had a grant.
    func statementCredits(
        customer: String, account: String, currency: String, eventIDs: Set<String>, startMs: Int64, endMs: Int64, nowMs: Int64
    ) async throws(MeterError) -> StatementCredits? {
        // The balance first: it records the expiry of grants that have lapsed, so the ledger read next has them.
        let current = try await balance(account: account, currency: currency, nowMs: nowMs)
        guard !current.grants.isEmpty else { return nil }
        let ledger = try await self.ledger(account: account)
        let grants = Dictionary(current.grants.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let period = Self.trueUpPeriod(startMs: startMs, endMs: endMs)
        var credits = StatementCredits(
            account: account, currency: current.currency, applied: .zero, overdraft: .zero, openingBalance: .zero, granted: .zero, spent: .zero,
            expired: .zero, closingBalance: .zero, movements: [], current: current, currentAsOfMs: nowMs)
        for entry in ledger {
            let grant = entry.grantID.flatMap { grants[$0] }
            let counts: Int64
            let sign: Int
            switch entry.kind {
            case .grant:
                counts = max(entry.timestampMs, grant?.effectiveMs ?? entry.timestampMs)
                sign = 1
            case .creditBack:
                counts = entry.timestampMs
                sign = 1
            case .expire:
                counts = min(entry.timestampMs, grant?.expiresMs ?? entry.timestampMs)
                sign = -1
            case .spend, .void:
                counts = entry.timestampMs
                sign = -1
            case .reserve, .release:
                continue  // holds, not balance changes
            }
            if entry.kind == .spend, let event = entry.eventID, eventIDs.contains(event) {
                if entry.grantID == nil { credits.overdraft += entry.amount } else { credits.applied += entry.amount }
            }
            if entry.period == period, entry.customer == customer {
                if entry.kind == .spend {
                    credits.trueUp += entry.amount
                } else if entry.kind == .creditBack {
                    credits.trueUp = credits.trueUp - entry.amount
                }
            }
            let signed = sign > 0 ? entry.amount : .zero - entry.amount
            if counts < startMs {
                credits.openingBalance += signed
            } else if counts < endMs {
                switch entry.kind {
                case .grant: credits.granted += entry.amount
                case .creditBack: credits.creditedBack += entry.amount
                case .spend: credits.spent += entry.amount
                default: credits.expired += entry.amount
                }
                if entry.kind != .spend {
                    credits.movements.append(
                        StatementCreditMovement(kind: entry.kind, timestampMs: counts, amount: entry.amount, grantID: entry.grantID, note: entry.note)
                    )
                }
            }
        }
        credits.closingBalance = credits.openingBalance + credits.granted + credits.creditedBack - credits.spent - credits.expired
        credits.movements.sort { $0.timestampMs < $1.timestampMs }
        return credits
    }
}
