/// The names of Tollgate's metrics, as Prometheus scrapes them (docs/OPERATIONS.md says what each measures).
///
/// Every target that records a metric takes its name from here, so the list is the whole set and a test can check
/// that the operations guide documents each.
public enum MetricName {
    // Requests: every request the meter records.
    public static let requests = "tollgate_requests_total"
    public static let requestDuration = "tollgate_request_duration_seconds"
    public static let addedLatency = "tollgate_added_latency_seconds"
    public static let timeToFirstByte = "tollgate_time_to_first_byte_seconds"
    public static let upstreamDuration = "tollgate_upstream_duration_seconds"
    public static let refusals = "tollgate_refusals_total"
    public static let admissions = "tollgate_admissions_total"
    public static let usageEstimated = "tollgate_usage_estimated_total"
    // Tokens and money (float sums for dashboards; the meter keeps the exact values).
    public static let tokens = "tollgate_tokens_total"
    public static let cost = "tollgate_cost_total"
    public static let price = "tollgate_price_total"
    // The meter writer.
    public static let meterQueueDepth = "tollgate_meter_queue_depth"
    public static let meterBatchSize = "tollgate_meter_batch_size"
    public static let meterCommit = "tollgate_meter_commit_seconds"
    public static let meterEventsWritten = "tollgate_meter_events_written_total"
    public static let meterWriteFailures = "tollgate_meter_write_failures_total"
    public static let meterWritable = "tollgate_meter_writable"
    // State read at scrape time.
    public static let reservationsHeld = "tollgate_reservations_held"
    public static let exportLines = "tollgate_export_lines"
    // Export deliveries and alert webhooks.
    public static let exportSent = "tollgate_export_sent_total"
    public static let exportFailures = "tollgate_export_failures_total"
    public static let alerts = "tollgate_alerts_total"
    // Config and process.
    public static let configReloads = "tollgate_config_reloads_total"
    public static let configReloadFailures = "tollgate_config_reload_failures_total"
    public static let providersUsable = "tollgate_providers_usable"
    public static let buildInfo = "tollgate_build_info"
    public static let residentMemory = "process_resident_memory_bytes"
    public static let openFileDescriptors = "process_open_fds"
    public static let startTime = "process_start_time_seconds"
    public static let cpuSeconds = "process_cpu_seconds_total"

    /// Every name above.
    public static let all = [
        requests, requestDuration, addedLatency, timeToFirstByte, upstreamDuration, refusals, admissions, usageEstimated, tokens, cost,
        price, meterQueueDepth, meterBatchSize, meterCommit, meterEventsWritten, meterWriteFailures, meterWritable, reservationsHeld,
        exportLines, exportSent, exportFailures, alerts, configReloads, configReloadFailures, providersUsable, buildInfo, residentMemory,
        openFileDescriptors, startTime, cpuSeconds,
    ]

    /// `2xx` … `5xx`: a status as the `status_class` label.
    public static func statusClass(_ status: Int) -> String {
        switch status {
        case 200..<300: "2xx"
        case 300..<400: "3xx"
        case 400..<500: "4xx"
        case 500..<600: "5xx"
        default: "other"
        }
    }
}
