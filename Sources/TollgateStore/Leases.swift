import TollgateCore

/// Duties one process at a time does for every replica on the meter (export, alert delivery): the holder, a running
/// replica (its admission instance id), renews its lease at each pass; when it stops, another takes over once the
/// lease has run out, or at once when the replica is known to be gone (no longer registered in `instances`: it
/// exited on this host, or its heartbeat stopped for longer than the replica timeout).
extension MeterStore {
    /// Takes or renews the lease `name` for `holder` until `nowMs + ttlMs`: true when `holder` has it now, false
    /// while another registered replica's lease runs. A lease renewed within the last third of its time is only read
    /// (services ask every pass, some every second: a write transaction each time would cost the meter's write lock).
    public func holdLease(_ name: String, holder: String, ttlMs: Int64, nowMs: Int64 = Timestamps.nowMs()) async throws(MeterError) -> Bool {
        do {
            let fresh = try await database.read { db in
                try Int64.fetchOne(
                    db.cachedStatement(sql: "SELECT expires_ms FROM leases WHERE name = ? AND holder = ?"), arguments: [name, holder])
            }
            if let fresh, fresh - nowMs > ttlMs * 2 / 3 { return true }
            return try await database.write { db in
                if let current = try SQLRow.fetchOne(
                    db.cachedStatement(sql: "SELECT holder, expires_ms FROM leases WHERE name = ?"), arguments: [name]),
                    current["holder"] as String != holder, current["expires_ms"] as Int64 > nowMs,
                    try Bool.fetchOne(
                        db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM instances WHERE id = ?)"), arguments: [current["holder"] as String])
                        == true
                {
                    return false
                }
                try db.cachedStatement(
                    sql: """
                        INSERT INTO leases (name, holder, expires_ms) VALUES (?, ?, ?)
                        ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
                        """
                ).execute(arguments: [name, holder, nowMs + ttlMs])
                return true
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Gives the lease up (at shutdown), so another process takes the duty over at once.
    public func releaseLease(_ name: String, holder: String) async throws(MeterError) {
        do {
            try await database.write { db in
                try db.execute(sql: "DELETE FROM leases WHERE name = ? AND holder = ?", arguments: [name, holder])
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }
}
