import Foundation
import TollgateCore

/// A provider object created through Tollgate, and the customer it belongs to.
public struct OwnedObject: Sendable, Equatable {
    /// The provider's name (`openai`).
    public var provider: String
    /// The provider's id of the object (`file-abc`, `batch_abc`, `resp_abc`).
    public var id: String
    /// What it is.
    public var kind: ObjectKind
    /// The customer that created it: the only one that may reach it.
    public var customer: String
    /// The virtual key it was created with.
    public var keyID: String?
    /// The object it came from: the batch whose output or error file it is.
    public var parentID: String?
    /// When Tollgate recorded it (milliseconds since 1970).
    public var createdMs: Int64
    /// A background response not yet metered: `pending`; once its completed answer was metered: `metered`.
    public var state: String?
    /// The admission reservation a background response holds until it is metered.
    public var reservationID: String?

    /// Creates a record.
    public init(
        provider: String, id: String, kind: ObjectKind, customer: String, keyID: String? = nil, parentID: String? = nil, createdMs: Int64,
        state: String? = nil, reservationID: String? = nil
    ) {
        self.provider = provider
        self.id = id
        self.kind = kind
        self.customer = customer
        self.keyID = keyID
        self.parentID = parentID
        self.createdMs = createdMs
        self.state = state
        self.reservationID = reservationID
    }

    init(row: SQLRow) {
        provider = row["provider"]
        id = row["id"]
        kind = ObjectKind(rawValue: row["kind"])
        customer = row["customer_id"]
        keyID = row["key_id"]
        parentID = row["parent_id"]
        createdMs = row["created_ms"]
        state = row["state"]
        reservationID = row["reservation_id"]
    }
}

extension MeterStore {
    /// Records objects as owned; an object already recorded keeps its first owner (an id is never handed over).
    public func recordObjects(_ objects: [OwnedObject]) async throws(MeterError) {
        guard !objects.isEmpty else { return }
        do {
            try await database.write { db in
                for object in objects {
                    try db.execute(
                        sql: """
                            INSERT INTO objects (provider, id, kind, customer_id, key_id, parent_id, created_ms, state, reservation_id)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                            """,
                        arguments: [
                            object.provider, object.id, object.kind.rawValue, object.customer, object.keyID, object.parentID, object.createdMs,
                            object.state, object.reservationID,
                        ])
                }
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// The record of an object, whoever owns it: a synchronous indexed read on the lookups connection (the request
    /// path's, see ``lookups``).
    public func object(provider: String, id: String) throws(MeterError) -> OwnedObject? {
        do {
            return try database.lookup { db in
                try SQLRow.fetchOne(db, sql: "SELECT * FROM objects WHERE provider = ? AND id = ?", arguments: [provider, id]).map(OwnedObject.init)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Forgets an object (deleted at the provider).
    public func removeObject(provider: String, id: String) async throws(MeterError) {
        do {
            try await database.write { db in
                try db.execute(sql: "DELETE FROM objects WHERE provider = ? AND id = ?", arguments: [provider, id])
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// One page of a customer's objects of a kind, in creation order (`descending`: newest first), after the object
    /// `after` (a cursor: an id of the same list), at most `limit` of them; `hasMore` says whether more follow.
    public func objects(
        customer: String, provider: String, kinds: [ObjectKind], descending: Bool, after: String?, limit: Int
    ) async throws(MeterError) -> (objects: [OwnedObject], hasMore: Bool) {
        do {
            return try await database.read { db in
                let marks = kinds.map { _ in "?" }.joined(separator: ", ")
                var arguments: [any SQLValueConvertible] = [customer, provider] + kinds.map(\.rawValue)
                var sql = "SELECT * FROM objects WHERE customer_id = ? AND provider = ? AND kind IN (\(marks))"
                if let after,
                    let cursor = try SQLRow.fetchOne(
                        db, sql: "SELECT created_ms, id FROM objects WHERE provider = ? AND id = ? AND customer_id = ?",
                        arguments: [provider, after, customer])
                {
                    let createdMs: Int64 = cursor["created_ms"]
                    let id: String = cursor["id"]
                    sql +=
                        descending ? " AND (created_ms < ? OR (created_ms = ? AND id < ?))" : " AND (created_ms > ? OR (created_ms = ? AND id > ?))"
                    arguments += [createdMs, createdMs, id]
                }
                sql += descending ? " ORDER BY created_ms DESC, id DESC" : " ORDER BY created_ms, id"
                sql += " LIMIT \(limit + 1)"
                let rows = try SQLRow.fetchAll(db, sql: sql, arguments: SQLArguments(arguments)).map(OwnedObject.init)
                return (Array(rows.prefix(limit)), rows.count > limit)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Marks a pending object (a background response) as metered, once: `true` only for the call that changed it, so
    /// that two retrievals racing for the same completed response bill it once.
    public func claimObjectForMetering(provider: String, id: String) async throws(MeterError) -> Bool {
        do {
            return try await database.write { db in
                try db.execute(
                    sql: "UPDATE objects SET state = 'metered' WHERE provider = ? AND id = ? AND state = 'pending'", arguments: [provider, id])
                return db.changesCount == 1
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }
}
