/// Maps OpenAI-style usage objects onto ``TokenUsage``, with the quirks of the OpenAI-compatible family.
///
/// Chat, completions and embeddings report `prompt_tokens` with `cached_tokens` inside it and
/// `completion_tokens` with `reasoning_tokens` inside it; Responses reports `input_tokens` / `output_tokens`
/// with the same containment. DeepSeek splits the prompt into cache hit and miss; Together puts `cached_tokens`
/// at the top of `usage`; xAI reports reasoning outside `completion_tokens` (seen as `total_tokens` = prompt +
/// completion + reasoning, and then added to the output); Groq streams carry the totals in `x_groq.usage`.
/// Members that are not token counts (OpenRouter's `cost` in credits, xAI's `cost_in_usd_ticks`, Groq's timings)
/// are never billed: they stay in the raw usage, as information.
public enum OpenAIUsage {
    /// Every count any member of the family reports, by its key path inside `usage`.
    private enum Field: Int, CaseIterable {
        case promptTokens, completionTokens, totalTokens, promptCached, promptCacheWrite, promptAudio, completionReasoning,
            completionAudio, topCached, cacheHit, cacheMiss, inputTokens, outputTokens, inputCached, inputCacheWrite, outputReasoning

        var path: [String] {
            switch self {
            case .promptTokens: return ["prompt_tokens"]
            case .completionTokens: return ["completion_tokens"]
            case .totalTokens: return ["total_tokens"]
            case .promptCached: return ["prompt_tokens_details", "cached_tokens"]
            case .promptCacheWrite: return ["prompt_tokens_details", "cache_write_tokens"]
            case .promptAudio: return ["prompt_tokens_details", "audio_tokens"]
            case .completionReasoning: return ["completion_tokens_details", "reasoning_tokens"]
            case .completionAudio: return ["completion_tokens_details", "audio_tokens"]
            case .topCached: return ["cached_tokens"]
            case .cacheHit: return ["prompt_cache_hit_tokens"]
            case .cacheMiss: return ["prompt_cache_miss_tokens"]
            case .inputTokens: return ["input_tokens"]
            case .outputTokens: return ["output_tokens"]
            case .inputCached: return ["input_tokens_details", "cached_tokens"]
            case .inputCacheWrite: return ["input_tokens_details", "cache_write_tokens"]
            case .outputReasoning: return ["output_tokens_details", "reasoning_tokens"]
            }
        }
    }

    private static let paths = JSONCounts(Field.allCases.map(\.path))

    /// The canonical classes of one usage object (its JSON text), or `nil` when it carries no token counts.
    ///
    /// Read by ``JSONCounts``, not a JSON library: only whole-number members count; a missing, null or non-integer
    /// member reads as absent.
    public static func canonical(_ usage: [UInt8]) -> TokenUsage? {
        let counts = paths.read(usage)
        return canonical { counts[$0.rawValue] }
    }

    /// The canonical classes of an already decoded usage object.
    public static func canonical(_ usage: JSONObject) -> TokenUsage? {
        canonical { field in
            var object: JSONObject? = usage
            for key in field.path.dropLast() { object = object?.object(key) }
            return object?.int(field.path.last!)
        }
    }

    private static func canonical(_ count: (Field) -> Int?) -> TokenUsage? {
        if count(.promptTokens) != nil || count(.completionTokens) != nil {
            return chatStyle(count)
        }
        if count(.inputTokens) != nil || count(.outputTokens) != nil {
            return responsesStyle(count)
        }
        return nil
    }

    private static func chatStyle(_ count: (Field) -> Int?) -> TokenUsage {
        let prompt = count(.promptTokens) ?? 0
        var cacheRead = count(.promptCached) ?? count(.topCached) ?? 0
        let cacheWrite = count(.promptCacheWrite) ?? 0
        var input = prompt - cacheRead - cacheWrite
        if let hit = count(.cacheHit), let miss = count(.cacheMiss) {
            cacheRead = hit
            input = miss
        }
        let reasoning = count(.completionReasoning) ?? 0
        var output = count(.completionTokens) ?? 0
        if reasoning > 0, let total = count(.totalTokens), total == prompt + output + reasoning {
            output += reasoning
        }
        return TokenUsage(
            inputTokens: max(0, input), cacheReadTokens: cacheRead, cacheWriteTokens: cacheWrite,
            outputTokens: output, reasoningTokens: reasoning,
            inputAudioTokens: count(.promptAudio) ?? 0, outputAudioTokens: count(.completionAudio) ?? 0
        )
    }

    private static func responsesStyle(_ count: (Field) -> Int?) -> TokenUsage {
        let cacheRead = count(.inputCached) ?? 0
        let cacheWrite = count(.inputCacheWrite) ?? 0
        let input = (count(.inputTokens) ?? 0) - cacheRead - cacheWrite
        return TokenUsage(
            inputTokens: max(0, input), cacheReadTokens: cacheRead, cacheWriteTokens: cacheWrite,
            outputTokens: count(.outputTokens) ?? 0, reasoningTokens: count(.outputReasoning) ?? 0
        )
    }

    /// Where Groq reports a stream's usage: `x_groq.usage` on the chunk that finishes the choice, always; the
    /// top-level `usage` chunk comes too when `stream_options.include_usage` is set, with the same totals.
    public static let groqStreamUsagePath = ["x_groq", "usage"]

    /// Fills a reading from one stream chunk's captured members: its top-level `usage` when that is an object, else
    /// Groq's `x_groq.usage`. Both are running totals of the same stream and a later value replaces an earlier one,
    /// so a Groq stream that carries both is counted once.
    static func read(
        chunkUsage usage: [UInt8]?, groqUsage: [UInt8]?, model: [UInt8]?, serviceTier: [UInt8]?, into reading: inout UsageReading
    ) {
        let isObject = { (value: [UInt8]?) in value?.first == UInt8(ascii: "{") }
        let chosen = isObject(usage) ? usage : isObject(groqUsage) ? groqUsage : nil
        read(usage: chosen, model: model, serviceTier: serviceTier, into: &reading)
    }

    /// Fills a reading from captured `usage`, `model` and `service_tier` values.
    static func read(usage: [UInt8]?, model: [UInt8]?, serviceTier: [UInt8]?, into reading: inout UsageReading) {
        if let model, let name = decodeJSONString(model) { reading.servedModel = name }
        if let serviceTier, let tier = decodeJSONString(serviceTier) { reading.serviceTier = tier }
        guard let usage, usage.first == UInt8(ascii: "{") else { return }
        reading.rawUsage = String(decoding: JSONEdit.compacted(usage), as: UTF8.self)
        if let canonical = canonical(usage) {
            reading.usage = canonical
        } else {
            reading.note = "usage object without token counts"
        }
    }
}

extension JSONFieldScanner {
    /// The token count captured for the path at `index`: a whole, non-negative number (at most 15 digits), else
    /// `nil`. A missing, null, negative, fractional or quoted count reads as not reported, never as a crash.
    func tokenCount(at index: Int) -> Int? {
        value(at: index).flatMap { JSONCounts.count($0[...]) }
    }
}
