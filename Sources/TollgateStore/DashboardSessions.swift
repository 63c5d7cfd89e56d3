import Foundation

/// Dashboard sessions signed out before they expired (`POST /dashboard/logout`).
///
/// A session cookie is signed and carries its own expiry, so the server keeps no list of live sessions, only of the
/// ones revoked: their ids, each until the moment its cookie would have expired anyway (then the row is useless and
/// is deleted). Kept in the meter, so a logout holds across restarts and for every replica sharing the meter file.
extension MeterStore {
    /// Records that session `id` is signed out; it would have expired at `expiresMs`. Rows of sessions already expired
    /// at `nowMs` are deleted on the way.
    public func revokeDashboardSession(id: String, expiresMs: Int64, nowMs: Int64) async throws(MeterError) {
        do {
            try await database.write { db in
                try db.execute(sql: "DELETE FROM dashboard_revoked_sessions WHERE expires_ms <= ?", arguments: [nowMs])
                try db.execute(
                    sql: "INSERT INTO dashboard_revoked_sessions (id, expires_ms, revoked_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    arguments: [id, expiresMs, nowMs])
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Whether session `id` was signed out.
    public func isDashboardSessionRevoked(id: String) async throws(MeterError) -> Bool {
        do {
            return try await database.read { db in
                try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM dashboard_revoked_sessions WHERE id = ?)", arguments: [id]) ?? false
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    static let dashboardSessionsSQL = """
        CREATE TABLE dashboard_revoked_sessions (
            id TEXT PRIMARY KEY NOT NULL,
            expires_ms INTEGER NOT NULL,
            revoked_ms INTEGER NOT NULL
        );
        CREATE INDEX dashboard_revoked_sessions_by_expiry ON dashboard_revoked_sessions(expires_ms);
        """
}
