import Hummingbird

/// POST /v1/chat/completions, plain and streaming.
enum ChatCompletions {
    /// Answers one Chat Completions request.
    static func respond(_ exchange: Exchange) throws(APIError) -> Response {
        let body = try exchange.jsonObject()
        guard let model = body["model"]?.stringValue else { throw APIError.missing("model") }
        guard let conversation = Conversation(chatMessages: body["messages"]) else { throw APIError.missing("messages") }
        let generation = Generation(
            replyText: Reply.text(echoing: conversation.lastUserText), model: model,
            promptTokens: conversation.promptTokens, cachedTokens: exchange.integer(SimHeader.cachedTokens) ?? 0,
            maxTokens: (body["max_completion_tokens"] ?? body["max_tokens"])?.intValue
        )
        let frame = Frame(id: "chatcmpl-" + StableID.hash(conversation.hashParts(model: model)), model: ModelCatalog.served(model))
        guard body["stream"]?.boolValue == true else {
            return HTTPReply.json(frame.completion(generation), for: exchange)
        }
        let includeUsage = body["stream_options"]?["include_usage"]?.boolValue == true
        return StreamBody.events(frame.chunks(generation, includeUsage: includeUsage), for: exchange)
    }

    /// The `chat.completion` object for a request body (a batch's request line).
    static func completion(body: JSON) throws(APIError) -> JSON {
        guard let model = body["model"]?.stringValue else { throw APIError.missing("model") }
        guard let conversation = Conversation(chatMessages: body["messages"]) else { throw APIError.missing("messages") }
        let generation = Generation(
            replyText: Reply.text(echoing: conversation.lastUserText), model: model, promptTokens: conversation.promptTokens,
            cachedTokens: 0, maxTokens: (body["max_completion_tokens"] ?? body["max_tokens"])?.intValue)
        let frame = Frame(id: "chatcmpl-" + StableID.hash(conversation.hashParts(model: model)), model: ModelCatalog.served(model))
        return frame.completion(generation)
    }

    /// The fields every body of one completion shares.
    private struct Frame {
        let id: String
        let model: String

        /// The non-streaming `chat.completion` object.
        func completion(_ generation: Generation) -> JSON {
            let message: JSON = ["role": "assistant", "content": .string(generation.text), "refusal": nil, "annotations": []]
            return [
                "id": .string(id), "object": "chat.completion", "created": .int(ModelCatalog.created), "model": .string(model),
                "choices": [["index": 0, "message": message, "logprobs": nil, "finish_reason": generation.finishReason]],
                "usage": generation.chatUsage, "service_tier": "default", "system_fingerprint": "fp_sim",
            ]
        }

        /// The whole stream: role chunk, one chunk per token, the finish chunk, the usage chunk when asked for, [DONE].
        func chunks(_ generation: Generation, includeUsage: Bool) -> [SSEEvent] {
            // With include_usage OpenAI puts "usage":null on every chunk; without it the key is absent.
            let usage: JSON? = includeUsage ? .null : nil
            var events = [SSEEvent.data(chunk(choice(["role": "assistant", "content": "", "refusal": nil]), usage: usage))]
            for token in generation.tokens {
                events.append(.data(chunk(choice(["content": .string(token)]), usage: usage), isToken: true))
            }
            events.append(.data(chunk(choice([:], finishReason: generation.finishReason), usage: usage)))
            if includeUsage { events.append(.data(chunk([], usage: generation.chatUsage))) }
            events.append(.done)
            return events
        }

        /// A one-element `choices` list.
        private func choice(_ delta: JSON, finishReason: JSON = nil) -> JSON {
            [["index": 0, "delta": delta, "logprobs": nil, "finish_reason": finishReason]]
        }

        /// One `chat.completion.chunk`; `usage` nil leaves the key out.
        private func chunk(_ choices: JSON, usage: JSON?) -> JSON {
            var members: [(String, JSON)] = [
                ("id", .string(id)), ("object", "chat.completion.chunk"), ("created", .int(ModelCatalog.created)),
                ("model", .string(model)), ("service_tier", "default"), ("system_fingerprint", "fp_sim"), ("choices", choices),
            ]
            if let usage { members.append(("usage", usage)) }
            return .object(members)
        }
    }
}
