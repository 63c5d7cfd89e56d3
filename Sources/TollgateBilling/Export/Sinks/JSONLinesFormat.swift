import Foundation
import TollgateCore
import TollgateStore

/// The `jsonl` file sink's rows: one JSON object per line (JSON Lines), no header.
///
/// The fields are the CSV format's columns (``CSVLineFormat``), in the same order: counts (`version`, `quantity`, the
/// token classes, `event_count`) are numbers; money (`amount`, `amount_due`) is a decimal string, never a float;
/// `correction` is a boolean; `brackets` is the tier breakdown as an array of objects; `event_ids` is an array of
/// strings; `external_customer_id`, `model` and `original_period` are `null` when missing; times are UTC strings
/// `YYYY-MM-DDTHH:MM:SSZ`.
struct JSONLinesFormat: FileLineFormat {
    var header: String? { nil }

    func row(_ outbound: OutboundLine) -> String {
        let line = outbound.line
        let fields: [(String, String)] = [
            ("key", Self.string(line.key)),
            ("customer", Self.string(line.customer)),
            ("external_customer_id", Self.string(outbound.externalCustomerID)),
            ("period", Self.string(line.period)),
            ("period_start", Self.string(FileCells.time(line.periodStartMs))),
            ("period_end", Self.string(FileCells.time(line.periodEndMs))),
            ("meter", Self.string(line.meter)),
            ("kind", Self.string(line.kind.rawValue)),
            ("description", Self.string(line.description)),
            ("model", Self.string(line.model)),
            ("version", String(line.version)),
            ("correction", line.isCorrection ? "true" : "false"),
            ("original_period", Self.string(line.isCorrection ? line.period : nil)),
            ("quantity", String(line.quantity)),
            ("input_tokens", String(line.usage.inputTokens)),
            ("cache_read_tokens", String(line.usage.cacheReadTokens)),
            ("cache_write_tokens", String(line.usage.cacheWriteTokens)),
            ("output_tokens", String(line.usage.outputTokens)),
            ("reasoning_tokens", String(line.usage.reasoningTokens)),
            ("amount", Self.string(line.amount.description)),
            ("amount_due", Self.string(line.amountDue.description)),
            ("currency", Self.string(line.currency)),
            ("brackets", FileCells.bracketsArray(line.bracketsJSON)),
            ("event_count", String(line.eventIDs.count)),
            ("event_ids", "[" + line.eventIDs.map { Self.string($0) }.joined(separator: ",") + "]"),
            ("usage_time", Self.string(FileCells.time(line.usageMs))),
        ]
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}\n"
    }

    func keys(in bytes: [UInt8]) throws(FileFormatError) -> Set<String> {
        var keys = Set<String>()
        for (number, text) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if text.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(text)) as? [String: Any], let key = object["key"] as? String else {
                throw FileFormatError(message: "line \(number + 1) is not a JSON object with a key")
            }
            keys.insert(key)
        }
        return keys
    }

    /// A JSON string literal, or `null`.
    static func string(_ text: String?) -> String {
        guard let text else { return "null" }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
