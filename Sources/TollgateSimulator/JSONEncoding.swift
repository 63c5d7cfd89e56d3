/// Compact JSON serialization in the layout OpenAI's API writes: no whitespace, members in the given order,
/// non-ASCII text left as raw UTF-8.
extension JSON {
    /// The compact encoding of this value.
    var encoded: String {
        var out = ""
        out.reserveCapacity(256)
        write(to: &out)
        return out
    }

    /// Appends the compact encoding of this value to `out`.
    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value): out += value.isFinite ? "\(value)" : "null"
        case .string(let value): JSON.writeString(value, to: &out)
        case .raw(let text): out += text
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                JSON.writeString(member.0, to: &out)
                out += ":"
                member.1.write(to: &out)
            }
            out += "}"
        }
    }

    /// Appends `value` as a JSON string literal, escaping only what JSON requires.
    static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// The two layouts Google's APIs write JSON in: indented by two spaces (whole bodies and the elements of a
/// JSON-array stream), and one line with `": "` after keys but nothing after commas (`alt=sse` events).
extension JSON {
    /// The indented layout, without a trailing newline.
    var googleIndented: String {
        var out = ""
        writeGoogle(to: &out, indent: 0)
        return out
    }

    /// The one-line layout of `alt=sse` events.
    var googleLine: String {
        var out = ""
        writeGoogle(to: &out, indent: nil)
        return out
    }

    /// Appends this value in Google's layout: indented from `indent` levels, or on one line when `indent` is nil.
    /// Empty arrays and objects stay `[]` and `{}`.
    private func writeGoogle(to out: inout String, indent: Int?) {
        /// A line break followed by `level` levels of indentation (nothing on one line).
        func newline(_ level: Int) {
            guard indent != nil else { return }
            out += "\n" + String(repeating: "  ", count: level)
        }
        let inner = indent.map { $0 + 1 }
        switch self {
        case .array(let elements) where !elements.isEmpty:
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                newline(inner ?? 0)
                element.writeGoogle(to: &out, indent: inner)
            }
            newline(indent ?? 0)
            out += "]"
        case .object(let members) where !members.isEmpty:
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                newline(inner ?? 0)
                JSON.writeString(member.0, to: &out)
                out += ": "
                member.1.writeGoogle(to: &out, indent: inner)
            }
            newline(indent ?? 0)
            out += "}"
        default:
            write(to: &out)
        }
    }
}
