/// Anthropic Messages (`POST /v1/messages`): usage in the message object, and in streams on `message_start` (the
/// input side and a first output count) and `message_delta` (running totals). Anthropic always reports usage, so
/// nothing has to be requested and nothing is rewritten.
public struct AnthropicMessagesFormat: WireFormat {
    /// Always ``APIName/anthropicMessages``.
    public var api: APIName { .anthropicMessages }

    /// Creates the format.
    public init() {}

    /// Plain bodies: top-level `model` and `usage`. Anthropic reports the service tier inside `usage` and it is read
    /// there; a top-level `service_tier` is taken only when `usage` names none.
    public static let plainLayout = JSONBodyReader.Layout(model: ["model"], usage: ["usage"], serviceTier: ["service_tier"]) {
        model, usage, tier, reading in
        if let model, let name = decodeJSONString(model) { reading.servedModel = name }
        var report = AnthropicUsage.Report()
        AnthropicUsage.read(usage: usage, into: &report, reading: &reading)
        if reading.serviceTier == nil, let tier { reading.serviceTier = decodeJSONString(tier) }
    }

    /// Reads the request (`model`, `stream`, `max_tokens`, `service_tier`: ``RequestLayout/anthropic``); the body
    /// goes upstream unchanged unless a model alias applies.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        try OpenAIRequest.prepareAsIs(body: body, options: options, layout: .messages)
    }

    /// An SSE meter for event streams, a JSON meter for everything else (errors included).
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        if isEventStream(contentType) { return SSEBodyReader(reader: AnthropicMessagesStreamReader(), rewrites: false) }
        return JSONBodyReader(layout: Self.plainLayout)
    }
}

/// Reads a Messages stream: the served model from `message_start`, usage merged field by field over `message_start`
/// and every `message_delta` (the last value of each field wins), the end from `message_stop` or `error`.
///
/// The raw usage kept is the last usage object that carried counts, verbatim, as for OpenAI streams: normally the
/// final `message_delta`'s. It lacks what only `message_start` reports (the `cache_creation` breakdown, the service
/// tier), which the canonical usage and the reading do carry.
struct AnthropicMessagesStreamReader: SSEUsageReader {
    private static let paths = JSONFieldScanner.KeyPaths([
        ["type"], ["message", "model"], ["message", "usage"], ["usage"], ["error", "type"], ["error", "message"],
    ])

    private var seen = UsageReading()
    private var report = AnthropicUsage.Report()
    private var failed = false
    private(set) var reachedEnd = false

    /// What was read; a stream that has not (yet) reached `message_stop` or `error` says so.
    var reading: UsageReading {
        var reading = seen
        if !reachedEnd, reading.note == nil { reading.note = "stream ended before message_stop" }
        return reading
    }

    mutating func read(_ event: SSEEvent, rewriting: Bool) -> SSEAction {
        guard event.hasData else { return .keep }
        guard let scanner = JSONFieldScanner.scanWhole(event.data, paths: Self.paths) else {
            seen.note = "malformed stream event"
            return .keep
        }
        switch event.name ?? scanner.value(at: 0).flatMap(decodeJSONString) {
        case "message_start":
            if let model = scanner.value(at: 1).flatMap(decodeJSONString) { seen.servedModel = model }
            AnthropicUsage.read(usage: scanner.value(at: 2), into: &report, reading: &seen)
        case "message_delta":
            AnthropicUsage.read(usage: scanner.value(at: 3), into: &report, reading: &seen)
        case "content_block_delta":
            seen.contentEvents += 1
        case "message_stop":
            reachedEnd = true
            seen.completed = !failed
        case "error":
            // Anthropic ends the stream after an error event (an overload mid-answer): the inference is over,
            // without completing; what usage came before it stays.
            reachedEnd = true
            failed = true
            seen.completed = false
            let type = scanner.value(at: 4).flatMap(decodeJSONString) ?? "unknown"
            let message = scanner.value(at: 5).flatMap(decodeJSONString).map { ": \($0.prefix(200))" } ?? ""
            seen.note = "stream error event: \(type)\(message)"
        default:
            // ping, content_block_start/stop, and event types added after this was written.
            break
        }
        return .keep
    }
}

extension RequestLayout {
    /// Anthropic Messages bodies: `max_tokens`, `service_tier`; `mcp_servers` let the provider add retrieved content.
    ///
    /// Images: Anthropic scales an image down until it is at most about 1,600 tokens (width × height / 750, long
    /// edge ≤ 1,568 px), so 1,600 tokens bound one image.
    static let messages = RequestLayout(
        outputLimits: [["max_tokens"]], serviceTier: ["service_tier"], references: [["mcp_servers"]], imageTokens: { _ in 1_600 })
}
