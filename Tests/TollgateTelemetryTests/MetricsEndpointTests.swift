import CoreMetrics
import Foundation
import Testing
import TollgateCore
import TollgateStore

@testable import TollgateTelemetry

@Suite("Metrics endpoint")
struct MetricsEndpointTests {
    @Test("the exposition: counters and histograms recorded through the metrics API, buckets in seconds")
    func exposition() {
        let endpoint = MetricsEndpoint()
        Counter(label: MetricName.requests, dimensions: [("provider", "openai"), ("status_class", "2xx")], factory: endpoint.factory)
            .increment(by: 3)
        CoreMetrics.Timer(label: MetricName.requestDuration, dimensions: [("provider", "openai")], factory: endpoint.factory)
            .recordMilliseconds(1.5)
        let text = endpoint.exposition()
        #expect(text.contains(#"tollgate_requests_total{provider="openai",status_class="2xx"} 3"#))
        #expect(text.contains("# TYPE tollgate_request_duration_seconds histogram"))
        #expect(text.contains(#"tollgate_request_duration_seconds_bucket{provider="openai",le="0.0025"} 1"#))
        #expect(text.contains(#"tollgate_request_duration_seconds_bucket{provider="openai",le="0.001"} 0"#))
        #expect(text.contains(#"tollgate_request_duration_seconds_count{provider="openai"} 1"#))
    }

    @Test("scrape-time gauges: the meter's queue and writability, reservations, export lines by state, process figures")
    func scrapeTime() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let meter = try MeterStore(path: directory.appendingPathComponent("meter.db").path)
        let endpoint = MetricsEndpoint()
        let text = await endpoint.exposition(
            of: .init(meter: meter, writer: EventWriter(meter: meter), providersUsable: 2, version: "1.2.3"))
        for line in [
            "tollgate_meter_queue_depth 0.0", "tollgate_meter_writable 1.0", "tollgate_reservations_held 0.0", "tollgate_providers_usable 2.0",
            #"tollgate_build_info{version="1.2.3"} 1.0"#,
        ] {
            #expect(text.contains(line), "\(line)")
        }
        for name in [MetricName.residentMemory, MetricName.openFileDescriptors, MetricName.cpuSeconds, MetricName.startTime] {
            #expect(text.contains("\n\(name) ") || text.hasPrefix("\(name) "), "\(name)")
        }
    }

    @Test("docs/OPERATIONS.md documents every metric")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let guide = try String(contentsOf: root.appendingPathComponent("docs/OPERATIONS.md"), encoding: .utf8)
        for name in MetricName.all { #expect(guide.contains("`\(name)`"), "\(name) is not in docs/OPERATIONS.md") }
    }

    @Test("the collector's traces URL: /v1/traces after a base URL, a full URL kept")
    func tracesURL() {
        #expect(TraceExport.tracesURL("http://collector:4318") == "http://collector:4318/v1/traces")
        #expect(TraceExport.tracesURL("http://collector:4318/") == "http://collector:4318/v1/traces")
        #expect(TraceExport.tracesURL("https://otlp.example/v1/traces") == "https://otlp.example/v1/traces")
    }
}
