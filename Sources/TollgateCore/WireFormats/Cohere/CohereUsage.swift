/// Maps Cohere v2 usage objects onto ``TokenUsage``.
///
/// Cohere bills `billed_units.input_tokens` and `billed_units.output_tokens`. The `tokens` counts beside them are
/// raw model tokens, chat template included, and `cached_tokens` counts prompt tokens Cohere served from its cache
/// inside those raw counts: neither is a billing class, so both stay in the raw usage, as information, and the
/// cache-read class stays 0.
public enum CohereUsage {
    private static let paths = JSONFieldScanner.KeyPaths([["billed_units", "input_tokens"], ["billed_units", "output_tokens"]])

    /// The canonical classes of one usage object (its JSON text), or `nil` when it bills no tokens. A billed count
    /// that is missing beside the other reads as 0 (Cohere leaves out zero units).
    public static func canonical(_ usage: [UInt8]) -> TokenUsage? {
        var scanner = JSONFieldScanner(paths: paths)
        scanner.feed(usage)
        scanner.finish()
        let input = scanner.tokenCount(at: 0)
        let output = scanner.tokenCount(at: 1)
        guard input != nil || output != nil else { return nil }
        return TokenUsage(inputTokens: input ?? 0, outputTokens: output ?? 0)
    }

    /// Fills the reading from one captured `usage` value (a plain answer's, or a stream's `message-end` one); the
    /// raw usage is that object verbatim, compacted.
    static func read(usage: [UInt8]?, into reading: inout UsageReading) {
        guard let usage, usage.first == UInt8(ascii: "{") else { return }
        reading.rawUsage = String(decoding: JSONEdit.compacted(usage), as: UTF8.self)
        if let canonical = canonical(usage) {
            reading.usage = canonical
        } else {
            reading.note = "usage object without billed units"
        }
    }
}
