import TollgateCore

/// On PostgreSQL the `events` table is partitioned by calendar month (UTC) of `ts_ms`: `events_2026_12` holds
/// December 2026, so a month's report reads one partition and an old month goes with a `DROP TABLE`
/// (``MeterStore/pruneEvents(before:dryRun:progress:)``). `events_default` takes an event of a month with no
/// partition yet; creating that month's partition moves such rows into it. SQLite keeps one table, indexed by time.
///
/// A partitioned table's primary key must hold the partition column: it is `(id, ts_ms)`. An id is still stored once,
/// whatever its time (a batch's result lines read twice carry the same ids and the times of the readings): the
/// trigger `events_once` drops an insert whose id is stored already, so the writer sees it change nothing, as the
/// primary key on `id` alone makes SQLite do. Every event is written under the meter's write lock, so the check
/// cannot race.
enum EventPartitions {
    /// The partition of the month that starts at `monthStartMs`: `events_2026_12`.
    static func name(month monthStartMs: Int64) -> String {
        "events_" + Timestamps.monthName(of: monthStartMs).replacingOccurrences(of: "-", with: "_")
    }

    /// Turns the single `events` table of schema v15 into the partitioned one, its rows moved into their months
    /// (migration v16, PostgreSQL only). Runs in the migration's transaction: all or nothing.
    static func partition(_ db: any SQLConnection) throws {
        try db.execute(sql: "ALTER TABLE events RENAME TO events_unpartitioned")
        try db.execute(sql: "ALTER TABLE events_unpartitioned RENAME CONSTRAINT events_pkey TO events_unpartitioned_pkey")
        try db.execute(sql: "DROP INDEX events_by_time")
        try db.execute(sql: "DROP INDEX events_by_customer")
        try db.execute(sql: "CREATE TABLE events (LIKE events_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (ts_ms)")
        try db.execute(sql: "ALTER TABLE events ADD PRIMARY KEY (id, ts_ms)")
        try db.execute(sql: "CREATE INDEX events_by_time ON events(ts_ms)")
        try db.execute(sql: "CREATE INDEX events_by_customer ON events(customer_id, ts_ms)")
        try db.execute(sql: "CREATE TABLE events_default PARTITION OF events DEFAULT")
        let bounds = try SQLRow.fetchOne(db, sql: "SELECT MIN(ts_ms) AS first, MAX(ts_ms) AS last FROM events_unpartitioned")
        if let first: Int64 = bounds?["first"], let last: Int64 = bounds?["last"] {
            try ensure(db, months: months(fromMs: first, toMs: last + 1))
        }
        try db.execute(sql: "INSERT INTO events SELECT * FROM events_unpartitioned")
        try db.execute(sql: "DROP TABLE events_unpartitioned")
        try db.execute(
            sql: """
                CREATE FUNCTION events_once() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF EXISTS (SELECT 1 FROM events WHERE id = NEW.id) THEN
                        RETURN NULL;
                    END IF;
                    RETURN NEW;
                END
                $$
                """, arguments: [])
        try db.execute(sql: "CREATE TRIGGER events_once BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_once()")
    }

    /// The starts of the months that [fromMs, toMs) touches.
    static func months(fromMs: Int64, toMs: Int64) -> [Int64] {
        var months: [Int64] = []
        var month = Timestamps.monthStart(containing: fromMs)
        while month < toMs {
            months.append(month)
            month = Timestamps.nextMonthStart(after: month)
        }
        return months
    }

    /// Creates the partitions of `months` (month starts) that do not exist yet, each taking over the rows of its
    /// month that wait in `events_default`. Run in a write transaction: the write lock keeps two replicas from
    /// creating the same one. Attaching a partition locks `events_default` against readers: a long report reading it
    /// makes this fail after two seconds (rather than hold every write up), and it is tried again later.
    static func ensure(_ db: any SQLConnection, months: [Int64]) throws {
        try db.execute(sql: "SET LOCAL lock_timeout = '2s'")
        for month in months {
            let partition = name(month: month)
            let exists = "SELECT CASE WHEN to_regclass(?) IS NULL THEN 0 ELSE 1 END"
            guard try Int.fetchOne(db, sql: exists, arguments: [partition]) == 0 else { continue }
            let end = Timestamps.nextMonthStart(after: month)
            try db.execute(sql: "CREATE TABLE \(partition) (LIKE events INCLUDING DEFAULTS)")
            try db.execute(
                sql: """
                    WITH moved AS (DELETE FROM events_default WHERE ts_ms >= ? AND ts_ms < ? RETURNING *)
                    INSERT INTO \(partition) SELECT * FROM moved
                    """,
                arguments: [month, end])
            try db.execute(sql: "ALTER TABLE events ATTACH PARTITION \(partition) FOR VALUES FROM (\(month)) TO (\(end))")
        }
    }

    /// The month partitions there are, by month start (`events_default` not among them).
    static func existing(_ db: any SQLConnection) throws -> [Int64: String] {
        let names = try String.fetchAll(
            db,
            sql: """
                SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'events'::regclass AND c.relname <> 'events_default'
                """)
        var partitions: [Int64: String] = [:]
        for name in names {
            let month = name.dropFirst("events_".count).replacingOccurrences(of: "_", with: "-")
            if let bounds = Timestamps.month(month) { partitions[bounds.startMs] = name }
        }
        return partitions
    }
}
