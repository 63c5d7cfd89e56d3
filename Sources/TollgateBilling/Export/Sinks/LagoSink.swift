import Foundation
import TollgateCore
import TollgateStore

/// Lago: `POST /api/v1/events/batch` with `{"events": [...]}`, at most 100 events a request
/// (`base_url: https://api.getlago.com`).
///
/// Each line is one event:
/// - `transaction_id`: the line's key (Lago ignores a repeated one);
/// - `external_subscription_id`: the customer's id in Lago (`tollgate customers set --external lago=ID`);
/// - `code`: the sink's `event_name` (the billable metric's code, default `tollgate_usage`);
/// - `timestamp`: the line's usage time in whole Unix seconds (the same on every retry: Lago's ClickHouse pipeline
///   keys on transaction_id + timestamp);
/// - `properties`: ``SinkWire/properties(_:)`` (decimal strings);
/// - `precise_total_amount_cents`: the exact amount in the currency's minor unit as a decimal string (× 100 for USD,
///   × 1 for JPY, × 1000 for KWD: Lago's "cents" are the currency's subunits), what a dynamic charge bills as is.
///
/// Answers: 2xx: all sent. A 422 lists problems per event index (`error_details: {"3": [...]}`) and ingests none of
/// the batch: an event whose only problem is `transaction_id: value_already_exist` is already in Lago (sent); one with
/// another problem is refused with it; the others are sent again in a follow-up request within the same
/// ``EventBatchSink/send(_:)``. A 422 that names no event refuses them all. 429 and 5xx: retry (with `Retry-After`).
enum LagoWire: EventWire {
    static let system = "Lago"
    static let path = "/api/v1/events/batch"
    static let batchShape = BatchShape.eventsMember
    /// The problem Lago reports for a transaction_id it already has.
    static let duplicateProblem = "transaction_id: value_already_exist"

    /// One line as a Lago event, `code` the sink's `event_name`.
    static func event(_ outbound: OutboundLine, eventName code: String) -> [String: Any] {
        let line = outbound.line
        return [
            "transaction_id": line.key,
            "external_subscription_id": outbound.externalCustomerID ?? "",
            "code": code,
            "timestamp": SinkWire.unixSeconds(line.usageMs),
            "properties": SinkWire.properties(line),
            "precise_total_amount_cents": SinkWire.minorUnits(line.amount, currency: line.currency).description,
        ]
    }

    static func reading(_ reply: HTTPReply, of batch: [OutboundLine]) -> [SendOutcome?] { reading(reply, count: batch.count) }

    /// What an answer says about each event of the request (`nil`: not ingested, send it again).
    static func reading(_ reply: HTTPReply, count: Int) -> [SendOutcome?] {
        guard reply.status == 422 else { return Array(repeating: reply.outcome, count: count) }
        let object = SinkWire.jsonObject(reply.body) as? [String: Any]
        let details = object?["error_details"] as? [String: Any] ?? [:]
        var problems: [Int: [String]] = [:]
        for (name, value) in details {
            guard let index = Int(name), (0..<count).contains(index) else {
                // Not about one event (`{"events": ["too_many_events"]}`): the whole request is refused.
                return Array(repeating: .rejected("Lago refused the batch: \(reply.summary)"), count: count)
            }
            problems[index] = Self.problems(value)
        }
        guard !problems.isEmpty else { return Array(repeating: .rejected("Lago refused the batch: \(reply.summary)"), count: count) }
        return (0..<count).map { index -> SendOutcome? in
            guard let found = problems[index] else { return nil }
            if !found.isEmpty, found.allSatisfy({ $0 == duplicateProblem }) { return .sent }
            return .rejected("Lago refused the event (HTTP 422): \(found.joined(separator: ", "))")
        }
    }

    /// An event's problems as `field: code` texts, from `["field: code", ...]` or `{"field": ["code", ...]}`.
    static func problems(_ value: Any) -> [String] {
        if let texts = value as? [String] { return texts }
        if let fields = value as? [String: Any] {
            return fields.keys.sorted().flatMap { field -> [String] in
                if let codes = fields[field] as? [String] { return codes.map { "\(field): \($0)" } }
                return ["\(field): \(fields[field].map { "\($0)" } ?? "invalid")"]
            }
        }
        return ["\(value)"]
    }
}
