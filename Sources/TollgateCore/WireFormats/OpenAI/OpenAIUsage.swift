/// Maps OpenAI-style usage objects onto ``TokenUsage``, with the quirks of the OpenAI-compatible family.
///
/// Chat, completions and embeddings report `prompt_tokens` with `cached_tokens` inside it and
/// `completion_tokens` with `reasoning_tokens` inside it; Responses reports `input_tokens` / `output_tokens`
/// with the same containment. DeepSeek splits the prompt into cache hit and miss; Together puts `cached_tokens`
/// at the top of `usage`; xAI reports reasoning outside `completion_tokens`.
public enum OpenAIUsage {
    /// The canonical classes of one usage object, or `nil` when it carries no token counts.
    public static func canonical(_ usage: JSONObject) -> TokenUsage? {
        if usage.int("prompt_tokens") != nil || usage.int("completion_tokens") != nil {
            return chatStyle(usage)
        }
        if usage.int("input_tokens") != nil || usage.int("output_tokens") != nil {
            return responsesStyle(usage)
        }
        return nil
    }

    private static func chatStyle(_ usage: JSONObject) -> TokenUsage {
        let prompt = usage.int("prompt_tokens") ?? 0
        let promptDetails = usage.object("prompt_tokens_details")
        let completionDetails = usage.object("completion_tokens_details")
        var cacheRead = promptDetails?.int("cached_tokens") ?? usage.int("cached_tokens") ?? 0
        let cacheWrite = promptDetails?.int("cache_write_tokens") ?? 0
        var input = prompt - cacheRead - cacheWrite
        if let hit = usage.int("prompt_cache_hit_tokens"), let miss = usage.int("prompt_cache_miss_tokens") {
            cacheRead = hit
            input = miss
        }
        let reasoning = completionDetails?.int("reasoning_tokens") ?? 0
        var output = usage.int("completion_tokens") ?? 0
        if reasoning > 0, let total = usage.int("total_tokens"), total == prompt + output + reasoning {
            output += reasoning
        }
        return TokenUsage(
            inputTokens: max(0, input), cacheReadTokens: cacheRead, cacheWriteTokens: cacheWrite,
            outputTokens: output, reasoningTokens: reasoning,
            inputAudioTokens: promptDetails?.int("audio_tokens") ?? 0,
            outputAudioTokens: completionDetails?.int("audio_tokens") ?? 0
        )
    }

    private static func responsesStyle(_ usage: JSONObject) -> TokenUsage {
        let details = usage.object("input_tokens_details")
        let cacheRead = details?.int("cached_tokens") ?? 0
        let cacheWrite = details?.int("cache_write_tokens") ?? 0
        let input = (usage.int("input_tokens") ?? 0) - cacheRead - cacheWrite
        return TokenUsage(
            inputTokens: max(0, input), cacheReadTokens: cacheRead, cacheWriteTokens: cacheWrite,
            outputTokens: usage.int("output_tokens") ?? 0,
            reasoningTokens: usage.object("output_tokens_details")?.int("reasoning_tokens") ?? 0
        )
    }

    /// Fills a reading from captured `usage`, `model` and `service_tier` values.
    static func read(usage: [UInt8]?, model: [UInt8]?, serviceTier: [UInt8]?, into reading: inout UsageReading) {
        if let model, let name = decodeJSONString(model) { reading.servedModel = name }
        if let serviceTier, let tier = decodeJSONString(serviceTier) { reading.serviceTier = tier }
        guard let usage, usage.first == UInt8(ascii: "{") else { return }
        reading.rawUsage = String(decoding: JSONEdit.compacted(usage), as: UTF8.self)
        if let object = JSONObject(usage), let canonical = canonical(object) {
            reading.usage = canonical
        } else {
            reading.note = "usage object without token counts"
        }
    }
}
