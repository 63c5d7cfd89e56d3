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
struct MetronomeSink: BillingSink {
    let settings: SinkSettings
    var http: SinkHTTP

    /// The request path.
    static let path = "/v1/ingest"

    /// A sink with its settings.
    init(settings: SinkSettings) {
        self.settings = settings
        self.http = SinkHTTP(settings: settings)
    }

    var batchLimit: Int { SinkWire.batchLimit }
    var needsCustomerID: Bool { true }

    func send(_ lines: [OutboundLine]) async -> [SendOutcome] {
        await SinkWire.sendInRounds(lines, system: "Metronome") { batch throws(SinkTransportError) in
            try await http.post(path: Self.path, contentType: "application/json", body: Self.body(batch, eventType: settings.eventName))
        } read: { reply, batch in
            SinkWire.readingIndexedRefusal(reply, count: batch.count, system: "Metronome")
        }
    }

    /// One line as a Metronome event.
    static func event(_ outbound: OutboundLine, eventType: String) -> [String: Any] {
        let line = outbound.line
        return [
            "transaction_id": line.key, "customer_id": outbound.externalCustomerID ?? "", "event_type": eventType,
            "timestamp": SinkWire.rfc3339(line.usageMs), "properties": SinkWire.properties(line),
        ]
    }

    /// The request body: a JSON array of events.
    static func body(_ lines: [OutboundLine], eventType: String) -> [UInt8] {
        SinkHTTP.json(lines.map { event($0, eventType: eventType) })
    }
}
