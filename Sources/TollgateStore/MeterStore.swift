import Foundation
import Synchronization
import TollgateCore

/// The meter database: events, customers, keys, credits, limits, reports and the export outbox, in SQLite (one file,
/// the embedded default) or PostgreSQL (shared by replicas on several hosts).
///
/// Open it once per process; it is safe to share. Writes of events go through ``EventWriter`` (one writer,
/// batched transactions); reads run concurrently. Other processes (the `tollgate` CLI, other replicas) may open the
/// same meter while `serve` runs.
public final class MeterStore: Sendable {
    let database: any MeterDatabase
    /// Principals by key digest, with when they were read and the change counter then (see ``principal(secret:)``).
    let principals = Mutex<[SecretDigest: KeptPrincipal]>([:])
    /// Raised after each change to keys, customers, teams, grants or limits; `nil` when it could not be set up (on
    /// SQLite: its file could not be opened), and then every request reads its principal.
    let principalChanges: ChangeCounter?
    /// The months whose `events` partition is known to exist (PostgreSQL only, see ``EventPartitions``).
    let eventMonths = Mutex<Set<Int64>>([])
    /// Where the meter is: the SQLite file's path, or the PostgreSQL URL without its password.
    public var path: String { database.location }
    /// Which database holds the meter.
    public var dialect: SQLDialect { database.dialect }

    /// Opens (creating if needed) the meter at `path` and brings its schema up to date.
    ///
    /// - Parameter synchronousFull: fsync on every commit, so events survive power loss and OS crashes too; without
    ///   it (WAL with `synchronous=NORMAL`) a committed event survives any crash of the process.
    public init(path: String, synchronousFull: Bool = false) throws(MeterError) {
        do {
            database = try SQLiteMeterDatabase(path: path, synchronousFull: synchronousFull)
        } catch {
            throw MeterError.cannotOpen(path: path, reason: "\(error)")
        }
        principalChanges = Self.changeCounter(for: database)
    }

    /// Opens the meter in PostgreSQL (creating its tables, or bringing them up to date, when this replica is the first
    /// to start on a newer schema) and checks that the server answers.
    public init(postgres options: PostgresMeterOptions) throws(MeterError) {
        do {
            database = try PostgresMeterDatabase(options: options)
            principalChanges = Self.changeCounter(for: database)
            // At best effort, as when writing events (see insert(_:)).
            let now = Timestamps.nowMs()
            try? ensureEventPartitionsNow(EventPartitions.months(fromMs: now, toMs: Timestamps.nextMonthStart(after: now) + 1))
        } catch {
            throw MeterError.cannotOpen(path: options.location, reason: "\(error)")
        }
    }

    /// Creates the `events` partitions of `months` not known to exist yet (PostgreSQL; nothing on SQLite), so that
    /// events land in their month's partition rather than in `events_default`. Once per month and process.
    func ensureEventPartitions(_ months: some Collection<Int64>) async throws {
        guard let missing = unknownEventMonths(months) else { return }
        try await database.write { try EventPartitions.ensure($0, months: missing) }
        eventMonths.withLock { $0.formUnion(missing) }
    }

    /// ``ensureEventPartitions(_:)`` on the caller's thread (opening the meter, copying into it).
    func ensureEventPartitionsNow(_ months: some Collection<Int64>) throws {
        guard let missing = unknownEventMonths(months) else { return }
        try database.write { try EventPartitions.ensure($0, months: missing) }
        eventMonths.withLock { $0.formUnion(missing) }
    }

    private func unknownEventMonths(_ months: some Collection<Int64>) -> [Int64]? {
        guard dialect == .postgres else { return nil }
        let missing = eventMonths.withLock { known in Set(months).subtracting(known) }
        return missing.isEmpty ? nil : missing.sorted()
    }

    /// A meter on a database already open (and migrated).
    init(database: any MeterDatabase) {
        self.database = database
        principalChanges = Self.changeCounter(for: database)
    }

    /// The change counter of principals on `database`: shared through a file beside a SQLite database, in this
    /// process's memory for PostgreSQL.
    private static func changeCounter(for database: any MeterDatabase) -> ChangeCounter? {
        database.dialect == .sqlite ? ChangeCounter(besideDatabase: database.location) : ChangeCounter()
    }

    /// The schema migrations applied to this meter, oldest first.
    public func appliedMigrations() throws(MeterError) -> [String] {
        do {
            return try database.appliedMigrations()
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Closes the meter's connections; it cannot be used afterwards.
    public func close() throws(MeterError) {
        do {
            try database.close()
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Writes events in one transaction; an event whose id is already stored is left as it is.
    public func insert(_ events: [UsageEvent]) async throws(MeterError) {
        _ = try await insert(events.map { MeterWrite($0) })
    }

    /// The reservation id of an event whose request was admitted without one and billed later (a batch's result
    /// line, a background response): settling it spends the event's price from a prepaid account.
    public static let unreservedSpend = "unreserved-spend"

    /// Writes events in one transaction, settling each newly stored event's reservation (its price spent from the
    /// credit account, its usage moved onto the caps) in the same transaction. An event whose id is already stored
    /// is left as it is and settles nothing: a retried write never charges twice. Returns the alerts that fired.
    public func insert(_ events: [(event: UsageEvent, reservationID: String?)]) async throws(MeterError) -> [AlertRecord] {
        try await insert(events.map { MeterWrite($0.event, settling: $0.reservationID) })
    }

    /// Writes events in one transaction, settling each newly stored event's reservation and resolving its
    /// `Idempotency-Key` in the same transaction (see ``insert(_:)-(event,reservationID)``). Returns the alerts that fired.
    public func insert(_ writes: [MeterWrite]) async throws(MeterError) -> [AlertRecord] {
        do {
            if let months = Self.eventMonths(of: writes, dialect: dialect) { try? await ensureEventPartitions(months) }
            return try await database.write { db in try Self.store(writes, in: db) }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// ``insert(_:)-([MeterWrite])`` on the caller's thread (the event writer's own): it blocks until the commit, so it
    /// must not run on an event loop. `yielding`: the thread offers its CPU to whatever else waits for one
    /// (`sched_yield`) before each event and each rollup row, for a write nobody waits for (see
    /// ``EventWriter``).
    public func insertNow(_ writes: [MeterWrite], yielding: Bool = false) throws(MeterError) -> [AlertRecord] {
        do {
            if let months = Self.eventMonths(of: writes, dialect: dialect) { try? ensureEventPartitionsNow(months) }
            let pause: (() -> Void)? = yielding ? { sched_yield() } : nil
            return try database.write { db in try Self.store(writes, in: db, pausing: pause) }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// ``insertNow(_:)`` only if it cannot wait for another writer (see ``MeterDatabase/writeIfIdle(_:)``): `nil`,
    /// having written nothing, when the meter is busy, and always on PostgreSQL. An event loop may call it.
    public func insertIfIdle(_ writes: [MeterWrite]) throws(MeterError) -> [AlertRecord]? {
        do {
            return try database.writeIfIdle { db in try Self.store(writes, in: db) }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Lands `write`'s event on the caller's thread if the meter is idle (see ``EventLanding`` and
    /// ``MeterDatabase/writeIfIdle(_:)``): `nil`, having written nothing, when it is busy, and always on PostgreSQL.
    /// Returns the write to hand to the event writer, which files it. An event loop may call it.
    func landIfIdle(_ write: MeterWrite) throws(MeterError) -> MeterWrite? {
        do {
            guard try database.writeIfIdle({ db in try EventLanding.land(write, in: db) }) != nil else { return nil }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
        var landed = write
        landed.landed = true
        return landed
    }

    /// On PostgreSQL, the months whose event partitions the writes need: theirs and the next one (made a month
    /// ahead, not at midnight on the first). At best effort: an event of a month without its partition goes to
    /// `events_default` and moves when it is made.
    private static func eventMonths(of writes: [MeterWrite], dialect: SQLDialect) -> Set<Int64>? {
        guard dialect == .postgres, let latest = writes.map(\.event.timestampMs).max() else { return nil }
        var months = Set(writes.map { Timestamps.monthStart(containing: $0.event.timestampMs) })
        months.insert(Timestamps.nextMonthStart(after: latest))
        return months
    }

    /// The transaction of ``insert(_:)-([MeterWrite])``; `pause` runs before each event and rollup row.
    static func store(_ writes: [MeterWrite], in db: any SQLConnection, pausing pause: (() -> Void)? = nil) throws -> [AlertRecord] {
        let statement = try db.cachedStatement(sql: EventRow.insertSQL)
        let now = Timestamps.nowMs()
        var fired: [AlertRecord] = []
        var stored: [UsageEvent] = []
        stored.reserveCapacity(writes.count)
        for write in writes {
            pause?()
            let event = write.event
            try statement.execute(arguments: EventRow.arguments(event))
            let isNew = db.changesCount == 1
            if isNew { stored.append(event) }
            if write.landed { try db.cachedStatement(sql: EventLanding.removeSQL).execute(arguments: [event.id]) }
            if isNew, let (key, resolution) = write.idempotency { try resolve(db, key, resolution) }
            guard let reservationID = write.reservationID else { continue }
            if isNew {
                fired += try Settlement.settle(db, event: event, reservationID: reservationID, nowMs: now)
            } else if let reservation = try SQLRow.fetchOne(db, sql: "SELECT * FROM reservations WHERE id = ?", arguments: [reservationID]) {
                try Settlement.release(db, reservation: reservation, note: "event \(event.id) was already recorded", nowMs: now)
            }
        }
        try Rollups.add(stored, to: db, pausing: pause)
        return fired
    }

    /// Events in time order, filtered.
    public func events(customer: String? = nil, since: Date? = nil, until: Date? = nil, limit: Int? = nil) async throws(MeterError) -> [UsageEvent] {
        do {
            return try await database.read { db in
                var sql = "SELECT * FROM events WHERE 1 = 1"
                var arguments: [any SQLValueConvertible] = []
                if let customer {
                    sql += " AND customer_id = ?"
                    arguments.append(customer)
                }
                if let since {
                    sql += " AND ts_ms >= ?"
                    arguments.append(Int64(since.timeIntervalSince1970 * 1000))
                }
                if let until {
                    sql += " AND ts_ms < ?"
                    arguments.append(Int64(until.timeIntervalSince1970 * 1000))
                }
                sql += " ORDER BY ts_ms, id"
                if let limit { sql += " LIMIT \(limit)" }
                return try SQLRow.fetchAll(db, sql: sql, arguments: SQLArguments(arguments)).map(EventRow.event)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Calls `body` with every event of a time range (and customer), in time order, reading them one at a time so
    /// that any number of events can be walked through. Nothing is written.
    public func forEachEvent(
        customer: String? = nil, fromMs: Int64? = nil, toMs: Int64? = nil, _ body: (UsageEvent) throws -> Void
    ) throws(MeterError) {
        do {
            try database.read { db in
                var sql = "SELECT * FROM events WHERE 1 = 1"
                var arguments: [any SQLValueConvertible] = []
                if let customer {
                    sql += " AND customer_id = ?"
                    arguments.append(customer)
                }
                if let fromMs {
                    sql += " AND ts_ms >= ?"
                    arguments.append(fromMs)
                }
                if let toMs {
                    sql += " AND ts_ms < ?"
                    arguments.append(toMs)
                }
                sql += " ORDER BY ts_ms, id"
                let rows = try SQLRow.fetchCursor(db, sql: sql, arguments: SQLArguments(arguments))
                while let row = try rows.next() { try body(EventRow.event(row)) }
            }
        } catch let error as MeterError {
            throw error
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Rebuilds the report rollups from the events; returns the number of events read.
    ///
    /// One UTC day per transaction (its hourly and daily rows deleted and summed again from its events), so that a
    /// running `serve` waits at most one day's worth for the write lock; an event written meanwhile is counted once
    /// either way. A month's `usage_monthly` rows are summed again from its daily rows in the transaction of its last
    /// day (of the range), when all of them are rebuilt. `progress` gets (days done, days).
    @discardableResult
    public func rebuildRollups(progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws(MeterError) -> Int {
        do {
            let (bounds, pruned) = try await database.read { db in
                (try SQLRow.fetchOne(db, sql: "SELECT MIN(ts_ms) AS first, MAX(ts_ms) AS last FROM events"), try Self.prunedBefore(db))
            }
            // Before a prune there are no events to rebuild from: those buckets are kept as they are.
            let kept = pruned ?? Int64.min
            let day: Int64 = 86_400_000
            guard let first: Int64 = bounds?["first"], let last: Int64 = bounds?["last"] else {
                return try await database.write { try Rollups.rebuild($0, keptBefore: pruned) }
            }
            let start = first - first.floorModulo(day)
            let days = Int((last - start) / day) + 1
            let end = start + Int64(days) * day
            try await database.write { db in
                // The buckets outside the ones the events' days fall in (for months: outside their months).
                for table in Rollups.tables {
                    try db.execute(
                        sql: "DELETE FROM \(table.name) WHERE (bucket_ms < ? AND bucket_ms >= ?) OR bucket_ms >= ?",
                        arguments: [table.grain.start(containing: start), kept, table.grain.next(after: end - 1)])
                }
            }
            var count = 0
            for index in 0..<days {
                let from = start + Int64(index) * day
                let to = from + day
                count += try await database.write { db in
                    let count = try Rollups.rebuildDays(db, fromMs: from, toMs: to)
                    if to == end || Rollups.monthly.grain.isBoundary(to) { try Rollups.resumMonths(db, fromMs: from, toMs: to) }
                    return count
                }
                progress(index + 1, days)
            }
            return count
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// The number of stored events.
    public func eventCount() async throws(MeterError) -> Int {
        do {
            return try await database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM events") ?? 0 }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }
}

/// What can go wrong with the meter, each with the reason SQLite gave.
public enum MeterError: Error, Sendable, CustomStringConvertible {
    /// The file could not be opened or migrated.
    case cannotOpen(path: String, reason: String)
    /// A write failed (disk full, read-only file, …).
    case writeFailed(String)
    /// A read failed.
    case readFailed(String)
    /// An operation was refused for a value it was given (an id, an amount, a period); the message says why.
    case rejected(String)
    /// What an operation names does not exist: `what` (`customer`, `key`, `grant`, `limit`, …) with id `id`;
    /// `detail` says where it was looked for.
    case notFound(what: String, id: String, detail: String? = nil)
    /// A change conflicts with what the meter holds (a grant already closed, credits in another currency, a team
    /// member's own grants); the message says how.
    case conflict(String)
    /// The writer has stopped (shutdown).
    case closed

    /// A message for the operator.
    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open the meter at \(path): \(reason)"
        case .writeFailed(let reason): return "meter write failed: \(reason)"
        case .readFailed(let reason): return "meter read failed: \(reason)"
        case .rejected(let reason), .conflict(let reason): return reason
        case .notFound(let what, let id, nil): return "no \(what) with id \(id)"
        case .notFound(let what, let id, let detail?): return "no \(what) '\(id)': \(detail)"
        case .closed: return "the meter writer has stopped"
        }
    }
}
