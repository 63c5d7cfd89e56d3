import Hummingbird

/// POST /v1/completions, the legacy text completions endpoint, plain and streaming.
enum Completions {
    /// OpenAI's default `max_tokens` for this endpoint (unlike chat, it is not unlimited).
    static let defaultMaxTokens = 16

    /// Answers one legacy Completions request.
    static func respond(_ exchange: Exchange) throws(APIError) -> Response {
        let body = try exchange.jsonObject()
        guard let model = body["model"]?.stringValue else { throw APIError.missing("model") }
        guard let prompt = body["prompt"] else { throw APIError.missing("prompt") }
        let generation = Generation(
            replyText: Reply.text(echoing: promptText(prompt)), model: model, promptTokens: promptTokens(prompt),
            cachedTokens: 0, maxTokens: body["max_tokens"]?.intValue ?? defaultMaxTokens
        )
        let frame = Frame(id: "cmpl-" + StableID.hash([model, prompt.encoded]), model: ModelCatalog.served(model))
        guard body["stream"]?.boolValue == true else {
            return HTTPReply.json(frame.completion(generation), for: exchange)
        }
        let includeUsage = body["stream_options"]?["include_usage"]?.boolValue == true
        return StreamBody.events(frame.chunks(generation, includeUsage: includeUsage), for: exchange)
    }

    /// The text to echo: the prompt, or the first prompt of a batch; token-id prompts have no text.
    private static func promptText(_ prompt: JSON) -> String {
        prompt.stringValue ?? prompt.arrayValue?.first?.stringValue ?? ""
    }

    /// Prompt tokens: text is tokenized, token-id arrays count their ids.
    private static func promptTokens(_ prompt: JSON) -> Int {
        switch prompt {
        case .string(let text): return Tokenizer.count(text)
        case .array(let items): return items.reduce(0) { $0 + ($1.stringValue.map(Tokenizer.count) ?? $1.arrayValue?.count ?? 1) }
        default: return 0
        }
    }

    /// The fields every body of one completion shares.
    private struct Frame {
        let id: String
        let model: String

        /// The non-streaming `text_completion` object.
        func completion(_ generation: Generation) -> JSON {
            [
                "id": .string(id), "object": "text_completion", "created": .int(ModelCatalog.created), "model": .string(model),
                "choices": [["text": .string(generation.text), "index": 0, "logprobs": nil, "finish_reason": generation.finishReason]],
                "usage": generation.completionsUsage,
            ]
        }

        /// The stream: one chunk per token, the last one carrying finish_reason (as OpenAI's legacy endpoint
        /// does), the usage chunk when asked for, then [DONE].
        func chunks(_ generation: Generation, includeUsage: Bool) -> [SSEEvent] {
            let usage: JSON? = includeUsage ? .null : nil
            let texts = generation.tokens.isEmpty ? [""] : generation.tokens
            var events = texts.enumerated().map { index, text in
                let finish = index == texts.count - 1 ? generation.finishReason : .null
                let choice: JSON = ["text": .string(text), "index": 0, "logprobs": nil, "finish_reason": finish]
                return SSEEvent.data(chunk([("choices", [choice]), ("model", .string(model))], usage: usage), isToken: true)
            }
            if includeUsage {
                let members: [(String, JSON)] = [("model", .string(model)), ("usage", generation.completionsUsage), ("choices", [])]
                events.append(.data(chunk(members, usage: nil)))
            }
            events.append(.done)
            return events
        }

        /// One streamed `text_completion` object: the fixed header, then `rest` in order, then `usage` unless nil.
        private func chunk(_ rest: [(String, JSON)], usage: JSON?) -> JSON {
            var members: [(String, JSON)] = [("id", .string(id)), ("object", "text_completion"), ("created", .int(ModelCatalog.created))]
            members += rest
            if let usage { members.append(("usage", usage)) }
            return .object(members)
        }
    }
}
