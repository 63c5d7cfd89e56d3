import CoreMetrics
import Logging
import Synchronization
import TollgateCore
import Tracing

/// What an operator sees of each recorded request: its metrics, its log line (with `log.requests`) and the end of its
/// span. Called once per event, after the event is handed to the meter writer.
///
/// Labels are bounded by design: provider and route come from the config and the code; the model is the served
/// model only when a rate priced it (a client cannot mint series by inventing names); customers get a label only
/// with `metrics.customer_label`, and at most `metrics.max_customers` of them.
public struct RequestObserver: Sendable {
    let factory: any MetricsFactory
    let customers: BoundedLabel?
    let logRequests: Bool
    let logger: Logger
    /// The tracer of the requests' spans (off unless `tracing:` names a collector).
    public let tracing: RequestTracing

    /// An observer recording into `factory` (the bootstrapped metrics backend unless a test passes its own).
    public init(
        metrics: MetricsSettings = MetricsSettings(), logRequests: Bool = false, tracing: RequestTracing = .off,
        logger: Logger = Logger(label: "tollgate"), factory: (any MetricsFactory)? = nil
    ) {
        self.tracing = tracing
        self.factory = factory ?? MetricsSystem.factory
        self.customers = metrics.customerLabel ? BoundedLabel(limit: metrics.maxCustomers) : nil
        self.logRequests = logRequests
        self.logger = logger
    }

    /// Records the metrics and the log line of `event`, and ends its span.
    func observe(_ event: UsageEvent, span: (any Span)?) {
        let customer = customers.map { [("customer", $0.value(event.customer))] } ?? []
        let route = [("provider", event.provider), ("route", event.route)]
        Counter(label: MetricName.requests, dimensions: route + [("status_class", MetricName.statusClass(event.status))] + customer, factory: factory)
            .increment()
        Timer(label: MetricName.requestDuration, dimensions: route, factory: factory).recordMilliseconds(event.latencyMs)
        if let ttfb = event.ttfbMs { Timer(label: MetricName.timeToFirstByte, dimensions: route, factory: factory).recordMilliseconds(ttfb) }
        if let upstream = event.upstreamMs {
            Timer(label: MetricName.upstreamDuration, dimensions: [("provider", event.provider)], factory: factory).recordMilliseconds(upstream)
            Timer(label: MetricName.addedLatency, dimensions: route, factory: factory).recordMilliseconds(max(0, event.latencyMs - upstream))
        }
        if event.estimated {
            Counter(label: MetricName.usageEstimated, dimensions: [("provider", event.provider)], factory: factory).increment()
        }
        if event.usage != .zero { recordUsage(event, customer: customer) }
        if let span { RequestTracing.finish(span, event: event, currency: event.effectivePriceCurrency) }
        if logRequests { log(event, span: span) }
    }

    private func recordUsage(_ event: UsageEvent, customer: [(String, String)]) {
        let model = [("provider", event.provider), ("model", event.priced ? (event.servedModel ?? event.model ?? "unknown") : "unpriced")]
        let classes: [(String, Int)] = [
            ("input", event.usage.inputTokens), ("output", event.usage.outputTokens), ("cached_input", event.usage.cacheReadTokens),
            ("cache_write", event.usage.cacheWriteTokens), ("reasoning", event.usage.reasoningTokens),
        ]
        for (name, tokens) in classes where tokens > 0 {
            Counter(label: MetricName.tokens, dimensions: model + [("class", name)] + customer, factory: factory).increment(by: tokens)
        }
        if event.cost != .zero {
            FloatingPointCounter(label: MetricName.cost, dimensions: model + [("currency", event.currency)], factory: factory)
                .increment(by: event.cost.approximateValue)
        }
        if event.price != .zero {
            FloatingPointCounter(
                label: MetricName.price, dimensions: model + [("currency", event.effectivePriceCurrency)] + customer, factory: factory
            ).increment(by: event.price.approximateValue)
        }
    }

    /// A request Tollgate answered itself with an error (`code`: the error body's code).
    func refused(code: String) {
        Counter(label: MetricName.refusals, dimensions: [("code", code)], factory: factory).increment()
    }

    /// The outcome of an inference's admission check (credits, caps, limits, the plan's models).
    func admission(admitted: Bool) {
        Counter(label: MetricName.admissions, dimensions: [("outcome", admitted ? "admitted" : "refused")], factory: factory).increment()
    }

    /// The `request` line: what a log store needs to find a request and join it with its event and trace. Never a
    /// key: the key's id only.
    private func log(_ event: UsageEvent, span: (any Span)?) {
        var metadata: Logger.Metadata = [
            "event_id": "\(event.id)", "customer": "\(event.customer)", "key_id": "\(event.keyID)", "provider": "\(event.provider)",
            "route": "\(event.route)", "status": "\(event.status)", "stream": "\(event.stream)",
            "input_tokens": "\(event.usage.promptTokens)", "output_tokens": "\(event.usage.outputTokens)",
            "cached_input_tokens": "\(event.usage.cacheReadTokens)", "reasoning_tokens": "\(event.usage.reasoningTokens)",
            "price": "\(event.price)", "cost": "\(event.cost)", "currency": "\(event.effectivePriceCurrency)",
            "latency_ms": "\(Self.milliseconds(event.latencyMs))", "estimated": "\(event.estimated)",
        ]
        if let model = event.model { metadata["model"] = "\(model)" }
        if let served = event.servedModel { metadata["served_model"] = "\(served)" }
        if let ttfb = event.ttfbMs { metadata["ttfb_ms"] = "\(Self.milliseconds(ttfb))" }
        if let upstream = event.upstreamMs { metadata["upstream_ms"] = "\(Self.milliseconds(upstream))" }
        if let requestID = event.requestID { metadata["request_id"] = "\(requestID)" }
        if let traceID = span.flatMap(tracing.traceID) { metadata["trace_id"] = "\(traceID)" }
        if let note = event.note { metadata["note"] = "\(note)" }
        logger.info("request", metadata: metadata)
    }

    /// Milliseconds to the microsecond, as text.
    static func milliseconds(_ value: Double) -> String {
        let micros = Int64((value * 1000).rounded())
        let fraction = String(micros % 1000)
        return "\(micros / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}

/// A label whose values are bounded: the first `limit` distinct values keep their own, later ones share `_other`.
final class BoundedLabel: Sendable {
    private let limit: Int
    private let seen = Mutex(Set<String>())

    init(limit: Int) { self.limit = limit }

    func value(_ value: String) -> String {
        seen.withLock { seen in
            if seen.contains(value) { return value }
            guard seen.count < limit else { return "_other" }
            seen.insert(value)
            return value
        }
    }
}
