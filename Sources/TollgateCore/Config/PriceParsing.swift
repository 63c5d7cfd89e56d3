/// Reading prices from YAML: model rates (provider catalogs and price-book rate cards), catalog versions, price
/// books and customers' terms. Every complaint names file and line.
enum PriceParsing {
    static let rateKeys = PriceClass.allCases.map(\.rawValue)
    static let modelKeys = rateKeys + ["long_context", "tiers", "max_output_tokens", "max_input_tokens", "images"]

    /// `model: {input: "2.50", output: "10.00", ...}` entries.
    static func modelPrices(_ member: YAMLValue) throws(ConfigError) -> [String: ModelPrice] {
        var prices: [String: ModelPrice] = [:]
        for (model, entry) in try member.mapping() {
            prices[model] = try modelPrice(entry)
        }
        return prices
    }

    static func modelPrice(_ entry: YAMLValue) throws(ConfigError) -> ModelPrice {
        var rates = TokenRates()
        var longContext: [LongContextTier] = []
        var tiers: [String: ServiceTierPrice] = [:]
        var price = ModelPrice(rates: rates)
        for (key, value) in try entry.mapping(allowed: modelKeys) {
            switch key {
            case "long_context": longContext = try longContextTiers(value)
            case "tiers":
                for (name, tier) in try value.mapping() {
                    guard let canonical = ModelPrice.canonicalTier(name) else {
                        throw tier.error("'\(name)' is the standard tier: put its rates on the model")
                    }
                    var tierRates = TokenRates()
                    var tierLong: [LongContextTier] = []
                    for (field, rate) in try tier.mapping(allowed: rateKeys + ["long_context"]) {
                        if field == "long_context" {
                            tierLong = try longContextTiers(rate)
                        } else {
                            tierRates[PriceClass(rawValue: field)!] = try self.rate(rate, class: PriceClass(rawValue: field)!)
                        }
                    }
                    tiers[canonical] = ServiceTierPrice(rates: tierRates, longContext: tierLong)
                }
            case "max_output_tokens": price.maxOutputTokens = try value.int(in: 1...100_000_000)
            case "max_input_tokens": price.maxInputTokens = try value.int(in: 1...100_000_000)
            case "images":
                // Per-image rates by `QUALITY/SIZE`, `SIZE` or `QUALITY` (`hd/1024x1792: "0.12"`).
                for (variant, rate) in try value.mapping() {
                    guard !variant.isEmpty, variant.split(separator: "/", omittingEmptySubsequences: false).count <= 2,
                        !variant.split(separator: "/", omittingEmptySubsequences: false).contains(where: \.isEmpty)
                    else { throw rate.error("an image variant is QUALITY/SIZE, SIZE or QUALITY (such as hd/1024x1792), not '\(variant)'") }
                    price.imageRates[variant] = try self.rate(rate, class: .image)
                }
            default: rates[PriceClass(rawValue: key)!] = try rate(value, class: PriceClass(rawValue: key)!)
            }
        }
        let billed: [PriceClass] = [.input, .output, .perRequest, .image, .audioSecond, .inputCharacter]
        guard billed.contains(where: { rates[$0] != nil }) || !price.imageRates.isEmpty else {
            throw entry.error("a model price needs at least 'input', 'output', 'per_request', 'image', 'audio_second' or 'input_character'")
        }
        price.rates = rates
        price.longContext = longContext.sorted { $0.threshold < $1.threshold }
        price.serviceTiers = tiers
        return price
    }

    private static func longContextTiers(_ value: YAMLValue) throws(ConfigError) -> [LongContextTier] {
        var tiers: [LongContextTier] = []
        for item in try value.sequence() {
            var threshold: Int?
            var inclusive = false
            var rates = TokenRates()
            for (field, member) in try item.mapping(allowed: ["above", "from"] + rateKeys) {
                switch field {
                case "above", "from":
                    guard threshold == nil else { throw member.error("give either 'above' or 'from', not both") }
                    threshold = try member.int(in: 1...100_000_000)
                    inclusive = field == "from"
                default: rates[PriceClass(rawValue: field)!] = try rate(member, class: PriceClass(rawValue: field)!)
                }
            }
            guard let threshold else { throw item.error("a long-context tier needs 'above: TOKENS' (or 'from: TOKENS')") }
            guard !rates.isEmpty else { throw item.error("a long-context tier needs at least one rate") }
            tiers.append(LongContextTier(threshold: threshold, inclusive: inclusive, rates: rates))
        }
        return tiers
    }

    /// A rate: per million tokens for token classes, per unit for the others.
    static func rate(_ value: YAMLValue, class priceClass: PriceClass) throws(ConfigError) -> Money {
        let text = try value.string()
        if priceClass.isTokenClass {
            guard let money = Money.perMillionTokens(text) else {
                throw value.error("expected a decimal price per million tokens such as \"0.15\" (at most 9 decimals), not '\(text)'")
            }
            return money
        }
        guard let money = Money(text), !money.isNegative else {
            throw value.error("expected a decimal price per unit such as \"0.01\", not '\(text)'")
        }
        return money
    }

    /// A non-negative amount of money.
    static func amount(_ value: YAMLValue) throws(ConfigError) -> Money {
        let text = try value.string()
        guard let money = Money(text), !money.isNegative else { throw value.error("expected a decimal amount such as \"500.00\", not '\(text)'") }
        return money
    }

    /// An ISO 8601 time or date.
    static func time(_ value: YAMLValue) throws(ConfigError) -> Int64 {
        let text = try value.string()
        guard let milliseconds = Timestamps.parse(text) else {
            throw value.error("expected an ISO 8601 time such as 2026-12-01T00:00:00Z or a date such as 2026-12-01, not '\(text)'")
        }
        return milliseconds
    }

    /// A markup or other ratio.
    static func ratio(_ value: YAMLValue) throws(ConfigError) -> DecimalRatio {
        let text = try value.string()
        guard let ratio = DecimalRatio(text) else { throw value.error("expected a decimal such as \"1.25\", not '\(text)'") }
        return ratio
    }

    /// `price_versions: [{effective: T, prices: {...}}]`: later versions change the models they list.
    static func priceVersions(_ value: YAMLValue) throws(ConfigError) -> [(effectiveMs: Int64, prices: [String: ModelPrice])] {
        var versions: [(effectiveMs: Int64, prices: [String: ModelPrice])] = []
        for item in try value.sequence() {
            var effective: Int64?
            var prices: [String: ModelPrice] = [:]
            for (field, member) in try item.mapping(allowed: ["effective", "prices", "note"]) {
                switch field {
                case "effective": effective = try time(member)
                case "prices": prices = try modelPrices(member)
                default: break
                }
            }
            guard let effective else { throw item.error("a price version needs 'effective: TIME'") }
            if versions.contains(where: { $0.effectiveMs == effective }) { throw item.error("two price versions take effect at the same time") }
            versions.append((effective, prices))
        }
        return versions
    }

    /// Builds the catalog: the base prices in force from the start, each version laid over the one before.
    static func catalog(
        base: [String: ModelPrice], baseEffectiveMs: Int64?, versions: [(effectiveMs: Int64, prices: [String: ModelPrice])], currency: String
    ) -> PriceCatalog {
        var current = base
        var built = [PriceCatalog.Version(effectiveMs: baseEffectiveMs ?? .min, table: PriceTable(models: base))]
        for version in versions.sorted(by: { $0.effectiveMs < $1.effectiveMs }) {
            current.merge(version.prices) { $1 }
            built.append(PriceCatalog.Version(effectiveMs: version.effectiveMs, table: PriceTable(models: current)))
        }
        return PriceCatalog(versions: built, currency: currency)
    }

    /// An ISO 4217 code.
    static func currency(_ value: YAMLValue) throws(ConfigError) -> String {
        let text = try value.string()
        guard text.count == 3, text.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw value.error("expected a three-letter currency code such as USD, not '\(text)'")
        }
        return text
    }
}
