import Foundation
import TollgateCore
import TollgateStore

/// Metronome: `POST /v1/ingest`, a JSON array of 1 to 100 events (`base_url: https://api.metronome.com`).
///
/// Each line is one event: `transaction_id` (the line's key: Metronome dedupes on it for 34 days), `customer_id` (the
/// customer's id or ingest alias in Metronome), `event_type` (the sink's `event_name`), `timestamp` (the usage time,
/// RFC 3339 UTC) and `properties` (``SinkWire/properties(_:)``: numbers as strings, as Metronome recommends for
/// arbitrary-precision decimals).
///
/// Answers: 2xx all sent (a repeated transaction_id is accepted and ignored, so it counts as sent). A 400 that names
/// an event (`event 3: ...`) refuses that one and sends the others again in a follow-up request; one that names none
/// refuses them all. 429 and 5xx: retry.
enum MetronomeWire: EventWire {
    static let system = "Metronome"
    static let path = "/v1/ingest"
    static let batchShape = BatchShape.array

    /// One line as a Metronome event, `event_type` the sink's `event_name`.
    static func event(_ outbound: OutboundLine, eventName: String) -> [String: Any] {
        let line = outbound.line
        return [
            "transaction_id": line.key, "customer_id": outbound.externalCustomerID ?? "", "event_type": eventName,
            "timestamp": Timestamps.iso8601(line.usageMs), "properties": SinkWire.properties(line),
        ]
    }
}
