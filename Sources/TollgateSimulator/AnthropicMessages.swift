import Foundation
import Hummingbird

/// POST /v1/messages (plain JSON and SSE) and POST /v1/messages/count_tokens: Anthropic's Messages API, with its
/// authentication headers, prompt caching, extended thinking and error shapes.
enum AnthropicMessages {
    /// The `output_tokens` that `message_start` reports before anything is generated, like Anthropic's provisional count.
    static let provisionalOutputTokens = 1

    /// The request header naming the API version.
    static let versionHeader = HeaderName("anthropic-version")!
    /// The request header carrying the key.
    static let keyHeader = HeaderName("x-api-key")!
    /// The response header carrying the request id.
    static let requestIDHeader = HeaderName("request-id")!

    /// Answers one Messages request.
    static func respond(_ exchange: Exchange, cache: PromptCache) throws(APIError) -> Response {
        let request = try MessagesRequest(exchange, isCountTokens: false)
        let maxTokens = request.maxTokens ?? 0
        let thinking = request.thinkingBudget.map { Thinking(about: request.conversation.lastUserText, budget: min($0, maxTokens)) }
        let generation = Generation(
            replyText: Reply.text(echoing: request.conversation.lastUserText), model: request.model,
            promptTokens: request.prompt.tokens, cachedTokens: 0, maxTokens: maxTokens - (thinking?.count ?? 0)
        )
        var accounting = cache.account(request.prompt, model: request.model)
        if accounting == PromptCache.Accounting(), !request.prompt.hasBreakpoints {
            accounting.read = min(exchange.integer(SimHeader.cachedTokens) ?? 0, request.prompt.tokens)
        }
        let usage = Usage(
            input: request.prompt.tokens - accounting.read - accounting.write, cache: accounting,
            output: (thinking?.count ?? 0) + generation.tokens.count, thinking: thinking?.count
        )
        let hash = StableID.hash(request.conversation.hashParts(model: request.model))
        let frame = Frame(
            id: "msg_01" + hash, model: ModelCatalog.servedClaude(request.model), thinking: thinking,
            generation: generation, usage: usage, signature: signature(seed: hash)
        )
        guard request.stream else { return HTTPReply.json(frame.message(), for: exchange) }
        return StreamBody.events(frame.events(), for: exchange)
    }

    /// The Message for a request's `params` (a Message Batch's request): no prompt cache, no streaming.
    static func message(params: JSON) throws(APIError) -> JSON {
        let request = try MessagesRequest(body: params, isCountTokens: false)
        let maxTokens = request.maxTokens ?? 0
        let thinking = request.thinkingBudget.map { Thinking(about: request.conversation.lastUserText, budget: min($0, maxTokens)) }
        let generation = Generation(
            replyText: Reply.text(echoing: request.conversation.lastUserText), model: request.model,
            promptTokens: request.prompt.tokens, cachedTokens: 0, maxTokens: maxTokens - (thinking?.count ?? 0))
        let usage = Usage(
            input: request.prompt.tokens, cache: PromptCache.Accounting(), output: (thinking?.count ?? 0) + generation.tokens.count,
            thinking: thinking?.count)
        let hash = StableID.hash(request.conversation.hashParts(model: request.model))
        let frame = Frame(
            id: "msg_01" + hash, model: ModelCatalog.servedClaude(request.model), thinking: thinking, generation: generation, usage: usage,
            signature: signature(seed: hash))
        return frame.message()
    }

    /// Answers POST /v1/messages/count_tokens: the whole prompt, cache or not, and never an inference.
    static func countTokens(_ exchange: Exchange) throws(APIError) -> Response {
        let request = try MessagesRequest(exchange, isCountTokens: true)
        return HTTPReply.json(["input_tokens": .int(request.prompt.tokens)], for: exchange)
    }

    /// Checks the headers Anthropic requires before anything else: a key (equal to `key` when the simulator was
    /// given one), then `anthropic-version`. The key comes in `x-api-key`, or as a bearer token, which is how the
    /// `anthropic` SDK (2.x) sends its `api_key`.
    static func authenticate(_ exchange: Exchange, key: String?) throws(APIError) {
        let bearer = exchange.headers[.authorization].flatMap { value in
            value.lowercased().hasPrefix("bearer ") ? String(value.dropFirst("bearer ".count)) : nil
        }
        guard let given = exchange.headers[keyHeader] ?? bearer, !given.isEmpty else {
            throw APIError.anthropic(status: 401, type: "authentication_error", message: "x-api-key header is required")
        }
        if let key, given != key {
            throw APIError.anthropic(status: 401, type: "authentication_error", message: "invalid x-api-key")
        }
        guard let version = exchange.headers[versionHeader], !version.isEmpty else {
            throw APIError.anthropic(status: 400, type: "invalid_request_error", message: "anthropic-version: header is required")
        }
    }

    /// The id Anthropic sends in the `request-id` header and in error bodies; derived from the request, so equal
    /// requests (direct or through a proxy) get equal ids.
    static func requestID(for exchange: Exchange) -> String {
        "req_011Sim" + StableID.hash([exchange.method.rawValue, exchange.path, String(buffer: exchange.body)])
    }

    /// A thinking block's signature: opaque base64, derived from the request like every id.
    private static func signature(seed: String) -> String {
        let bytes = (0..<48).map { index in UInt8(truncatingIfNeeded: StableID.value([seed, String(index)])) }
        return Data(bytes).base64EncodedString()
    }

    /// An `invalid_request_error`.
    fileprivate static func invalid(_ message: String) -> APIError {
        APIError.anthropic(status: 400, type: "invalid_request_error", message: message)
    }

    /// What the simulator reads from a Messages or count_tokens body.
    private struct MessagesRequest {
        let model: String
        let conversation: Conversation
        let prompt: AnthropicPrompt
        /// `max_tokens`; required by Messages, not by count_tokens.
        let maxTokens: Int?
        let stream: Bool
        /// The thinking budget when thinking is on (`adaptive` thinking gets all of `max_tokens`).
        let thinkingBudget: Int?

        /// Reads and validates the body the way Anthropic does, with its error messages.
        init(_ exchange: Exchange, isCountTokens: Bool) throws(APIError) {
            try self.init(body: exchange.jsonObject(), isCountTokens: isCountTokens)
        }

        /// Reads and validates a body.
        init(body: JSON, isCountTokens: Bool) throws(APIError) {
            guard let model = body["model"]?.stringValue else { throw AnthropicMessages.invalid("model: Field required") }
            guard let conversation = Conversation(anthropicMessages: body["messages"], system: body["system"]) else {
                throw AnthropicMessages.invalid("messages: Field required")
            }
            let maxTokens = body["max_tokens"]?.intValue
            if !isCountTokens {
                guard let maxTokens else { throw AnthropicMessages.invalid("max_tokens: Field required") }
                guard maxTokens >= 1 else { throw AnthropicMessages.invalid("max_tokens: Input should be greater than or equal to 1") }
            }
            guard body["messages"]?.arrayValue?.isEmpty == false else {
                throw AnthropicMessages.invalid("messages: at least one message is required")
            }
            let prompt = try AnthropicPrompt(body)
            guard model.hasPrefix("claude-") else {
                throw APIError.anthropic(status: 404, type: "not_found_error", message: "model: \(model)")
            }
            self.model = model
            self.conversation = conversation
            self.prompt = prompt
            self.maxTokens = maxTokens
            stream = body["stream"]?.boolValue == true
            thinkingBudget = try Self.thinkingBudget(body["thinking"], maxTokens: isCountTokens ? nil : maxTokens)
        }

        /// The thinking budget `thinking` asks for, nil when thinking is off; checked against `max_tokens`.
        private static func thinkingBudget(_ thinking: JSON?, maxTokens: Int?) throws(APIError) -> Int? {
            guard let thinking, case .object = thinking else { return nil }
            switch thinking["type"]?.stringValue {
            case "enabled":
                guard let budget = thinking["budget_tokens"]?.intValue else {
                    throw AnthropicMessages.invalid("thinking.enabled.budget_tokens: Field required")
                }
                guard budget >= 1024 else {
                    throw AnthropicMessages.invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
                }
                if let maxTokens, budget >= maxTokens {
                    throw AnthropicMessages.invalid(
                        "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                            + "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
                }
                return budget
            case "adaptive": return maxTokens ?? Int.max
            case "disabled": return nil
            case let other:
                throw AnthropicMessages.invalid(
                    "thinking: Input tag '\(other ?? "")' found using 'type' does not match any of the expected tags: "
                        + "'adaptive', 'disabled', 'enabled'")
            }
        }
    }

    /// The usage of one message, in the forms Anthropic writes it.
    private struct Usage {
        /// Prompt tokens neither read from nor written to the cache.
        let input: Int
        let cache: PromptCache.Accounting
        /// Every generated token, thinking included.
        let output: Int
        /// The thinking part of `output`, when thinking was on.
        let thinking: Int?

        /// The input side, as every usage object starts.
        private var inputSide: [(String, JSON)] {
            [
                ("input_tokens", .int(input)), ("cache_creation_input_tokens", .int(cache.write)),
                ("cache_read_input_tokens", .int(cache.read)),
            ]
        }

        /// `output_tokens`, and its thinking breakdown when thinking was on.
        private func outputSide(_ outputTokens: Int) -> [(String, JSON)] {
            [("output_tokens", .int(outputTokens))] + (thinking.map { [("output_tokens_details", ["thinking_tokens": .int($0)])] } ?? [])
        }

        /// The usage of a whole message, or (`final: false`) of `message_start`, with the provisional output count.
        func message(final: Bool) -> JSON {
            let breakdown: JSON = ["ephemeral_5m_input_tokens": .int(cache.write5m), "ephemeral_1h_input_tokens": .int(cache.write1h)]
            let details = final ? outputSide(output) : [("output_tokens", .int(AnthropicMessages.provisionalOutputTokens))]
            return .object(
                inputSide + [("cache_creation", breakdown)] + details
                    + [("service_tier", "standard"), ("inference_geo", "not_available")])
        }

        /// The cumulative usage of the final `message_delta`.
        var delta: JSON { .object(inputSide + outputSide(output)) }
    }

    /// Everything one message's bodies are built from.
    private struct Frame {
        let id: String
        let model: String
        let thinking: Thinking?
        let generation: Generation
        let usage: Usage
        let signature: String

        /// Why generation stopped: the budget, or the end of the turn.
        var stopReason: JSON { generation.truncated ? "max_tokens" : "end_turn" }

        /// The message object: in progress and empty for `message_start`, or whole.
        private func message(content: [JSON], stopReason: JSON, usage: JSON) -> JSON {
            [
                "model": .string(model), "id": .string(id), "type": "message", "role": "assistant", "content": .array(content),
                "stop_reason": stopReason, "stop_sequence": nil, "stop_details": nil, "usage": usage,
            ]
        }

        /// The non-streaming response.
        func message() -> JSON {
            var content: [JSON] = []
            if let thinking {
                content.append(["type": "thinking", "thinking": .string(thinking.text), "signature": .string(signature)])
            }
            content.append(["type": "text", "text": .string(generation.text)])
            return message(content: content, stopReason: stopReason, usage: usage.message(final: true))
        }

        /// The stream: message_start, each content block (thinking first) with a ping after the first block starts,
        /// message_delta with the final usage and stop reason, message_stop.
        func events() -> [SSEEvent] {
            let start = message(content: [], stopReason: nil, usage: usage.message(final: false))
            var events = [SSEEvent.named("message_start", ["type": "message_start", "message": start])]
            var index = 0
            /// Appends one content block: its start (then the ping, after the first), its deltas, its stop.
            func block(_ contentBlock: JSON, deltas: [JSON], tokenDeltas: Int) {
                events.append(
                    .named("content_block_start", ["type": "content_block_start", "index": .int(index), "content_block": contentBlock]))
                if index == 0 { events.append(AnthropicMessages.ping) }
                for (position, delta) in deltas.enumerated() {
                    let json: JSON = ["type": "content_block_delta", "index": .int(index), "delta": delta]
                    events.append(.named("content_block_delta", json, isToken: position < tokenDeltas))
                }
                events.append(.named("content_block_stop", ["type": "content_block_stop", "index": .int(index)]))
                index += 1
            }
            if let thinking {
                let deltas: [JSON] = thinking.tokens.map { ["type": "thinking_delta", "thinking": .string($0)] }
                block(
                    ["type": "thinking", "thinking": "", "signature": ""],
                    deltas: deltas + [["type": "signature_delta", "signature": .string(signature)]], tokenDeltas: deltas.count)
            }
            let textDeltas: [JSON] = generation.tokens.map { ["type": "text_delta", "text": .string($0)] }
            block(["type": "text", "text": ""], deltas: textDeltas, tokenDeltas: textDeltas.count)
            let delta: JSON = ["stop_reason": stopReason, "stop_sequence": nil, "stop_details": nil]
            events.append(.named("message_delta", ["type": "message_delta", "delta": delta, "usage": usage.delta]))
            events.append(.named("message_stop", ["type": "message_stop"]))
            return events
        }
    }

    /// The keep-alive event, written the way Anthropic writes it (with a space after the colon).
    static let ping = SSEEvent(text: "event: ping\ndata: {\"type\": \"ping\"}\n\n", isToken: false)
}

/// A Messages prompt as Anthropic reads and caches it: tools, then system, then messages, as a list of blocks with
/// their token counts; a block with `cache_control` ends a cacheable prefix.
struct AnthropicPrompt: Sendable {
    /// How long a cache entry lives.
    enum CacheTTL: Sendable {
        case fiveMinutes, oneHour
    }

    /// One block of the prompt.
    struct Block: Sendable {
        let tokens: Int
        /// The block's content, for cache keys.
        let fingerprint: String
        /// The lifetime its `cache_control` asks for, when it has one.
        let breakpoint: CacheTTL?
    }

    /// Most blocks with `cache_control` one request may have.
    static let maximumBreakpoints = 4
    /// Tokens added per message for its role and framing, and once for the reply primer.
    static let framingTokens = 3

    let blocks: [Block]

    /// Reads the prompt of a Messages body; more than four `cache_control` blocks is Anthropic's 400.
    init(_ body: JSON) throws(APIError) {
        var blocks: [Block] = []
        for tool in body["tools"]?.arrayValue ?? [] { blocks.append(Self.block(tool)) }
        switch body["system"] {
        case .string(let text)?: blocks.append(Block(tokens: Tokenizer.count(text), fingerprint: text, breakpoint: nil))
        case .array(let parts)?: blocks += parts.map(Self.block)
        default: break
        }
        for message in body["messages"]?.arrayValue ?? [] {
            let role = message["role"]?.stringValue ?? ""
            blocks.append(Block(tokens: Self.framingTokens, fingerprint: "role:" + role, breakpoint: nil))
            switch message["content"] {
            case .string(let text)?: blocks.append(Block(tokens: Tokenizer.count(text), fingerprint: text, breakpoint: nil))
            case .array(let parts)?: blocks += parts.map(Self.block)
            default: break
            }
        }
        blocks.append(Block(tokens: Self.framingTokens, fingerprint: "reply", breakpoint: nil))
        let breakpoints = blocks.count { $0.breakpoint != nil }
        guard breakpoints <= Self.maximumBreakpoints else {
            throw AnthropicMessages.invalid("A maximum of 4 blocks with cache_control may be provided. Found \(breakpoints).")
        }
        self.blocks = blocks
    }

    /// Every prompt token.
    var tokens: Int { blocks.reduce(0) { $0 + $1.tokens } }

    /// Whether any block asks to be cached.
    var hasBreakpoints: Bool { blocks.contains { $0.breakpoint != nil } }

    /// One content block, system block or tool: its text is counted when it has one, else its JSON (without the
    /// `cache_control` member, which is not prompt).
    private static func block(_ item: JSON) -> Block {
        let control = item["cache_control"]
        let content: JSON
        if case .object(let members) = item { content = .object(members.filter { $0.0 != "cache_control" }) } else { content = item }
        let fingerprint = content.encoded
        let tokens = Tokenizer.count(item["text"]?.stringValue ?? fingerprint)
        var breakpoint: CacheTTL?
        if let control, case .object = control { breakpoint = control["ttl"]?.stringValue == "1h" ? .oneHour : .fiveMinutes }
        return Block(tokens: tokens, fingerprint: fingerprint, breakpoint: breakpoint)
    }
}

extension Conversation {
    /// Reads Anthropic's `messages` with the top-level `system` (a string or text blocks) as a first system message;
    /// nil when `messages` is missing or not a list.
    init?(anthropicMessages: JSON?, system: JSON?) {
        guard let chat = Conversation(chatMessages: anthropicMessages) else { return nil }
        let systemText = Conversation.text(of: system)
        self.init(messages: (systemText.isEmpty ? [] : [Message(role: "system", text: systemText)]) + chat.messages)
    }
}

extension ModelCatalog {
    /// Anthropic model aliases and the dated snapshot the API answers with.
    static let claudeSnapshots: [String: String] = [
        "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5": "claude-haiku-4-5-20251001",
        "claude-opus-4-5": "claude-opus-4-5-20251101",
        "claude-opus-4-1": "claude-opus-4-1-20250805",
        "claude-sonnet-4-0": "claude-sonnet-4-20250514",
        "claude-opus-4-0": "claude-opus-4-20250514",
        "claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
        "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
    ]

    /// The model name a Messages response reports for a requested Claude model.
    static func servedClaude(_ requested: String) -> String {
        claudeSnapshots[requested] ?? requested
    }
}
