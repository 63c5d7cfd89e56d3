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
struct OpenMeterSink: BillingSink {
    let settings: SinkSettings
    var http: SinkHTTP

    /// The request path.
    static let path = "/api/v1/events"
    /// The CloudEvents batch content type.
    static let contentType = "application/cloudevents-batch+json"
    /// The CloudEvent `source` of every event.
    static let source = "tollgate"

    /// A sink with its settings.
    init(settings: SinkSettings) {
        self.settings = settings
        self.http = SinkHTTP(settings: settings)
    }

    var batchLimit: Int { SinkWire.batchLimit }
    var needsCustomerID: Bool { true }

    func send(_ lines: [OutboundLine]) async -> [SendOutcome] {
        await SinkWire.sendInRounds(lines, system: "OpenMeter") { batch throws(SinkTransportError) in
            try await http.post(path: Self.path, contentType: Self.contentType, body: Self.body(batch, type: settings.eventName))
        } read: { reply, batch in
            SinkWire.readingIndexedRefusal(reply, count: batch.count, system: "OpenMeter")
        }
    }

    /// One line as a CloudEvent.
    static func event(_ outbound: OutboundLine, type: String) -> [String: Any] {
        let line = outbound.line
        return [
            "specversion": "1.0", "id": line.key, "source": source, "type": type, "subject": outbound.externalCustomerID ?? "",
            "time": SinkWire.rfc3339(line.usageMs), "data": SinkWire.properties(line),
        ]
    }

    /// The request body: a JSON array of CloudEvents.
    static func body(_ lines: [OutboundLine], type: String) -> [UInt8] {
        SinkHTTP.json(lines.map { event($0, type: type) })
    }
}
