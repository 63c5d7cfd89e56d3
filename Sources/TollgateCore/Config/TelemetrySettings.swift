/// How Tollgate writes its log: `log:` in the config.
public struct LogSettings: Sendable, Equatable {
    /// The lines' format on stderr.
    public enum Format: String, Sendable, Equatable {
        /// `2026-12-05T09:00:00+0000 info tollgate : key=value message`, for people.
        case text
        /// One JSON object per line (`ts`, `level`, `msg`, `logger`, then the metadata), for log stores.
        case json
    }

    /// trace, debug, info, notice, warning, error, critical (`log_level:` at the top level sets it too).
    public var level = "info"
    /// `text` (the default) or `json`.
    public var format = Format.text
    /// One `info` line per recorded request (`msg: request`, with its event id, trace id, tokens and money).
    public var requests = false

    public init() {}

    /// The levels `level` takes.
    public static let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}

/// The Prometheus endpoint: `metrics:` in the config.
public struct MetricsSettings: Sendable, Equatable {
    /// Whether metrics are collected and served (`GET /metrics` on the admin listener, and on `listen`).
    public var enabled = true
    /// A listener of its own serving only `GET /metrics`, without authentication.
    public var listen: ListenAddress?
    /// Whether request, token and price series carry a `customer` label.
    public var customerLabel = false
    /// With ``customerLabel``: the most customers given a label of their own; the others share `_other`.
    public var maxCustomers = 100

    public init() {}
}

/// OpenTelemetry traces: `tracing:` in the config. Off unless an endpoint is set here or in
/// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`.
public struct TracingSettings: Sendable, Equatable {
    /// The OTLP/HTTP wire encoding.
    public enum WireProtocol: String, Sendable, Equatable {
        case protobuf = "http/protobuf"
        case json = "http/json"
    }

    /// The collector's base URL (`/v1/traces` is appended), e.g. `http://127.0.0.1:4318`.
    public var endpoint: String?
    /// `http/protobuf` (the default) or `http/json`.
    public var wireProtocol = WireProtocol.protobuf
    /// `service.name` of the spans' resource.
    public var serviceName = "tollgate"
    /// The share of traces started here that are sampled (a client's sampled parent is always followed).
    public var sampleRatio = 1.0
    /// Extra headers sent to the collector (an API key, say; `OTEL_EXPORTER_OTLP_HEADERS` keeps it out of the file).
    public var headers: [String: String] = [:]

    public init() {}

    /// Whether spans are made and exported, given the process environment.
    public func enabled(environment: [String: String]) -> Bool {
        endpoint != nil || environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil
    }
}

extension ConfigLoader {
    static func parseLog(_ value: YAMLValue, into settings: inout LogSettings) throws(ConfigError) {
        for (key, member) in try value.mapping(allowed: ["level", "format", "requests"]) {
            switch key {
            case "level": settings.level = try parseLevel(member)
            case "format":
                let text = try member.string()
                guard let format = LogSettings.Format(rawValue: text) else { throw member.error("expected text or json, not '\(text)'") }
                settings.format = format
            default: settings.requests = try member.bool()
            }
        }
    }

    static func parseLevel(_ value: YAMLValue) throws(ConfigError) -> String {
        let level = try value.string()
        guard LogSettings.levels.contains(level) else { throw value.error("expected one of \(LogSettings.levels.joined(separator: ", "))") }
        return level
    }

    static func parseMetrics(_ value: YAMLValue, into settings: inout MetricsSettings) throws(ConfigError) {
        for (key, member) in try value.mapping(allowed: ["enabled", "listen", "customer_label", "max_customers"]) {
            switch key {
            case "enabled": settings.enabled = try member.bool()
            case "listen":
                let text = try member.string()
                guard let address = ListenAddress(text) else { throw member.error("expected HOST:PORT such as \"127.0.0.1:9464\", not '\(text)'") }
                settings.listen = address
            case "customer_label": settings.customerLabel = try member.bool()
            default: settings.maxCustomers = try member.int(in: 0...100_000)
            }
        }
    }

    static func parseTracing(_ value: YAMLValue, into settings: inout TracingSettings) throws(ConfigError) {
        for (key, member) in try value.mapping(allowed: ["endpoint", "protocol", "service_name", "sample_ratio", "headers"]) {
            switch key {
            case "endpoint":
                let text = try member.string()
                guard text.hasPrefix("http://") || text.hasPrefix("https://") else {
                    throw member.error("expected the collector's http:// or https:// URL (OTLP over HTTP), not '\(text)'")
                }
                settings.endpoint = text
            case "protocol":
                let text = try member.string()
                guard let wire = TracingSettings.WireProtocol(rawValue: text) else {
                    throw member.error("expected http/protobuf or http/json, not '\(text)'")
                }
                settings.wireProtocol = wire
            case "service_name": settings.serviceName = try member.string()
            case "sample_ratio":
                guard let ratio = Double(try member.string()), (0...1).contains(ratio) else { throw member.error("expected a number from 0 to 1") }
                settings.sampleRatio = ratio
            default:
                for (name, header) in try member.mapping() { settings.headers[name] = try header.string() }
            }
        }
    }
}
