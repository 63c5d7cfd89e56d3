import Foundation
import TollgateCore
import TollgateStore

/// The conventions every API sink follows, so that the five systems get the same facts in the same shapes:
///
/// - the idempotency/dedupe field is the line's key (`tg_` + 40 hex);
/// - the time is the line's `usageMs` (Unix seconds for Stripe and Lago, RFC 3339 UTC — ``Timestamps/iso8601(_:)`` —
///   for the others), unchanged across retries;
/// - the customer is the line's `externalCustomerID`;
/// - the properties (``properties(_:)``) are strings: money as exact decimal strings, never floats; whole numbers as
///   digit strings (Metronome recommends numbers as strings; Lago, OpenMeter and Orb aggregate numeric strings).
///
enum SinkWire {
    /// The most events one request of Lago, OpenMeter, Metronome or Orb carries.
    static let batchLimit = 100

    /// A line's properties: `customer` (Tollgate's id), `period`, `meter`, `kind`, `model` (when there is one),
    /// `quantity`, the token classes (`input_tokens`, `cache_read_tokens`, `cache_write_tokens`, `output_tokens`,
    /// `reasoning_tokens`), `amount` (exact decimal), `currency`, `version`, and for a correction `correction: "true"`
    /// and `original_period` (the charge period it corrects). All strings; a flat object.
    static func properties(_ line: ExportLine) -> [String: String] {
        var properties = [
            "customer": line.customer, "period": line.period, "meter": line.meter, "kind": line.kind.rawValue, "quantity": String(line.quantity),
            "input_tokens": String(line.usage.inputTokens), "cache_read_tokens": String(line.usage.cacheReadTokens),
            "cache_write_tokens": String(line.usage.cacheWriteTokens), "output_tokens": String(line.usage.outputTokens),
            "reasoning_tokens": String(line.usage.reasoningTokens), "amount": line.amount.description, "currency": line.currency,
            "version": String(line.version),
        ]
        if let model = line.model { properties["model"] = model }
        if line.isCorrection {
            properties["correction"] = "true"
            properties["original_period"] = line.period
        }
        return properties
    }

    /// Whole Unix seconds of a time in milliseconds (rounded down: a time inside a period stays inside it).
    static func unixSeconds(_ milliseconds: Int64) -> Int64 { milliseconds.floorDivided(by: 1000) }

    /// An amount in the currency's minor unit, exact (`12.345678` USD is `1234.5678`; JPY is unchanged; KWD × 1000).
    static func minorUnits(_ amount: Money, currency: String) -> Money {
        var scale: Int128 = 1
        for _ in 0..<Currency.minorUnits(currency.uppercased()) { scale *= 10 }
        return Money(raw: amount.raw * scale)
    }

    /// A JSON reply, if it is one.
    static func jsonObject(_ text: String) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    /// The human part of a JSON error reply (`detail`, `message`, `error.message`, `error`, `title`), else the reply's
    /// start.
    static func errorMessage(_ reply: HTTPReply) -> String {
        let object = jsonObject(reply.body) as? [String: Any]
        let error = object?["error"]
        let candidates: [Any?] = [object?["detail"], object?["message"], (error as? [String: Any])?["message"], error, object?["title"]]
        for case let text as String in candidates where !text.isEmpty { return text }
        return reply.summary
    }

    /// For APIs that refuse a whole request over its first bad event and name it (`event 3: time is required`): that
    /// event refused with the reason, the others `nil` (not ingested: send them again); a refusal that names no event
    /// refuses every event; any other answer is the usual reading for every event.
    static func readingIndexedRefusal(_ reply: HTTPReply, count: Int, system: String) -> [SendOutcome?] {
        guard case .rejected = reply.outcome else { return Array(repeating: reply.outcome, count: count) }
        let message = errorMessage(reply)
        if let index = eventIndex(in: message), (0..<count).contains(index) {
            return (0..<count).map { $0 == index ? .rejected("\(system) refused the event (HTTP \(reply.status)): \(message)") : nil }
        }
        return Array(repeating: .rejected("\(system) refused the request (HTTP \(reply.status)): \(message)"), count: count)
    }

    /// `3` in `event 3: ...`.
    static func eventIndex(in message: String) -> Int? {
        guard message.hasPrefix("event ") else { return nil }
        return Int(message.dropFirst(6).prefix(while: \.isNumber))
    }

    /// Sends `lines` in requests of at most ``batchLimit`` events and returns one outcome per line, in order.
    ///
    /// A line without the customer's id is refused without a request. `read` says what a reply means for each event
    /// of its request; an event it leaves `nil` was not ingested because of another one (a duplicate or a refused
    /// event failed the whole request) and goes again in a follow-up request with the other undecided ones, until
    /// every event is decided. A request that decides nothing, or gets no answer, leaves its events to retry.
    static func sendInRounds(
        _ lines: [OutboundLine], system: String,
        post: ([OutboundLine]) async throws(SinkTransportError) -> HTTPReply,
        read: (HTTPReply, [OutboundLine]) -> [SendOutcome?]
    ) async -> [SendOutcome] {
        var outcomes = [SendOutcome?](repeating: nil, count: lines.count)
        var sendable: [Int] = []
        for (index, line) in lines.enumerated() {
            if line.externalCustomerID?.isEmpty ?? true {
                outcomes[index] = .rejected("customer \(line.line.customer) has no id in \(system)")
            } else {
                sendable.append(index)
            }
        }
        for start in stride(from: 0, to: sendable.count, by: batchLimit) {
            var open = Array(sendable[start..<min(start + batchLimit, sendable.count)])
            while !open.isEmpty {
                let batch = open.map { lines[$0] }
                let reading: [SendOutcome?]
                do throws(SinkTransportError) {
                    reading = read(try await post(batch), batch)
                } catch {
                    let reason = error.description
                    for index in open { outcomes[index] = .retry(reason, retryAfterSeconds: nil) }
                    break
                }
                var undecided: [Int] = []
                for (position, index) in open.enumerated() {
                    if position < reading.count, let outcome = reading[position] {
                        outcomes[index] = outcome
                    } else {
                        undecided.append(index)
                    }
                }
                if undecided.count == open.count {
                    for index in undecided {
                        outcomes[index] = .retry("\(system) neither took nor refused the event", retryAfterSeconds: nil)
                    }
                    break
                }
                open = undecided
            }
        }
        return outcomes.map { $0 ?? .retry("\(system): not sent", retryAfterSeconds: nil) }
    }
}
