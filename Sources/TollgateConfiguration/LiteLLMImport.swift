import Foundation
import TollgateCore

/// Turns LiteLLM's price table (`model_prices_and_context_window.json`) into a Tollgate catalog (the YAML of a
/// provider file's `prices:`) and a report of what could not be carried over exactly.
///
/// LiteLLM writes rates per token as JSON floats. Each is read the way LiteLLM reads it (the float nearest the
/// literal), written as the shortest decimal that round-trips that float (`3e-06`, not
/// `2.9999999999999997e-06`), multiplied by 10^6 exactly, and kept to Tollgate's precision of 9 decimals per
/// million (10^-15 per token), rounding half to even beyond that; every rate that had to be rounded is reported.
///
/// Mapping, standard rates: `input_cost_per_token` → input, `output_cost_per_token` → output,
/// `cache_read_input_token_cost` → cache_read, `cache_creation_input_token_cost` → cache_write,
/// `cache_creation_input_token_cost_above_1hr` → cache_write_1h, `output_cost_per_reasoning_token` → reasoning,
/// `input|output_cost_per_audio_token` → input|output_audio, `input|output_cost_per_image_token` →
/// input|output_image, `input_cost_per_request` → per_request, `search_context_cost_per_query`'s medium size →
/// web_search. A suffix `_above_<N>[k]_tokens` makes a long-context tier (`from:` for xAI, whose thresholds are
/// inclusive; `above:` otherwise); `_flex`, `_priority`, `_balanced`, `_ultrafast` and `_batches` make service
/// tiers (`batches` → `batch`), with their own long-context tiers when both suffixes are present.
///
/// Where LiteLLM's generic cost function bills differently from a plain reading of the keys, the catalog follows
/// LiteLLM and the report says so (`adjusted`): `tiered_pricing` tables become a base price and long-context
/// tiers; a service tier with its own output rate bills reasoning at that rate even when the model has a
/// reasoning rate; fireworks_ai models without a cache-read rate read cache at half the input rate; a model
/// without an output rate bills output at its output-image rate.
public enum LiteLLMImport {
    /// What the import is called in the files it writes.
    public static let generator = "tollgate rates import-litellm"

    /// The JSON could not be read as a LiteLLM price table.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// What is wrong, with a line number when the JSON itself is invalid.
        public var description: String
    }

    /// What the import did, entry by entry. Every list is sorted by model name.
    public struct Report: Sendable, Codable, Equatable {
        /// An entry left out of the catalog.
        public struct Unmapped: Sendable, Codable, Equatable {
            public var model: String
            public var provider: String?
            public var mode: String?
            public var reason: String
        }

        /// An entry in the catalog whose prices look wrong.
        public struct Flagged: Sendable, Codable, Equatable {
            public var model: String
            public var provider: String?
            public var issues: [String]
        }

        /// A rate with more precision than Tollgate keeps, written rounded.
        public struct Rounded: Sendable, Codable, Equatable {
            public var model: String
            /// The LiteLLM key (`tiered_pricing[1].input_cost_per_token` inside a tiered table).
            public var key: String
            /// LiteLLM's number (shortest round-trip form of the float).
            public var value: String
            /// What the catalog says: per million tokens for token rates, per unit for the others.
            public var written: String
        }

        /// An entry whose catalog price deliberately differs from a plain reading of its keys.
        public struct Adjusted: Sendable, Codable, Equatable {
            public var model: String
            public var notes: [String]
        }

        /// Price keys of a mapped entry that the catalog has no place for (per-second, per-image, off-peak...).
        public struct Ignored: Sendable, Codable, Equatable {
            public var model: String
            public var keys: [String]
        }

        /// The file the table was read from.
        public var source: String
        /// Entries read (`sample_spec` excluded).
        public var entries: Int
        /// Entries written to the catalog.
        public var mapped: Int
        public var unmapped: [Unmapped]
        public var flagged: [Flagged]
        public var rounded: [Rounded]
        public var adjusted: [Adjusted]
        public var ignored: [Ignored]
        /// How many mapped entries have each ignored key.
        public var ignoredKeys: [String: Int]

        /// Number of entries with at least one rounded rate.
        public var roundedEntries: Int { Set(rounded.map(\.model)).count }
    }

    /// The catalog text and the report.
    public struct Output: Sendable {
        /// A provider file with `description`, `currency` and `prices` (loadable by `ProviderSpec.parse`).
        public var yaml: String
        public var report: Report
    }

    /// Converts LiteLLM's JSON.
    public static func convert(_ data: Data, sourceName: String) throws(Failure) -> Output {
        try convert(Array(data), sourceName: sourceName)
    }

    /// Converts LiteLLM's JSON.
    public static func convert(_ bytes: [UInt8], sourceName: String) throws(Failure) -> Output {
        var parser = LiteJSONParser(bytes: bytes)
        let root = try parser.parseDocument()
        guard case .object(let members) = root else {
            throw Failure(description: "expected a JSON object of models (LiteLLM's model_prices_and_context_window.json), found \(root.kind)")
        }
        var entries: [String: LiteJSON] = [:]
        for (key, value) in members { entries[key] = value }  // the last of duplicate keys wins, as in Python
        var report = Report(
            source: sourceName, entries: 0, mapped: 0, unmapped: [], flagged: [], rounded: [], adjusted: [], ignored: [], ignoredKeys: [:])
        var written: [(String, String)] = []
        for model in entries.keys.sorted() where model != "sample_spec" {
            report.entries += 1
            var converter = EntryConverter(model: model)
            if let text = converter.convert(entries[model]!) {
                written.append((model, text))
                report.mapped += 1
                if !converter.ignored.isEmpty {
                    let keys = converter.ignored.sorted()
                    report.ignored.append(.init(model: model, keys: keys))
                    for key in keys { report.ignoredKeys[key, default: 0] += 1 }
                }
                if !converter.issues.isEmpty {
                    report.flagged.append(.init(model: model, provider: converter.provider, issues: converter.issues))
                }
                if !converter.notes.isEmpty { report.adjusted.append(.init(model: model, notes: converter.notes)) }
                report.rounded += converter.rounded
            } else {
                report.unmapped.append(
                    .init(model: model, provider: converter.provider, mode: converter.mode, reason: converter.unmappedReason ?? "no price"))
            }
        }
        var yaml = """
            # LiteLLM's price table as a Tollgate catalog, generated by \(generator) from \(sourceName).
            # \(report.entries) entries read: \(report.mapped) mapped, \(report.unmapped.count) unmapped, \
            \(report.flagged.count) flagged, \(report.roundedEntries) rounded (--report FILE lists them).
            # Token rates are USD per million tokens; per_request and web_search are USD per request and per search.
            # Model names are LiteLLM's keys, unchanged.
            description: \(yamlQuoted("LiteLLM price table (\(sourceName))"))
            currency: USD

            """
        if written.isEmpty {
            yaml += "prices: {}\n"
        } else {
            yaml += "prices:\n"
            for (_, text) in written { yaml += text }
        }
        return Output(yaml: yaml, report: report)
    }

    /// A YAML double-quoted scalar: safe for any key (`:`, `#`, leading `*` or `-`, quotes, control characters).
    public static func yamlQuoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) || scalar.value == 0xFEFF
                    || scalar.value == 0x2028 || scalar.value == 0x2029
                {
                    result +=
                        "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16).uppercased()
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}

// MARK: - Exact decimals

/// An exact decimal `±digits × 10^exponent`, for carrying LiteLLM's floats into Tollgate's fixed point.
struct ExactDecimal: Equatable, Sendable {
    /// Whether the value is below zero (never for zero).
    var negative: Bool
    /// Decimal digits, most significant first, without leading or trailing zeros; empty for zero.
    var digits: [UInt8]
    var exponent: Int

    static let zero = ExactDecimal(negative: false, digits: [], exponent: 0)

    init(negative: Bool, digits: [UInt8], exponent: Int) {
        self.negative = negative
        self.digits = digits
        self.exponent = exponent
        normalize()
    }

    /// Parses `[-+]digits[.digits][e[-+]digits]` (also `.5`, `5.`); `nil` on anything else.
    init?(_ text: String) {
        let bytes = Array(text.utf8)
        var index = 0
        var negative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        var digits: [UInt8] = []
        var fractionCount = 0
        var seenPoint = false
        var seenDigit = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= 48 && byte <= 57 {
                digits.append(byte - 48)
                if seenPoint { fractionCount += 1 }
                seenDigit = true
            } else if byte == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else {
                break
            }
            index += 1
        }
        guard seenDigit else { return nil }
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var exponentDigits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                guard exponentDigits < 6 else { return nil }
                exponent = exponent * 10 + Int(bytes[index] - 48)
                exponentDigits += 1
                index += 1
            }
            guard exponentDigits > 0 else { return nil }
            if exponentNegative { exponent = -exponent }
        }
        guard index == bytes.count else { return nil }
        self.init(negative: negative, digits: digits, exponent: exponent - fractionCount)
    }

    /// The shortest decimal that reads back as `value` (what Python's `repr` and Swift's `description` print).
    init?(shortestOf value: Double) {
        guard value.isFinite else { return nil }
        self.init("\(value)")
    }

    private mutating func normalize() {
        if let first = digits.firstIndex(where: { $0 != 0 }) {
            digits.removeFirst(first)
        } else {
            digits = []
        }
        while let last = digits.last, last == 0 {
            digits.removeLast()
            exponent += 1
        }
        if digits.isEmpty {
            negative = false
            exponent = 0
        }
    }

    var isZero: Bool { digits.isEmpty }

    /// The value times 10^places.
    func shifted(by places: Int) -> ExactDecimal {
        ExactDecimal(negative: negative, digits: digits, exponent: isZero ? 0 : exponent + places)
    }

    /// The value times a one-digit factor (exact).
    func times(_ factor: UInt8) -> ExactDecimal {
        var result: [UInt8] = []
        var carry = 0
        for digit in digits.reversed() {
            let product = Int(digit) * Int(factor) + carry
            result.append(UInt8(product % 10))
            carry = product / 10
        }
        while carry > 0 {
            result.append(UInt8(carry % 10))
            carry /= 10
        }
        return ExactDecimal(negative: negative, digits: result.reversed(), exponent: exponent)
    }

    /// Rounded half to even to at most `places` fractional digits, and whether that changed the value.
    func rounded(toFractionDigits places: Int) -> (value: ExactDecimal, changed: Bool) {
        guard !isZero, exponent < -places else { return (self, false) }
        let drop = -places - exponent
        guard drop <= digits.count else { return (.zero, true) }  // below a tenth of the last kept digit
        var kept = Array(digits[0..<(digits.count - drop)])
        let removed = digits[(digits.count - drop)...]
        let first = removed.first!
        let roundUp: Bool
        if first > 5 {
            roundUp = true
        } else if first < 5 {
            roundUp = false
        } else if removed.dropFirst().contains(where: { $0 != 0 }) {
            roundUp = true
        } else {
            roundUp = (kept.last ?? 0) % 2 == 1
        }
        if roundUp {
            var index = kept.count - 1
            while true {
                if index < 0 {
                    kept.insert(1, at: 0)
                    break
                }
                if kept[index] == 9 {
                    kept[index] = 0
                    index -= 1
                } else {
                    kept[index] += 1
                    break
                }
            }
        }
        return (ExactDecimal(negative: negative, digits: kept, exponent: -places), true)
    }

    /// Number of digits before the decimal point.
    var integerDigitCount: Int { isZero ? 1 : max(1, digits.count + exponent) }

    /// Plain decimal notation without exponent or trailing zeros: `3`, `0.075`, `1.1`.
    var plain: String {
        guard !isZero else { return "0" }
        let text = String(decoding: digits.map { $0 + 48 }, as: UTF8.self)
        var result: String
        if exponent >= 0 {
            result = text + String(repeating: "0", count: exponent)
        } else {
            let fraction = -exponent
            if text.count <= fraction {
                result = "0." + String(repeating: "0", count: fraction - text.count) + text
            } else {
                let split = text.index(text.startIndex, offsetBy: text.count - fraction)
                result = text[..<split] + "." + text[split...]
            }
        }
        return negative ? "-" + result : result
    }
}

// MARK: - A JSON reader that keeps number literals

/// JSON values with numbers kept as their literal text (JSONSerialization turns long literals into
/// NSDecimalNumber, whose double is not always the float Python reads).
enum LiteJSON: Sendable {
    case object([(String, LiteJSON)])
    case array([LiteJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    var kind: String {
        switch self {
        case .object: "an object"
        case .array: "a list"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }

    /// The members of an object, the last of duplicate keys winning.
    var members: [String: LiteJSON]? {
        guard case .object(let pairs) = self else { return nil }
        var result: [String: LiteJSON] = [:]
        for (key, value) in pairs { result[key] = value }
        return result
    }
}

struct LiteJSONParser {
    let bytes: [UInt8]
    var index = 0
    static let numberBytes = Set("-+.eE0123456789".utf8)

    init(bytes: [UInt8]) {
        self.bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    }

    mutating func parseDocument() throws(LiteLLMImport.Failure) -> LiteJSON {
        skipWhitespace()
        guard index < bytes.count else { throw failure("the file is empty") }
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected text after the JSON value") }
        return value
    }

    private func failure(_ message: String) -> LiteLLMImport.Failure {
        let upTo = bytes[..<min(index, bytes.count)]
        let line = upTo.count(where: { $0 == 0x0A }) + 1
        let column = upTo.count - (upTo.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
        return LiteLLMImport.Failure(description: "not valid JSON: \(message) at line \(line), column \(column)")
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    private mutating func expect(_ literal: String, _ value: LiteJSON) throws(LiteLLMImport.Failure) -> LiteJSON {
        let expected = Array(literal.utf8)
        guard bytes.count - index >= expected.count, Array(bytes[index..<(index + expected.count)]) == expected else {
            throw failure("unexpected character")
        }
        index += expected.count
        return value
    }

    private mutating func parseValue(depth: Int) throws(LiteLLMImport.Failure) -> LiteJSON {
        guard depth < 64 else { throw failure("nested too deeply") }
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of file") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [(String, LiteJSON)] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a quoted key") }
                let key = try parseString()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
                index += 1
                members.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                guard index < bytes.count else { throw failure("unexpected end of file in an object") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(members)
                } else {
                    throw failure("expected ',' or '}'")
                }
            }
        case UInt8(ascii: "["):
            index += 1
            var items: [LiteJSON] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw failure("unexpected end of file in a list") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(items)
                } else {
                    throw failure("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "N"): return try expect("NaN", .number("nan"))  // Python's json writes these
        case UInt8(ascii: "I"): return try expect("Infinity", .number("inf"))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = index
            if bytes[index] == UInt8(ascii: "-"), bytes.count - index >= 9,
                Array(bytes[(index + 1)..<(index + 9)]) == Array("Infinity".utf8)
            {
                index += 9
                return .number("-inf")
            }
            while index < bytes.count, Self.numberBytes.contains(bytes[index]) { index += 1 }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            guard ExactDecimal(text) != nil else {
                index = start
                throw failure("invalid number '\(text)'")
            }
            return .number(text)
        default:
            throw failure("unexpected character")
        }
    }

    private mutating func parseString() throws(LiteLLMImport.Failure) -> String {
        index += 1  // the opening quote
        var output: [UInt8] = []
        while true {
            guard index < bytes.count else { throw failure("unterminated string") }
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""): return String(decoding: output, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { throw failure("unterminated string") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escape)
                case UInt8(ascii: "b"): output.append(0x08)
                case UInt8(ascii: "f"): output.append(0x0C)
                case UInt8(ascii: "n"): output.append(0x0A)
                case UInt8(ascii: "r"): output.append(0x0D)
                case UInt8(ascii: "t"): output.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar), bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"),
                        bytes[index + 1] == UInt8(ascii: "u")
                    {
                        index += 2
                        let low = try parseHex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            index -= 6
                        }
                    }
                    let character = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    output.append(contentsOf: Array(String(character).utf8))
                default: throw failure("invalid escape in a string")
                }
            default:
                guard byte >= 0x20 else { throw failure("control character in a string") }
                output.append(byte)
            }
        }
    }

    private mutating func parseHex4() throws(LiteLLMImport.Failure) -> UInt32 {
        guard bytes.count - index >= 4 else { throw failure("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - 48)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - 87)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - 55)
            default: throw failure("invalid \\u escape")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }
}

// MARK: - One entry

/// A rate as written (decimal text) and as Tollgate reads it.
struct ImportedRate: Equatable, Sendable {
    var text: String
    var money: Money

    static let zero = ImportedRate(text: "0", money: .zero)
}

/// Rates by class, as a catalog writes them (a partial set, laid over another with Tollgate's rules).
struct ImportedRates: Equatable, Sendable {
    var values: [PriceClass: ImportedRate] = [:]

    subscript(_ priceClass: PriceClass) -> ImportedRate? {
        get { values[priceClass] }
        set { values[priceClass] = newValue }
    }

    var isEmpty: Bool { values.isEmpty }

    func overlaid(by other: ImportedRates) -> ImportedRates {
        ImportedRates(values: values.merging(other.values) { $1 })
    }

    /// The rate Tollgate bills a class at: its own, else its fallback's (``PriceClass/fallback``), else zero.
    func effective(_ priceClass: PriceClass) -> Money {
        var current: PriceClass? = priceClass
        while let candidate = current {
            if let rate = values[candidate] { return rate.money }
            current = candidate.fallback
        }
        return .zero
    }
}

/// A service tier's rates and its own long-context rates by threshold.
struct ImportedTier: Sendable {
    var rates = ImportedRates()
    var longContext: [Int: ImportedRates] = [:]
}

/// Converts one LiteLLM entry, collecting what the report says about it.
struct EntryConverter {
    let model: String
    var provider: String?
    var mode: String?
    var issues: [String] = []
    var notes: [String] = []
    var rounded: [LiteLLMImport.Report.Rounded] = []
    var ignored: Set<String> = []
    var unmappedReason: String?

    /// Non-zero prices under keys the catalog cannot carry (for the reason an entry is unmapped).
    private var otherPrices: [String] = []
    private var base = ImportedRates()
    private var longContext: [Int: ImportedRates] = [:]
    private var tiers: [String: ImportedTier] = [:]
    private var maxOutputTokens: Int?
    private var maxInputTokens: Int?
    /// Whether the standard-tier rates were given by keys (not derived).
    private var tokenKeysPresent = false

    init(model: String) { self.model = model }

    /// The token-rate keys LiteLLM prices with, longest first so that a key is matched by its own base.
    static let tokenBases: [(String, PriceClass)] = [
        ("cache_creation_input_token_cost_above_1hr", .cacheWrite1h),
        ("cache_creation_input_token_cost", .cacheWrite),
        ("cache_read_input_token_cost", .cacheRead),
        ("output_cost_per_reasoning_token", .reasoning),
        ("input_cost_per_audio_token", .inputAudio),
        ("output_cost_per_audio_token", .outputAudio),
        ("input_cost_per_image_token", .inputImage),
        ("output_cost_per_image_token", .outputImage),
        ("input_cost_per_token", .input),
        ("output_cost_per_token", .output),
    ]
    /// LiteLLM's service-tier key suffixes and the Tollgate tier each becomes.
    static let tierSuffixes: [String: String] = [
        "flex": "flex", "priority": "priority", "batches": "batch", "balanced": "balanced", "ultrafast": "ultrafast",
    ]
    /// The order classes are written in.
    static let writeOrder: [PriceClass] = [
        .input, .output, .cacheRead, .cacheWrite, .cacheWrite1h, .reasoning, .inputAudio, .outputAudio, .inputImage,
        .outputImage, .perRequest, .webSearch, .webFetch,
    ]
    /// Classes a `tiered_pricing` table sets, in fallback order (each class's fallback comes before it).
    static let tieredClasses: [PriceClass] = [.input, .output, .cacheRead, .cacheWrite, .cacheWrite1h, .reasoning]
    /// fireworks_ai's cache-read rate when the table has none (`FIREWORKS_AI_DEFAULT_CACHE_READ_RATE_RATIO`).
    static let fireworksCacheReadHalf: UInt8 = 5

    /// `(class, threshold, tier)` for a token-rate key such as `input_cost_per_token_above_200k_tokens_priority`.
    static func parseTokenKey(_ key: String) -> (priceClass: PriceClass, threshold: Int?, tier: String?)? {
        guard let (base, priceClass) = tokenBases.first(where: { key.hasPrefix($0.0) }) else { return nil }
        var rest = Substring(key.dropFirst(base.count))
        var threshold: Int?
        if rest.hasPrefix("_above_") {
            let after = rest.dropFirst("_above_".count)
            guard let end = after.range(of: "_tokens") else { return nil }
            guard let parsed = parseThreshold(after[..<end.lowerBound]) else { return nil }
            threshold = parsed
            rest = after[end.upperBound...]
        }
        if rest.isEmpty { return (priceClass, threshold, nil) }
        guard rest.first == "_", let tier = tierSuffixes[String(rest.dropFirst())] else { return nil }
        return (priceClass, threshold, tier)
    }

    /// `200k` → 200000, `128000` → 128000.
    static func parseThreshold(_ text: Substring) -> Int? {
        var digits = text
        var scale = 1
        if digits.hasSuffix("k") {
            digits = digits.dropLast()
            scale = 1000
        }
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(digits),
            value > 0
        else { return nil }
        return value * scale
    }

    /// Whether a key LiteLLM prices with (so that leaving it out is reported).
    static func isPriceKey(_ key: String) -> Bool {
        key.contains("cost") || key.contains("pricing") || key.contains("multiplier") || key == "provider_specific_entry"
    }

    // MARK: Reading numbers

    enum Number {
        case absent
        case value(Double)
        case invalid(String)
    }

    /// A number as LiteLLM reads it: a JSON number, or a string `float()` accepts.
    static func number(_ value: LiteJSON) -> Number {
        switch value {
        case .null: return .absent
        case .number(let text):
            guard let double = Double(text) else { return .invalid(text) }
            return .value(double)
        case .string(let text):
            guard let double = Double(text.trimmingCharacters(in: .whitespaces)) else { return .invalid("\"\(text)\"") }
            return .value(double)
        case .bool(let flag): return .invalid(String(flag))
        case .object, .array: return .invalid(value.kind)
        }
    }

    /// A rate: per million tokens (9 decimals) for token classes, per unit (15 decimals) for the others; `nil`
    /// when absent or unusable (and then flagged).
    mutating func rate(_ value: LiteJSON, key: String, tokenClass: Bool) -> ImportedRate? {
        let double: Double
        switch Self.number(value) {
        case .absent: return nil
        case .invalid(let text):
            issues.append("\(key) is not a number (\(text)); left out")
            return nil
        case .value(let parsed): double = parsed
        }
        guard let decimal = ExactDecimal(shortestOf: double) else {
            issues.append("\(key) is \(double); left out")
            return nil
        }
        let original = "\(double)"
        if decimal.negative {
            issues.append("\(key) is negative (\(original)); left out")
            return nil
        }
        let scaled = tokenClass ? decimal.shifted(by: 6) : decimal
        let (kept, changed) = scaled.rounded(toFractionDigits: tokenClass ? 9 : Money.fractionalDigits)
        guard kept.integerDigitCount <= 12 else {
            issues.append("\(key) is \(original), unusably large; left out")
            return nil
        }
        let text = kept.plain
        guard let money = tokenClass ? Money.perMillionTokens(text) : Money(text) else {
            issues.append("\(key) is \(original), which Tollgate cannot hold; left out")
            return nil
        }
        if changed { rounded.append(.init(model: model, key: key, value: original, written: text)) }
        return ImportedRate(text: text, money: money)
    }

    /// A token limit: a whole number (LiteLLM sometimes writes `128000.0` or `"128000"`).
    mutating func tokenLimit(_ value: LiteJSON, key: String) -> Int? {
        switch Self.number(value) {
        case .absent: return nil
        case .invalid(let text):
            notes.append("\(key) left out: not a number (\(text))")
            return nil
        case .value(let double):
            guard double.isFinite, double.rounded() == double, double >= 1, double <= 100_000_000 else {
                let shown = double.isFinite && double.rounded() == double && abs(double) < 1e15 ? String(Int(double)) : "\(double)"
                notes.append("\(key) left out: \(shown) is not a whole number of tokens between 1 and 100000000")
                return nil
            }
            return Int(double)
        }
    }

    // MARK: Converting

    /// The entry's catalog text, or `nil` (with ``unmappedReason``) when it has no price Tollgate can use.
    mutating func convert(_ entry: LiteJSON) -> String? {
        guard let members = entry.members else {
            unmappedReason = "not an object (\(entry.kind))"
            return nil
        }
        if case .string(let text) = members["litellm_provider"] { provider = text }
        if case .string(let text) = members["mode"] { mode = text }
        var tieredTable: LiteJSON?
        for key in members.keys.sorted() {
            let value = members[key]!
            switch key {
            case "litellm_provider", "mode": continue
            case "max_output_tokens": maxOutputTokens = tokenLimit(value, key: key)
            case "max_input_tokens": maxInputTokens = tokenLimit(value, key: key)
            case "input_cost_per_request": base[.perRequest] = rate(value, key: key, tokenClass: false)
            case "search_context_cost_per_query":
                if case .null = value { continue }
                if let sizes = value.members, let medium = sizes["search_context_size_medium"] {
                    base[.webSearch] = rate(medium, key: "\(key).search_context_size_medium", tokenClass: false)
                } else {
                    ignored.insert(key)
                }
            case "tiered_pricing":
                if case .null = value { continue }
                tieredTable = value
            default:
                if let (priceClass, threshold, tier) = Self.parseTokenKey(key) {
                    guard let rate = rate(value, key: key, tokenClass: true) else { continue }
                    store(rate, priceClass, threshold: threshold, tier: tier)
                    if threshold == nil, tier == nil { tokenKeysPresent = true }
                } else if Self.isPriceKey(key) {
                    if case .null = value { continue }
                    ignored.insert(key)
                    if case .value(let double) = Self.number(value), double != 0 { otherPrices.append(key) }
                }
            }
        }
        if let tieredTable { applyTieredPricing(tieredTable) }
        applyLiteLLMRules()
        guard classify() else { return nil }
        flagSuspiciousRates()
        if model.contains("*") {
            notes.append("the name contains '*': Tollgate reads it as a pattern matching any text in its place")
        }
        return text()
    }

    private mutating func store(_ rate: ImportedRate, _ priceClass: PriceClass, threshold: Int?, tier: String?) {
        switch (threshold, tier) {
        case (nil, nil): base[priceClass] = rate
        case (let threshold?, nil): longContext[threshold, default: ImportedRates()][priceClass] = rate
        case (nil, let tier?): tiers[tier, default: ImportedTier()].rates[priceClass] = rate
        case (let threshold?, let tier?): tiers[tier, default: ImportedTier()].longContext[threshold, default: ImportedRates()][priceClass] = rate
        }
    }

    /// LiteLLM's `tiered_pricing`: one tier picked by prompt size (`start < prompt <= end`, the last tier above
    /// every range) bills the whole request. The first tier becomes the base price, each later one a long-context
    /// tier above its start that sets every class the tier changes.
    private mutating func applyTieredPricing(_ table: LiteJSON) {
        guard case .array(let items) = table else {
            issues.append("tiered_pricing is \(table.kind), not a list; left out")
            return
        }
        var tiersByStart: [(start: Double, end: Double, rates: [String: ImportedRate])] = []
        for (position, item) in items.enumerated() {
            guard let members = item.members, case .array(let range)? = members["range"], range.count == 2,
                case .value(let start) = Self.number(range[0]), case .value(let end) = Self.number(range[1])
            else {
                // Tiers by result count (search APIs) and the like: not token prices.
                ignored.insert("tiered_pricing")
                otherPrices.append("tiered_pricing")
                return
            }
            var rates: [String: ImportedRate] = [:]
            for key in members.keys.sorted() where key != "range" {
                let name = "tiered_pricing[\(position)].\(key)"
                if [
                    "input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost", "cache_creation_input_token_cost",
                    "cache_creation_input_token_cost_above_1hr", "output_cost_per_reasoning_token",
                ].contains(key) {
                    if let rate = rate(members[key]!, key: name, tokenClass: true) { rates[key] = rate }
                } else if Self.isPriceKey(key) {
                    ignored.insert("tiered_pricing.\(key)")
                }
            }
            guard rates["input_cost_per_token"] != nil else {
                issues.append("tiered_pricing[\(position)] has no input_cost_per_token (LiteLLM then ignores the table); left out")
                return
            }
            tiersByStart.append((start, end, rates))
        }
        guard !tiersByStart.isEmpty else { return }
        tiersByStart.sort { $0.start < $1.start }
        if tiersByStart[0].start > 0 {
            issues.append(
                "tiered_pricing starts at \(tiersByStart[0].start) tokens: LiteLLM bills smaller prompts at its last tier, the catalog at its first")
        }
        for (lower, upper) in zip(tiersByStart, tiersByStart.dropFirst()) where lower.end != upper.start {
            issues.append(
                "tiered_pricing ranges are not contiguous (\(lower.end) then \(upper.start)): LiteLLM bills prompts between them at its last tier")
        }
        if !longContext.isEmpty || !tiers.isEmpty {
            notes.append("its above-threshold and service-tier keys are left out: LiteLLM bills a tiered_pricing model by its tier alone")
            longContext = [:]
            tiers = [:]
        }
        // What LiteLLM bills each class at within a tier (_get_tiered_base_costs, _get_tiered_reasoning_rate).
        let modelOutput = base[.output]
        let modelReasoning = base[.reasoning]
        var targets: [(threshold: Int, rates: [PriceClass: ImportedRate])] = []
        for tier in tiersByStart {
            let input = tier.rates["input_cost_per_token"]!
            let output = tier.rates["output_cost_per_token"] ?? modelOutput ?? .zero
            let cacheWrite = tier.rates["cache_creation_input_token_cost"] ?? input
            var cacheWrite1h = tier.rates["cache_creation_input_token_cost_above_1hr"] ?? tier.rates["cache_creation_input_token_cost"]
            if cacheWrite1h == nil || cacheWrite1h!.money == .zero { cacheWrite1h = cacheWrite }  // `... or cache_creation_cost`
            let reasoning: ImportedRate =
                if tier.rates["output_cost_per_reasoning_token"] != nil || tier.rates["output_cost_per_token"] != nil {
                    tier.rates["output_cost_per_reasoning_token"] ?? tier.rates["output_cost_per_token"]!
                } else {
                    modelReasoning ?? output
                }
            let rates: [PriceClass: ImportedRate] = [
                .input: input, .output: output, .cacheRead: tier.rates["cache_read_input_token_cost"] ?? input,
                .cacheWrite: cacheWrite, .cacheWrite1h: cacheWrite1h!, .reasoning: reasoning,
            ]
            targets.append((Int(max(0, tier.start.rounded(.down))), rates))
        }
        for priceClass in Self.tieredClasses { base[priceClass] = nil }
        let first = Self.minimalOverlay(onto: ImportedRates(), target: targets[0].rates, forced: [.input, .output])
        base = base.overlaid(by: first)
        var current = first
        for target in targets.dropFirst() {
            let overlay = Self.minimalOverlay(onto: current, target: target.rates, forced: [])
            guard !overlay.isEmpty else { continue }
            longContext[target.threshold] = (longContext[target.threshold] ?? ImportedRates()).overlaid(by: overlay)
            current = current.overlaid(by: overlay)
        }
        tokenKeysPresent = true
        notes.append(
            "tiered_pricing (\(tiersByStart.count) tiers) written as a base price"
                + (tiersByStart.count > 1 ? " and long-context tiers above each later tier's start" : ""))
    }

    /// The fewest rates to lay over `current` so that Tollgate bills every class of `target` at its rate.
    static func minimalOverlay(onto current: ImportedRates, target: [PriceClass: ImportedRate], forced: Set<PriceClass>) -> ImportedRates {
        var overlay = ImportedRates()
        var merged = current
        for priceClass in tieredClasses {
            let wanted = target[priceClass] ?? .zero
            if forced.contains(priceClass) || merged.effective(priceClass) != wanted.money {
                overlay[priceClass] = wanted
                merged[priceClass] = wanted
            }
        }
        return overlay
    }

    /// Where LiteLLM's generic cost function bills otherwise than the keys read plainly, follow it.
    private mutating func applyLiteLLMRules() {
        // fireworks_ai: a missing cache-read rate is half the input rate (apply_provider_cache_read_default).
        if provider == "fireworks_ai", base[.cacheRead] == nil, tokenKeysPresent, let input = base[.input],
            let decimal = ExactDecimal(input.text)
        {
            let (half, changed) = decimal.times(Self.fireworksCacheReadHalf).shifted(by: -1).rounded(toFractionDigits: 9)
            if let money = Money.perMillionTokens(half.plain) {
                base[.cacheRead] = ImportedRate(text: half.plain, money: money)
                notes.append("cache_read set to half the input rate, as LiteLLM bills fireworks_ai models without a cache-read price")
                if changed {
                    rounded.append(.init(model: model, key: "cache_read (half of input)", value: input.text, written: half.plain))
                }
            }
        }
        // A missing or zero output rate bills output at the output-image rate (_get_token_base_cost).
        if let image = base[.outputImage], base[.output] == nil || base[.output]!.money == .zero, image.money != .zero {
            base[.output] = image
            notes.append("output set to the output_image rate: LiteLLM bills output tokens at it when a model has no output rate")
        }
        // A service tier with its own output rate bills reasoning at that rate (after long-context adjustment), not at
        // the model's reasoning rate (_resolve_reasoning_token_cost).
        if base[.reasoning] != nil {
            for name in tiers.keys.sorted() {
                var tier = tiers[name]!
                guard tier.rates[.reasoning] == nil, let tierOutput = tier.rates[.output] else { continue }
                tier.rates[.reasoning] = tierOutput
                let thresholds = Set(longContext.keys).union(tier.longContext.keys).sorted()
                for threshold in thresholds {
                    if let output = tier.longContext[threshold]?[.output] ?? longContext[threshold]?[.output] {
                        tier.longContext[threshold, default: ImportedRates()][.reasoning] = output
                    }
                }
                tiers[name] = tier
                notes.append("tiers.\(name).reasoning set to the tier's output rate, as LiteLLM bills reasoning in a tier that prices output")
            }
        }
    }

    /// Whether the entry goes into the catalog; sets ``unmappedReason`` when not.
    private mutating func classify() -> Bool {
        let tokenRates = base.values.filter { $0.key.isTokenClass }
        if base[.input] == nil, base[.output] == nil, base[.perRequest] == nil {
            if !tokenRates.isEmpty {
                unmappedReason = "no input or output rate (only \(tokenRates.keys.map(\.rawValue).sorted().joined(separator: ", ")))"
            } else if !tiers.isEmpty || !longContext.isEmpty {
                unmappedReason = "no standard input or output rate (only service-tier or above-threshold ones)"
            } else if !otherPrices.isEmpty {
                unmappedReason = "no per-token price; priced by " + Set(otherPrices).sorted().joined(separator: ", ")
            } else if !ignored.isEmpty {
                unmappedReason = "no per-token price (only " + ignored.sorted().joined(separator: ", ") + ")"
            } else {
                unmappedReason = "no price"
            }
            return false
        }
        let allZero =
            base.values.allSatisfy { $0.value.money == .zero }
            && longContext.values.allSatisfy { $0.values.values.allSatisfy { $0.money == .zero } }
            && tiers.values.allSatisfy { $0.rates.values.values.allSatisfy { $0.money == .zero } }
        if allZero, !otherPrices.isEmpty {
            unmappedReason = "token rates are all 0; priced by " + Set(otherPrices).sorted().joined(separator: ", ")
            return false
        }
        return true
    }

    private static func perMillion(_ money: Money) -> String { money.perMillionDescription }

    private mutating func flagSuspiciousRates() {
        let effectiveInput = base.effective(.input)
        if let oneHour = base[.cacheWrite1h], oneHour.money < base.effective(.cacheWrite) {
            issues.append("cache_write_1h \(oneHour.text) is below the 5-minute cache_write \(Self.perMillion(base.effective(.cacheWrite)))")
        }
        if let read = base[.cacheRead], read.money > effectiveInput {
            issues.append("cache_read \(read.text) is above input \(Self.perMillion(effectiveInput))")
        }
        let lowerModel = model.lowercased()
        let claudeHost = ["anthropic"].contains(provider ?? "") || (provider ?? "").hasPrefix("bedrock") || (provider ?? "").hasPrefix("vertex_ai")
        if lowerModel.contains("claude"), claudeHost, let write = base[.cacheWrite], write.money < effectiveInput {
            issues.append("cache_write \(write.text) is below input \(Self.perMillion(effectiveInput)) for a Claude model (cache writes cost more)")
        }
        if ["chat", "responses"].contains(mode ?? "") {
            let output = base.effective(.output)
            if output == .zero, effectiveInput != .zero {
                issues.append("output is 0 while input is \(Self.perMillion(effectiveInput)) for a chat model")
            } else if effectiveInput == .zero, output != .zero, base[.perRequest] == nil {
                issues.append("input is 0 while output is \(Self.perMillion(output)) for a chat model")
            }
        }
        for threshold in longContext.keys.sorted() {
            for priceClass in Self.writeOrder {
                guard let rate = longContext[threshold]![priceClass], rate.money < base.effective(priceClass) else { continue }
                issues.append(
                    "above \(threshold) tokens \(priceClass.rawValue) \(rate.text) is below the base \(Self.perMillion(base.effective(priceClass)))")
            }
        }
        for name in tiers.keys.sorted() {
            let tier = tiers[name]!
            let standard = base
            let tiered = name == "batch" ? base : base.overlaid(by: tier.rates)
            if name == "batch" {
                for priceClass in Self.writeOrder {
                    guard let rate = tier.rates[priceClass], rate.money > standard.effective(priceClass) else { continue }
                    issues.append(
                        "batch \(priceClass.rawValue) \(rate.text) is above the standard \(Self.perMillion(standard.effective(priceClass)))")
                }
            }
            for threshold in tier.longContext.keys.sorted() {
                let below = tiered.overlaid(by: name == "batch" ? tier.rates : ImportedRates())
                for priceClass in Self.writeOrder {
                    guard let rate = tier.longContext[threshold]![priceClass] else { continue }
                    if rate.money < below.effective(priceClass) {
                        issues.append(
                            "tiers.\(name) above \(threshold) tokens \(priceClass.rawValue) \(rate.text) is below the tier's base \(Self.perMillion(below.effective(priceClass)))"
                        )
                    }
                    if name == "batch", let standardLong = longContext[threshold],
                        rate.money > base.overlaid(by: standardLong).effective(priceClass)
                    {
                        issues.append(
                            "batch above \(threshold) tokens \(priceClass.rawValue) \(rate.text) is above the standard \(Self.perMillion(base.overlaid(by: standardLong).effective(priceClass)))"
                        )
                    }
                }
            }
        }
        var absurd: [String] = []
        func check(_ rates: ImportedRates, _ place: String) {
            for priceClass in Self.writeOrder where priceClass.isTokenClass {
                if let rate = rates[priceClass], rate.money > Money.perMillionTokens("1000")! {
                    absurd.append("\(place)\(priceClass.rawValue) \(rate.text)")
                }
            }
        }
        check(base, "")
        for threshold in longContext.keys.sorted() { check(longContext[threshold]!, "above \(threshold) ") }
        for name in tiers.keys.sorted() {
            check(tiers[name]!.rates, "tiers.\(name) ")
            for threshold in tiers[name]!.longContext.keys.sorted() {
                check(tiers[name]!.longContext[threshold]!, "tiers.\(name) above \(threshold) ")
            }
        }
        if !absurd.isEmpty { issues.append("absurd rate over 1000 per million tokens: " + absurd.joined(separator: ", ")) }
    }

    // MARK: Writing

    private func flow(_ rates: ImportedRates) -> [String] {
        Self.writeOrder.compactMap { priceClass in rates[priceClass].map { "\(priceClass.rawValue): \"\($0.text)\"" } }
    }

    private func longContextItems(_ tiers: [Int: ImportedRates]) -> [String] {
        let keyword = provider == "xai" ? "from" : "above"
        return tiers.keys.sorted().compactMap { threshold in
            let rates = flow(tiers[threshold]!)
            return rates.isEmpty ? nil : "{\(([keyword + ": \(threshold)"] + rates).joined(separator: ", "))}"
        }
    }

    private func text() -> String {
        let key = LiteLLMImport.yamlQuoted(model)
        var fields = flow(base)
        if let maxOutputTokens { fields.append("max_output_tokens: \(maxOutputTokens)") }
        if let maxInputTokens { fields.append("max_input_tokens: \(maxInputTokens)") }
        let long = longContextItems(longContext)
        let tierLines: [String] = tiers.keys.sorted().compactMap { name in
            let tier = tiers[name]!
            var members = flow(tier.rates)
            let items = longContextItems(tier.longContext)
            if !items.isEmpty { members.append("long_context: [\(items.joined(separator: ", "))]") }
            return members.isEmpty ? nil : "      \(name): {\(members.joined(separator: ", "))}\n"
        }
        if long.isEmpty, tierLines.isEmpty { return "  \(key): {\(fields.joined(separator: ", "))}\n" }
        var text = "  \(key):\n"
        for field in fields { text += "    \(field)\n" }
        if !long.isEmpty {
            text += "    long_context:\n"
            for item in long { text += "      - \(item)\n" }
        }
        if !tierLines.isEmpty {
            text += "    tiers:\n"
            for line in tierLines { text += line }
        }
        return text
    }
}
