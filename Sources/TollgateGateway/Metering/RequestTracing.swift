import HTTPTypes
import NIOHTTP1
import ServiceContextModule
import TollgateCore
import Tracing

/// A span per recorded request, continuing the client's W3C `traceparent` and propagated to the provider, with the
/// OpenTelemetry GenAI semantic-convention attributes set once the event is known.
///
/// Off (no tracer) unless `tracing:` names a collector: then nothing on the request path touches the tracing API.
public struct RequestTracing: Sendable {
    let tracer: (any Tracer)?

    /// Tracing through `tracer`, or none with `nil`.
    public init(tracer: (any Tracer)?) { self.tracer = tracer }

    /// No tracing.
    public static let off = RequestTracing(tracer: nil)

    /// Starts the span of a request for `model` (named `chat gpt-4o`), a child of the client's trace if its headers
    /// carry one. Its attributes are set once, when it ends (``finish(_:event:provider:)``).
    func startSpan(route: String, model: String?, headers: HTTPFields) -> (any Span)? {
        guard let tracer else { return nil }
        var parent = ServiceContext.topLevel
        tracer.extract(headers, into: &parent, using: FieldsExtractor())
        let operation = Self.operationName(route: route)
        return tracer.startSpan(model.map { "\(operation) \($0)" } ?? operation, context: parent, ofKind: .client)
    }

    /// Adds the span's `traceparent` (and `tracestate`) to a request going to the provider.
    func inject(_ span: (any Span)?, into headers: inout HTTPHeaders) {
        guard let tracer, let span else { return }
        headers.remove(name: "traceparent")
        headers.remove(name: "tracestate")
        tracer.inject(span.context, into: &headers, using: HeadersInjector())
    }

    /// The trace id of a span, read from the W3C `traceparent` the tracer would send on.
    func traceID(_ span: any Span) -> String? {
        guard let tracer else { return nil }
        var carrier: [String: String] = [:]
        tracer.inject(span.context, into: &carrier, using: DictionaryInjector())
        guard let parent = carrier["traceparent"] else { return nil }
        let parts = parent.split(separator: "-")
        return parts.count == 4 ? String(parts[1]) : nil
    }

    /// Sets the event's attributes on its span and ends it.
    func finish(_ span: any Span, event: UsageEvent, provider: Provider) {
        // A span the sampler dropped keeps nothing: its attributes are not built at all.
        guard span.isRecording else { return span.end() }
        span.updateAttributes { attributes in
            attributes["gen_ai.operation.name"] = Self.operationName(route: event.route)
            attributes["gen_ai.system"] = provider.genAIProvider
            attributes["gen_ai.provider.name"] = provider.genAIProvider
            if let model = event.model { attributes["gen_ai.request.model"] = model }
            if let served = event.servedModel { attributes["gen_ai.response.model"] = served }
            attributes["gen_ai.usage.input_tokens"] = event.usage.promptTokens
            attributes["gen_ai.usage.output_tokens"] = event.usage.outputTokens
            if let host = provider.host { attributes["server.address"] = host }
            attributes["http.response.status_code"] = event.status
            attributes["tollgate.provider"] = event.provider
            attributes["tollgate.route"] = event.route
            attributes["tollgate.event_id"] = event.id
            attributes["tollgate.customer"] = event.customer
            attributes["tollgate.key_id"] = event.keyID
            attributes["tollgate.price"] = event.price.description
            attributes["tollgate.cost"] = event.cost.description
            attributes["tollgate.currency"] = event.effectivePriceCurrency
            attributes["tollgate.usage.cached_input_tokens"] = event.usage.cacheReadTokens
            attributes["tollgate.usage.reasoning_tokens"] = event.usage.reasoningTokens
            attributes["tollgate.estimated"] = event.estimated
            if let requestID = event.requestID { attributes["tollgate.provider_request_id"] = requestID }
            if let replayOf = event.replayOf { attributes["tollgate.replay_of"] = replayOf }
        }
        if event.status >= 500 || event.status == 499 {
            span.setStatus(SpanStatus(code: .error, message: event.note))
        }
        span.end()
    }

    /// The GenAI `gen_ai.operation.name` of a route: `chat`, `text_completion`, `embeddings`, `generate_content` …
    static func operationName(route: String) -> String {
        let api = route.split(separator: ".").last.map(String.init) ?? route
        switch api {
        case "chat", "messages", "responses", "converse", "converseStream", "invoke", "invokeStream": return "chat"
        case "completions", "generate": return "text_completion"
        case "embeddings", "embedContent", "batchEmbedContents": return "embeddings"
        case "generateContent", "streamGenerateContent": return "generate_content"
        default: return api
        }
    }

}

private struct FieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}

private struct HeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}

private struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
