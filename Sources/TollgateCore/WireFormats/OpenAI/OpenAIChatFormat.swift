/// OpenAI Chat Completions, legacy Completions and Embeddings: one request shape, one usage object, one stream shape.
///
/// Streams carry usage only when `stream_options.include_usage` is set; the format adds it when the client did not
/// (and the provider accepts it), and its stream reader then takes the usage chunk and the `"usage":null` members
/// back out, so the client receives the bytes it would have received without the option.
public struct OpenAIChatFormat: WireFormat {
    /// Which of the three APIs.
    public let api: APIName

    /// Creates the format for one of chat, completions or embeddings.
    public init(api: APIName) { self.api = api }

    /// Plain bodies: top-level `model`, `usage`, `service_tier`.
    public static let plainLayout = JSONBodyReader.Layout(model: ["model"], usage: ["usage"], serviceTier: ["service_tier"]) {
        model, usage, tier, reading in
        OpenAIUsage.read(usage: usage, model: model, serviceTier: tier, into: &reading)
    }

    /// Reads the request and adds the usage opt-in to streams that lack it.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        let request = try OpenAIRequest(body: body)
        var edits: [JSONEdit.Replacement] = []
        if let model = options.upstreamModel, let edit = request.modelReplacement(model) { edits.append(edit) }
        var injected = false
        if request.stream, api != .openAIEmbeddings, options.acceptsStreamUsageOption, let edit = request.streamUsageOptIn() {
            edits.append(edit)
            injected = true
        }
        return request.prepared(edits: edits, injectedStreamUsage: injected)
    }

    /// An SSE meter for event streams, a JSON meter for everything else (errors included).
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        if isEventStream(contentType) {
            return SSEBodyReader(reader: OpenAIChatStreamReader(), rewrites: request.injectedStreamUsage)
        }
        return JSONBodyReader(layout: Self.plainLayout)
    }
}

/// Whether a Content-Type names a server-sent-event stream.
public func isEventStream(_ contentType: String?) -> Bool {
    contentType?.lowercased().hasPrefix("text/event-stream") ?? false
}

/// Whether a content type is a stream of events a client reads as they come: server-sent events, NDJSON (Ollama)
/// or AWS event-stream frames (Bedrock). Such bodies are relayed piece by piece without holding any byte back
/// until their terminal event.
public func isEventStreamBody(_ contentType: String?) -> Bool {
    guard let type = contentType?.lowercased() else { return false }
    return type.hasPrefix("text/event-stream") || type.hasPrefix("application/x-ndjson")
        || type.hasPrefix("application/vnd.amazon.eventstream")
}

/// Reads a chat or completions stream: the served model from the chunks, usage from the last non-null `usage`.
struct OpenAIChatStreamReader: SSEUsageReader {
    private static let paths = JSONFieldScanner.KeyPaths([
        ["model"], ["usage"], ["service_tier"], ["choices"], OpenAIUsage.groqStreamUsagePath,
    ])
    private static let done = Array("[DONE]".utf8)

    private(set) var reading = UsageReading()
    private(set) var reachedEnd = false

    mutating func read(_ event: SSEEvent, rewriting: Bool) -> SSEAction {
        guard event.hasData else { return .keep }
        if event.data == Self.done {
            reachedEnd = true
            reading.completed = true
            return .keep
        }
        guard let scanner = JSONFieldScanner.scanWhole(event.data, paths: Self.paths) else {
            reading.note = "malformed stream event"
            return .keep
        }
        let usage = scanner.value(at: 1)
        let hasUsage = usage?.first == UInt8(ascii: "{")
        OpenAIUsage.read(
            chunkUsage: hasUsage ? usage : nil, groqUsage: scanner.value(at: 4), model: scanner.value(at: 0),
            serviceTier: scanner.value(at: 2), into: &reading
        )
        // A chunk that carries usage and no choice exists only because usage was asked for: it is not content
        // (whether or not the stream is rewritten), and a client that did not ask for usage must not get it.
        let usageOnly = hasUsage && (scanner.value(at: 3).map { $0.filter { !JSONEdit.isWhitespace($0) } == [0x5B, 0x5D] } ?? true)
        if !usageOnly { reading.contentEvents += 1 }
        guard rewriting, let capture = scanner.capture(at: 1) else { return .keep }
        if usageOnly { return .drop }
        return Self.removing(capture, from: event)
    }

    /// The event with the `usage` member taken out of its data line.
    private static func removing(_ capture: JSONFieldScanner.Capture, from event: SSEEvent) -> SSEAction {
        guard !event.data.contains(0x0A), let range = event.raw.firstRange(of: event.data) else { return .keep }
        var data = event.data
        data.removeSubrange(JSONEdit.memberRemovalRange(capture, in: data))
        var raw = event.raw
        raw.replaceSubrange(range, with: data)
        return .replace(raw)
    }
}
