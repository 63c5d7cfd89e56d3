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
/// with `metrics.customer_label`, and at most `metrics.max_customers` of them. The handles of a label set are made
/// once and kept (``MetricSeries``): a request costs a lookup, not a registration per metric.
public struct RequestObserver: Sendable {
    let series: MetricSeries
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
        self.series = MetricSeries(factory: factory ?? MetricsSystem.factory)
        self.customers = metrics.customerLabel ? BoundedLabel(limit: metrics.maxCustomers) : nil
        self.logRequests = logRequests
        self.logger = logger
    }

    /// Records the metrics and the log line of `event`, and ends its span with the attributes of `provider`'s answer.
    func observe(_ event: UsageEvent, span: (any Span)?, provider: Provider) {
        let customer = customers?.value(event.customer)
        let route = series.route(
            MetricSeries.RouteKey(
                provider: event.provider, route: event.route, statusClass: MetricName.statusClass(event.status), customer: customer))
        route.requests.increment()
        route.duration.recordMilliseconds(event.latencyMs)
        if let ttfb = event.ttfbMs { route.timeToFirstByte.recordMilliseconds(ttfb) }
        if let upstream = event.upstreamMs {
            route.upstream.recordMilliseconds(upstream)
            route.added.recordMilliseconds(max(0, event.latencyMs - upstream))
        }
        if event.estimated { route.estimated.increment() }
        if event.usage != .zero || event.cost != .zero || event.price != .zero {
            let usage = series.usage(
                MetricSeries.UsageKey(
                    provider: event.provider, model: event.priced ? (event.servedModel ?? event.model ?? "unknown") : "unpriced",
                    customer: customer, currency: event.currency, priceCurrency: event.effectivePriceCurrency))
            let tokens = [
                event.usage.inputTokens, event.usage.outputTokens, event.usage.cacheReadTokens, event.usage.cacheWriteTokens,
                event.usage.reasoningTokens,
            ]
            for (counter, count) in zip(usage.tokens, tokens) where count > 0 { counter.increment(by: count) }
            if event.cost != .zero { usage.cost.increment(by: event.cost.approximateValue) }
            if event.price != .zero { usage.price.increment(by: event.price.approximateValue) }
        }
        if let span { tracing.finish(span, event: event, provider: provider) }
        if logRequests { log(event, span: span) }
    }

    /// A request Tollgate answered itself with an error (`code`: the error body's code).
    func refused(code: String) {
        series.refusals(code).increment()
    }

    /// The outcome of an inference's admission check (credits, caps, limits, the plan's models).
    func admission(admitted: Bool) {
        (admitted ? series.admitted : series.refused).increment()
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

/// The metric handles of each label set seen, made on first use and kept: every later request with the same labels
/// records into them directly. The label sets are bounded (see ``RequestObserver``), so is this.
final class MetricSeries: Sendable {
    struct RouteKey: Hashable {
        let provider: String
        let route: String
        let statusClass: String
        let customer: String?
    }

    struct Route: Sendable {
        let requests: Counter
        let duration: Timer
        let timeToFirstByte: Timer
        let upstream: Timer
        let added: Timer
        let estimated: Counter
    }

    struct UsageKey: Hashable {
        let provider: String
        let model: String
        let customer: String?
        let currency: String
        let priceCurrency: String
    }

    struct Usage: Sendable {
        /// input, output, cached_input, cache_write, reasoning: ``tokenClasses``' order.
        let tokens: [Counter]
        let cost: FloatingPointCounter
        let price: FloatingPointCounter
    }

    /// The `class` label's values, in the order of ``Usage/tokens``.
    static let tokenClasses = ["input", "output", "cached_input", "cache_write", "reasoning"]

    let factory: any MetricsFactory
    let admitted: Counter
    let refused: Counter
    private let routes = Mutex<[RouteKey: Route]>([:])
    private let usages = Mutex<[UsageKey: Usage]>([:])
    private let refusalCounters = Mutex<[String: Counter]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
        admitted = Counter(label: MetricName.admissions, dimensions: [("outcome", "admitted")], factory: factory)
        refused = Counter(label: MetricName.admissions, dimensions: [("outcome", "refused")], factory: factory)
    }

    func route(_ key: RouteKey) -> Route {
        if let known = routes.withLock({ $0[key] }) { return known }
        let labels = [("provider", key.provider), ("route", key.route)]
        let customer = key.customer.map { [("customer", $0)] } ?? []
        let made = Route(
            requests: Counter(label: MetricName.requests, dimensions: labels + [("status_class", key.statusClass)] + customer, factory: factory),
            duration: Timer(label: MetricName.requestDuration, dimensions: labels, factory: factory),
            timeToFirstByte: Timer(label: MetricName.timeToFirstByte, dimensions: labels, factory: factory),
            upstream: Timer(label: MetricName.upstreamDuration, dimensions: [("provider", key.provider)], factory: factory),
            added: Timer(label: MetricName.addedLatency, dimensions: labels, factory: factory),
            estimated: Counter(label: MetricName.usageEstimated, dimensions: [("provider", key.provider)], factory: factory))
        return routes.withLock { Self.keep(made, under: key, in: &$0) }
    }

    func usage(_ key: UsageKey) -> Usage {
        if let known = usages.withLock({ $0[key] }) { return known }
        let labels = [("provider", key.provider), ("model", key.model)]
        let customer = key.customer.map { [("customer", $0)] } ?? []
        let made = Usage(
            tokens: Self.tokenClasses.map { Counter(label: MetricName.tokens, dimensions: labels + [("class", $0)] + customer, factory: factory) },
            cost: FloatingPointCounter(label: MetricName.cost, dimensions: labels + [("currency", key.currency)], factory: factory),
            price: FloatingPointCounter(label: MetricName.price, dimensions: labels + [("currency", key.priceCurrency)] + customer, factory: factory))
        return usages.withLock { Self.keep(made, under: key, in: &$0) }
    }

    /// The handles kept under `key`: those another request made meanwhile, else `made`, kept from now on.
    private static func keep<Key, Value>(_ made: Value, under key: Key, in kept: inout [Key: Value]) -> Value {
        if let existing = kept[key] { return existing }
        kept[key] = made
        return made
    }

    func refusals(_ code: String) -> Counter {
        if let known = refusalCounters.withLock({ $0[code] }) { return known }
        let made = Counter(label: MetricName.refusals, dimensions: [("code", code)], factory: factory)
        return refusalCounters.withLock { Self.keep(made, under: code, in: &$0) }
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
