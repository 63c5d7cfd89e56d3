import Foundation
import Hummingbird
import TollgateCore

/// An error answered by Tollgate itself, in the error shape of OpenAI's API so that SDKs raise their usual
/// exceptions (`AuthenticationError` for 401 and so on).
struct ErrorResponse: Error {
    let status: HTTPResponse.Status
    let message: String
    let type: String
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

    /// `{"error":{"message":…,"type":…,"param":null,"code":…}}`.
    var body: ByteBuffer {
        let object: [String: Any] = ["error": ["message": message, "type": type, "param": NSNull(), "code": code]]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return ByteBuffer(bytes: data)
    }

    var response: Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: body))
    }
}
