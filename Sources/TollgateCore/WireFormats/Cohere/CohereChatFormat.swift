/// Cohere v2 chat (`POST /v2/chat`): usage in the answer's `usage.billed_units`, and in streams on the final
/// `message-end` event's `delta.usage`. Cohere always reports usage, so nothing is requested and nothing is rewritten.
///
/// Cohere's answers do not name a model: the model that served a request is the one it asked for.
public struct CohereChatFormat: WireFormat {
    /// Always ``APIName/cohereChat``.
    public var api: APIName { .cohereChat }

    /// Creates the format.
    public init() {}

    /// Plain bodies: `usage` at the top. The served model is the requested one (`requestedModel`) for an answer,
    /// which always carries usage; an error body (`{"id": ..., "message": ...}`) carries neither.
    static func plainLayout(requestedModel: String?) -> JSONBodyReader.Layout {
        JSONBodyReader.Layout(model: ["model"], usage: ["usage"], serviceTier: ["service_tier"]) { model, usage, tier, reading in
            CohereUsage.read(usage: usage, into: &reading)
            if let model, let name = decodeJSONString(model) {
                reading.servedModel = name
            } else if reading.rawUsage != nil {
                reading.servedModel = requestedModel
            }
            if let tier { reading.serviceTier = decodeJSONString(tier) }
        }
    }

    /// Reads the request (`model`, `stream`, `max_tokens` read as OpenAI's do); the body goes upstream unchanged
    /// unless a model alias applies.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        try OpenAIRequest.prepareAsIs(body: body, options: options, layout: .cohere)
    }

    /// An SSE meter for event streams, a JSON meter for everything else (errors included).
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        if isEventStream(contentType) {
            return SSEBodyReader(reader: CohereChatStreamReader(requestedModel: request.model), rewrites: false)
        }
        return JSONBodyReader(layout: Self.plainLayout(requestedModel: request.model))
    }
}

/// Reads a Cohere v2 chat stream: `message-start`, then `content-*`, `tool-plan-delta`, `tool-call-*` and
/// `citation-*` events, then `message-end`, whose `delta.usage` carries the usage and which ends the stream.
///
/// The event type is the `event:` field, else the data's `type`. Generated pieces (`content-delta`,
/// `tool-plan-delta`, `tool-call-delta`) are content events. A `message-end` whose `finish_reason` is `ERROR` (or
/// that names an `error`) ends the inference uncompleted. A `data: [DONE]` some servers add after `message-end` is
/// not JSON and is passed over quietly; events of other types are ignored.
struct CohereChatStreamReader: SSEUsageReader {
    private static let paths = JSONFieldScanner.KeyPaths([
        ["type"], ["delta", "usage"], ["delta", "finish_reason"], ["delta", "error"],
    ])
    private static let done = Array("[DONE]".utf8)
    private static let generatedPieces: Set<String> = ["content-delta", "tool-plan-delta", "tool-call-delta"]

    private let requestedModel: String?
    private var seen = UsageReading()
    private(set) var reachedEnd = false

    /// A reader for the stream answering a request for `requestedModel`.
    init(requestedModel: String?) {
        self.requestedModel = requestedModel
    }

    /// What was read; a stream that has not (yet) reached `message-end` says so.
    var reading: UsageReading {
        var reading = seen
        if !reachedEnd, reading.note == nil { reading.note = "stream ended before message-end" }
        return reading
    }

    mutating func read(_ event: SSEEvent, rewriting: Bool) -> SSEAction {
        guard event.hasData, event.data != Self.done else { return .keep }
        guard let scanner = JSONFieldScanner.scanWhole(event.data, paths: Self.paths) else {
            seen.note = "malformed stream event"
            return .keep
        }
        let type = event.name ?? scanner.value(at: 0).flatMap(decodeJSONString)
        if let type, Self.generatedPieces.contains(type) {
            seen.contentEvents += 1
        } else if type == "message-start" {
            seen.servedModel = requestedModel
        } else if type == "message-end" {
            seen.servedModel = requestedModel
            CohereUsage.read(usage: scanner.value(at: 1), into: &seen)
            reachedEnd = true
            let reason = scanner.value(at: 2).flatMap(decodeJSONString)
            let error = scanner.value(at: 3).flatMap(decodeJSONString)
            seen.completed = reason != "ERROR" && error == nil
            if !seen.completed { seen.note = "stream ended with an error: \((error ?? reason ?? "").prefix(200))" }
        }
        return .keep
    }
}

extension RequestLayout {
    /// Cohere v2 chat bodies: `max_tokens`. Images: Cohere's vision models bill an image by 512 px tiles with a
    /// documented ceiling below OpenAI's patch bound, which is taken.
    static let cohere = RequestLayout(outputLimits: [["max_tokens"]], imageTokens: { _ in 3_779 })
}
