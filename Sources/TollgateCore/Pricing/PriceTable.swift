/// A provider's prices by model name, in one currency, with the lookup rules for dated snapshots.
///
/// Providers answer with a dated snapshot of the model asked for (`gpt-4o` is served as `gpt-4o-2024-08-06`,
/// `babbage-002` as `babbage:2023-07-21-v2`). A lookup tries the exact name, then the name without a date or
/// version suffix, then the longest listed name that the model starts with followed by `-` or `:`.
public struct PriceTable: Sendable, Equatable {
    /// Prices by model name.
    public var models: [String: ModelPrice]
    /// The currency the prices are in (ISO 4217 code).
    public var currency: String

    /// Creates a table.
    public init(models: [String: ModelPrice] = [:], currency: String = "USD") {
        self.models = models
        self.currency = currency
    }

    /// The price for `model` and the name it was found under, or `nil` when the model is not priced.
    public func price(for model: String) -> (name: String, price: ModelPrice)? {
        if let price = models[model] { return (model, price) }
        let undated = Self.withoutSnapshotSuffix(model)
        if undated != model, let price = models[undated] { return (undated, price) }
        var best: (name: String, price: ModelPrice)?
        for (name, price) in models where name.count > (best?.name.count ?? 0) && model.count > name.count && model.hasPrefix(name) {
            let boundary = model[model.index(model.startIndex, offsetBy: name.count)]
            if boundary == "-" || boundary == ":" { best = (name, price) }
        }
        return best
    }

    /// `gpt-4o-2024-08-06` → `gpt-4o`, `gpt-4-0613` → `gpt-4`, `babbage:2023-07-21-v2` → `babbage`.
    static func withoutSnapshotSuffix(_ model: String) -> String {
        if let colon = model.firstIndex(of: ":") { return String(model[..<colon]) }
        let parts = model.split(separator: "-", omittingEmptySubsequences: false)
        if parts.count > 3, parts.suffix(3).map(\.count) == [4, 2, 2], parts.suffix(3).allSatisfy({ $0.allSatisfy(\.isNumber) }) {
            return parts.dropLast(3).joined(separator: "-")
        }
        if parts.count > 1, let last = parts.last, last.count == 4, last.allSatisfy(\.isNumber) {
            return parts.dropLast().joined(separator: "-")
        }
        return model
    }
}
