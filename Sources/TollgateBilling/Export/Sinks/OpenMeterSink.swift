import Foundation
import TollgateCore
import TollgateStore

/// OpenMeter: `POST /api/v1/events` as `application/cloudevents-batch+json` (an array of CloudEvents), at most 100 a
/// request (`base_url: https://openmeter.cloud`, or a self-hosted origin).
///
/// Each line is one CloudEvent: `specversion: "1.0"`, `id` (the line's key) with `source: "tollgate"` (OpenMeter
/// dedupes on source + id), `type` (the sink's `event_name`: the meters' event type), `subject` (the customer's id in
/// OpenMeter), `time` (the usage time, RFC 3339 UTC) and `data` (``SinkWire/properties(_:)``: decimal strings, which
/// OpenMeter's value properties parse).
///
/// Answers: 2xx (204) all sent (a duplicate id is dropped silently, so it counts as sent). A 400 that names an event
/// (`event 3: ...`) refuses that one and sends the others again in a follow-up request; one that names none refuses
/// them all. 429 and 5xx: retry.
enum OpenMeterWire: EventWire {
    static let system = "OpenMeter"
    static let path = "/api/v1/events"
    /// The CloudEvents batch content type.
    static let contentType = "application/cloudevents-batch+json"
    static let batchShape = BatchShape.array
    /// The CloudEvent `source` of every event.
    static let source = "tollgate"

    /// One line as a CloudEvent, `type` the sink's `event_name`.
    static func event(_ outbound: OutboundLine, eventName type: String) -> [String: Any] {
        let line = outbound.line
        return [
            "specversion": "1.0", "id": line.key, "source": source, "type": type, "subject": outbound.externalCustomerID ?? "",
            "time": Timestamps.iso8601(line.usageMs), "data": SinkWire.properties(line),
        ]
    }
}
