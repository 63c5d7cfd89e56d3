import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import InMemoryTracing
import MetricsTestKit
import NIOCore
import Testing
import TollgateCore
import Tracing

@testable import TollgateGateway

/// What an operator sees of a request: its metrics (by provider, route, status class and the bounded customer label),
/// the refusals by code, and one span with the GenAI attributes, continuing the client's trace and propagated to the
/// provider.
@Suite("Observability")
struct ObservabilityTests {
    /// A provider that answers every chat completion and keeps the headers it was sent.
    static func withRecordingUpstream<T>(_ seen: Watched<[HTTPFields]>, _ body: (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post(RouterPath(ChatRequest.path)) { request, _ in
            seen.update { $0.append(request.headers) }
            return Stub.json(.ok, Array(OpenAIWire.completion.utf8))
        }
        return try await withLoopbackServer(router.buildResponder(), body)
    }

    @Test("a served request: counted by provider, route, status class and customer; its tokens by class; its times")
    func requestMetrics() async throws {
        let metrics = TestMetrics()
        var settings = MetricsSettings()
        settings.customerLabel = true
        let seen = Watched<[HTTPFields]>([])
        try await Self.withRecordingUpstream(seen) { port in
            try await withGateway(upstreamPort: port, observer: RequestObserver(metrics: settings, factory: metrics)) { gateway in
                let response = try await gateway.start(ChatRequest()).response()
                #expect(response.status == .ok)
                _ = try await gateway.recordedEvents()
            }
        }
        let route = [("provider", Stub.provider), ("route", "openai.chat")]
        #expect(metrics.counterTotal(label: MetricName.requests, dimensions: route + [("status_class", "2xx"), ("customer", Stub.customer)]) == 1)
        let model = [("provider", Stub.provider), ("model", OpenAIWire.servedModel)]
        #expect(
            metrics.counterTotal(label: MetricName.tokens, dimensions: model + [("class", "input"), ("customer", Stub.customer)])
                == Int64(OpenAIWire.promptTokens))
        #expect(
            metrics.counterTotal(label: MetricName.tokens, dimensions: model + [("class", "output"), ("customer", Stub.customer)])
                == Int64(OpenAIWire.completionTokens))
        #expect(metrics.counterTotal(label: MetricName.admissions, dimensions: [("outcome", "admitted")]) == 1)
        for name in [MetricName.requestDuration, MetricName.timeToFirstByte, MetricName.addedLatency] {
            #expect(try metrics.expectTimer(name, route).values.count == 1, "\(name)")
        }
        #expect(try metrics.expectTimer(MetricName.upstreamDuration, [("provider", Stub.provider)]).values.count == 1)
    }

    @Test("a refused request is counted under its error code; an unknown key is not an event but is a refusal")
    func refusals() async throws {
        let metrics = TestMetrics()
        try await Stub.withUpstream(answering: { Stub.json(.ok, Array(OpenAIWire.completion.utf8)) }) { port in
            try await withGateway(upstreamPort: port, observer: RequestObserver(factory: metrics)) { gateway in
                let application = Application(responder: gateway.responder)
                let status = try await application.test(.router) { client in
                    try await client.execute(
                        uri: ChatRequest.path, method: .post, headers: [.authorization: "Bearer tg_unknown", .contentType: "application/json"],
                        body: ChatRequest().buffer
                    ).status
                }
                #expect(status == .unauthorized)
                #expect(try await gateway.recordedEvents().isEmpty)
            }
        }
        #expect(metrics.counterTotal(label: MetricName.refusals, dimensions: [("code", "invalid_api_key")]) == 1)
        #expect(metrics.counters(label: MetricName.requests).isEmpty)
    }

    @Test("customer labels are bounded: past the limit, customers share _other")
    func boundedCustomers() {
        let label = BoundedLabel(limit: 2)
        #expect(["a", "b", "c", "a", "d", "b"].map(label.value) == ["a", "b", "_other", "a", "_other", "b"])
    }

    @Test("one span per request: GenAI attributes, the event's id, the client's trace continued and sent to the provider")
    func span() async throws {
        let tracer = InMemoryTracer()
        let seen = Watched<[HTTPFields]>([])
        let eventID = try await Self.withRecordingUpstream(seen) { port in
            try await withGateway(upstreamPort: port, observer: RequestObserver(tracing: RequestTracing(tracer: tracer))) { gateway in
                var fields = gateway.requestHeaders
                fields[HTTPField.Name(InMemoryTracer.traceIDKey)!] = "trace-from-client"
                fields[HTTPField.Name(InMemoryTracer.spanIDKey)!] = "span-of-client"
                let headers = fields
                let application = Application(responder: gateway.responder)
                let response = try await application.test(.router) { client in
                    try await client.execute(uri: ChatRequest.path, method: .post, headers: headers, body: ChatRequest().buffer)
                }
                #expect(response.status == .ok)
                _ = try await gateway.recordedEvents()
                return response.headers[HTTPField.Name("x-tollgate-event-id")!]
            }
        }
        let spans = tracer.finishedSpans
        try #require(spans.count == 1)
        let span = spans[0]
        #expect(span.operationName == "chat \(Stub.model)")
        #expect(span.kind == .client)
        #expect(span.traceID == "trace-from-client")
        #expect(span.spanContext.parentSpanID == "span-of-client")
        let attributes = span.attributes
        #expect(attributes["gen_ai.operation.name"]?.toSpanAttribute() == "chat")
        #expect(attributes["gen_ai.request.model"]?.toSpanAttribute() == .string(Stub.model))
        #expect(attributes["gen_ai.response.model"]?.toSpanAttribute() == .string(OpenAIWire.servedModel))
        #expect(attributes["gen_ai.usage.input_tokens"]?.toSpanAttribute() == .int64(Int64(OpenAIWire.promptTokens)))
        #expect(attributes["gen_ai.usage.output_tokens"]?.toSpanAttribute() == .int64(Int64(OpenAIWire.completionTokens)))
        #expect(attributes["tollgate.customer"]?.toSpanAttribute() == .string(Stub.customer))
        #expect(eventID != nil && attributes["tollgate.event_id"]?.toSpanAttribute() == .string(eventID!))
        // The provider got the request's span as the parent of whatever it traces.
        let upstream = try #require(seen.value.first)
        #expect(upstream[HTTPField.Name(InMemoryTracer.traceIDKey)!] == "trace-from-client")
        #expect(upstream[HTTPField.Name(InMemoryTracer.spanIDKey)!] == span.spanID)
    }

    @Test("operation names and provider names follow the GenAI conventions")
    func conventions() {
        #expect(RequestTracing.operationName(route: APIName.openAIChat.rawValue) == "chat")
        #expect(RequestTracing.operationName(route: APIName.anthropicMessages.rawValue) == "chat")
        #expect(RequestTracing.operationName(route: APIName.openAIEmbeddings.rawValue) == "embeddings")
        #expect(RequestTracing.operationName(route: APIName.openAICompletions.rawValue) == "text_completion")
        #expect(RequestTracing.operationName(route: APIName.geminiGenerateContent.rawValue) == "generate_content")
        #expect(Provider.host(of: "https://api.openai.com/v1") == "api.openai.com")
        #expect(Provider.host(of: "http://127.0.0.1:9000") == "127.0.0.1")
        #expect(Provider.host(of: "http://[::1]:9000/x") == "[::1]")
    }
}
