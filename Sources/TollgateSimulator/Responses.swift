import Hummingbird

/// POST /v1/responses, the Responses API, plain and streaming.
enum Responses {
    /// Answers one Responses request.
    static func respond(_ exchange: Exchange) throws(APIError) -> Response {
        let body = try exchange.jsonObject()
        let frame = try frame(body, cachedTokens: exchange.integer(SimHeader.cachedTokens) ?? 0)
        guard body["stream"]?.boolValue == true else {
            return HTTPReply.json(frame.response(final: true), for: exchange)
        }
        return StreamBody.events(frame.events(), for: exchange)
    }

    /// The final Response object for a request body (a stored or background response, a batch's request line).
    static func response(body: JSON, cachedTokens: Int = 0) throws(APIError) -> JSON {
        try frame(body, cachedTokens: cachedTokens).response(final: true)
    }

    private static func frame(_ body: JSON, cachedTokens: Int) throws(APIError) -> Frame {
        guard let model = body["model"]?.stringValue else { throw APIError.missing("model") }
        let instructions = body["instructions"]?.stringValue
        guard let conversation = Conversation(responsesInput: body["input"], instructions: instructions) else {
            throw APIError.missing("input")
        }
        let generation = Generation(
            replyText: Reply.text(echoing: conversation.lastUserText), model: model,
            promptTokens: conversation.promptTokens, cachedTokens: cachedTokens,
            maxTokens: body["max_output_tokens"]?.intValue
        )
        let hash = StableID.hash(conversation.hashParts(model: model))
        return Frame(
            id: "resp_" + hash, messageID: "msg_" + hash, reasoningID: ModelCatalog.isReasoning(model) ? "rs_" + hash : nil,
            model: ModelCatalog.served(model), request: body, generation: generation
        )
    }

    /// Everything one response's bodies are built from.
    private struct Frame {
        let id: String
        let messageID: String
        /// Reasoning models also output a (summary-less) reasoning item before the message, as OpenAI's do.
        let reasoningID: String?
        let model: String
        let request: JSON
        let generation: Generation

        /// The final status: "incomplete" when `max_output_tokens` cut the reply.
        var finalStatus: String { generation.truncated ? "incomplete" : "completed" }

        /// The output_text content part with `text`.
        func part(_ text: String) -> JSON { ["type": "output_text", "annotations": [], "logprobs": [], "text": .string(text)] }

        /// The reasoning item, for reasoning models.
        var reasoningItem: JSON? { reasoningID.map { ["id": .string($0), "type": "reasoning", "summary": []] } }

        /// The assistant message item, in progress (empty) or finished.
        func message(final: Bool) -> JSON {
            [
                "id": .string(messageID), "type": "message", "status": .string(final ? finalStatus : "in_progress"),
                "content": final ? [part(generation.text)] : [], "role": "assistant",
            ]
        }

        /// The Response object; `final: false` is the in-progress snapshot streams start with.
        func response(final: Bool) -> JSON {
            let output: [JSON] = final ? [reasoningItem, message(final: true)].compactMap { $0 } : []
            let incomplete: JSON = final && generation.truncated ? ["reason": "max_output_tokens"] : nil
            return [
                "id": .string(id), "object": "response", "created_at": .int(ModelCatalog.created),
                "status": .string(final ? finalStatus : "in_progress"), "background": false,
                "completed_at": final ? .int(ModelCatalog.created) : nil, "error": nil, "incomplete_details": incomplete,
                "instructions": request["instructions"] ?? .null, "max_output_tokens": request["max_output_tokens"] ?? .null,
                "model": .string(model), "output": .array(output), "parallel_tool_calls": true, "previous_response_id": nil,
                "reasoning": ["effort": reasoningID == nil ? nil : "medium", "summary": nil],
                "service_tier": "default", "store": request["store"] ?? true, "temperature": request["temperature"] ?? .double(1),
                "text": ["format": ["type": "text"], "verbosity": "medium"], "tool_choice": "auto", "tools": [],
                "top_p": request["top_p"] ?? .double(1), "truncation": "disabled",
                "usage": final ? generation.responsesUsage : nil, "user": nil, "metadata": request["metadata"] ?? [:],
            ]
        }

        /// The event stream, from response.created to response.completed (or response.incomplete); no [DONE].
        func events() -> [SSEEvent] {
            var sequence = 0
            var events: [SSEEvent] = []
            /// Appends one event; its JSON is `type`, then `fields`, then `sequence_number`.
            func emit(_ type: String, _ fields: [(String, JSON)], isToken: Bool = false) {
                let json = JSON.object([("type", .string(type))] + fields + [("sequence_number", .int(sequence))])
                events.append(.named(type, json, isToken: isToken))
                sequence += 1
            }
            emit("response.created", [("response", response(final: false))])
            emit("response.in_progress", [("response", response(final: false))])
            var outputIndex = 0
            if let reasoningItem {
                emit("response.output_item.added", [("item", reasoningItem), ("output_index", 0)])
                emit("response.output_item.done", [("item", reasoningItem), ("output_index", 0)])
                outputIndex = 1
            }
            let position: [(String, JSON)] = [("item_id", .string(messageID)), ("output_index", .int(outputIndex)), ("content_index", 0)]
            emit("response.output_item.added", [("item", message(final: false)), ("output_index", .int(outputIndex))])
            emit("response.content_part.added", position + [("part", part(""))])
            for token in generation.tokens {
                emit("response.output_text.delta", position + [("delta", .string(token)), ("logprobs", [])], isToken: true)
            }
            emit("response.output_text.done", position + [("text", .string(generation.text)), ("logprobs", [])])
            emit("response.content_part.done", position + [("part", part(generation.text))])
            emit("response.output_item.done", [("item", message(final: true)), ("output_index", .int(outputIndex))])
            emit(generation.truncated ? "response.incomplete" : "response.completed", [("response", response(final: true))])
            return events
        }
    }
}
