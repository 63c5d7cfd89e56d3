import Hummingbird

/// An error answered in the shape of the API family the request was for: OpenAI's
/// `{"error":{"message","type","param","code"}}`, Anthropic's `{"type":"error","error":{"type","message"},"request_id"}`
/// or Google's `{"error":{"code","message","status"}}`.
struct APIError: Error, Sendable {
    /// The family-specific part of an error.
    enum Shape: Sendable {
        /// OpenAI: `type`, and the optional `param` and `code`.
        case openAI(type: String, param: String?, code: String?)
        /// Anthropic: the error `type` (`authentication_error`, `overloaded_error`…).
        case anthropic(type: String)
        /// Google: the canonical status name (`INVALID_ARGUMENT`…) and the optional `details` list.
        case google(status: String, details: JSON?)
    }

    let status: Int
    let message: String
    let shape: Shape

    /// An OpenAI error.
    init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.init(status: status, message: message, shape: .openAI(type: type, param: param, code: code))
    }

    /// An error of any shape.
    init(status: Int, message: String, shape: Shape) {
        self.status = status
        self.message = message
        self.shape = shape
    }

    /// An Anthropic error.
    static func anthropic(status: Int, type: String, message: String) -> APIError {
        APIError(status: status, message: message, shape: .anthropic(type: type))
    }

    /// A Google error; the status name is the one Google pairs with the HTTP status.
    static func google(status: Int, message: String, details: JSON? = nil) -> APIError {
        APIError(status: status, message: message, shape: .google(status: GoogleStatus.name(for: status), details: details))
    }

    /// The HTTP response; 429 carries `retry-after` like every provider's rate limiter, so SDK retry logic sees it.
    /// Google's bodies are indented, as Google writes them; the others compact.
    func response(for exchange: Exchange) -> Response {
        var headers = HTTPFields()
        if status == 429 { headers[.retryAfter] = "1" }
        switch shape {
        case .openAI(let type, let param, let code):
            let body: JSON = [
                "error": [
                    "message": .string(message), "type": .string(type),
                    "param": param.map(JSON.string) ?? .null, "code": code.map(JSON.string) ?? .null,
                ]
            ]
            return HTTPReply.json(body, status: HTTPReply.status(status), headers: headers, for: exchange)
        case .anthropic(let type):
            let body: JSON = [
                "type": "error", "error": ["type": .string(type), "message": .string(message)],
                "request_id": .string(AnthropicMessages.requestID(for: exchange)),
            ]
            return HTTPReply.json(body, status: HTTPReply.status(status), headers: headers, for: exchange)
        case .google(let statusName, let details):
            var error: [(String, JSON)] = [("code", .int(status)), ("message", .string(message)), ("status", .string(statusName))]
            if let details { error.append(("details", details)) }
            return HTTPReply.googleJSON(["error": .object(error)], status: HTTPReply.status(status), headers: headers, for: exchange)
        }
    }

    /// The body OpenAI sends when the request body is not JSON.
    static let invalidJSON = APIError(
        status: 400,
        message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
            + "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        type: "invalid_request_error"
    )

    /// The error each family answers a body that is not a JSON object with.
    static func invalidJSON(_ family: APIFamily) -> APIError {
        switch family {
        case .openAI: return invalidJSON
        case .anthropic: return anthropic(status: 400, type: "invalid_request_error", message: "The request body is not valid JSON.")
        case .gemini: return google(status: 400, message: "Invalid JSON payload received. Unexpected token.")
        }
    }

    /// A required body parameter is missing.
    static func missing(_ param: String) -> APIError {
        APIError(
            status: 400, message: "Missing required parameter: '\(param)'.", type: "invalid_request_error", param: param,
            code: "missing_required_parameter")
    }

    /// No such endpoint, in the family's words.
    static func invalidURL(_ exchange: Exchange) -> APIError {
        switch exchange.family {
        case .openAI:
            return APIError(
                status: 404, message: "Invalid URL (\(exchange.method.rawValue) \(exchange.target))", type: "invalid_request_error")
        case .anthropic:
            return anthropic(status: 404, type: "not_found_error", message: "Not Found")
        case .gemini:
            return google(status: 404, message: "Method not found.")
        }
    }

    /// A fault requested with `x-sim-error: STATUS`, with the type, code or status name the family uses for it.
    static func simulated(status: Int, family: APIFamily) -> APIError {
        switch family {
        case .openAI: return simulatedOpenAI(status: status)
        case .anthropic:
            return anthropic(status: status, type: AnthropicErrorType.name(for: status), message: AnthropicErrorType.message(for: status))
        case .gemini: return google(status: status, message: GoogleStatus.message(for: status))
        }
    }

    /// OpenAI's error for a simulated status.
    private static func simulatedOpenAI(status: Int) -> APIError {
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

/// Anthropic's error types by HTTP status, as its API reference lists them.
enum AnthropicErrorType {
    /// The `error.type` Anthropic sends with `status`.
    static func name(for status: Int) -> String {
        switch status {
        case 401: return "authentication_error"
        case 402: return "billing_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 504: return "timeout_error"
        case 529: return "overloaded_error"
        case 500...: return "api_error"
        default: return "invalid_request_error"
        }
    }

    /// A message like Anthropic's for a simulated `status`.
    static func message(for status: Int) -> String {
        switch status {
        case 401: return "invalid x-api-key"
        case 429: return "Number of request tokens has exceeded your per-minute rate limit."
        case 529: return "Overloaded"
        case 500: return "Internal server error"
        default: return "Simulated error \(status)."
        }
    }
}

/// Google's canonical status names (google.rpc.Code) for the HTTP statuses they map to.
enum GoogleStatus {
    /// The status name Google pairs with an HTTP status.
    static func name(for status: Int) -> String {
        switch status {
        case 400: return "INVALID_ARGUMENT"
        case 401: return "UNAUTHENTICATED"
        case 403: return "PERMISSION_DENIED"
        case 404: return "NOT_FOUND"
        case 409: return "ABORTED"
        case 429: return "RESOURCE_EXHAUSTED"
        case 499: return "CANCELLED"
        case 501: return "UNIMPLEMENTED"
        case 503: return "UNAVAILABLE"
        case 504: return "DEADLINE_EXCEEDED"
        case 500...: return "INTERNAL"
        default: return "FAILED_PRECONDITION"
        }
    }

    /// A message like Google's for a simulated `status`.
    static func message(for status: Int) -> String {
        switch status {
        case 401:
            return "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid "
                + "authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
        case 429: return "Resource has been exhausted (e.g. check quota)."
        case 500: return "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
        case 503: return "The model is overloaded. Please try again later."
        default: return "Simulated error \(status)."
        }
    }
}
