/// AWS Bedrock runtime: Converse and ConverseStream (`/model/{id}/converse`, `/model/{id}/converse-stream`), and
/// InvokeModel / InvokeModelWithResponseStream with an Anthropic Messages body (`/model/{id}/invoke`,
/// `/model/{id}/invoke-with-response-stream`).
///
/// The model is named in the path only (percent-encoded: `us.amazon.nova-pro-v1%3A0`), and whether the answer
/// streams is fixed by the path too. Bodies go upstream unchanged: SigV4 signs the body, and a model alias cannot
/// apply because the model is not in the body (``RequestOptions/upstreamModel`` is ignored; the proxy changes the
/// path instead, if it moves a request). Streams use the binary `application/vnd.amazon.eventstream` framing,
/// decoded by ``EventStreamDecoder`` with both checksums verified.
///
/// Converse answers never name the model that served them (Anthropic bodies on InvokeModel do): when a response
/// reports usage without a model, the model of the path is taken as the served one.
public struct BedrockFormat: WireFormat {
    /// One of ``APIName/bedrockConverse``, ``APIName/bedrockConverseStream``, ``APIName/bedrockInvoke``,
    /// ``APIName/bedrockInvokeStream``.
    public let api: APIName

    /// Creates the format of one Bedrock API.
    public init(api: APIName) { self.api = api }

    /// Plain Converse bodies: `usage` and, when a tier was asked for, `serviceTier.type`; no model member (the
    /// empty path never matches).
    static let converseLayout = JSONBodyReader.Layout(model: [], usage: ["usage"], serviceTier: ["serviceTier", "type"]) {
        _, usage, tier, reading in
        BedrockUsage.read(usage: usage, shape: .converse, into: &reading)
        if let tier { reading.serviceTier = decodeJSONString(tier) }
    }

    /// Whether the API is one of the Invoke pair, whose bodies are Anthropic Messages.
    private var isInvoke: Bool { api == .bedrockInvoke || api == .bedrockInvokeStream }

    /// Checks that the body is one JSON object and reads the model from the path, the stream from the API and the
    /// output limit from the body; the body is forwarded as it is.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        let request = try RequestBody(body, layout: isInvoke ? .messages : .bedrockConverse)
        return request.prepared(
            stream: api == .bedrockConverseStream || api == .bedrockInvokeStream, model: Self.modelID(inPath: options.path))
    }

    /// The meter of ``makeReader(for:contentType:)``; for InvokeModel, Bedrock's token-count headers
    /// (`x-amzn-bedrock-input-token-count`, `-output-token-count`, `-cache-read-input-token-count`,
    /// `-cache-write-input-token-count`, sent for every model) stand in when the body reports no usage: the body of
    /// a Llama, Nova or Mistral model has no Anthropic `usage`.
    public func makeReader(for request: PreparedRequest, contentType: String?, header: (String) -> String?) -> any ResponseReader {
        meter(for: request, contentType: contentType, headerUsage: isInvoke ? BedrockUsage.headerCounts(header) : nil)
    }

    /// An event-stream meter for `application/vnd.amazon.eventstream` (or a streaming API's body without a content
    /// type), a JSON meter for everything else (errors included).
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        meter(for: request, contentType: contentType, headerUsage: nil)
    }

    private func meter(for request: PreparedRequest, contentType: String?, headerUsage: (usage: TokenUsage, raw: String)?) -> any ResponseReader {
        let eventStream =
            contentType.map { $0.lowercased().hasPrefix("application/vnd.amazon.eventstream") } ?? request.stream
        let base: any ResponseReader
        switch (eventStream, isInvoke) {
        case (true, false): base = EventStreamBodyReader(reader: BedrockConverseStreamReader())
        case (true, true): base = EventStreamBodyReader(reader: BedrockInvokeStreamReader())
        case (false, false): base = JSONBodyReader(layout: Self.converseLayout)
        case (false, true): base = JSONBodyReader(layout: AnthropicMessagesFormat.plainLayout)
        }
        return BedrockReadingFallback(base, model: request.model, headerUsage: headerUsage)
    }

    /// The model id of a `/model/{id}/{action}` path, percent-decoded (`us.amazon.nova-pro-v1%3A0` →
    /// `us.amazon.nova-pro-v1:0`); an ARN whose slashes were not encoded spans several segments. `nil` when the path
    /// has no `model` segment followed by an id and an action.
    public static func modelID(inPath path: String) -> String? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        guard let model = segments.firstIndex(of: "model"), segments.count - model >= 3 else { return nil }
        let id = segments[(model + 1)..<(segments.count - 1)].joined(separator: "/")
        return id.isEmpty ? nil : PercentDecoding.decoded(id)
    }
}

/// What Bedrock leaves out of a reading, filled in: the usage from InvokeModel's token-count headers when the body
/// reported none, and the requested model as the served one when the response reported usage but named no model
/// (Bedrock names the model in the request path only). Error bodies report no usage and keep no model.
struct BedrockReadingFallback: ResponseReader {
    private var base: any ResponseReader
    private let model: String?
    private let headerUsage: (usage: TokenUsage, raw: String)?

    /// Wraps `base`; `model` is the model of the request path, `headerUsage` what the response headers reported.
    init(_ base: any ResponseReader, model: String?, headerUsage: (usage: TokenUsage, raw: String)?) {
        self.base = base
        self.model = model
        self.headerUsage = headerUsage
    }

    /// As the wrapped meter.
    var rewrites: Bool { base.rewrites }
    /// As the wrapped meter.
    var reachedEnd: Bool { base.reachedEnd }

    /// Passes the piece to the wrapped meter.
    mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]? { base.observe(piece) }

    /// The wrapped meter's reading, completed.
    mutating func finish() -> (reading: UsageReading, tail: [UInt8]?) {
        var (reading, tail) = base.finish()
        if reading.usage == nil, let headerUsage {
            reading.usage = headerUsage.usage
            reading.rawUsage = headerUsage.raw
        }
        if reading.servedModel == nil, reading.usage != nil { reading.servedModel = model }
        return (reading, tail)
    }
}

extension RequestLayout {
    /// Converse bodies: `inferenceConfig.maxTokens`; content blocks are keyed by kind (`image`, `document`, `video`),
    /// and an image is bounded like Anthropic's (the largest of Bedrock's image models).
    static let bedrockConverse = RequestLayout(
        model: nil, stream: nil, outputLimits: [["inferenceConfig", "maxTokens"]], imageKeys: ["image"],
        unboundedKeys: ["document", "video", "s3Location"], imageTokens: { _ in 1_600 })
}
