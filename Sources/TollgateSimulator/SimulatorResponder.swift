import Hummingbird

/// The simulator's whole HTTP surface: the `/_sim` inspection routes, then (for everything else) the stall and replay
/// directives, which apply to any path, the key check of the Anthropic and Gemini families, the fault directive (its
/// error in the path's family shape), then the OpenAI, Anthropic and Gemini routes. A plain switch instead of a Router
/// keeps per-request work minimal and lets unknown paths get their family's 404 body.
struct SimulatorResponder: HTTPResponder {
    /// No custom context: the simulator needs nothing per request beyond the request itself.
    typealias Context = BasicRequestContext
    static let openAIRequestIDHeader = HeaderName("x-request-id")!

    /// Largest request body accepted.
    static let maxBodyBytes = 64 * 1024 * 1024

    let settings: SimulatorSettings
    let log: RequestLog
    let replay: ReplayStore?
    let promptCache: PromptCache
    /// Files, batches, stored responses and message batches.
    let objects = StoredObjects()

    /// Answers one request.
    func respond(to request: Request, context: Context) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: Self.maxBodyBytes)
        let exchange = Exchange(request: request, body: body, settings: settings)
        if exchange.path.hasPrefix("/_sim/") {
            return inspect(exchange)
        }
        log.record(exchange)
        if let stallMs = exchange.integer(SimHeader.stall), stallMs > 0 {
            try await Task.sleep(for: .milliseconds(stallMs))
        }
        var response: Response
        do {
            response = try answer(exchange)
        } catch {
            response = error.response(for: exchange)
        }
        switch exchange.family {
        case .anthropic: response.headers[AnthropicMessages.requestIDHeader] = AnthropicMessages.requestID(for: exchange)
        // OpenAI's `x-request-id` (`req_` and 32 hex digits), derived from the request like every simulator id.
        case .openAI:
            let seed = [exchange.path, String(buffer: exchange.body)]
            response.headers[Self.openAIRequestIDHeader] = "req_" + StableID.hash(["x-request-id"] + seed) + StableID.hash(["x-request-id-2"] + seed)
        case .gemini: break
        }
        return response
    }

    /// The response for a request, or the API error it deserves.
    private func answer(_ exchange: Exchange) throws(APIError) -> Response {
        if let name = exchange.headers[SimHeader.replay] {
            guard let replay else {
                throw APIError(status: 400, message: "x-sim-replay needs --replay-dir.", type: "invalid_request_error")
            }
            return try replay.respond(case: name, for: exchange)
        }
        switch exchange.family {
        case .openAI: break
        case .anthropic: try AnthropicMessages.authenticate(exchange, key: settings.apiKey)
        case .gemini: try Gemini.authenticate(exchange, key: settings.apiKey)
        }
        if let status = exchange.integer(SimHeader.error), (400...599).contains(status) {
            throw APIError.simulated(status: status, family: exchange.family)
        }
        switch (exchange.method, exchange.path) {
        case (.post, "/v1/messages"): return try AnthropicMessages.respond(exchange, cache: promptCache)
        case (.post, "/v1/messages/count_tokens"): return try AnthropicMessages.countTokens(exchange)
        case (_, let path) where StoredObjects.handles(path): return try objects.respond(exchange)
        case (_, _) where exchange.family == .gemini: return try Gemini.respond(exchange)
        case (.post, "/v1/chat/completions"): return try ChatCompletions.respond(exchange)
        case (.post, "/v1/completions"): return try Completions.respond(exchange)
        case (.post, "/v1/embeddings"): return try Embeddings.respond(exchange)
        case (.post, "/v1/responses"):
            let body = try exchange.jsonObject()
            guard body["stream"]?.boolValue != true, body["store"]?.boolValue != false else { return try Responses.respond(exchange) }
            // Stored: retrievable later; a background response answers `queued` first.
            let final = try Responses.response(body: body, cachedTokens: exchange.integer(SimHeader.cachedTokens) ?? 0)
            return HTTPReply.json(objects.created(response: final, background: body["background"]?.boolValue == true), for: exchange)
        case (.post, "/v1/images/generations"): return try Media.generateImages(exchange)
        case (.post, "/v1/images/edits"): return try Media.editImages(exchange)
        case (.post, "/v1/audio/speech"): return try Media.speech(exchange)
        case (.post, "/v1/audio/transcriptions"): return try Media.transcribe(exchange, translation: false)
        case (.post, "/v1/audio/translations"): return try Media.transcribe(exchange, translation: true)
        case (.post, "/v1/moderations"): return try Media.moderate(exchange)
        case (.get, "/v1/models"): return HTTPReply.json(ModelCatalog.list(), for: exchange)
        case (.get, let path) where path.hasPrefix("/v1/models/"):
            let id = String(path.dropFirst("/v1/models/".count))
            guard ModelCatalog.listed.contains(id) else {
                throw APIError(
                    status: 404, message: "The model '\(id)' does not exist", type: "invalid_request_error",
                    param: "model", code: "model_not_found")
            }
            return HTTPReply.json(ModelCatalog.entry(id), for: exchange)
        default:
            throw APIError.invalidURL(exchange)
        }
    }

    /// GET /_sim/requests lists the remembered requests; DELETE forgets them. Never compressed, never recorded.
    private func inspect(_ exchange: Exchange) -> Response {
        switch (exchange.method, exchange.path) {
        case (.get, "/_sim/requests"):
            var plain = exchange
            plain.settings.compress = false
            return HTTPReply.json(log.snapshot, for: plain)
        case (.delete, "/_sim/requests"):
            log.clear()
            return Response(status: .noContent)
        default:
            return APIError.invalidURL(exchange).response(for: exchange)
        }
    }
}
