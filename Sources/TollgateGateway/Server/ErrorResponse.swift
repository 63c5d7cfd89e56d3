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

    /// 404 for a provider Tollgate knows but has not activated (no credentials set, or a local server not listed).
    static func providerInactive(_ name: String, hint: String) -> ErrorResponse {
        ErrorResponse(
            status: .notFound, message: "Provider '\(name)' is not active on this Tollgate: \(hint) (docs/PROVIDERS.md).",
            type: "invalid_request_error", code: "provider_inactive")
    }

    static func methodNotAllowed(_ message: String, allow: String) -> ErrorResponse {
        var error = ErrorResponse(status: .methodNotAllowed, message: message, type: "invalid_request_error", code: "method_not_allowed")
        error.headers[.allow] = allow
        return error
    }

    static func upstream(_ status: HTTPResponse.Status, _ message: String, code: String) -> ErrorResponse {
        ErrorResponse(status: status, message: message, type: "upstream_error", code: code)
    }

    /// The error carrying `x-tollgate-event-id`: Tollgate recorded an event for it, which the client can quote.
    func recorded(as eventID: String) -> ErrorResponse {
        var copy = self
        copy.headers[ProxyResponder.eventIDField] = eventID
        return copy
    }

    /// The error before a family gives it its shape.
    var wireError: WireError { WireError(status: Int(status.code), message: message, type: type, code: code) }

    /// The body in a family's shape (each family's `WireErrorShape`, in its folder of TollgateCore/WireFormats).
    func body(for family: WireFamily) -> ByteBuffer {
        ByteBuffer(bytes: family.errorShape.body(for: wireError))
    }

    /// The response in a family's shape.
    func response(for family: WireFamily) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        for header in family.errorShape.headers(for: wireError) {
            if let name = HTTPField.Name(header.name) { fields[name] = header.value }
        }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: body(for: family)))
    }
}
