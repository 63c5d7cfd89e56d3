/// Events landed by a strict commit alone, then filed: the durable half of a commit, cheap enough for the request's
/// own event loop, and the rest of it done by the event writer right after.
///
/// A strict response ends only once its event is committed. Alone on the meter (one request in flight, SQLite idle)
/// that commit runs on the request's event loop, in its latency, and filing an event costs four b-trees (the row and
/// its three indexes) and three rollups: about seven pages, fourteen writes to the log. Landing it costs one page of
/// `events_landing`, a table of its own without indexes. The event is then durable as any committed event is (a killed
/// process loses none of it); the event writer files it (its row, indexes and rollups, in one transaction that also
/// removes it from here) within a few milliseconds, without anybody waiting.
///
/// Where `events` is read, what is landed is filed first:
/// - every read of the meter through ``MeterDatabase/read(_:)`` (any process: the CLI and the admin API see an event
///   as soon as its response ended, as before), unless the process cannot write the meter (a read-only file; the
///   read then goes on without those events, and a copy refuses to start);
/// - a limit's usage summed from the events when its period's row is made (``LimitUsage``);
/// - opening the meter, for what a process killed before filing left landed;
/// - filing twice is harmless: the event's id makes the second a no-op, rollups included.
///
/// Only an event with nothing else in its transaction lands: one that settles a reservation (credits, limits) or
/// resolves an idempotency key is committed whole, as the next admission or retry reads those.
enum EventLanding {
    static let insertSQL =
        "INSERT INTO events_landing (\(EventRow.columns.joined(separator: ", "))) VALUES (\(EventRow.columns.map { _ in "?" }.joined(separator: ", "))) ON CONFLICT DO NOTHING"
    static let removeSQL = "DELETE FROM events_landing WHERE id = ?"

    /// Whether a write may land: an event alone, settling and resolving nothing.
    static func mayLand(_ write: MeterWrite) -> Bool {
        write.reservationID == nil && write.idempotency == nil
    }

    /// Lands `write`'s event (call it in a write transaction).
    static func land(_ write: MeterWrite, in db: any SQLConnection) throws {
        try db.cachedStatement(sql: insertSQL).execute(arguments: EventRow.arguments(write.event))
    }

    /// Whether any event is landed and not filed.
    static func anyLanded(_ db: any SQLConnection) throws -> Bool {
        try !db.rows(sql: "SELECT 1 FROM events_landing LIMIT 1", arguments: [], cached: true).isEmpty
    }

    /// Files every landed event (call it in a write transaction); returns how many were landed.
    @discardableResult
    static func fileAll(_ db: any SQLConnection) throws -> Int {
        let landed = try SQLRow.fetchAll(db, sql: "SELECT * FROM events_landing").map { row in
            var write = MeterWrite(EventRow.event(row))
            write.landed = true
            return write
        }
        guard !landed.isEmpty else { return 0 }
        _ = try MeterStore.store(landed, in: db)
        return landed.count
    }
}
