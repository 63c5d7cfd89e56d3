import Foundation
import HTTPTypes
import Hummingbird
import TollgateCore

/// An error answered by Tollgate itself, in the error shape of the API the request was for, so that each official
/// SDK raises its usual exception (`openai.AuthenticationError`, `anthropic.AuthenticationError`,
/// `google.genai.errors.ClientError`, botocore's `ClientError` …).
struct ErrorResponse: Error {
    let status: HTTPResponse.Status
    let message: String
    /// OpenAI's error `type`; the other families derive theirs from the status.
    let type: String
    /// Tollgate's machine-readable reason (OpenAI `code`; elsewhere in the message's family-specific slot).
    let code: String
    var headers: HTTPFields = [:]

    static func unauthorized(_ message: String) -> ErrorResponse {
        ErrorResponse(status: .unauthorized, message: message, type: "invalid_request_error", code: "invalid_api_key")
    }

    static func badRequest(_ message: String, code: String = "invalid_request") -> ErrorResponse {
        ErrorResponse(status: .badRequest, message: message, type: "invalid_request_error", code: code)
    }

    static func notFound(_ message: String) -> ErrorResponse {
        ErrorResponse(status: .notFound, message: message, type: "invalid_request_error", code: "unknown_route")
    }

    static func upstream(_ status: HTTPResponse.Status, _ message: String, code: String) -> ErrorResponse {
        ErrorResponse(status: status, message: message, type: "upstream_error", code: code)
    }

    /// The body in a family's shape:
    /// - OpenAI (and Azure, the OpenAI-compatible servers): `{"error":{"message","type","param","code"}}`;
    /// - Anthropic: `{"type":"error","error":{"type":"authentication_error","message"}}`;
    /// - Gemini: `{"error":{"code":401,"message","status":"UNAUTHENTICATED"}}`;
    /// - Bedrock and Cohere: `{"message"}` (Bedrock names the error in `x-amzn-errortype`);
    /// - Ollama: `{"error":"message"}`.
    func body(for family: WireFamily) -> ByteBuffer {
        let object: [String: Any]
        switch family {
        case .openai:
            object = ["error": ["message": message, "type": type, "param": NSNull(), "code": code]]
        case .anthropic:
            object = ["type": "error", "error": ["type": anthropicType, "message": message]]
        case .gemini:
            object = ["error": ["code": Int(status.code), "message": message, "status": googleStatus]]
        case .bedrock, .cohere:
            object = ["message": message]
        case .ollama:
            object = ["error": message]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return ByteBuffer(bytes: data)
    }

    /// The response in a family's shape.
    func response(for family: WireFamily) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        if family == .bedrock, let name = HTTPField.Name("x-amzn-errortype") { fields[name] = amazonErrorType }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: body(for: family)))
    }

    /// Anthropic's error types (https://docs.anthropic.com/en/api/errors).
    private var anthropicType: String {
        switch status.code {
        case 400: return "invalid_request_error"
        case 401: return "authentication_error"
        case 402: return "billing_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 504: return "timeout_error"
        case 529: return "overloaded_error"
        default: return "api_error"
        }
    }

    /// Google's canonical status names (google.rpc.Code).
    private var googleStatus: String {
        switch status.code {
        case 400, 413: return "INVALID_ARGUMENT"
        case 401: return "UNAUTHENTICATED"
        case 402, 429: return "RESOURCE_EXHAUSTED"
        case 403: return "PERMISSION_DENIED"
        case 404: return "NOT_FOUND"
        case 503, 502: return "UNAVAILABLE"
        case 504: return "DEADLINE_EXCEEDED"
        default: return "INTERNAL"
        }
    }

    /// The exception names Bedrock runtime answers with.
    private var amazonErrorType: String {
        switch status.code {
        case 400, 413: return "ValidationException"
        case 401: return "UnrecognizedClientException"
        case 402, 403: return "AccessDeniedException"
        case 404: return "ResourceNotFoundException"
        case 429: return "ThrottlingException"
        case 502, 503: return "ServiceUnavailableException"
        case 504: return "ModelTimeoutException"
        default: return "InternalServerException"
        }
    }
}
