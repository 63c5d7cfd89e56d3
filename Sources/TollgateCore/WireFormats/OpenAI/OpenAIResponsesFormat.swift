/// OpenAI Responses: usage in the response object, and in streams on the terminal `response.completed`,
/// `response.incomplete` or `response.failed` event. Nothing has to be requested, so nothing is rewritten.
public struct OpenAIResponsesFormat: WireFormat {
    /// Always ``APIName/openAIResponses``.
    public var api: APIName { .openAIResponses }

    /// Creates the format.
    public init() {}

    /// Reads the request; the body goes upstream unchanged unless a model alias applies.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        try OpenAIRequest.prepareAsIs(body: body, options: options, layout: .openAI)
    }

    /// An SSE meter for event streams, a JSON meter for everything else.
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        if isEventStream(contentType) { return SSEBodyReader(reader: OpenAIResponsesStreamReader(), rewrites: false) }
        return JSONBodyReader(layout: OpenAIChatFormat.plainLayout)
    }
}

/// Reads a Responses stream: the model from the first event that carries the response, usage from the terminal one.
struct OpenAIResponsesStreamReader: SSEUsageReader {
    private static let paths = JSONFieldScanner.KeyPaths([
        ["type"], ["response", "model"], ["response", "usage"], ["response", "service_tier"],
    ])
    private static let terminal: Set<String> = ["response.completed", "response.incomplete", "response.failed"]

    private(set) var reading = UsageReading()
    private(set) var reachedEnd = false

    mutating func read(_ event: SSEEvent, rewriting: Bool) -> SSEAction {
        guard event.hasData else { return .keep }
        guard let (scanner, type) = event.scanned(for: Self.paths, noting: &reading) else { return .keep }
        OpenAIUsage.read(usage: scanner.value(at: 2), model: scanner.value(at: 1), serviceTier: scanner.value(at: 3), into: &reading)
        if type == "response.output_text.delta" { reading.contentEvents += 1 }
        if let type, Self.terminal.contains(type) {
            reachedEnd = true
            reading.completed = type != "response.failed"
            if type != "response.completed" { reading.note = type }
        }
        return .keep
    }
}
