import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import TollgateCore

@testable import TollgateGateway
@testable import TollgateStore

/// Nothing billable passes unmetered: a path that is neither an inference route nor a read-only path of its family is
/// refused before it reaches the provider, a wrong method on an inference route too; what an operator allows through
/// is recorded.
@Suite("Deny by default")
struct DenyByDefaultTests {
    /// A provider that answers 200 on every path and method, and counts what reached it.
    static func withCountingUpstream<T>(_ body: (Int, Watched<[String]>) async throws -> T) async throws -> T {
        let reached = Watched<[String]>([])
        let responder = CountingResponder(reached: reached)
        return try await withLoopbackServer(responder) { port in try await body(port, reached) }
    }

    struct CountingResponder: HTTPResponder {
        typealias Context = BasicRequestContext
        let reached: Watched<[String]>

        func respond(to request: Request, context: Context) async throws -> Response {
            reached.update { $0.append("\(request.method.rawValue) \(request.uri.path)") }
            return Stub.json(.ok, Array(#"{"object":"list","data":[]}"#.utf8))
        }
    }

    /// Sends `method path` with the gateway's key through its responder.
    static func send(_ gateway: Gateway, _ method: HTTPRequest.Method, _ path: String, body: String = "{}") async throws -> TestResponse {
        let application = Application(responder: gateway.responder)
        let headers = gateway.requestHeaders
        return try await application.test(.router) { client in
            try await client.execute(uri: path, method: method, headers: headers, body: ByteBuffer(string: body))
        }
    }

    @Test("a request for an inactive provider gets 404 in its family's shape, saying how to activate it, and reaches nothing")
    func inactiveProvider() async throws {
        try await Self.withCountingUpstream { port, reached in
            try await withGateway(
                upstreamPort: port,
                configure: { config in
                    let base = "http://127.0.0.1:\(port)"
                    config.inactiveProviders["anthropic"] = Provider(
                        name: "anthropic", baseURL: base, auth: .header("x-api-key"), apiKeyEnv: "ANTHROPIC_API_KEY",
                        routes: WireFamily.anthropic.defaultRoutes, family: .anthropic, nativePaths: [PathPattern("/v1/messages")])
                    config.activation["anthropic"] = .missingCredentials("ANTHROPIC_API_KEY")
                    config.inactiveProviders["ollama"] = Provider(
                        name: "ollama", baseURL: base, auth: .none, routes: WireFamily.ollama.defaultRoutes, family: .ollama)
                    config.activation["ollama"] = .unauthenticated
                    config.modelAliases["local"] = ModelAlias(provider: "ollama", model: "llama3")
                }
            ) { gateway in
                let native = try await Self.send(gateway, .post, "/v1/messages", body: #"{"model":"claude-x","max_tokens":5,"messages":[]}"#)
                #expect(native.status == .notFound)
                let body = String(buffer: native.body)
                #expect(body.contains(#""type":"error""#) && body.contains("not_found_error"), "\(body)")
                #expect(body.contains("Provider 'anthropic' is not active") && body.contains("set ANTHROPIC_API_KEY"), "\(body)")
                let prefixed = try await Self.send(gateway, .post, "/ollama/api/chat", body: #"{"model":"llama3","messages":[]}"#)
                #expect(prefixed.status == .notFound)
                #expect(String(buffer: prefixed.body).contains("lists it under providers: (ollama: {})"))
                let aliased = try await Self.send(
                    gateway, .post, "/v1/chat/completions", body: #"{"model":"local","messages":[{"role":"user","content":"hi"}]}"#)
                #expect(aliased.status == .notFound)
                #expect(String(buffer: aliased.body).contains(#""code":"provider_inactive""#))
                #expect(reached.value.isEmpty, "reached the provider: \(reached.value)")
                #expect(try await gateway.recordedEvents().isEmpty)
            }
        }
    }

    @Test(
        "paths that are not routes are refused with 404 in the family's shape, without reaching the provider",
        arguments: [
            (HTTPRequest.Method.post, "/v1/images/variations"), (.post, "/v1/vector_stores"), (.post, "/v1/fine_tuning/jobs"),
            (.delete, "/v1/models/gpt-4o"), (.post, "/stub/v1/images/variations"),
        ])
    func denied(method: HTTPRequest.Method, path: String) async throws {
        try await Self.withCountingUpstream { port, reached in
            try await withGateway(upstreamPort: port) { gateway in
                let response = try await Self.send(gateway, method, path)
                #expect(response.status == .notFound)
                let body = String(buffer: response.body)
                #expect(body.contains(#""code":"unknown_route""#), "\(body)")
                #expect(reached.value.isEmpty, "reached the provider: \(reached.value)")
                let events = try await gateway.recordedEvents()
                #expect(events.isEmpty)
            }
        }
    }

    @Test(
        "realtime sessions and client secrets are refused with 403 realtime_not_metered, without reaching the provider",
        arguments: [
            (HTTPRequest.Method.get, "/v1/realtime"), (.post, "/v1/realtime/sessions"), (.post, "/v1/realtime/client_secrets"),
            (.post, "/v1/realtime/transcription_sessions"), (.post, "/v1/realtime/calls"), (.get, "/stub/v1/realtime"),
        ])
    func realtime(method: HTTPRequest.Method, path: String) async throws {
        try await Self.withCountingUpstream { port, reached in
            try await withGateway(upstreamPort: port) { gateway in
                let response = try await Self.send(gateway, method, path)
                #expect(response.status == .forbidden)
                let body = String(buffer: response.body)
                #expect(body.contains(#""code":"realtime_not_metered""#), "\(body)")
                #expect(body.contains("client secrets"), "\(body)")
                #expect(reached.value.isEmpty, "reached the provider: \(reached.value)")
            }
        }
    }

    @Test("a method other than POST on an inference route is refused with 405 and Allow: POST", arguments: [HTTPRequest.Method.get, .put, .delete])
    func wrongMethod(method: HTTPRequest.Method) async throws {
        try await Self.withCountingUpstream { port, reached in
            try await withGateway(upstreamPort: port) { gateway in
                // (`GET /v1/chat/completions` is the list of stored chat completions: an object route.)
                let response = try await Self.send(gateway, method, "/v1/embeddings")
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
                #expect(reached.value.isEmpty)
            }
        }
    }

    @Test("the family's read-only paths go through unmetered and unrecorded")
    func freePassThrough() async throws {
        try await Self.withCountingUpstream { port, reached in
            try await withGateway(upstreamPort: port) { gateway in
                let list = try await Self.send(gateway, .get, "/v1/models")
                let one = try await Self.send(gateway, .get, "/v1/models/gpt-4o-mini")
                #expect(list.status == .ok && one.status == .ok)
                #expect(reached.value == ["GET /v1/models", "GET /v1/models/gpt-4o-mini"])
                let events = try await gateway.recordedEvents()
                #expect(events.isEmpty)
            }
        }
    }

    @Test("an object that is not the caller's is refused with the provider's 404, recorded, without reaching the provider")
    func notOwned() async throws {
        try await Self.withCountingUpstream { port, reached in
            try await withGateway(upstreamPort: port) { gateway in
                for (method, path) in [
                    (HTTPRequest.Method.get, "/v1/files/file-x"), (.delete, "/v1/files/file-x"), (.get, "/v1/files/file-x/content"),
                    (.post, "/v1/batches/batch_x/cancel"), (.get, "/v1/responses/resp_x"), (.get, "/v1/chat/completions/chatcmpl-x"),
                ] {
                    let response = try await Self.send(gateway, method, path)
                    #expect(response.status == .notFound, "\(method) \(path)")
                    #expect(String(buffer: response.body).contains(#""code":"not_found""#))
                }
                let batch = try await Self.send(gateway, .post, "/v1/batches", body: #"{"input_file_id":"file-x","endpoint":"/v1/chat/completions"}"#)
                #expect(String(buffer: batch.body).contains("No such File object: file-x"))
                let chained = try await Self.send(
                    gateway, .post, "/v1/responses", body: #"{"model":"gpt-4o-mini","input":"hi","previous_response_id":"resp_x"}"#)
                #expect(chained.status == .notFound)
                #expect(reached.value.isEmpty, "reached the provider: \(reached.value)")
                let events = try await gateway.recordedEvents()
                #expect(events.count == 8)
                #expect(events.allSatisfy { $0.status == 404 && $0.usage == .zero })
                #expect(events.filter { $0.route == ProxyResponder.objectsRoute }.count == 7)
            }
        }
    }

    @Test("the list of stored objects is built from the meter: empty for a customer that created none, no upstream call")
    func emptyList() async throws {
        try await Self.withCountingUpstream { port, reached in
            try await withGateway(upstreamPort: port) { gateway in
                let response = try await Self.send(gateway, .get, "/v1/files")
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"object":"list","data":[],"first_id":null,"last_id":null,"has_more":false}"#)
                #expect(reached.value.isEmpty)
            }
        }
    }

    @Test("a path the operator allows goes through and is recorded with its path, status and no price")
    func allowedPassThrough() async throws {
        try await Self.withCountingUpstream { port, reached in
            try await withGateway(
                upstreamPort: port,
                configure: { config in
                    config.providers[Stub.provider]?.allowedPassThrough = [PassThroughRule(["GET", "POST"], "/v1/vector_stores/**")]
                }
            ) { gateway in
                let response = try await Self.send(gateway, .get, "/v1/vector_stores/vs-abc")
                #expect(response.status == .ok)
                #expect(reached.value == ["GET /v1/vector_stores/vs-abc"])
                let deleted = try await Self.send(gateway, .delete, "/v1/vector_stores/vs-abc")
                #expect(deleted.status == .notFound, "only the methods allowed")
                let event = try onlyEvent(try await gateway.recordedEvents())
                #expect(event.route == ProxyResponder.passThroughRoute)
                #expect(event.path == "/v1/vector_stores/vs-abc")
                #expect(event.status == 200)
                #expect(!event.estimated)
                #expect(event.usage == .zero)
                #expect(response.headers[ProxyResponder.eventIDField] == event.id)
            }
        }
    }
}
