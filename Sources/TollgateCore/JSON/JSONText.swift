/// A JSON document that Tollgate writes itself (error bodies, the readiness check): compact, object keys sorted by
/// their characters (for the lowercase ASCII keys written, the order `JSONSerialization` gave them).
///
/// Written byte by byte, without Foundation: `JSONSerialization` took half of the CPU of a refused request (a `401`
/// cost three times a `/healthz`), its dictionaries bridged, cast and sorted through the Objective-C layer. Strings
/// are escaped as `JSONSerialization` escapes them (``encodeJSONString(_:)``).
///
/// ```swift
/// let body: JSONValue = ["error": ["message": .string("bad key"), "param": nil, "code": 401]]
/// body.text  // {"error":{"code":401,"message":"bad key","param":null}}
/// ```
public enum JSONValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case null
    indirect case object([String: JSONValue])

    /// The compact JSON text, object keys sorted.
    public var text: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(to: &out)
        return out
    }

    /// Appends the compact JSON text to `out`.
    public func write(to out: inout [UInt8]) {
        switch self {
        case .string(let text): appendJSONString(text, to: &out)
        case .integer(let number): out.append(contentsOf: String(number).utf8)
        case .boolean(let flag): out.append(contentsOf: flag ? Self.trueText : Self.falseText)
        case .null: out.append(contentsOf: Self.nullText)
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendJSONString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let trueText = Array("true".utf8)
    private static let falseText = Array("false".utf8)
    private static let nullText = Array("null".utf8)
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByNilLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .boolean(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

/// Encodes a Swift string as a JSON string literal, quotes included.
public func encodeJSONString(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count + 2)
    appendJSONString(text, to: &out)
    return out
}

/// Appends `text` as a JSON string literal: `"` and `\` escaped, control characters as `\n`, `\t` … or `\u001f`,
/// everything else (`/` and non-ASCII included) as its UTF-8 bytes, as `JSONSerialization` writes it with
/// `.withoutEscapingSlashes`.
public func appendJSONString(_ text: String, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    let utf8 = text.utf8
    if !utf8.contains(where: needsEscape) {
        out.append(contentsOf: utf8)
    } else {
        for byte in utf8 {
            guard needsEscape(byte) else {
                out.append(byte)
                continue
            }
            out.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
            case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
            case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
            default:
                out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
    }
    out.append(UInt8(ascii: "\""))
}

@inline(__always)
private func needsEscape(_ byte: UInt8) -> Bool {
    byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
}

private let hexDigits = Array("0123456789abcdef".utf8)
