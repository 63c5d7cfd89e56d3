/// One version of a provider's prices by model name, with the lookup rules for dated snapshots and patterns.
///
/// Providers answer with a dated snapshot of the model asked for (`gpt-4o` is served as `gpt-4o-2024-08-06`,
/// `babbage-002` as `babbage:2023-07-21-v2`). A lookup tries the exact name, then the name without a date or
/// version suffix, then the names written as patterns (`claude-3-5-sonnet-*`, most specific first), then the
/// longest listed name that the model starts with followed by `-` or `:`, and last the same steps on the name
/// without a provider prefix (`openai/gpt-4o` → `gpt-4o`).
public struct PriceTable: Sendable, Equatable {
    /// Prices by model name or pattern (a name with `*`).
    public var models: [String: ModelPrice]

    /// Creates a table.
    public init(models: [String: ModelPrice] = [:]) {
        self.models = models
    }

    /// The price for `model` and the name it was found under, or `nil` when the model is not priced.
    public func price(for model: String) -> (name: String, price: ModelPrice)? {
        // Runs several times per event (customers' own rates are mostly an empty table): the name is searched by its
        // bytes, not its characters.
        guard !models.isEmpty else { return nil }
        if let found = lookup(model) { return found }
        if let slash = model.utf8.lastIndex(of: UInt8(ascii: "/")) { return lookup(String(model[model.utf8.index(after: slash)...])) }
        return nil
    }

    private func lookup(_ model: String) -> (name: String, price: ModelPrice)? {
        if let price = models[model] { return (model, price) }
        let undated = Self.withoutSnapshotSuffix(model)
        if undated != model, let price = models[undated] { return (undated, price) }
        var best: (name: String, price: ModelPrice)?
        for (name, price) in models where name.utf8.contains(UInt8(ascii: "*")) && Self.glob(name, matches: model) {
            if best == nil || Self.literalCount(name) > Self.literalCount(best!.name)
                || (Self.literalCount(name) == Self.literalCount(best!.name) && name < best!.name)
            {
                best = (name, price)
            }
        }
        if let best { return best }
        for (name, price) in models
        where name.utf8.count > (best?.name.utf8.count ?? 0) && model.utf8.count > name.utf8.count && model.utf8.starts(with: name.utf8) {
            let boundary = model.utf8[model.utf8.index(model.utf8.startIndex, offsetBy: name.utf8.count)]
            if boundary == UInt8(ascii: "-") || boundary == UInt8(ascii: ":") || boundary == UInt8(ascii: "@") { best = (name, price) }
        }
        return best
    }

    private static func literalCount(_ pattern: String) -> Int { pattern.count(where: { $0 != "*" }) }

    /// Whether `text` matches a pattern in which `*` stands for any run of characters.
    public static func glob(_ pattern: String, matches text: String) -> Bool {
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
        guard parts.count > 1 else { return pattern == text }
        var rest = Substring(text)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return rest.hasSuffix(parts.last!)
    }

    /// `gpt-4o-2024-08-06` → `gpt-4o`, `gpt-4-0613` → `gpt-4`, `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`,
    /// `babbage:2023-07-21-v2` → `babbage`, `gemini-2.0-flash-001` → `gemini-2.0-flash`, `x@20240620` → `x`.
    ///
    /// Runs a few times per event (the served model is usually a snapshot): it reads the name's bytes once, backwards
    /// from the end, and allocates only the shorter name it returns.
    static func withoutSnapshotSuffix(_ model: String) -> String {
        let bytes = model.utf8
        if let cut = bytes.firstIndex(where: { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "@") }) {
            return String(model[..<cut])
        }
        // From the end: the lengths of the last three `-`-separated parts while they are all digits (-1 for a part with
        // anything else), and where each of the last three dashes is. Tuples, not arrays: no allocation.
        var runs = (-1, -1, -1)
        var dashes = (bytes.startIndex, bytes.startIndex, bytes.startIndex)
        var found = 0
        var run = 0
        var index = bytes.endIndex
        while index > bytes.startIndex, found < 3 {
            index = bytes.index(before: index)
            let byte = bytes[index]
            if byte == UInt8(ascii: "-") {
                switch found {
                case 0: (runs.0, dashes.0) = (run, index)
                case 1: (runs.1, dashes.1) = (run, index)
                default: (runs.2, dashes.2) = (run, index)
                }
                found += 1
                run = 0
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), run >= 0 {
                run += 1
            } else {
                run = -1
                if found == 0 { return model }
            }
        }
        // `name-2024-08-06`: three digit parts of 4, 2 and 2 after a name part.
        if found == 3, runs == (2, 2, 4) { return String(model[..<dashes.2]) }
        // `name-0613`, `name-001`, `name-20250929`
        if found >= 1, runs.0 == 3 || runs.0 == 4 || runs.0 == 8 { return String(model[..<dashes.0]) }
        return model
    }
}

/// A provider's prices over time: versions, each in force from its effective time until the next one.
///
/// An event is priced by the version in force at its timestamp, so a price change never rewrites the past.
public struct PriceCatalog: Sendable, Equatable {
    /// One version: the full table in force from `effectiveMs` on.
    public struct Version: Sendable, Equatable {
        /// When it takes effect (milliseconds since 1970, UTC); `Int64.min` for "always".
        public var effectiveMs: Int64
        /// The whole table (earlier versions' models carried over, changed ones replaced).
        public var table: PriceTable

        /// Creates a version.
        public init(effectiveMs: Int64, table: PriceTable) {
            self.effectiveMs = effectiveMs
            self.table = table
        }
    }

    /// Versions, oldest first.
    public var versions: [Version]
    /// The currency the prices are in (ISO 4217 code).
    public var currency: String

    /// A catalog with one version in force at every time.
    public init(models: [String: ModelPrice] = [:], currency: String = "USD") {
        self.init(versions: [Version(effectiveMs: .min, table: PriceTable(models: models))], currency: currency)
    }

    /// A catalog of several versions.
    public init(versions: [Version], currency: String) {
        self.versions = versions.sorted { $0.effectiveMs < $1.effectiveMs }
        self.currency = currency
    }

    /// The table in force at a time (the earliest one before every version starts).
    public func table(at timestampMs: Int64) -> PriceTable {
        versions.last(where: { $0.effectiveMs <= timestampMs })?.table ?? versions.first?.table ?? PriceTable()
    }

    /// The newest table.
    public var latest: PriceTable { versions.last?.table ?? PriceTable() }

    /// The price for `model` at a time.
    public func price(for model: String, at timestampMs: Int64) -> (name: String, price: ModelPrice)? {
        table(at: timestampMs).price(for: model)
    }

    /// Number of distinct model names over all versions.
    public var modelCount: Int { Set(versions.flatMap(\.table.models.keys)).count }
}
