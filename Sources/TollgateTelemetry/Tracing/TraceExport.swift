import Logging
import OTel
import ServiceLifecycle
import Synchronization
import TollgateCore
import Tracing

/// The OpenTelemetry tracer of `tracing:` (swift-otel): spans batched and sent over OTLP/HTTP to a collector.
public enum TraceExport {
    /// The tracer and the service that exports its spans (run it with the server: its shutdown flushes the last
    /// batch), or `nil` when tracing is off. The standard `OTEL_*` environment variables override the config.
    public static func make(
        _ settings: TracingSettings, environment: [String: String], logger: Logger
    ) throws -> (
        tracer: any Tracer, service: any Service
    )? {
        guard settings.enabled(environment: environment) else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = settings.serviceName
        configuration.diagnosticLogger = .custom(logger)
        configuration.propagators = [.traceContext]
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        configuration.traces.exporter = .otlp
        if let endpoint = settings.endpoint { configuration.traces.otlpExporter.endpoint = tracesURL(endpoint) }
        configuration.traces.otlpExporter.protocol = settings.wireProtocol == .json ? .httpJSON : .httpProtobuf
        configuration.traces.otlpExporter.headers = settings.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let sampler = OTel.Configuration.TracesConfiguration.SamplerConfiguration.parentBasedTraceIDRatio(ratio: settings.sampleRatio) {
            configuration.traces.sampler = sampler
        }
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        // Kept for the life of the process: swift-otel's exporter shuts its HTTP client down synchronously when it is
        // released, which traps on an event loop thread — where `serve` happens to end.
        retained.withLock { $0.append(backend) }
        return (backend.factory, backend.service)
    }

    private static let retained = Mutex<[any Sendable]>([])

    /// The collector's traces URL: `BASE/v1/traces`, or the URL as given when it names that path already.
    static func tracesURL(_ endpoint: String) -> String {
        if endpoint.hasSuffix("/v1/traces") { return endpoint }
        return (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces"
    }
}
