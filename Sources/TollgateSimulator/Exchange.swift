import Foundation
import Hummingbird

/// An HTTP header name. Spelled through `HTTPFields` because Hummingbird re-exports that type but not `HTTPField`,
/// and the target may only import its declared dependencies.
typealias HeaderName = HTTPFields.Element.Name

/// Request headers that steer the simulator; tests set them through the SDK's `extra_headers`.
enum SimHeader {
    /// Answer with an error of this HTTP status, in the shape of the path's API family.
    static let error = HeaderName("x-sim-error")!
    /// On a stream, drop the connection after this many chunks.
    static let cutAfter = HeaderName("x-sim-cut-after")!
    /// Sleep this long before sending the response head.
    static let stall = HeaderName("x-sim-stall-ms")!
    /// Per-request token delay for streams.
    static let delay = HeaderName("x-sim-delay-ms")!
    /// Prompt tokens to report as read from the cache (OpenAI's cached_tokens, Anthropic's cache reads when the
    /// request marks no cache_control block, Gemini's cachedContentTokenCount).
    static let cachedTokens = HeaderName("x-sim-cached-tokens")!
    /// Serve this recorded case from the replay folder.
    static let replay = HeaderName("x-sim-replay")!
}

/// One received request with its body collected, and the simulator directives its headers carry.
struct Exchange: Sendable {
    let method: HTTPRequest.Method
    /// Path without the query, percent-decoded.
    let path: String
    /// Path with the query, as received (what the inspection log shows).
    let target: String
    /// The query parameters, percent-decoded; the first value of a repeated name wins.
    let query: [String: String]
    /// The API family the path belongs to.
    let family: APIFamily
    /// The Host header (HTTPTypes keeps it out of `headers`, as the `:authority` pseudo-header).
    let authority: String?
    let headers: HTTPFields
    let body: ByteBuffer
    /// Settings in force; a handler may turn compression off for its own reply.
    var settings: SimulatorSettings

    /// Captures `request` whose body has already been collected into `body`.
    init(request: Request, body: ByteBuffer, settings: SimulatorSettings) {
        method = request.method
        path = request.uri.path.removingPercentEncoding ?? request.uri.path
        target = request.uri.string
        query = Dictionary(
            request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { first, _ in first })
        family = APIFamily(path: path)
        authority = request.head.authority
        headers = request.headers
        self.body = body
        self.settings = settings
    }

    /// A header parsed as a non-negative integer.
    func integer(_ name: HeaderName) -> Int? {
        headers[name].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }.map { max(0, $0) }
    }

    /// Whether this response may be gzip-compressed: the client accepts it and compression is on.
    var compresses: Bool {
        settings.compress && headers[values: .acceptEncoding].contains { $0.lowercased().contains("gzip") }
    }

    /// Stream pacing for this request.
    var pacing: Pacing {
        Pacing(firstTokenDelayMs: settings.firstTokenDelayMs, tokenDelayMs: integer(SimHeader.delay) ?? settings.tokenDelayMs)
    }

    /// The body parsed as a JSON object, or the family's 400 for anything else.
    func jsonObject() throws(APIError) -> JSON {
        let parsed = body.withUnsafeReadableBytes { JSONParser.parse($0) }
        guard let parsed, case .object = parsed else { throw APIError.invalidJSON(family) }
        return parsed
    }
}
