/// A small strict JSON parser for request bodies.
///
/// Hand-written because this is the main per-request cost of the simulator under load: Foundation's decoders
/// allocate an error for every failed type probe, while this walks the bytes once. Object key order is kept.
struct JSONParser {
    /// Nesting deeper than this is rejected instead of risking the stack.
    static let maxDepth = 256

    private let bytes: UnsafeRawBufferPointer
    private var index = 0

    /// Parses one complete JSON document; nil if `bytes` is not exactly that.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> JSON? {
        var parser = JSONParser(bytes: bytes)
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipWhitespace()
        return parser.index == bytes.count ? value : nil
    }

    /// A parser at the start of `bytes`.
    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// The byte at the cursor, or nil at the end.
    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    /// Moves past spaces, tabs and line breaks.
    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    /// Any value at the cursor.
    private mutating func value(depth: Int) -> JSON? {
        guard depth < Self.maxDepth else { return nil }
        skipWhitespace()
        switch current {
        case UInt8(ascii: "{")?: return object(depth: depth)
        case UInt8(ascii: "[")?: return array(depth: depth)
        case UInt8(ascii: "\"")?: return string().map(JSON.string)
        case UInt8(ascii: "t")?: return literal("true", .bool(true))
        case UInt8(ascii: "f")?: return literal("false", .bool(false))
        case UInt8(ascii: "n")?: return literal("null", .null)
        case .some: return number()
        case nil: return nil
        }
    }

    /// `{ "key": value, ... }`.
    private mutating func object(depth: Int) -> JSON? {
        index += 1
        var members: [(String, JSON)] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") { index += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\""), let key = string() else { return nil }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { return nil }
            index += 1
            guard let value = value(depth: depth + 1) else { return nil }
            members.append((key, value))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ",")?: index += 1
            case UInt8(ascii: "}")?: index += 1; return .object(members)
            default: return nil
            }
        }
    }

    /// `[ value, ... ]`.
    private mutating func array(depth: Int) -> JSON? {
        index += 1
        var elements: [JSON] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { index += 1; return .array(elements) }
        while true {
            guard let element = value(depth: depth + 1) else { return nil }
            elements.append(element)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ",")?: index += 1
            case UInt8(ascii: "]")?: index += 1; return .array(elements)
            default: return nil
            }
        }
    }

    /// `true`, `false` or `null`.
    private mutating func literal(_ word: String, _ value: JSON) -> JSON? {
        for expected in word.utf8 {
            guard current == expected else { return nil }
            index += 1
        }
        return value
    }

    /// A number: an integer when it has no fraction or exponent and fits, else a double. The scan is lenient
    /// (it accepts what Swift's number parsers accept); request bodies come from real JSON encoders anyway.
    private mutating func number() -> JSON? {
        let start = index
        var integral = true
        scan: while let byte = current {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"): break
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): integral = false
            default: break scan
            }
            index += 1
        }
        guard index > start else { return nil }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if integral, let value = Int(text) { return .int(value) }
        return Double(text).map(JSON.double)
    }

    /// A string literal (cursor on its opening quote), escapes decoded.
    private mutating func string() -> String? {
        index += 1
        let start = index
        // Fast path: no escapes, so the bytes between the quotes are the string.
        while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            guard byte >= 0x20 else { return nil }
            index += 1
        }
        guard let stop = current else { return nil }
        var result = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if stop == UInt8(ascii: "\"") { index += 1; return result }
        // Slow path: decode the rest byte by byte.
        var pending: [UInt8] = []
        while let byte = current {
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                result += String(decoding: pending, as: UTF8.self)
                return result
            case UInt8(ascii: "\\"):
                guard let escaped = escape() else { return nil }
                result += String(decoding: pending, as: UTF8.self)
                pending.removeAll(keepingCapacity: true)
                result.unicodeScalars.append(escaped)
            case 0..<0x20:
                return nil
            default:
                pending.append(byte)
            }
        }
        return nil
    }

    /// The character an escape stands for (cursor just past the backslash).
    private mutating func escape() -> Unicode.Scalar? {
        guard let byte = current else { return nil }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            guard let high = hex4() else { return nil }
            // A UTF-16 surrogate pair spells a scalar outside the BMP as two escapes.
            if (0xD800..<0xDC00).contains(high), current == UInt8(ascii: "\\"), index + 1 < bytes.count,
                bytes[index + 1] == UInt8(ascii: "u")
            {
                index += 2
                guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            }
            return Unicode.Scalar(high) ?? "\u{FFFD}"
        default:
            return nil
        }
    }

    /// Four hex digits.
    private mutating func hex4() -> UInt32? {
        guard index + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = hexValue(bytes[index]) else { return nil }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    /// The value of one hex digit.
    private func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}
