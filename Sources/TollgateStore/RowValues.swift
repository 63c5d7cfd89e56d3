extension SQLRow {
    /// The text of `column` as one of an enum's cases (the stored text is the case's raw value), or `fallback` for a
    /// text the enum does not have (a row written by a later Tollgate, or edited by hand).
    func choice<Value: RawRepresentable>(_ column: String, or fallback: Value) -> Value where Value.RawValue == String {
        (self[column] as String?).flatMap(Value.init(rawValue:)) ?? fallback
    }
}
