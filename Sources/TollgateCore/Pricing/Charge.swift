/// A period charge of a plan: a quantity measured over the period's events (requests, tokens), priced on the
/// period total by one of the common schemes, with a bracket-by-bracket breakdown.
public struct Charge: Sendable, Hashable {
    /// What the charge counts over a period.
    public enum Metric: String, Sendable, Hashable, CaseIterable {
        /// Successful inferences.
        case requests
        /// Every token, prompt and output.
        case tokens
        /// Prompt tokens: input, cache reads and cache writes.
        case inputTokens = "input_tokens"
        /// Output tokens (reasoning included).
        case outputTokens = "output_tokens"
        /// Cache reads.
        case cacheReadTokens = "cache_read_tokens"
        /// Cache writes.
        case cacheWriteTokens = "cache_write_tokens"
        /// Reasoning tokens.
        case reasoningTokens = "reasoning_tokens"
        /// Server-side web searches.
        case webSearchRequests = "web_search_requests"

        /// The quantity in one aggregate.
        public func quantity(requests: Int, usage: TokenUsage) -> Int {
            switch self {
            case .requests: requests
            case .tokens: usage.totalTokens
            case .inputTokens: usage.promptTokens
            case .outputTokens: usage.outputTokens
            case .cacheReadTokens: usage.cacheReadTokens
            case .cacheWriteTokens: usage.cacheWriteTokens
            case .reasoningTokens: usage.reasoningTokens
            case .webSearchRequests: usage.webSearchRequests
            }
        }
    }

    /// One bracket of a tiered or volume price: units up to `upTo` (inclusive; `nil` for no limit) at `unitPrice`,
    /// plus an optional flat fee for reaching the bracket.
    public struct Tier: Sendable, Hashable {
        /// Last unit of the bracket (`nil`: unbounded).
        public var upTo: Int?
        /// Price per ``Charge/per`` units.
        public var unitPrice: Money
        /// Flat amount charged once when the bracket is reached.
        public var flatFee: Money

        /// Creates a bracket.
        public init(upTo: Int?, unitPrice: Money, flatFee: Money = .zero) {
            self.upTo = upTo
            self.unitPrice = unitPrice
            self.flatFee = flatFee
        }
    }

    /// How the period quantity is priced.
    public enum Scheme: Sendable, Hashable {
        /// Every unit at one price.
        case unit(Money)
        /// Graduated: each bracket prices only the units inside it.
        case tiered([Tier])
        /// Volume: the bracket the total falls in prices every unit.
        case volume([Tier])
        /// Package: blocks of `size` units at `price` each; a partial block is billed whole.
        case package(size: Int, price: Money)
    }

    /// Name on the rated line (`API calls`).
    public var name: String
    /// What it counts.
    public var meter: Metric
    /// Model patterns whose events count (`nil`: all).
    public var models: [String]?
    /// Units included free each period (the allowance of a hybrid plan); the scheme prices the rest.
    public var included: Int
    /// The pricing scheme.
    public var scheme: Scheme
    /// Prices are per this many units (1, or 1000 for "per thousand tokens", 1000000 for "per million").
    public var per: Int

    /// Creates a charge.
    public init(name: String, meter: Metric, models: [String]? = nil, included: Int = 0, scheme: Scheme, per: Int = 1) {
        self.name = name
        self.meter = meter
        self.models = models
        self.included = included
        self.scheme = scheme
        self.per = per
    }

    /// Whether events of `model` count toward this charge.
    public func counts(model: String) -> Bool {
        guard let models else { return true }
        let undated = PriceTable.withoutSnapshotSuffix(model)
        return models.contains { PriceTable.glob($0, matches: model) || PriceTable.glob($0, matches: undated) }
    }

    /// The rate of the first billed unit (after the allowance), per unit: what an event carries as its
    /// provisional share of this charge before the period total is known. Zero while an allowance remains.
    public var provisionalUnitPrice: Money {
        if included > 0 { return .zero }
        switch scheme {
        case .unit(let price): return price.divided(by: per)
        case .tiered(let tiers), .volume(let tiers): return (tiers.first?.unitPrice ?? .zero).divided(by: per)
        case .package(let size, let price): return price.divided(by: size * per)
        }
    }

    /// The amount for a period total, with its brackets.
    public func rate(quantity: Int) -> ChargeRating {
        var brackets: [ChargeRating.Bracket] = []
        let allowance = min(quantity, included)
        if included > 0 {
            brackets.append(.init(label: "included", from: 1, to: included, quantity: allowance, unitPrice: .zero, amount: .zero))
        }
        let billable = quantity - allowance
        func bracketAmount(_ units: Int, _ price: Money) -> Money { price.times(units).divided(by: per) }
        switch scheme {
        case .unit(let price):
            if billable > 0 {
                brackets.append(
                    .init(label: "units", from: included + 1, to: nil, quantity: billable, unitPrice: price, amount: bracketAmount(billable, price)))
            }
        case .tiered(let tiers):
            var lower = 0
            for tier in tiers {
                let upper = tier.upTo ?? Int.max
                let units = max(0, min(billable, upper) - lower)
                if units > 0 {
                    brackets.append(
                        .init(
                            label: "tier", from: included + lower + 1, to: tier.upTo.map { included + $0 }, quantity: units,
                            unitPrice: tier.unitPrice, amount: bracketAmount(units, tier.unitPrice) + tier.flatFee))
                }
                if billable <= upper { break }
                lower = upper
            }
            // Written tiers always end unbounded (the parser insists); a bounded last tier prices the rest too.
            if let last = tiers.last, let upper = last.upTo, billable > upper {
                let units = billable - upper
                brackets.append(
                    .init(
                        label: "tier", from: included + upper + 1, to: nil, quantity: units, unitPrice: last.unitPrice,
                        amount: bracketAmount(units, last.unitPrice)))
            }
        case .volume(let tiers):
            if billable > 0, let tier = tiers.first(where: { billable <= ($0.upTo ?? Int.max) }) ?? tiers.last {
                let index = tiers.firstIndex(of: tier)!
                let from = index == 0 ? 1 : (tiers[index - 1].upTo ?? 0) + 1
                brackets.append(
                    .init(
                        label: "volume", from: included + from, to: tier.upTo.map { included + $0 }, quantity: billable,
                        unitPrice: tier.unitPrice, amount: bracketAmount(billable, tier.unitPrice) + tier.flatFee))
            }
        case .package(let size, let price):
            if billable > 0 {
                let blocks = (billable + size - 1) / size
                brackets.append(
                    .init(
                        label: "packages of \(size)", from: included + 1, to: nil, quantity: billable, unitPrice: price,
                        amount: price.times(blocks).divided(by: per), blocks: blocks))
            }
        }
        return ChargeRating(quantity: quantity, brackets: brackets, amount: brackets.reduce(.zero) { $0 + $1.amount })
    }
}

/// A charge rated on a period total.
public struct ChargeRating: Sendable, Hashable {
    /// One bracket of the breakdown.
    public struct Bracket: Sendable, Hashable, Codable {
        /// `included`, `tier`, `volume`, `units`, `packages of N`.
        public var label: String
        /// First unit of the bracket (1-based).
        public var from: Int
        /// Last unit of the bracket, if bounded.
        public var to: Int?
        /// Units priced in this bracket.
        public var quantity: Int
        /// Price per unit (per ``Charge/per`` units; per package for packages).
        public var unitPrice: Money
        /// The bracket's amount.
        public var amount: Money
        /// Packages billed (package pricing only).
        public var blocks: Int?

        /// Creates a bracket.
        public init(label: String, from: Int, to: Int?, quantity: Int, unitPrice: Money, amount: Money, blocks: Int? = nil) {
            self.label = label
            self.from = from
            self.to = to
            self.quantity = quantity
            self.unitPrice = unitPrice
            self.amount = amount
            self.blocks = blocks
        }
    }

    /// The period total.
    public var quantity: Int
    /// Brackets with units in them.
    public var brackets: [Bracket]
    /// Sum of the brackets.
    public var amount: Money
}

extension ChargeRating.Bracket {
    /// The bracket as JSON members, amounts as decimal strings: how rated lines and `tollgate lines` show it.
    public var jsonObject: [String: Any] {
        var object: [String: Any] = [
            "label": label, "from": from, "quantity": quantity, "unit_price": unitPrice.description, "amount": amount.description,
        ]
        if let to { object["to"] = to }
        if let blocks { object["packages"] = blocks }
        return object
    }
}
