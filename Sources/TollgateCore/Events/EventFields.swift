import Foundation

/// An event as flat named fields, in a fixed order: the one shape behind `tollgate events` in JSON Lines,
/// CSV and tables (docs/ARCHITECTURE.md lists the fields).
public enum EventFields {
    /// A field value.
    public enum Value: Sendable, Equatable {
        case text(String?)
        case integer(Int)
        case number(Double?)
        case flag(Bool)
        /// JSON text kept as JSON (the raw usage object).
        case json(String?)
    }

    /// The field names, in order.
    public static let names = fields(of: placeholder).map(\.name)

    /// The fields of an event.
    public static func fields(of event: UsageEvent) -> [(name: String, value: Value)] {
        let usage = event.usage
        return [
            ("id", .text(event.id)),
            ("timestamp", .text(timestamp(event.timestampMs))),
            ("customer", .text(event.customer)),
            ("key_id", .text(event.keyID)),
            ("feature", .text(event.feature)),
            ("end_user", .text(event.endUser)),
            ("project", .text(event.project)),
            ("provider", .text(event.provider)),
            ("route", .text(event.route)),
            ("path", .text(event.path)),
            ("model", .text(event.model)),
            ("served_model", .text(event.servedModel)),
            ("status", .integer(event.status)),
            ("stream", .flag(event.stream)),
            ("input_tokens", .integer(usage.inputTokens)),
            ("cache_read_tokens", .integer(usage.cacheReadTokens)),
            ("cache_write_tokens", .integer(usage.cacheWriteTokens)),
            ("cache_write_1h_tokens", .integer(usage.cacheWrite1hTokens)),
            ("output_tokens", .integer(usage.outputTokens)),
            ("reasoning_tokens", .integer(usage.reasoningTokens)),
            ("input_audio_tokens", .integer(usage.inputAudioTokens)),
            ("output_audio_tokens", .integer(usage.outputAudioTokens)),
            ("input_image_tokens", .integer(usage.inputImageTokens)),
            ("output_image_tokens", .integer(usage.outputImageTokens)),
            ("web_search_requests", .integer(usage.webSearchRequests)),
            ("web_fetch_requests", .integer(usage.webFetchRequests)),
            ("images", .integer(usage.images)),
            ("image_variant", .text(usage.imageVariant)),
            ("audio_seconds", .integer(usage.audioSeconds)),
            ("input_characters", .integer(usage.inputCharacters)),
            ("latency_ms", .number(event.latencyMs)),
            ("ttfb_ms", .number(event.ttfbMs)),
            ("upstream_ms", .number(event.upstreamMs)),
            ("cost", .text(event.cost.description)),
            ("price", .text(event.price.description)),
            ("currency", .text(event.currency)),
            ("estimated", .flag(event.estimated)),
            ("priced", .flag(event.priced)),
            ("price_book", .text(event.priceBook)),
            ("price_currency", .text(event.effectivePriceCurrency)),
            ("service_tier", .text(event.serviceTier)),
            ("idempotency_key", .text(event.idempotencyKey)),
            ("request_id", .text(event.requestID)),
            ("replay_of", .text(event.replayOf)),
            ("note", .text(event.note)),
            ("raw_usage", .json(event.rawUsage)),
        ]
    }

    /// One JSON object, fields in order, money as decimal strings.
    public static func jsonLine(_ event: UsageEvent) -> String {
        var line = "{"
        for (index, field) in fields(of: event).enumerated() {
            if index > 0 { line += "," }
            line += String(decoding: encodeJSONString(field.name), as: UTF8.self) + ":"
            switch field.value {
            case .text(let text): line += text.map { String(decoding: encodeJSONString($0), as: UTF8.self) } ?? "null"
            case .integer(let number): line += String(number)
            case .number(let number): line += number.map { String($0) } ?? "null"
            case .flag(let flag): line += flag ? "true" : "false"
            case .json(let json): line += json ?? "null"
            }
        }
        return line + "}"
    }

    /// One CSV row (``CSV``: RFC 4180 quoting, formulas neutralised), fields in the order of ``names``.
    public static func csvRow(_ event: UsageEvent) -> String {
        CSV.row(fields(of: event).map { plain($0.value) })
    }

    /// A value as plain text (empty for null).
    public static func plain(_ value: Value) -> String {
        switch value {
        case .text(let text), .json(let text): return text ?? ""
        case .integer(let number): return String(number)
        case .number(let number): return number.map { String($0) } ?? ""
        case .flag(let flag): return flag ? "true" : "false"
        }
    }

    /// An event's time as the event fields write it: ISO 8601 UTC, always with milliseconds.
    public static func timestamp(_ milliseconds: Int64) -> String { Timestamps.iso8601(milliseconds, fraction: .milliseconds) }

    private static let placeholder = UsageEvent(
        id: "", timestampMs: 0, customer: "", keyID: "", provider: "", route: "", path: "", model: nil, servedModel: nil, status: 0,
        stream: false, usage: .zero, latencyMs: 0, ttfbMs: nil, upstreamMs: nil, cost: .zero, price: .zero, currency: "",
        estimated: false, priced: false)
}
