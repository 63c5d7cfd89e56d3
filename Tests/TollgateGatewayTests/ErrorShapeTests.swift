import Foundation
import NIOCore
import Testing
import TollgateCore

@testable import TollgateGateway

/// Tollgate's own errors take the shape of the route's API family, so each official SDK raises its usual exception.
@Suite("Error shapes")
struct ErrorShapeTests {
    private func json(_ error: ErrorResponse, _ family: WireFamily) throws -> [String: Any] {
        let buffer = error.body(for: family)
        let object = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
        return try #require(object as? [String: Any])
    }

    @Test("OpenAI: error.message, type, param, code")
    func openAI() throws {
        let body = try json(.unauthorized("bad key"), .openai)
        let error = try #require(body["error"] as? [String: Any])
        #expect(error["message"] as? String == "bad key")
        #expect(error["type"] as? String == "invalid_request_error")
        #expect(error["code"] as? String == "invalid_api_key")
        #expect(error["param"] is NSNull)
    }

    @Test(
        "Anthropic: type error, error.type by status",
        arguments: [
            (401, "authentication_error"), (400, "invalid_request_error"), (404, "not_found_error"), (402, "billing_error"),
            (429, "rate_limit_error"), (502, "api_error"), (504, "timeout_error"), (529, "overloaded_error"),
        ])
    func anthropic(status: Int, type: String) throws {
        let error = ErrorResponse(status: .init(code: status), message: "why", type: "x", code: "y")
        let body = try json(error, .anthropic)
        #expect(body["type"] as? String == "error")
        let inner = try #require(body["error"] as? [String: Any])
        #expect(inner["type"] as? String == type)
        #expect(inner["message"] as? String == "why")
    }

    @Test(
        "Gemini: error.code, message, status",
        arguments: [
            (401, "UNAUTHENTICATED"), (400, "INVALID_ARGUMENT"), (404, "NOT_FOUND"), (429, "RESOURCE_EXHAUSTED"), (502, "UNAVAILABLE"),
            (504, "DEADLINE_EXCEEDED"), (500, "INTERNAL"),
        ])
    func gemini(status: Int, name: String) throws {
        let error = ErrorResponse(status: .init(code: status), message: "why", type: "x", code: "y")
        let inner = try #require(try json(error, .gemini)["error"] as? [String: Any])
        #expect(inner["code"] as? Int == status)
        #expect(inner["status"] as? String == name)
        #expect(inner["message"] as? String == "why")
    }

    @Test("Bedrock: message, and the exception name in x-amzn-errortype; Cohere: message; Ollama: error")
    func others() throws {
        let error = ErrorResponse.unauthorized("bad key")
        #expect(try json(error, .bedrock)["message"] as? String == "bad key")
        #expect(error.response(for: .bedrock).headers[.init("x-amzn-errortype")!] == "UnrecognizedClientException")
        #expect(try json(error, .cohere)["message"] as? String == "bad key")
        #expect(try json(error, .ollama)["error"] as? String == "bad key")
    }

    @Test("a path that matched no route gets the shape its provider or prefix suggests")
    func guessedFamily() {
        var config = TollgateConfig()
        config.providers = [
            "openai": Provider(name: "openai", baseURL: "http://127.0.0.1:1"),
            "claude": Provider(name: "claude", baseURL: "http://127.0.0.1:1", family: .anthropic),
        ]
        let routes = RouteResolver(config: config)
        #expect(routes.family(guessedFrom: "/v1beta/models/x:generateContent") == .gemini)
        #expect(routes.family(guessedFrom: "/v1/messages") == .anthropic)
        #expect(routes.family(guessedFrom: "/claude/v1/nope") == .anthropic)
        #expect(routes.family(guessedFrom: "/v1/chat/completions") == .openai)
        #expect(routes.family(guessedFrom: "/nope") == .openai)
    }
}
