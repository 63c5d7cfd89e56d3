import Foundation
import TollgateCore
import TollgateStore

/// Orb: `POST /ingest?debug=true` with `{"events": [...]}`, at most 100 a request (`base_url:
/// https://api.withorb.com/v1`).
///
/// Each line is one event: `idempotency_key` (the line's key: Orb ingests a key at most once),
/// `external_customer_id` (the customer's id in Orb), `event_name` (the sink's `event_name`), `timestamp` (the usage
/// time, ISO 8601 UTC) and `properties` (``SinkWire/properties(_:)``: a flat object of strings).
///
/// Answers: a 2xx lists the events that failed validation (`validation_failed: [{idempotency_key,
/// validation_errors}]`): those are refused with their errors, and Orb did not mark their keys (a fixed event can go
/// with the same key); the others are sent, ingested now or duplicates of an earlier attempt (`debug` lists both; an
/// event `debug` lists in neither is retried). A 4xx about the whole request refuses them all; 429 and 5xx: retry.
enum OrbWire: EventWire {
    static let system = "Orb"
    /// The request path (with `debug=true`, the answer lists ingested and duplicate keys).
    static let path = "/ingest?debug=true"
    static let batchShape = BatchShape.eventsMember

    /// One line as an Orb event, `event_name` the sink's.
    static func event(_ outbound: OutboundLine, eventName: String) -> [String: Any] {
        let line = outbound.line
        return [
            "idempotency_key": line.key, "external_customer_id": outbound.externalCustomerID ?? "", "event_name": eventName,
            "timestamp": Timestamps.iso8601(line.usageMs), "properties": SinkWire.properties(line),
        ]
    }

    static func reading(_ reply: HTTPReply, of batch: [OutboundLine]) -> [SendOutcome?] { reading(reply, keys: batch.map(\.line.key)) }

    /// What an answer says about each event of the request, by key.
    static func reading(_ reply: HTTPReply, keys: [String]) -> [SendOutcome?] {
        guard (200..<300).contains(reply.status) else {
            if case .rejected = reply.outcome {
                return Array(
                    repeating: .rejected("Orb refused the request (HTTP \(reply.status)): \(SinkWire.errorMessage(reply))"), count: keys.count)
            }
            return Array(repeating: reply.outcome, count: keys.count)
        }
        let object = SinkWire.jsonObject(reply.body) as? [String: Any]
        var failures: [String: [String]] = [:]
        for case let failure as [String: Any] in object?["validation_failed"] as? [Any] ?? [] {
            guard let key = failure["idempotency_key"] as? String else { continue }
            failures[key, default: []] += (failure["validation_errors"] as? [Any] ?? []).map { "\($0)" }
        }
        let debug = object?["debug"] as? [String: Any]
        let accepted = debug.map { Set(($0["ingested"] as? [String] ?? []) + ($0["duplicate"] as? [String] ?? [])) }
        return keys.map { key -> SendOutcome? in
            if let errors = failures[key] {
                return .rejected("Orb refused the event: \(errors.isEmpty ? "validation failed" : errors.joined(separator: "; "))")
            }
            if let accepted, !accepted.contains(key) {
                return .retry("Orb's answer lists the event neither as ingested nor as a duplicate", retryAfterSeconds: nil)
            }
            return .sent
        }
    }
}
