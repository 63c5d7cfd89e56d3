/// What one model costs: base rates per class, long-context tiers that re-price the whole request above a prompt
/// size, service-tier rates (batch, flex, priority) and the model's limits.
///
/// Rates are exact per-token ``Money`` (a rate of `"0.075"` per million is 7.5e-8 per token), so a cost is a sum
/// of whole-number multiplications with no rounding. A class without a rate falls back as providers bill it
/// (``PriceClass/fallback``): cache reads and writes at the input rate, reasoning at the output rate.
public struct ModelPrice: Sendable, Hashable {
    /// Standard-tier rates.
    public var rates: TokenRates
    /// Rates that replace the standard ones when the prompt is above a size, lowest threshold first.
    public var longContext: [LongContextTier]
    /// Rates of non-standard service tiers by name (`batch`, `flex`, `priority`), laid over the standard rates.
    public var serviceTiers: [String: ServiceTierPrice]
    /// Longest output the model produces (for worst-case admission estimates), if known.
    public var maxOutputTokens: Int?
    /// Longest prompt the model accepts, if known.
    public var maxInputTokens: Int?
    /// Per-image rates by size and quality, laid over the ``PriceClass/image`` rate: keys are `QUALITY/SIZE`
    /// (`hd/1024x1792`), `SIZE` (`512x512`) or `QUALITY` (`hd`, at the model's default size). The `image` rate itself
    /// is the price of the model's default size and quality.
    public var imageRates: [String: Money] = [:]

    /// Share of the standard rate that the batch tier bills for classes it does not price itself.
    public static let batchShare = DecimalRatio("0.5")!

    /// Creates a price.
    public init(
        rates: TokenRates, longContext: [LongContextTier] = [], serviceTiers: [String: ServiceTierPrice] = [:],
        maxOutputTokens: Int? = nil, maxInputTokens: Int? = nil
    ) {
        self.rates = rates
        self.longContext = longContext.sorted { $0.threshold < $1.threshold }
        self.serviceTiers = serviceTiers
        self.maxOutputTokens = maxOutputTokens
        self.maxInputTokens = maxInputTokens
    }

    /// A flat price from per-token amounts (tests and simple tables).
    public init(
        input: Money, output: Money, cacheRead: Money? = nil, cacheWrite: Money? = nil, cacheWrite1h: Money? = nil,
        inputAudio: Money? = nil, outputAudio: Money? = nil, perRequest: Money? = nil
    ) {
        var rates = TokenRates([.input: input, .output: output])
        rates[.cacheRead] = cacheRead
        rates[.cacheWrite] = cacheWrite
        rates[.cacheWrite1h] = cacheWrite1h
        rates[.inputAudio] = inputAudio
        rates[.outputAudio] = outputAudio
        rates[.perRequest] = perRequest
        self.init(rates: rates)
    }

    /// The rates that bill a usage in a service tier: standard, then the tier's, then every long-context tier the
    /// prompt crosses (input + cache reads + cache writes, as Anthropic and Gemini count it), lowest first, each
    /// followed by the service tier's own rates for that threshold (LiteLLM's precedence). The batch tier is half of
    /// the standard rates after long context, then its own rates: a batch above 200k is half the long-context rate.
    /// Per-unit prices (requests, searches) are not halved.
    public func rates(for usage: TokenUsage, serviceTier: String? = nil) -> (rates: TokenRates, tier: String?, threshold: Int?) {
        let tierName = Self.canonicalTier(serviceTier)
        let tierPrice = tierName.flatMap { serviceTiers[$0] }
        let prompt = usage.promptTokens
        var resolved = rates
        if usage.images > 0, let imageRate = imageRate(for: usage.imageVariant) { resolved[.image] = imageRate }
        var crossed: Int?
        func layLongContext(_ tiers: [LongContextTier], at threshold: Int) {
            for tier in tiers where tier.threshold == threshold && tier.applies(to: prompt) {
                resolved = resolved.overlaid(by: tier.rates)
                crossed = threshold
            }
        }
        if tierName == "batch" {
            // Batch: half of the standard rate that would apply (long context included), unless the batch tier
            // prices a class itself.
            for threshold in Set(longContext.map(\.threshold)).sorted() { layLongContext(longContext, at: threshold) }
            resolved = resolved.multiplied(by: Self.batchShare)
            if let tierPrice {
                resolved = resolved.overlaid(by: tierPrice.rates)
                for threshold in Set(tierPrice.longContext.map(\.threshold)).sorted() { layLongContext(tierPrice.longContext, at: threshold) }
            }
            return (resolved, "batch", crossed)
        }
        if let tierPrice { resolved = resolved.overlaid(by: tierPrice.rates) }
        // Most models have no long-context rates: no set of thresholds made and sorted for each event.
        guard !longContext.isEmpty || !(tierPrice?.longContext.isEmpty ?? true) else { return (resolved, tierPrice != nil ? tierName : nil, nil) }
        let thresholds = Set(longContext.map(\.threshold) + (tierPrice?.longContext.map(\.threshold) ?? [])).sorted()
        for threshold in thresholds {
            layLongContext(longContext, at: threshold)
            layLongContext(tierPrice?.longContext ?? [], at: threshold)
        }
        return (resolved, tierPrice != nil ? tierName : nil, crossed)
    }

    /// The per-image rate of a variant (`QUALITY/SIZE`, `SIZE` or `QUALITY`): the exact variant, then its size, then
    /// its quality; `nil` when none is listed (the ``PriceClass/image`` rate applies).
    public func imageRate(for variant: String?) -> Money? {
        guard let variant, !imageRates.isEmpty else { return nil }
        let parts = variant.split(separator: "/", maxSplits: 1).map(String.init)
        var keys = [variant]
        if parts.count == 2 { keys += [parts[1], parts[0]] }
        return keys.lazy.compactMap { imageRates[$0] }.first
    }

    /// The most expensive image the model makes: the variant whose rate is highest (`nil`: the `image` rate), and
    /// that rate. What admission reserves per image when a request leaves size and quality to the model.
    public var mostExpensiveImage: (variant: String?, rate: Money)? {
        var best: (variant: String?, rate: Money)? = rates[.image].map { (nil, $0) }
        for (variant, rate) in imageRates.sorted(by: { $0.key < $1.key }) where best == nil || rate > best!.rate {
            best = (variant, rate)
        }
        return best
    }

    /// The exact cost of one inference's usage, class by class.
    public func cost(of usage: TokenUsage, serviceTier: String? = nil) -> PriceBreakdown {
        let (resolved, tier, threshold) = rates(for: usage, serviceTier: serviceTier)
        return PriceBreakdown(usage: usage, rates: resolved, serviceTier: tier, longContextThreshold: threshold)
    }

    /// `nil` for the standard tier under any of its names (`default`, `standard`, `auto`, `on_demand`), else the
    /// lower-cased tier name.
    static func canonicalTier(_ name: String?) -> String? {
        guard let name = name?.lowercased(), !name.isEmpty else { return nil }
        switch name {
        case "default", "standard", "auto", "on_demand", "standard_only": return nil
        case "batches": return "batch"
        case "fast": return "priority"
        default: return name
        }
    }
}

/// Rates that apply to a whole request whose prompt is above (or from) a size.
public struct LongContextTier: Sendable, Hashable {
    /// The prompt size in tokens.
    public var threshold: Int
    /// Whether a prompt of exactly ``threshold`` tokens is in the tier (`from:`) or only larger ones (`above:`).
    public var inclusive: Bool
    /// The rates it sets; the others stay.
    public var rates: TokenRates

    /// Creates a tier.
    public init(threshold: Int, inclusive: Bool = false, rates: TokenRates) {
        self.threshold = threshold
        self.inclusive = inclusive
        self.rates = rates
    }

    func applies(to promptTokens: Int) -> Bool { promptTokens > threshold || (inclusive && promptTokens == threshold) }
}

/// A service tier's rates (and its own long-context rates), laid over the standard ones.
public struct ServiceTierPrice: Sendable, Hashable {
    /// The rates it sets.
    public var rates: TokenRates
    /// Its long-context rates.
    public var longContext: [LongContextTier]

    /// Creates a tier price.
    public init(rates: TokenRates, longContext: [LongContextTier] = []) {
        self.rates = rates
        self.longContext = longContext
    }
}
