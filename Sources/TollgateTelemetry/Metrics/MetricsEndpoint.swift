import CoreMetrics
import Prometheus
import Synchronization
import TollgateCore
import TollgateStore

/// The Prometheus side of Tollgate's metrics: the registry every `swift-metrics` handle of the process records into
/// (``bootstrapOnce()``), and the text a scrape of `GET /metrics` gets (``exposition(of:)``), with the gauges that are
/// read at scrape time rather than kept up to date on the request path.
public final class MetricsEndpoint: Sendable {
    let registry: PrometheusCollectorRegistry
    /// The factory the registry is filled through (a test passes it to the components it checks).
    public let factory: PrometheusMetricsFactory

    /// Histogram buckets of every duration (seconds): from half a millisecond (Tollgate's own share of a request) to
    /// two minutes (a long stream).
    public static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        .seconds(60), .seconds(120),
    ]
    /// Buckets of the meter's batch sizes (events per commit).
    public static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    /// A registry of its own (tests); ``bootstrapOnce()`` makes the process's.
    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        factory.valueHistogramBuckets = [MetricName.meterBatchSize: Self.batchBuckets]
        self.factory = factory
    }

    /// Makes the process's endpoint and binds the metrics API to it: call once, before the server's components are
    /// created (they take their handles at creation).
    public static func bootstrapOnce() -> MetricsEndpoint {
        process.withLock { process in
            if let process { return process }
            let endpoint = MetricsEndpoint()
            MetricsSystem.bootstrap(endpoint.factory)
            process = endpoint
            return endpoint
        }
    }

    private static let process = Mutex<MetricsEndpoint?>(nil)

    /// What only a look at the server's state can tell, taken at scrape time.
    public struct ServerState: Sendable {
        public var meter: MeterStore?
        public var writer: EventWriter?
        public var providersUsable: Int
        public var version: String

        public init(meter: MeterStore?, writer: EventWriter?, providersUsable: Int, version: String) {
            self.meter = meter
            self.writer = writer
            self.providersUsable = providersUsable
            self.version = version
        }
    }

    /// The exposition text of every metric: the registry's, after setting the scrape-time gauges from `state`.
    public func exposition(of state: ServerState) async -> String {
        if let writer = state.writer {
            gauge(MetricName.meterQueueDepth).record(Double(writer.queueDepth))
            gauge(MetricName.meterWritable).record(writer.failure == nil ? 1.0 : 0.0)
        }
        if let meter = state.meter {
            if let held = try? await meter.reservationsHeld() { gauge(MetricName.reservationsHeld).record(Double(held)) }
            if let statuses = try? await meter.exportStatus() {
                for status in statuses {
                    for exportState in ExportState.allCases {
                        gauge(MetricName.exportLines, [("sink", status.sink), ("state", exportState.rawValue)])
                            .record(Double(status.counts[exportState] ?? 0))
                    }
                }
            }
        }
        gauge(MetricName.providersUsable).record(Double(state.providersUsable))
        gauge(MetricName.buildInfo, [("version", state.version)]).record(1.0)
        let process = ProcessStats.read()
        if let value = process.residentBytes { gauge(MetricName.residentMemory).record(value) }
        if let value = process.openDescriptors { gauge(MetricName.openFileDescriptors).record(value) }
        if let value = process.startTimeSeconds { gauge(MetricName.startTime).record(value) }
        if let value = process.cpuSeconds { gauge(MetricName.cpuSeconds).record(value) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// The exposition text of the registry alone.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    private func gauge(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
    }

    /// The content type of ``exposition(of:)``: Prometheus' text format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}
