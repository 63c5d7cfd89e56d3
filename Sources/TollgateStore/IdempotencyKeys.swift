import Foundation
import TollgateCore

/// A response as the client received it, kept to answer a retry with the same `Idempotency-Key`.
public struct StoredResponse: Sendable, Equatable {
    /// The status.
    public var status: Int
    /// The headers, in order (Tollgate's own per-request headers left out).
    public var headers: [HeaderPair]
    /// The body, byte for byte (still compressed if the client got it compressed; the whole event stream of a stream).
    public var body: [UInt8]

    /// Creates a stored response.
    public init(status: Int, headers: [HeaderPair], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// One header field of a ``StoredResponse``.
public struct HeaderPair: Sendable, Equatable, Codable {
    /// The field name as the provider spelled it.
    public var name: String
    /// The value.
    public var value: String

    /// Creates a field.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// A request's `Idempotency-Key`, as the customer's: keys are namespaced per customer, so two customers using the same
/// string never meet.
public struct IdempotencyKeyRef: Sendable, Equatable {
    /// The customer who sent it.
    public var customer: String
    /// The key as the client sent it.
    public var key: String
    /// The event of the request that claimed it (the first attempt).
    public var eventID: String

    /// Creates a reference.
    public init(customer: String, key: String, eventID: String) {
        self.customer = customer
        self.key = key
        self.eventID = eventID
    }
}

/// What claiming an `Idempotency-Key` found.
public enum IdempotencyClaim: Sendable, Equatable {
    /// The key is this request's: it goes upstream, and its outcome resolves the key with its event.
    case claimed
    /// An earlier request with the key and the same body completed: its response, to replay, and its event.
    case replay(original: String, StoredResponse)
    /// An earlier request with the key completed, but its response was too large to keep (`bytes` long).
    case notStored(original: String, bytes: Int)
    /// An earlier request with the key is still running.
    case inFlight(original: String)
    /// The key was used with another request (another body, path or method).
    case mismatch(original: String)
}

/// How a claimed key ends, written in the transaction of its request's event (so a crash keeps both or neither).
public enum IdempotencyResolution: Sendable, Equatable {
    /// The request completed: its response replays until `expiresMs` (`response` is `nil` when it was too large to
    /// keep; `bytes` says how large it was).
    case completed(StoredResponse?, bytes: Int, expiresMs: Int64)
    /// The request did not complete (refused, failed upstream, cut short): the key is free for a retry to run it again.
    case released
}

/// One event to write, with what it settles: its reservation and its `Idempotency-Key`.
public struct MeterWrite: Sendable {
    /// The event.
    public var event: UsageEvent
    /// The reservation its price settles (or ``MeterStore/unreservedSpend``).
    public var reservationID: String?
    /// The key its outcome resolves.
    public var idempotency: (key: IdempotencyKeyRef, resolution: IdempotencyResolution)?
    /// The event waits in `events_landing` to be filed (``EventLanding``): storing it removes it from there.
    var landed = false

    /// Creates a write.
    public init(
        _ event: UsageEvent, settling reservationID: String? = nil,
        idempotency: (key: IdempotencyKeyRef, resolution: IdempotencyResolution)? = nil
    ) {
        self.event = event
        self.reservationID = reservationID
        self.idempotency = idempotency
    }
}

extension MeterStore {
    /// Claims `key` for the request of event `eventID`, or says what holds it. A key is bound to the hash of the
    /// request it was first sent with for as long as it lives (`windowMs` after its request completed).
    ///
    /// A key held in flight by a process that is no longer registered (it crashed before its request ended; see
    /// ``AdmissionControl``) is taken over. `instance` is the claiming process's registration.
    public func claimIdempotencyKey(
        customer: String, key: String, requestHash: String, eventID: String, instance: String?, nowMs: Int64, windowMs: Int64
    ) async throws(MeterError) -> IdempotencyClaim {
        do {
            return try await database.write { db in
                if let row = try SQLRow.fetchOne(
                    db, sql: "SELECT * FROM idempotency_keys WHERE customer_id = ? AND key = ?", arguments: [customer, key])
                {
                    let original: String = row["event_id"]
                    let expired = (row["expires_ms"] as Int64) <= nowMs
                    let stale = try row["state"] == "in_flight" && Self.holderGone(db, instance: row["instance"])
                    if !expired && !stale {
                        guard row["request_hash"] == requestHash else { return .mismatch(original: original) }
                        guard row["state"] == "completed" else { return .inFlight(original: original) }
                        guard let body: Data = row["body"] else { return .notStored(original: original, bytes: row["body_bytes"] ?? 0) }
                        let headers = (try? JSONDecoder().decode([HeaderPair].self, from: Data((row["headers"] as String? ?? "[]").utf8))) ?? []
                        return .replay(original: original, StoredResponse(status: row["status"], headers: headers, body: Array(body)))
                    }
                }
                try db.execute(
                    sql: """
                        INSERT INTO idempotency_keys (customer_id, key, request_hash, state, event_id, instance, created_ms, expires_ms)
                        VALUES (?, ?, ?, 'in_flight', ?, ?, ?, ?)
                        ON CONFLICT (customer_id, key) DO UPDATE SET
                            request_hash = excluded.request_hash, state = excluded.state, event_id = excluded.event_id,
                            instance = excluded.instance, created_ms = excluded.created_ms, expires_ms = excluded.expires_ms,
                            status = NULL, headers = NULL, body = NULL, body_bytes = NULL
                        """,
                    arguments: [customer, key, requestHash, eventID, instance, nowMs, nowMs + windowMs])
                return .claimed
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Deletes the keys whose window has passed and the in-flight claims of processes that are gone; returns how many.
    @discardableResult
    public func purgeIdempotencyKeys(nowMs: Int64) async throws(MeterError) -> Int {
        do {
            return try await database.write { db in
                try db.execute(sql: "DELETE FROM idempotency_keys WHERE expires_ms <= ?", arguments: [nowMs])
                var purged = db.changesCount
                try db.execute(
                    sql: """
                        DELETE FROM idempotency_keys WHERE state = 'in_flight' AND instance IS NOT NULL
                        AND instance NOT IN (SELECT id FROM instances)
                        """)
                purged += db.changesCount
                return purged
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Whether the process that holds a key in flight is gone (no longer registered).
    private static func holderGone(_ db: any SQLConnection, instance: String?) throws -> Bool {
        guard let instance else { return false }
        return try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM instances WHERE id = ?)", arguments: [instance]) == false
    }

    /// Resolves a claimed key in the transaction that stores its request's event. Only the claim of that request is
    /// touched: a key that was taken over meanwhile stays with its new holder.
    static func resolve(_ db: any SQLConnection, _ key: IdempotencyKeyRef, _ resolution: IdempotencyResolution) throws {
        switch resolution {
        case .released:
            try db.execute(
                sql: "DELETE FROM idempotency_keys WHERE customer_id = ? AND key = ? AND event_id = ? AND state = 'in_flight'",
                arguments: [key.customer, key.key, key.eventID])
        case .completed(let response, let bytes, let expiresMs):
            let headers = try response.map { String(decoding: try JSONEncoder().encode($0.headers), as: UTF8.self) }
            try db.execute(
                sql: """
                    UPDATE idempotency_keys SET state = 'completed', instance = NULL, expires_ms = ?, status = ?, headers = ?,
                    body = ?, body_bytes = ? WHERE customer_id = ? AND key = ? AND event_id = ?
                    """,
                arguments: [
                    expiresMs, response?.status, headers, response.map { Data($0.body) }, bytes, key.customer, key.key, key.eventID,
                ])
        }
    }
}
