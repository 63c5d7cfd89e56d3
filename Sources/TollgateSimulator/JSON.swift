/// A JSON value whose objects keep their key order, so the simulator can write the exact compact layout OpenAI uses.
///
/// Object members are an ordered list rather than a dictionary: OpenAI clients never depend on key order, but the
/// byte-for-byte comparisons in the end-to-end suite (direct vs. through the proxy) and the `"usage":null` fidelity
/// checks are only meaningful when every body is written the same way every time.
enum JSON: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])
    /// Already-encoded JSON text, spliced in verbatim; used for large arrays (embeddings) built with a fast path.
    case raw(String)
}

/// Typed access for reading request bodies.
extension JSON {
    /// The member named `key` when this is an object, else nil.
    subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    /// The string payload, if this is a string.
    var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer payload; a whole-number double counts too because some clients send `16.0`.
    var intValue: Int? {
        switch self {
        case .int(let value): return value
        case .double(let value) where value.rounded() == value && abs(value) < 1e15: return Int(value)
        default: return nil
        }
    }

    /// The boolean payload, if this is a boolean.
    var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements, if this is an array.
    var arrayValue: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }
}

/// Scalar literals, so bodies can be written as Swift literals.
extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral {
    /// A string literal is a JSON string.
    init(stringLiteral value: String) { self = .string(value) }
    /// An integer literal is a JSON integer.
    init(integerLiteral value: Int) { self = .int(value) }
    /// A boolean literal is a JSON boolean.
    init(booleanLiteral value: Bool) { self = .bool(value) }
    /// `nil` is JSON null.
    init(nilLiteral: ()) { self = .null }
}

/// Collection literals; a dictionary literal keeps its order, which is what makes ordered objects easy to write.
extension JSON: ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    /// An array literal is a JSON array.
    init(arrayLiteral elements: JSON...) { self = .array(elements) }
    /// A dictionary literal is a JSON object whose members keep the literal's order.
    init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements) }
}
