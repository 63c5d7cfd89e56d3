/// Maps Anthropic Messages usage objects onto ``TokenUsage``.
///
/// Anthropic's classes are already disjoint: `input_tokens` excludes the cache, `cache_read_input_tokens` and
/// `cache_creation_input_tokens` stand beside it (`cache_creation.ephemeral_1h_input_tokens` is the 1-hour part of
/// the writes), and `output_tokens` includes thinking (`output_tokens_details.thinking_tokens` is that part, when
/// reported). Server tools are counted per request in `server_tool_use`.
public enum AnthropicUsage {
    /// Every count Anthropic reports, by its key path inside `usage`.
    enum Field: Int, CaseIterable {
        case inputTokens, cacheReadTokens, cacheCreationTokens, cacheCreation5m, cacheCreation1h, outputTokens, thinkingTokens,
            webSearchRequests, webFetchRequests

        var path: [String] {
            switch self {
            case .inputTokens: return ["input_tokens"]
            case .cacheReadTokens: return ["cache_read_input_tokens"]
            case .cacheCreationTokens: return ["cache_creation_input_tokens"]
            case .cacheCreation5m: return ["cache_creation", "ephemeral_5m_input_tokens"]
            case .cacheCreation1h: return ["cache_creation", "ephemeral_1h_input_tokens"]
            case .outputTokens: return ["output_tokens"]
            case .thinkingTokens: return ["output_tokens_details", "thinking_tokens"]
            case .webSearchRequests: return ["server_tool_use", "web_search_requests"]
            case .webFetchRequests: return ["server_tool_use", "web_fetch_requests"]
            }
        }
    }

    /// The fields' paths, then `service_tier` (a string, also inside `usage`).
    private static let paths = JSONCounts(Field.allCases.map(\.path) + [["service_tier"]])
    private static let serviceTierIndex = Field.allCases.count

    /// The counts reported so far, field by field: one usage object's, or a stream's merged over its events.
    struct Report: Sendable, Equatable {
        private var counts: [Int?] = Array(repeating: nil, count: Field.allCases.count)
        /// The service tier the usage names, if any.
        private(set) var serviceTier: String?

        /// A report of nothing.
        init() {}

        /// The counts of one usage object (its JSON text), read by ``JSONCounts``: only whole-number members count;
        /// a missing, null or non-integer member reads as not reported.
        init(_ usage: [UInt8]) {
            let ranges = AnthropicUsage.paths.ranges(in: usage)
            counts = Field.allCases.map { field in ranges[field.rawValue].flatMap { JSONCounts.count(usage[$0]) } }
            serviceTier = ranges[AnthropicUsage.serviceTierIndex].flatMap { decodeJSONString(Array(usage[$0])) }
        }

        /// The count of one field, `nil` when not reported.
        subscript(field: Field) -> Int? { counts[field.rawValue] }

        /// Whether any field was reported.
        var hasCounts: Bool { counts.contains { $0 != nil } }

        /// Takes every field `later` reports; the others keep their earlier value. Stream usage objects are running
        /// totals, so a later value replaces an earlier one and is never added to it; a `message_delta` that leaves
        /// out (or nulls) the input side leaves `message_start`'s in place.
        mutating func update(with later: Report) {
            for index in counts.indices where later.counts[index] != nil { counts[index] = later.counts[index] }
            if let tier = later.serviceTier { serviceTier = tier }
        }

        /// The canonical classes, or `nil` when nothing was reported.
        var canonical: TokenUsage? {
            guard hasCounts else { return nil }
            let oneHour = self[.cacheCreation1h] ?? 0
            // Older answers may give only the breakdown; the total is then its sum.
            let cacheWrite = self[.cacheCreationTokens] ?? ((self[.cacheCreation5m] ?? 0) + oneHour)
            return TokenUsage(
                inputTokens: self[.inputTokens] ?? 0, cacheReadTokens: self[.cacheReadTokens] ?? 0, cacheWriteTokens: cacheWrite,
                cacheWrite1hTokens: min(oneHour, cacheWrite), outputTokens: self[.outputTokens] ?? 0,
                reasoningTokens: self[.thinkingTokens] ?? 0, webSearchRequests: self[.webSearchRequests] ?? 0,
                webFetchRequests: self[.webFetchRequests] ?? 0
            )
        }
    }

    /// The canonical classes of one usage object (its JSON text), or `nil` when it carries no counts.
    public static func canonical(_ usage: [UInt8]) -> TokenUsage? {
        Report(usage).canonical
    }

    /// Merges one captured `usage` value into `report` and fills the reading from the result.
    ///
    /// The raw usage kept is the last object that carried counts, verbatim (compacted): the provider's own words,
    /// as for OpenAI streams, not a merge Tollgate made.
    static func read(usage: [UInt8]?, into report: inout Report, reading: inout UsageReading) {
        guard let usage, usage.first == UInt8(ascii: "{") else { return }
        let latest = Report(usage)
        if let tier = latest.serviceTier { reading.serviceTier = tier }
        guard latest.hasCounts else {
            reading.note = "usage object without token counts"
            return
        }
        report.update(with: latest)
        reading.rawUsage = String(decoding: JSONEdit.compacted(usage), as: UTF8.self)
        reading.usage = report.canonical
    }
}
