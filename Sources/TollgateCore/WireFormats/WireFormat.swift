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
    /// The request's `Content-Type`: a `multipart/form-data` body (image edits, transcriptions) is read by its boundary.
    public var contentType: String?

    /// Creates options.
    public init(
        acceptsStreamUsageOption: Bool, upstreamModel: String? = nil, path: String = "", query: String? = nil, contentType: String? = nil
    ) {
        self.acceptsStreamUsageOption = acceptsStreamUsageOption
        self.upstreamModel = upstreamModel
        self.path = path
        self.query = query
        self.contentType = contentType
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
    /// The most output tokens the request allows, when it says (the largest of its limit members).
    public var maxOutputTokens: Int?
    /// How many answers the request asks for (`n`, `best_of`, `candidateCount`): each may run to the limit.
    public var choices = 1
    /// The service tier the request asks for (`priority`, `flex`), which changes its rates.
    public var serviceTier: String?
    /// Whether the answer is produced in the background and fetched later.
    public var background = false
    /// Whether the request asks the provider to store what it creates (`store`; `nil`: the body does not say).
    public var store: Bool?
    /// The stored response the request continues from (`previous_response_id`), when it names one.
    public var previousResponseID: String?
    /// The most input tokens the images of the prompt may cost, beyond their bytes.
    public var imageInputTokens = 0
    /// Why the body does not bound the prompt (stored content, a document, a retrieval tool), if so: admission then
    /// reserves the model's whole input limit.
    public var unboundedInput: String?
    /// What a media request (images, speech, transcription, moderation) asks for: the quantities its usage and its
    /// worst case are counted in (``MediaRequest/worstCase(price:promptTokens:defaultMaxOutputTokens:)``); `nil` for
    /// token APIs.
    public var media: MediaRequest? = nil

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
    /// A member that decides routing, price or admission occurs twice: JSON parsers disagree on which one counts.
    case duplicateMember(String)
    /// A `multipart/form-data` body that cannot be read (no boundary, cut short, a required field missing).
    case invalidForm(String)

    /// A message a client developer can act on.
    public var description: String {
        switch self {
        case .invalidJSON(let why): return "The request body is not valid JSON: \(why)."
        case .invalidField(let field, let why): return "Invalid '\(field)': \(why)."
        case .duplicateMember(let field):
            return "The body names '\(field)' more than once; send it once (parsers disagree on which occurrence counts)."
        case .invalidForm(let why): return "The multipart/form-data body cannot be read: \(why)."
        }
    }

    /// Tollgate's machine-readable reason.
    public var code: String {
        switch self {
        case .invalidJSON: return "invalid_json"
        case .invalidField: return "invalid_field"
        case .duplicateMember: return "duplicate_member"
        case .invalidForm: return "invalid_form"
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
    /// Where the terminal event begins in what the client gets of the last observed piece (the piece, or the bytes
    /// that replace it), when that piece held it: the bytes before it do not end the response. `nil` when the piece
    /// did not hold the terminal event, or the reader cannot say where it begins.
    var terminalEventStart: Int? { get }
}

extension ResponseReader {
    /// Readers that cannot say where their terminal event begins.
    public var terminalEventStart: Int? { nil }
}
