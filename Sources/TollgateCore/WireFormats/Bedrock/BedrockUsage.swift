import Foundation

/// Maps Bedrock usage reports onto ``TokenUsage``.
///
/// Converse and ConverseStream report a `TokenUsage` object whose classes are already disjoint: `inputTokens`
/// excludes the cache, `cacheReadInputTokens` and `cacheWriteInputTokens` stand beside it (`cacheDetails` splits
/// the writes by TTL, `5m` or `1h`), `outputTokens` includes any reasoning, which Bedrock does not break out, and
/// `totalTokens` is their sum. InvokeModelWithResponseStream adds `amazon-bedrock-invocationMetrics` to its last
/// chunk with the same classes under other names (`inputTokenCount`, `outputTokenCount`,
/// `cacheReadInputTokenCount`, `cacheWriteInputTokenCount`).
public enum BedrockUsage {
    /// The shapes Bedrock reports usage in.
    public enum Shape: Sendable {
        /// Converse's `usage` (also the ConverseStream `metadata` event's).
        case converse
        /// `amazon-bedrock-invocationMetrics` of an InvokeModelWithResponseStream chunk.
        case invocationMetrics

        /// The members holding input, output, cache read and cache write counts, in that order, then
        /// `cacheDetails` for Converse.
        fileprivate var paths: JSONFieldScanner.KeyPaths {
            switch self {
            case .converse: return BedrockUsage.conversePaths
            case .invocationMetrics: return BedrockUsage.metricsPaths
            }
        }
    }

    private static let conversePaths = JSONFieldScanner.KeyPaths([
        ["inputTokens"], ["outputTokens"], ["cacheReadInputTokens"], ["cacheWriteInputTokens"], ["cacheDetails"],
    ])
    private static let metricsPaths = JSONFieldScanner.KeyPaths([
        ["inputTokenCount"], ["outputTokenCount"], ["cacheReadInputTokenCount"], ["cacheWriteInputTokenCount"],
    ])
    private static let cacheDetailsIndex = 4

    /// The canonical classes of one usage object (its JSON text), or `nil` when it carries no token counts.
    ///
    /// Only whole-number members count; a missing, null or non-integer member reads as not reported.
    public static func canonical(_ usage: [UInt8], shape: Shape) -> TokenUsage? {
        var scanner = JSONFieldScanner(paths: shape.paths)
        scanner.feed(usage)
        scanner.finish()
        let counts = (0..<4).map { scanner.value(at: $0).flatMap(wholeNumber) }
        guard counts.contains(where: { $0 != nil }) else { return nil }
        let cacheWrite = counts[3] ?? 0
        let oneHour = shape == .converse ? scanner.value(at: cacheDetailsIndex).map(oneHourWrites) ?? 0 : 0
        return TokenUsage(
            inputTokens: counts[0] ?? 0, cacheReadTokens: counts[2] ?? 0, cacheWriteTokens: cacheWrite,
            cacheWrite1hTokens: min(oneHour, cacheWrite), outputTokens: counts[1] ?? 0
        )
    }

    /// Fills the reading from one captured usage value: the canonical classes and the object itself, compacted,
    /// as the raw usage. A value that is not an object is ignored; an object without counts is noted.
    static func read(usage: [UInt8]?, shape: Shape, into reading: inout UsageReading) {
        guard let usage, usage.first == UInt8(ascii: "{") else { return }
        guard let canonical = canonical(usage, shape: shape) else {
            reading.note = "usage object without token counts"
            return
        }
        reading.usage = canonical
        reading.rawUsage = String(decoding: JSONEdit.compacted(usage), as: UTF8.self)
    }

    /// The token counts InvokeModel sends in its response headers for every model, as the invocation-metrics
    /// object they mirror (the raw usage kept) and its canonical classes; `nil` when the headers carry none.
    static func headerCounts(_ header: (String) -> String?) -> (usage: TokenUsage, raw: String)? {
        let names = [
            ("inputTokenCount", "x-amzn-bedrock-input-token-count"), ("outputTokenCount", "x-amzn-bedrock-output-token-count"),
            ("cacheReadInputTokenCount", "x-amzn-bedrock-cache-read-input-token-count"),
            ("cacheWriteInputTokenCount", "x-amzn-bedrock-cache-write-input-token-count"),
        ]
        let members = names.compactMap { member, name -> String? in
            guard let value = header(name)?.trimmingCharacters(in: .whitespaces), wholeNumber(Array(value.utf8)) != nil else { return nil }
            return "\"\(member)\":\(value)"
        }
        let raw = "{" + members.joined(separator: ",") + "}"
        guard !members.isEmpty, let usage = canonical(Array(raw.utf8), shape: .invocationMetrics) else { return nil }
        return (usage, raw)
    }

    /// A JSON number that is a whole, non-negative count.
    static func wholeNumber(_ bytes: [UInt8]) -> Int? {
        guard !bytes.isEmpty, bytes.count < 16, bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int(String(decoding: bytes, as: UTF8.self))
    }

    /// The tokens `cacheDetails` (an array of `{"ttl": "5m" | "1h", "inputTokens": N}`) says were written for an hour.
    private static func oneHourWrites(_ details: [UInt8]) -> Int {
        guard let entries = try? JSONSerialization.jsonObject(with: Data(details)) as? [Any] else { return 0 }
        return entries.compactMap { ($0 as? [String: Any]).map(JSONObject.init(members:)) }
            .filter { $0.string("ttl") == "1h" }
            .reduce(0) { $0.addingSaturated(max($1.int("inputTokens") ?? 0, 0)) }
    }
}
