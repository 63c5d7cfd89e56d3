import Hummingbird

/// Builds the simulator's HTTP responses: whole bodies (JSON or replayed bytes) with OpenAI-like gzip.
enum HTTPReply {
    /// A JSON body.
    static func json(_ value: JSON, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], for exchange: Exchange) -> Response {
        bytes(Array(value.encoded.utf8), contentType: "application/json", status: status, headers: headers, for: exchange)
    }

    /// A JSON body as Google's APIs send it: indented, newline-terminated, `application/json; charset=UTF-8`.
    static func googleJSON(
        _ value: JSON, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], for exchange: Exchange
    ) -> Response {
        bytes(Array((value.googleIndented + "\n").utf8), contentType: googleJSONType, status: status, headers: headers, for: exchange)
    }

    /// The content type of Google's JSON bodies (and of its JSON-array streams).
    static let googleJSONType = "application/json; charset=UTF-8"

    /// A complete body, gzip-compressed when the exchange allows it (never used for streams).
    static func bytes(
        _ body: [UInt8], contentType: String, status: HTTPResponse.Status, headers: HTTPFields = [:], for exchange: Exchange
    ) -> Response {
        var headers = headers
        headers[.contentType] = contentType
        var payload = body
        if exchange.compresses, let compressed = Gzip.compress(body) {
            headers[.contentEncoding] = "gzip"
            payload = compressed
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: payload)))
    }

    /// Statuses with their standard reason phrases, so status lines look like OpenAI's.
    private static let knownStatuses: [Int: HTTPResponse.Status] = Dictionary(
        uniqueKeysWithValues: [
            HTTPResponse.Status.ok, .noContent, .badRequest, .unauthorized, .forbidden, .notFound, .conflict,
            .unprocessableContent, .tooManyRequests, .internalServerError, .badGateway, .serviceUnavailable, .gatewayTimeout,
        ].map { ($0.code, $0) }
    )

    /// The HTTP status for `code`, with its reason phrase when it is a common one.
    static func status(_ code: Int) -> HTTPResponse.Status {
        knownStatuses[code] ?? HTTPResponse.Status(code: code)
    }
}
