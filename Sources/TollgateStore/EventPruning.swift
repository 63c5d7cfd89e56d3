import TollgateCore

/// What ``MeterStore/pruneEvents(before:nowMs:dryRun:progress:)`` deleted (or would delete).
public struct EventPruning: Sendable, Equatable {
    /// Events before this time (the start of a month, UTC) are gone.
    public var beforeMs: Int64
    /// Events deleted, by month (`2026-08`), oldest first.
    public var months: [(month: String, events: Int)]
    /// Whether nothing was deleted (the counts are what a prune would delete).
    public var dryRun: Bool

    public var events: Int { months.reduce(0) { $0 + $1.events } }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.beforeMs == rhs.beforeMs && lhs.dryRun == rhs.dryRun && lhs.months.map(\.month) == rhs.months.map(\.month)
            && lhs.months.map(\.events) == rhs.months.map(\.events)
    }
}

extension MeterStore {
    /// Whole months this long ago or more may be pruned: the current month and the two before it always stay (late
    /// events, the billing periods being closed, exported and trued up, anniversary cycles that straddle months).
    public static let monthsKeptByPrune = 3

    /// Deletes the events of every month before `beforeMs` (the start of a month, UTC), month by month: on PostgreSQL
    /// by dropping the month's partition, on SQLite in deletes of 10,000 rows, each its own transaction so that a
    /// running `serve` never waits long for the write lock. The report rollups stay: margin reports and statements of
    /// pruned months keep their totals (by customer, key, feature, provider, model and hour); listings of single events
    /// and `report rebuild` no longer reach them. The prune is recorded (`event_prunes`), and rebuilding the rollups
    /// keeps what came before it. `progress` gets (month, events deleted so far in it).
    public func pruneEvents(
        before beforeMs: Int64, nowMs: Int64 = Timestamps.nowMs(), dryRun: Bool,
        progress: @Sendable (String, Int) -> Void = { _, _ in }
    ) async throws(MeterError) -> EventPruning {
        guard Timestamps.monthStart(containing: beforeMs) == beforeMs else {
            throw MeterError.rejected("events are pruned by whole months: --before takes a month (2026-08)")
        }
        var latest = Timestamps.monthStart(containing: nowMs)
        for _ in 1..<Self.monthsKeptByPrune { latest = Timestamps.monthStart(containing: latest - 1) }
        guard beforeMs <= latest else {
            throw MeterError.rejected(
                "the current month and the \(Self.monthsKeptByPrune - 1) before it are kept: --before can be \(Timestamps.monthName(of: latest)) at the latest"
            )
        }
        do {
            let first = try await database.read { db in try Int64.fetchOne(db, sql: "SELECT MIN(ts_ms) FROM events") }
            var pruning = EventPruning(beforeMs: beforeMs, months: [], dryRun: dryRun)
            guard let first, first < beforeMs else { return pruning }
            for month in EventPartitions.months(fromMs: first, toMs: beforeMs) {
                let end = Timestamps.nextMonthStart(after: month)
                let name = Timestamps.monthName(of: month)
                let count = try await database.read { db in
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE ts_ms >= ? AND ts_ms < ?", arguments: [month, end]) ?? 0
                }
                guard count > 0 else { continue }
                pruning.months.append((name, count))
                if !dryRun { try await deleteEvents(month: month, end: end) { progress(name, $0) } }
            }
            if !dryRun {
                let total = pruning.events
                try await database.write { db in
                    try db.execute(
                        sql: """
                            INSERT INTO event_prunes (before_ms, events, pruned_ms) VALUES (?, ?, ?)
                            ON CONFLICT (before_ms) DO UPDATE SET events = event_prunes.events + excluded.events, pruned_ms = excluded.pruned_ms
                            """,
                        arguments: [beforeMs, total, Timestamps.nowMs()])
                }
            }
            return pruning
        } catch let error as MeterError {
            throw error
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// The time before which events were pruned, if they ever were.
    public func eventsPrunedBefore() async throws(MeterError) -> Int64? {
        do {
            return try await database.read { try Self.prunedBefore($0) }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    static func prunedBefore(_ db: any SQLConnection) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT MAX(before_ms) FROM event_prunes")
    }

    /// Deletes the events of [month, end): the month's partition dropped on PostgreSQL (and its stragglers in
    /// `events_default` deleted), batches of 10,000 on SQLite. `progress` gets the events deleted so far.
    private func deleteEvents(month: Int64, end: Int64, progress: @Sendable (Int) -> Void) async throws {
        switch dialect {
        case .postgres:
            let deleted = try await database.write { db -> Int in
                var deleted = 0
                if let partition = try EventPartitions.existing(db)[month] {
                    deleted += try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(partition)") ?? 0
                    try db.execute(sql: "DROP TABLE \(partition)")
                }
                try db.execute(sql: "DELETE FROM events_default WHERE ts_ms >= ? AND ts_ms < ?", arguments: [month, end])
                return deleted + db.changesCount
            }
            eventMonths.withLock { _ = $0.remove(month) }
            progress(deleted)
        case .sqlite:
            var deleted = 0
            while true {
                let batch = try await database.write { db -> Int in
                    try db.execute(
                        sql: "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts_ms >= ? AND ts_ms < ? LIMIT 10000)",
                        arguments: [month, end])
                    return db.changesCount
                }
                guard batch > 0 else { break }
                deleted += batch
                progress(deleted)
            }
        }
    }
}
