import Hummingbird

/// An error answered in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
struct APIError: Error, Sendable {
    let status: Int
    let message: String
    let type: String
    var param: String? = nil
    var code: String? = nil

    /// The error body.
    var body: JSON {
        [
            "error": [
                "message": .string(message), "type": .string(type),
                "param": param.map(JSON.string) ?? .null, "code": code.map(JSON.string) ?? .null,
            ]
        ]
    }

    /// The HTTP response; 429 carries `retry-after` like OpenAI's rate limiter, so SDK retry logic sees it.
    func response(for exchange: Exchange) -> Response {
        var headers = HTTPFields()
        if status == 429 { headers[.retryAfter] = "1" }
        return HTTPReply.json(body, status: HTTPReply.status(status), headers: headers, for: exchange)
    }

    /// The body OpenAI sends when the request body is not JSON.
    static let invalidJSON = APIError(
        status: 400,
        message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
            + "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        type: "invalid_request_error"
    )

    /// A required body parameter is missing.
    static func missing(_ param: String) -> APIError {
        APIError(
            status: 400, message: "Missing required parameter: '\(param)'.", type: "invalid_request_error", param: param,
            code: "missing_required_parameter")
    }

    /// No such endpoint.
    static func invalidURL(_ exchange: Exchange) -> APIError {
        APIError(status: 404, message: "Invalid URL (\(exchange.method.rawValue) \(exchange.target))", type: "invalid_request_error")
    }

    /// A fault requested with `x-sim-error: STATUS`, with the type and code OpenAI uses for that status.
    static func simulated(status: Int) -> APIError {
        let message = "Simulated error \(status)."
        switch status {
        case 401:
            return APIError(status: status, message: "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key")
        case 403:
            return APIError(status: status, message: message, type: "invalid_request_error", code: "unsupported_country_region_territory")
        case 404:
            return APIError(
                status: status, message: "The model does not exist or you do not have access to it.",
                type: "invalid_request_error", code: "model_not_found")
        case 429:
            return APIError(
                status: status, message: "Rate limit reached. Please try again in 1s.", type: "tokens",
                code: "rate_limit_exceeded")
        case 500:
            return APIError(
                status: status, message: "The server had an error while processing your request. Sorry about that!",
                type: "server_error")
        case 503:
            return APIError(
                status: status, message: "The engine is currently overloaded, please try again later.",
                type: "server_error", code: "service_unavailable")
        case 500...:
            return APIError(status: status, message: message, type: "server_error")
        default:
            return APIError(status: status, message: message, type: "invalid_request_error")
        }
    }
}
