/// What the "model" generates for one request: the reply tokens that fit the output budget, hidden reasoning,
/// and the token counts that go into `usage`.
struct Generation: Sendable {
    /// The visible output tokens, in order; their concatenation is the reply text.
    let tokens: [String]
    /// Hidden reasoning tokens (reasoning models only), billed inside the output.
    let reasoningTokens: Int
    /// Prompt tokens, including the cached ones.
    let promptTokens: Int
    /// Prompt tokens served from the cache (from `x-sim-cached-tokens`), never more than `promptTokens`.
    let cachedTokens: Int
    /// True when the budget cut the reply short (`finish_reason: "length"`, Responses `incomplete`).
    let truncated: Bool

    /// Plans the output for `replyText` under an optional token budget.
    ///
    /// A reasoning model spends its reasoning first and the budget covers both, as OpenAI's
    /// `max_completion_tokens` does; so a budget below 16 leaves less reasoning and no visible text.
    init(replyText: String, model: String, promptTokens: Int, cachedTokens: Int, maxTokens: Int?) {
        let all = Tokenizer.tokens(replyText)
        let budget = max(0, maxTokens ?? Int.max)
        let reasoning = ModelCatalog.isReasoning(model) ? min(ModelCatalog.reasoningTokens, budget) : 0
        let visible = min(all.count, budget - reasoning)
        tokens = Array(all.prefix(visible))
        reasoningTokens = reasoning
        self.promptTokens = promptTokens
        self.cachedTokens = min(max(0, cachedTokens), promptTokens)
        truncated = visible < all.count
    }

    /// The visible reply text.
    var text: String { tokens.joined() }

    /// Every generated token, reasoning included (OpenAI's `completion_tokens` / `output_tokens`).
    var completionTokens: Int { tokens.count + reasoningTokens }

    /// Chat Completions `finish_reason`.
    var finishReason: JSON { truncated ? "length" : "stop" }

    /// Chat Completions usage, with every detail field OpenAI sends.
    var chatUsage: JSON {
        [
            "prompt_tokens": .int(promptTokens),
            "completion_tokens": .int(completionTokens),
            "total_tokens": .int(promptTokens + completionTokens),
            "prompt_tokens_details": ["cached_tokens": .int(cachedTokens), "audio_tokens": 0],
            "completion_tokens_details": [
                "reasoning_tokens": .int(reasoningTokens), "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
            ],
        ]
    }

    /// Legacy Completions usage: just the three totals, as OpenAI sends for that endpoint.
    var completionsUsage: JSON {
        [
            "prompt_tokens": .int(promptTokens),
            "completion_tokens": .int(completionTokens),
            "total_tokens": .int(promptTokens + completionTokens),
        ]
    }

    /// Responses API usage.
    var responsesUsage: JSON {
        [
            "input_tokens": .int(promptTokens),
            "input_tokens_details": ["cached_tokens": .int(cachedTokens)],
            "output_tokens": .int(completionTokens),
            "output_tokens_details": ["reasoning_tokens": .int(reasoningTokens)],
            "total_tokens": .int(promptTokens + completionTokens),
        ]
    }
}
