import Hummingbird

/// Google's Gemini API under `/v1beta/` (and `/v1/`): generateContent, streamGenerateContent (`alt=sse` events, or
/// one JSON array written in pieces), countTokens, embedContent, batchEmbedContents, and the models list. Bodies
/// are written in Google's layouts (indented JSON; one-line `alt=sse` events with `\r\n\r\n` separators), and
/// zero counts are left out of `usageMetadata` as Google's protobuf JSON does.
enum Gemini {
    /// The request header carrying the key (`?key=` works too).
    static let keyHeader = HeaderName("x-goog-api-key")!

    /// Visible tokens per streamed chunk: Gemini streams a few tokens at a time, not one.
    static let tokensPerChunk = 3

    /// Tokens Gemini bills for one image.
    static let imageTokens = 258

    /// The methods a generation model supports.
    static let generationMethods: Set<Substring> = ["generateContent", "streamGenerateContent", "countTokens"]
    /// The methods an embedding model supports.
    static let embeddingMethods: Set<Substring> = ["embedContent", "batchEmbedContents"]

    /// Checks the key: from `x-goog-api-key` or `?key=`, equal to `key` when the simulator was given one. A missing
    /// key is Google's 403, a wrong one its 400 `API_KEY_INVALID`.
    static func authenticate(_ exchange: Exchange, key: String?) throws(APIError) {
        guard let given = exchange.headers[keyHeader] ?? exchange.query["key"], !given.isEmpty else {
            throw APIError.google(
                status: 403,
                message: "Method doesn't allow unregistered callers (callers without established identity). Please use API Key "
                    + "or other form of API consumer identity to call this API.")
        }
        if let key, given != key {
            let details: JSON = [
                [
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                    "metadata": ["service": "generativelanguage.googleapis.com"],
                ],
                [
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                    "message": "API key not valid. Please pass a valid API key.",
                ],
            ]
            throw APIError.google(status: 400, message: "API key not valid. Please pass a valid API key.", details: details)
        }
    }

    /// Answers one Gemini request.
    static func respond(_ exchange: Exchange) throws(APIError) -> Response {
        let segments = exchange.path.split(separator: "/", omittingEmptySubsequences: false)
        // "", version, "models", [MODEL[:METHOD]]
        guard segments.count >= 3, segments[0].isEmpty, segments[2] == "models" else { throw APIError.invalidURL(exchange) }
        let version = String(segments[1])
        switch (exchange.method, segments.count) {
        case (.get, 3):
            return HTTPReply.googleJSON(["models": .array(GeminiCatalog.models.map(\.json))], for: exchange)
        case (.get, 4):
            guard let model = GeminiCatalog.models.first(where: { $0.id == segments[3] }) else {
                throw APIError.google(status: 404, message: "models/\(segments[3]) is not found for API version \(version)")
            }
            return HTTPReply.googleJSON(model.json, for: exchange)
        case (.post, 4):
            let call = segments[3].split(separator: ":", maxSplits: 1)
            guard call.count == 2 else { throw APIError.invalidURL(exchange) }
            let model = String(call[0])
            let method = call[1]
            guard generationMethods.contains(method) || embeddingMethods.contains(method) else {
                throw APIError.invalidURL(exchange)
            }
            let isEmbedding = model.contains("embedding")
            guard model.hasPrefix("gemini-") || model.hasPrefix("gemma-") || isEmbedding,
                isEmbedding == embeddingMethods.contains(method)
            else {
                throw APIError.google(
                    status: 404,
                    message: "models/\(model) is not found for API version \(version), or is not supported for \(method). Call "
                        + "ListModels to see the list of available models and their supported methods.")
            }
            let body = try exchange.jsonObject()
            switch method {
            case "generateContent", "streamGenerateContent":
                return try generate(exchange, body: body, model: model, stream: method == "streamGenerateContent")
            case "countTokens": return try countTokens(exchange, body: body)
            default: return try GeminiEmbeddings.respond(exchange, body: body, model: model, batch: method == "batchEmbedContents")
            }
        default:
            throw APIError.invalidURL(exchange)
        }
    }

    /// generateContent and streamGenerateContent.
    private static func generate(_ exchange: Exchange, body: JSON, model: String, stream: Bool) throws(APIError) -> Response {
        let request = try GenerateRequest(body)
        let prompt = request.prompt
        let maxTokens = request.maxOutputTokens ?? Int.max
        let thinking = request.thinkingBudget.map { Thinking(about: request.conversation.lastUserText, budget: min($0, maxTokens)) }
        let generation = Generation(
            replyText: Reply.text(echoing: request.conversation.lastUserText), model: model, promptTokens: prompt.tokens,
            cachedTokens: exchange.integer(SimHeader.cachedTokens) ?? 0, maxTokens: maxTokens - (thinking?.count ?? 0)
        )
        let frame = Frame(
            responseID: StableID.hash(request.conversation.hashParts(model: model)), model: GeminiCatalog.served(model),
            prompt: prompt, generation: generation, thinking: thinking, showsThoughts: request.includeThoughts
        )
        guard stream else { return HTTPReply.googleJSON(frame.response(), for: exchange) }
        let chunks = frame.chunks()
        guard exchange.query["alt"] == "sse" else {
            let pieces = chunks.enumerated().map { index, chunk in
                SSEEvent(text: (index == 0 ? "[" : "\n,\r\n") + chunk.googleIndented, isToken: true)
            }
            return StreamBody.events(pieces + [SSEEvent(text: "\n]", isToken: false)], contentType: HTTPReply.googleJSONType, for: exchange)
        }
        let events = chunks.map { SSEEvent(text: "data: " + $0.googleLine + "\r\n\r\n", isToken: true) }
        return StreamBody.events(events, contentType: "text/event-stream", for: exchange)
    }

    /// countTokens: `contents`, or a whole `generateContentRequest`; never an inference.
    private static func countTokens(_ exchange: Exchange, body: JSON) throws(APIError) -> Response {
        let request = try GenerateRequest(body[proto: "generateContentRequest"] ?? body)
        return HTTPReply.googleJSON(
            ["totalTokens": .int(request.prompt.tokens), "promptTokensDetails": request.prompt.details], for: exchange)
    }

    /// What the simulator reads from a generateContent body.
    private struct GenerateRequest {
        let conversation: Conversation
        let prompt: GeminiPrompt
        let maxOutputTokens: Int?
        /// The thinking budget when the request turns thinking on (`-1` or no budget: as much as it takes).
        let thinkingBudget: Int?
        /// Whether thought summaries are returned as parts.
        let includeThoughts: Bool

        /// Reads the body; `contents` is required.
        init(_ body: JSON) throws(APIError) {
            guard let contents = body["contents"]?.arrayValue, !contents.isEmpty else {
                throw APIError.google(status: 400, message: "* GenerateContentRequest.contents: contents is not specified\n")
            }
            let system = body[proto: "systemInstruction"]
            var messages = system.map { [Conversation.Message(role: "system", text: Conversation.text(of: $0["parts"]))] } ?? []
            messages += contents.map { Conversation.Message(role: $0["role"]?.stringValue ?? "user", text: Conversation.text(of: $0["parts"])) }
            conversation = Conversation(messages: messages)
            prompt = GeminiPrompt(parts: (system.map { [$0] } ?? []) + contents, tools: body["tools"])
            let config = body[proto: "generationConfig"]
            maxOutputTokens = config?[proto: "maxOutputTokens"]?.intValue
            let thinking = config?[proto: "thinkingConfig"]
            let budget = thinking?[proto: "thinkingBudget"]?.intValue
            if thinking == nil || budget == 0 {
                thinkingBudget = nil
            } else {
                thinkingBudget = budget.flatMap { $0 > 0 ? $0 : nil } ?? Int.max
            }
            includeThoughts = thinkingBudget != nil && thinking?[proto: "includeThoughts"]?.boolValue == true
        }
    }

    /// Everything one response's bodies are built from.
    private struct Frame {
        let responseID: String
        let model: String
        let prompt: GeminiPrompt
        let generation: Generation
        let thinking: Thinking?
        /// Whether the thought summary is returned as a part.
        let showsThoughts: Bool

        /// `finishReason`.
        var finishReason: JSON { generation.truncated ? "MAX_TOKENS" : "STOP" }

        /// `usageMetadata` after `candidates` visible tokens: running totals, zero counts left out.
        func usage(candidates: Int) -> JSON {
            let thoughts = thinking?.count ?? 0
            let cached = generation.cachedTokens
            var members: [(String, JSON)] = [("promptTokenCount", .int(prompt.tokens))]
            if candidates > 0 { members.append(("candidatesTokenCount", .int(candidates))) }
            members.append(("totalTokenCount", .int(prompt.tokens + candidates + thoughts)))
            if cached > 0 { members.append(("cachedContentTokenCount", .int(cached))) }
            members.append(("promptTokensDetails", prompt.details))
            if cached > 0 { members.append(("cacheTokensDetails", [["modality": "TEXT", "tokenCount": .int(cached)]])) }
            if thoughts > 0 { members.append(("thoughtsTokenCount", .int(thoughts))) }
            members.append(("serviceTier", "standard"))
            return .object(members)
        }

        /// One GenerateContentResponse whose candidate has `parts`, the finish reason when `last`, and the usage so far.
        private func body(parts: [JSON], last: Bool, candidates: Int) -> JSON {
            let content: JSON = parts.isEmpty ? ["role": "model"] : ["parts": .array(parts), "role": "model"]
            var candidate: [(String, JSON)] = [("content", content)]
            if last { candidate.append(("finishReason", finishReason)) }
            candidate.append(("index", 0))
            return [
                "candidates": [.object(candidate)], "usageMetadata": usage(candidates: candidates), "modelVersion": .string(model),
                "responseId": .string(responseID),
            ]
        }

        /// The thought summary part, when thoughts are shown.
        private var thoughtPart: JSON? {
            guard showsThoughts, let thinking else { return nil }
            return ["text": .string(thinking.text), "thought": true]
        }

        /// The non-streaming response.
        func response() -> JSON {
            let text: JSON? = generation.text.isEmpty ? nil : ["text": .string(generation.text)]
            return body(parts: [thoughtPart, text].compactMap { $0 }, last: true, candidates: generation.tokens.count)
        }

        /// The streamed responses: the thought summary first (when shown), then the text a few tokens at a time, the
        /// last carrying the finish reason; every one with the running usage.
        func chunks() -> [JSON] {
            var chunks = thoughtPart.map { [body(parts: [$0], last: false, candidates: 0)] } ?? []
            let groups = stride(from: 0, to: generation.tokens.count, by: Gemini.tokensPerChunk).map { start in
                generation.tokens[start..<min(start + Gemini.tokensPerChunk, generation.tokens.count)]
            }
            var sent = 0
            for (index, group) in groups.enumerated() {
                sent += group.count
                chunks.append(body(parts: [["text": .string(group.joined())]], last: index == groups.count - 1, candidates: sent))
            }
            if groups.isEmpty { chunks.append(body(parts: [], last: true, candidates: 0)) }
            return chunks
        }
    }
}

/// The prompt of a Gemini request: its token count and the per-modality details Google reports with it.
struct GeminiPrompt: Sendable {
    /// Text tokens (text parts, function calls and responses, tool declarations).
    let textTokens: Int
    /// Image tokens, a fixed count per image part.
    let imageTokens: Int

    /// Counts the parts of `contents` (each with `parts`) and the `tools` declarations.
    init(parts contents: [JSON], tools: JSON?) {
        var text = tools.map { Tokenizer.count($0.encoded) } ?? 0
        var images = 0
        for part in contents.flatMap({ $0["parts"]?.arrayValue ?? [] }) {
            if let value = part["text"]?.stringValue {
                text += Tokenizer.count(value)
            } else if (part[proto: "inlineData"] ?? part[proto: "fileData"]) != nil {
                images += Gemini.imageTokens
            } else {
                text += Tokenizer.count(part.encoded)
            }
        }
        textTokens = text
        imageTokens = images
    }

    /// Every prompt token.
    var tokens: Int { textTokens + imageTokens }

    /// `promptTokensDetails`: one entry per modality present (TEXT always).
    var details: JSON {
        var entries: [JSON] = [["modality": "TEXT", "tokenCount": .int(textTokens)]]
        if imageTokens > 0 { entries.append(["modality": "IMAGE", "tokenCount": .int(imageTokens)]) }
        return .array(entries)
    }
}

/// embedContent and batchEmbedContents: deterministic unit vectors, like the OpenAI embeddings.
enum GeminiEmbeddings {
    /// Largest `outputDimensionality`.
    static let maximumDimensions = 3072

    /// Answers one embedding request; `gemini-embedding-2` models report `usageMetadata` (with Google's
    /// `promptTokenDetails` spelling), older ones none, as recorded from the real API.
    static func respond(_ exchange: Exchange, body: JSON, model: String, batch: Bool) throws(APIError) -> Response {
        let requests: [JSON]
        if batch {
            guard let list = body["requests"]?.arrayValue, !list.isEmpty else {
                throw APIError.google(status: 400, message: "* BatchEmbedContentsRequest.requests: requests is not specified\n")
            }
            requests = list
        } else {
            requests = [body]
        }
        var embeddings: [JSON] = []
        var tokens = 0
        for request in requests {
            guard let content = request["content"], let parts = content["parts"]?.arrayValue, !parts.isEmpty else {
                throw APIError.google(status: 400, message: "* EmbedContentRequest.content: content is not specified\n")
            }
            let dimensions = request[proto: "outputDimensionality"]?.intValue ?? (model.hasPrefix("gemini-embedding") ? maximumDimensions : 768)
            guard (1...maximumDimensions).contains(dimensions) else {
                throw APIError.google(
                    status: 400, message: "* EmbedContentRequest.output_dimensionality: must be between 1 and \(maximumDimensions)\n")
            }
            let text = Conversation.text(of: content["parts"])
            tokens += Tokenizer.count(text)
            let vector = Embeddings.vector(seed: StableID.value([text]), dimensions: dimensions)
            embeddings.append(["values": .array(vector.map { .raw("\($0)") })])
        }
        var reply: [(String, JSON)] = batch ? [("embeddings", .array(embeddings))] : [("embedding", embeddings[0])]
        if model.hasPrefix("gemini-embedding-2") {
            reply.append(
                ("usageMetadata", ["promptTokenCount": .int(tokens), "promptTokenDetails": [["modality": "TEXT", "tokenCount": .int(tokens)]]]))
        }
        return HTTPReply.googleJSON(.object(reply), for: exchange)
    }
}

/// The Gemini models GET /v1beta/models lists, and the aliases the API resolves.
enum GeminiCatalog {
    /// One listed model.
    struct Model: Sendable {
        let id: String
        let displayName: String
        let inputTokenLimit: Int
        let outputTokenLimit: Int
        let methods: [String]
        let thinks: Bool

        /// The model resource as Google lists it.
        var json: JSON {
            var members: [(String, JSON)] = [
                ("name", .string("models/" + id)), ("version", "001"), ("displayName", .string(displayName)),
                ("description", .string(displayName + " (simulated)")), ("inputTokenLimit", .int(inputTokenLimit)),
                ("outputTokenLimit", .int(outputTokenLimit)), ("supportedGenerationMethods", .array(methods.map(JSON.string))),
            ]
            if !id.contains("embedding") {
                members += [("temperature", 1), ("topP", .double(0.95)), ("topK", 64), ("maxTemperature", 2)]
            }
            if thinks { members.append(("thinking", true)) }
            return .object(members)
        }
    }

    /// Methods of the generation models.
    private static let generating = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]

    /// Everything the list shows.
    static let models: [Model] = [
        Model(
            id: "gemini-2.0-flash", displayName: "Gemini 2.0 Flash", inputTokenLimit: 1_048_576, outputTokenLimit: 8192, methods: generating,
            thinks: false),
        Model(
            id: "gemini-2.5-flash", displayName: "Gemini 2.5 Flash", inputTokenLimit: 1_048_576, outputTokenLimit: 65536, methods: generating,
            thinks: true),
        Model(
            id: "gemini-2.5-flash-lite", displayName: "Gemini 2.5 Flash-Lite", inputTokenLimit: 1_048_576, outputTokenLimit: 65536,
            methods: generating, thinks: true),
        Model(
            id: "gemini-2.5-pro", displayName: "Gemini 2.5 Pro", inputTokenLimit: 1_048_576, outputTokenLimit: 65536, methods: generating,
            thinks: true),
        Model(
            id: "gemini-embedding-001", displayName: "Gemini Embedding 001", inputTokenLimit: 2048, outputTokenLimit: 1,
            methods: ["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"], thinks: false),
    ]

    /// Aliases and the model version responses report for them.
    static let aliases: [String: String] = [
        "gemini-flash-latest": "gemini-2.5-flash", "gemini-flash-lite-latest": "gemini-2.5-flash-lite", "gemini-pro-latest": "gemini-2.5-pro",
    ]

    /// The `modelVersion` a response reports for a requested model.
    static func served(_ requested: String) -> String {
        aliases[requested] ?? requested
    }
}

extension JSON {
    /// The member named `name` (lowerCamelCase) or its snake_case spelling: protobuf JSON accepts both, and
    /// google-genai sends some nested fields (`thinking_budget`, `include_thoughts`) in snake_case.
    subscript(proto name: String) -> JSON? {
        if let value = self[name] { return value }
        var snake = ""
        for character in name {
            if character.isUppercase { snake += "_" + character.lowercased() } else { snake.append(character) }
        }
        return self[snake]
    }
}
