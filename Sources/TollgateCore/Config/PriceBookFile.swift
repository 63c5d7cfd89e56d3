/// Reading a price book file (price-books/NAME.yaml) and customers' pricing terms.
public enum PriceBookFile {
    static let versionKeys = ["markup", "rates", "per_request", "minimum_per_request", "base_fee", "minimum", "charges"]
    static let topKeys = ["name", "description", "currency", "effective", "versions", "billing_cycle"] + versionKeys

    /// Parses a price book; `name` is used when the file does not name itself.
    public static func parse(yaml: String, file: String, name: String) throws(ConfigError) -> PriceBook {
        let root = try YAMLValue.parse(yaml, file: file)
        var bookName = name
        var currency = "USD"
        var first = PriceBook.Version()
        var laterItems: [YAMLValue] = []
        var cycle: BillingCycle?
        for (key, value) in try root.mapping(allowed: topKeys) {
            switch key {
            case "billing_cycle": cycle = try billingCycle(value)
            case "name": bookName = try value.string()
            case "currency": currency = try PriceParsing.currency(value)
            case "effective": first.effectiveMs = try PriceParsing.time(value)
            case "versions": laterItems = try value.sequence()
            case "description": break
            default: try apply(key, value, to: &first)
            }
        }
        var versions = [first]
        for item in laterItems {
            var version = versions.last!
            version.effectiveMs = .min
            for (key, value) in try item.mapping(allowed: ["effective", "note"] + versionKeys) {
                switch key {
                case "effective": version.effectiveMs = try PriceParsing.time(value)
                case "note": break
                case "rates": version.rates = PriceTable(models: version.rates.models.merging(try PriceParsing.modelPrices(value)) { $1 })
                default: try apply(key, value, to: &version)
                }
            }
            guard version.effectiveMs != .min else { throw item.error("a price book version needs 'effective: TIME'") }
            guard version.effectiveMs > versions.last!.effectiveMs else {
                throw item.error("versions are listed oldest first; this one takes effect before (or with) the one above it")
            }
            versions.append(version)
        }
        return PriceBook(name: bookName, currency: currency, versions: versions, billingCycle: cycle)
    }

    private static func apply(_ key: String, _ value: YAMLValue, to version: inout PriceBook.Version) throws(ConfigError) {
        switch key {
        case "markup": version.markup = try PriceParsing.ratio(value)
        case "rates": version.rates = PriceTable(models: try PriceParsing.modelPrices(value))
        case "per_request": version.perRequest = try PriceParsing.amount(value)
        case "minimum_per_request": version.minimumPerRequest = try PriceParsing.amount(value)
        case "base_fee": version.baseFee = try PriceParsing.amount(value)
        case "minimum": version.periodMinimum = try PriceParsing.amount(value)
        case "charges": version.charges = try value.sequence().map { (item) throws(ConfigError) in try charge(item) }
        default: break
        }
    }

    static let chargeKeys = ["name", "meter", "models", "included", "per", "unit_price", "tiered", "volume", "package"]

    static func charge(_ item: YAMLValue) throws(ConfigError) -> Charge {
        var name: String?
        var meter: Charge.Metric?
        var models: [String]?
        var included = 0
        var per = 1
        var scheme: Charge.Scheme?
        for (key, value) in try item.mapping(allowed: chargeKeys) {
            func setScheme(_ new: Charge.Scheme) throws(ConfigError) {
                guard scheme == nil else { throw value.error("a charge has one of unit_price, tiered, volume or package") }
                scheme = new
            }
            switch key {
            case "name": name = try value.string()
            case "meter":
                let text = try value.string()
                guard let parsed = Charge.Metric(rawValue: text) else {
                    throw value.error("unknown meter '\(text)' (known: \(Charge.Metric.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                meter = parsed
            case "models": models = try value.sequence().map { (model) throws(ConfigError) in try model.string() }
            case "included": included = try value.int(in: 0...Int(Int32.max) * 1000)
            case "per": per = try value.int(in: 1...1_000_000_000)
            case "unit_price": try setScheme(.unit(try PriceParsing.amount(value)))
            case "tiered": try setScheme(.tiered(try tiers(value)))
            case "volume": try setScheme(.volume(try tiers(value)))
            case "package":
                var size: Int?
                var price: Money?
                for (field, member) in try value.mapping(allowed: ["size", "price"]) {
                    if field == "size" { size = try member.int(in: 1...Int(Int32.max)) } else { price = try PriceParsing.amount(member) }
                }
                guard let size, let price else { throw value.error("a package needs 'size' (units per package) and 'price'") }
                try setScheme(.package(size: size, price: price))
            default: break
            }
        }
        guard let meter else { throw item.error("a charge needs 'meter' (\(Charge.Metric.allCases.map(\.rawValue).joined(separator: ", ")))") }
        guard let scheme else { throw item.error("a charge needs a price: unit_price, tiered, volume or package") }
        return Charge(name: name ?? meter.rawValue, meter: meter, models: models, included: included, scheme: scheme, per: per)
    }

    private static func tiers(_ value: YAMLValue) throws(ConfigError) -> [Charge.Tier] {
        var tiers: [Charge.Tier] = []
        let items = try value.sequence()
        for (index, item) in items.enumerated() {
            var upTo: Int?
            var unitPrice: Money?
            var flatFee = Money.zero
            for (field, member) in try item.mapping(allowed: ["up_to", "unit_price", "flat_fee"]) {
                switch field {
                case "up_to": upTo = try member.int(in: 1...Int.max / 4)
                case "unit_price": unitPrice = try PriceParsing.amount(member)
                default: flatFee = try PriceParsing.amount(member)
                }
            }
            guard let unitPrice else { throw item.error("a tier needs 'unit_price'") }
            if upTo == nil, index != items.count - 1 { throw item.error("only the last tier may leave out 'up_to'") }
            if let upTo, let previous = tiers.last?.upTo, upTo <= previous { throw item.error("tiers go up: up_to \(upTo) is not above \(previous)") }
            tiers.append(Charge.Tier(upTo: upTo, unitPrice: unitPrice, flatFee: flatFee))
        }
        guard !tiers.isEmpty else { throw value.error("give at least one tier") }
        guard tiers.last?.upTo == nil else {
            throw items.last!.error("the last tier has no 'up_to': it prices every unit above the tier before it")
        }
        return tiers
    }

    static let customerKeys = ["price_book", "hold", "discounts", "markup", "rates", "external_ids", "billing_cycle", "plan_changes"]

    /// A billing cycle as written in a config or a price book: `{cadence: month, anchor: 15, time: "00:00",
    /// time_zone: America/New_York}` (only `cadence` is required), or a cadence alone (`billing_cycle: month`).
    static func billingCycle(_ value: YAMLValue) throws(ConfigError) -> BillingCycle {
        var fields: [String: String] = [:]
        if value.node.mapping != nil {
            for (key, member) in try value.mapping(allowed: ["cadence", "anchor", "time", "time_zone"]) { fields[key] = try member.string() }
        } else {
            fields["cadence"] = try value.string()
        }
        guard let cadence = fields["cadence"] else { throw value.error("a billing cycle needs 'cadence' (week, month or year)") }
        do {
            return try BillingCycle(cadence: cadence, anchor: fields["anchor"], time: fields["time"], timeZone: fields["time_zone"])
        } catch {
            throw value.error(error.description)
        }
    }

    /// A customer's terms under `pricing.customers`.
    static func customer(_ value: YAMLValue) throws(ConfigError) -> (CustomerPricing, holdVersionLine: Int?) {
        var terms = CustomerPricing()
        var holdLine: Int?
        for (key, member) in try value.mapping(allowed: customerKeys) {
            switch key {
            case "price_book": terms.priceBook = try member.string()
            case "markup": terms.markup = try PriceParsing.ratio(member)
            case "billing_cycle": terms.billingCycle = try billingCycle(member)
            case "plan_changes":
                for item in try member.sequence() {
                    var book: String?
                    var from: Int64?
                    for (field, part) in try item.mapping(allowed: ["price_book", "from"]) {
                        if field == "price_book" { book = try part.string() } else { from = try PriceParsing.time(part) }
                    }
                    guard let book, let from else { throw item.error("a plan change needs 'price_book' and 'from' (when it takes effect)") }
                    if let last = terms.planChanges.last, last.fromMs >= from {
                        throw item.error("plan changes are listed oldest first; this one takes effect before (or with) the one above it")
                    }
                    terms.planChanges.append(CustomerPricing.PlanChange(priceBook: book, fromMs: from))
                }
            case "rates": terms.rates = PriceTable(models: try PriceParsing.modelPrices(member))
            case "external_ids":
                for (system, id) in try member.mapping() { terms.externalIDs[system] = try id.string() }
            case "hold":
                var version: Int64?
                var until: Int64?
                for (field, item) in try member.mapping(allowed: ["version", "until"]) {
                    if field == "version" { version = try PriceParsing.time(item) } else { until = try PriceParsing.time(item) }
                }
                guard let version, let until else {
                    throw member.error("a hold needs 'version' (the effective time of the version kept) and 'until'")
                }
                terms.hold = CustomerPricing.Hold(versionEffectiveMs: version, untilMs: until)
                holdLine = member.line
            case "discounts":
                for item in try member.sequence() {
                    var percent: String?
                    var from = Int64.min
                    var until = Int64.max
                    for (field, part) in try item.mapping(allowed: ["percent", "from", "until"]) {
                        switch field {
                        case "percent": percent = try part.string()
                        case "from": from = try PriceParsing.time(part)
                        default: until = try PriceParsing.time(part)
                        }
                    }
                    guard let percent else { throw item.error("a discount needs 'percent'") }
                    guard from < until else { throw item.error("a discount's 'until' must be after its 'from'") }
                    do { terms.discounts.append(try CustomerPricing.Discount(percent: percent, fromMs: from, untilMs: until)) } catch {
                        throw item.error(error.message)
                    }
                }
            default: break
            }
        }
        return (terms, holdLine)
    }
}
