/// The API a route speaks: how its requests are read and how usage is read out of its responses.
///
/// A wire format is pure: it turns request bytes into ``PreparedRequest`` facts (and, where metering needs it, a
/// rewritten body) and makes a ``ResponseReader`` that reads usage out of the response as it streams past.
/// Adding a provider that speaks a known format is a data change in providers/, not code.
public protocol WireFormat: Sendable {
    /// The route's API name as written in provider files (`openai.chat`).
    var api: APIName { get }

    /// Reads the request; may rewrite it (usage opt-in, model alias). Throws ``RequestError`` for bodies
    /// that cannot be forwarded.
    func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest

    /// A meter for the response to `request`, chosen by the response's content type.
    func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader

    /// A meter for the response to `request`, which may also use the response's headers (`header(name)`, names in
    /// lowercase): Bedrock's InvokeModel reports token counts there for every model. By default, the meter of
    /// ``makeReader(for:contentType:)``.
    func makeReader(for request: PreparedRequest, contentType: String?, header: (String) -> String?) -> any ResponseReader
}

extension WireFormat {
    /// The meter of ``makeReader(for:contentType:)``: most formats find everything in the body.
    public func makeReader(for request: PreparedRequest, contentType: String?, header: (String) -> String?) -> any ResponseReader {
        makeReader(for: request, contentType: contentType)
    }
}

/// What the proxy may change in a request before it goes upstream.
public struct RequestOptions: Sendable {
    /// Whether the provider accepts `stream_options.include_usage` (Mistral refuses it).
    public var acceptsStreamUsageOption: Bool
    /// The model to send upstream in place of the requested one (a model alias), if any.
    public var upstreamModel: String?
    /// The provider path the request goes to (canonical, without query): formats that name the model or the stream
    /// in the path (Gemini `/v1beta/models/M:streamGenerateContent`, Bedrock `/model/ID/converse-stream`) read it here.
    public var path: String
    /// The query string without `?`, if any (Gemini's `alt=sse`).
    public var query: String?

    /// Creates options.
    public init(acceptsStreamUsageOption: Bool, upstreamModel: String? = nil, path: String = "", query: String? = nil) {
        self.acceptsStreamUsageOption = acceptsStreamUsageOption
        self.upstreamModel = upstreamModel
        self.path = path
        self.query = query
    }
}

/// Facts about one request, read once at the edge.
public struct PreparedRequest: Sendable {
    /// The model the client asked for.
    public var model: String?
    /// Whether the client asked for a stream.
    public var stream: Bool
    /// The body to send upstream when it differs from the client's, else `nil`.
    public var rewrittenBody: [UInt8]?
    /// Whether the proxy added the usage opt-in, so the meter must take the extra usage out of the client's stream.
    public var injectedStreamUsage: Bool
    /// The most output tokens the request allows, when it says.
    public var maxOutputTokens: Int?

    /// Creates request facts.
    public init(
        model: String?, stream: Bool, rewrittenBody: [UInt8]? = nil, injectedStreamUsage: Bool = false,
        maxOutputTokens: Int? = nil
    ) {
        self.model = model
        self.stream = stream
        self.rewrittenBody = rewrittenBody
        self.injectedStreamUsage = injectedStreamUsage
        self.maxOutputTokens = maxOutputTokens
    }
}

/// Why a request body cannot be forwarded; the proxy answers 400 in the route's error shape.
public enum RequestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The body is not a JSON object.
    case invalidJSON(String)
    /// A member has the wrong type.
    case invalidField(String, String)

    /// A message a client developer can act on.
    public var description: String {
        switch self {
        case .invalidJSON(let why): return "The request body is not valid JSON: \(why)."
        case .invalidField(let field, let why): return "Invalid '\(field)': \(why)."
        }
    }
}

/// Reads usage out of a response body as it passes, and may rewrite what the client receives.
///
/// A meter sees the decoded body in pieces of any size. ``observe(_:)`` returns `nil` when the piece goes to the
/// client unchanged (the common case, no copy), or the bytes to send instead when the meter rewrites the stream
/// (removing a usage chunk the proxy asked for).
public protocol ResponseReader: Sendable {
    /// Observes the next piece; returns replacement bytes, or `nil` to forward the piece as it is.
    mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]?
    /// Ends the body; returns the reading and any bytes still held back for the client.
    mutating func finish() -> (reading: UsageReading, tail: [UInt8]?)
    /// Whether the response's terminal event has been seen (the inference is complete).
    var reachedEnd: Bool { get }
    /// Whether this meter rewrites the body (then the proxy cannot forward compressed bytes as they are).
    var rewrites: Bool { get }
}

/// Names of the APIs Tollgate meters, as written in provider files.
public enum APIName: String, Sendable, CaseIterable, Codable {
    /// OpenAI Chat Completions.
    case openAIChat = "openai.chat"
    /// OpenAI legacy Completions.
    case openAICompletions = "openai.completions"
    /// OpenAI Embeddings.
    case openAIEmbeddings = "openai.embeddings"
    /// OpenAI Responses.
    case openAIResponses = "openai.responses"
    /// Anthropic Messages.
    case anthropicMessages = "anthropic.messages"
    /// Gemini `models/M:generateContent`.
    case geminiGenerateContent = "gemini.generateContent"
    /// Gemini `models/M:streamGenerateContent` (SSE with `alt=sse`, else one JSON array).
    case geminiStreamGenerateContent = "gemini.streamGenerateContent"
    /// Gemini `models/M:embedContent`.
    case geminiEmbedContent = "gemini.embedContent"
    /// Gemini `models/M:batchEmbedContents`.
    case geminiBatchEmbedContents = "gemini.batchEmbedContents"
    /// Bedrock Converse (`/model/ID/converse`).
    case bedrockConverse = "bedrock.converse"
    /// Bedrock ConverseStream (`/model/ID/converse-stream`, binary event stream).
    case bedrockConverseStream = "bedrock.converseStream"
    /// Bedrock InvokeModel with an Anthropic Messages body (`/model/ID/invoke`).
    case bedrockInvoke = "bedrock.invoke"
    /// Bedrock InvokeModelWithResponseStream with an Anthropic Messages body (`/model/ID/invoke-with-response-stream`).
    case bedrockInvokeStream = "bedrock.invokeStream"
    /// Cohere v2 chat (`/v2/chat`).
    case cohereChat = "cohere.chat"
    /// Ollama native chat (`/api/chat`, NDJSON stream).
    case ollamaChat = "ollama.chat"
    /// Ollama native generate (`/api/generate`, NDJSON stream).
    case ollamaGenerate = "ollama.generate"

    /// The wire format that implements this API.
    public var wireFormat: any WireFormat {
        switch self {
        case .openAIChat, .openAICompletions, .openAIEmbeddings: return OpenAIChatFormat(api: self)
        case .openAIResponses: return OpenAIResponsesFormat()
        case .anthropicMessages: return AnthropicMessagesFormat()
        case .geminiGenerateContent, .geminiStreamGenerateContent, .geminiEmbedContent, .geminiBatchEmbedContents:
            return GeminiFormat(api: self)
        case .bedrockConverse, .bedrockConverseStream, .bedrockInvoke, .bedrockInvokeStream: return BedrockFormat(api: self)
        case .cohereChat: return CohereChatFormat()
        case .ollamaChat, .ollamaGenerate: return OllamaFormat(api: self)
        }
    }

    /// Whether the model is named in the path (Gemini, Bedrock) rather than the body: a model alias cannot move
    /// such a request, and the format reads the requested model from ``RequestOptions/path``.
    public var modelInPath: Bool { family == .gemini || family == .bedrock }

    /// The family whose error shape and conventions the API follows.
    public var family: WireFamily {
        switch self {
        case .openAIChat, .openAICompletions, .openAIEmbeddings, .openAIResponses: return .openai
        case .anthropicMessages: return .anthropic
        case .geminiGenerateContent, .geminiStreamGenerateContent, .geminiEmbedContent, .geminiBatchEmbedContents: return .gemini
        case .bedrockConverse, .bedrockConverseStream, .bedrockInvoke, .bedrockInvokeStream: return .bedrock
        case .cohereChat: return .cohere
        case .ollamaChat, .ollamaGenerate: return .ollama
        }
    }
}

/// A provider API family: how its errors look and how its clients authenticate. A provider file names its family
/// in `wire_format`; an entry without one speaks OpenAI's.
public enum WireFamily: String, Sendable, CaseIterable {
    /// OpenAI and the OpenAI-compatible servers.
    case openai
    /// Anthropic's native API.
    case anthropic
    /// Google's Gemini API.
    case gemini
    /// AWS Bedrock runtime.
    case bedrock
    /// Cohere v2.
    case cohere
    /// Ollama's native API.
    case ollama
}
