import Foundation
import Testing
import TollgateCore

@testable import TollgateStore

/// Old months of events pruned (partitions dropped on PostgreSQL, batched deletes on SQLite) with the reports'
/// totals kept, and a meter copied whole into another (as `tollgate meter migrate` does).
@Suite("EventPruning")
struct EventPruningTests {
    /// 2026-12-04: months up to 2026-09 may be pruned (October, November and December stay).
    static let nowMs = Timestamps.parse("2026-12-04T12:00:00Z")!

    /// Three events in July, two in August, one in November 2026: prices 0.1 … 0.6.
    static func events() -> [UsageEvent] {
        let times = [
            "2026-07-01T00:00:00Z", "2026-07-15T10:00:00Z", "2026-07-31T23:59:59.999Z", "2026-08-01T00:00:00Z", "2026-08-20T08:00:00Z",
            "2026-11-03T09:00:00Z",
        ]
        return times.enumerated().map { index, time in
            var event = makeEvent(id: "evt_prune_\(index)", timestampMs: Timestamps.parse(time)!)
            event.price = Money("0.\(index + 1)")!
            return event
        }
    }

    /// The margin report's revenue per month (UTC) over the whole of 2026.
    static func revenueByMonth(_ meter: MeterStore) async throws -> [String: String] {
        var revenue: [String: String] = [:]
        for month in ["2026-07", "2026-08", "2026-11"] {
            let bounds = Timestamps.month(month)!
            let report = try await meter.marginReport(MarginQuery(fromMs: bounds.startMs, toMs: bounds.endMs, by: [.customer]))
            revenue[month] = report.totals.first?.totals.revenue.description ?? "none"
        }
        return revenue
    }

    @Test("whole months before --before go, the report totals of every month stay, and a rebuild keeps them")
    func prunesOldMonths() async throws {
        try await withTemporaryMeter { meter in
            try await meter.insert(Self.events())
            let before = try await Self.revenueByMonth(meter)
            #expect(before == ["2026-07": "0.6", "2026-08": "0.9", "2026-11": "0.6"])
            let september = Timestamps.month("2026-09")!.startMs

            let dryRun = try await meter.pruneEvents(before: september, nowMs: Self.nowMs, dryRun: true)
            #expect(dryRun.months.map(\.month) == ["2026-07", "2026-08"] && dryRun.months.map(\.events) == [3, 2])
            #expect(try await meter.eventCount() == 6)
            #expect(try await meter.eventsPrunedBefore() == nil)

            let pruned = try await meter.pruneEvents(before: september, nowMs: Self.nowMs, dryRun: false)
            #expect(pruned.events == 5 && !pruned.dryRun)
            #expect(try await meter.events().map(\.id) == ["evt_prune_5"])
            #expect(try await meter.eventsPrunedBefore() == september)
            #expect(try await Self.revenueByMonth(meter) == before)
            // Rebuilding the rollups reads the events there are: the pruned months' totals stay as they were.
            #expect(try await meter.rebuildRollups() == 1)
            #expect(try await Self.revenueByMonth(meter) == before)
            // Nothing left to prune; a month's events arriving after its prune would go the same way.
            #expect(try await meter.pruneEvents(before: september, nowMs: Self.nowMs, dryRun: false).events == 0)
            try await meter.insert([makeEvent(id: "evt_prune_late", timestampMs: Timestamps.parse("2026-08-02T00:00:00Z")!)])
            #expect(try await meter.pruneEvents(before: september, nowMs: Self.nowMs, dryRun: false).events == 1)
        }
    }

    @Test("the current month and the two before it are refused, and so is a time inside a month")
    func refusesRecentMonths() async throws {
        try await withTemporaryMeter { meter in
            try await meter.insert(Self.events())
            for month in ["2026-11", "2026-12", "2027-01"] {
                await #expect(throws: MeterError.self) {
                    try await meter.pruneEvents(before: Timestamps.month(month)!.startMs, nowMs: Self.nowMs, dryRun: true)
                }
            }
            await #expect(throws: MeterError.self) {
                try await meter.pruneEvents(before: Timestamps.parse("2026-08-15T00:00:00Z")!, nowMs: Self.nowMs, dryRun: true)
            }
            // October is the latest allowed on December 4th: it prunes September and before.
            #expect(try await meter.pruneEvents(before: Timestamps.month("2026-10")!.startMs, nowMs: Self.nowMs, dryRun: true).events == 5)
            #expect(try await meter.eventCount() == 6)
        }
    }

    @Test("a copy moves every table (the list of copied tables names each one the schema creates)")
    func copiesEveryTable() async throws {
        try await withTemporaryDirectory { directory in
            let source = try MeterStore(path: meterPath(in: directory))
            try await source.insert(Self.events())
            try await withTemporaryMeter { target in
                let report = try await source.copy(to: target)
                #expect(report.rows["events"] == 6)
                #expect(report.sums["events.price USD"] == Money("2.1"))
                #expect(try await target.events().map(\.id) == Self.events().map(\.id))
                #expect(try await Self.revenueByMonth(target) == Self.revenueByMonth(source))

                let tables = try await target.database.read { db in
                    switch db.dialect {
                    case .sqlite:
                        return try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                    case .postgres:
                        // The parent `events` stands for its month partitions.
                        return try String.fetchAll(
                            db, sql: "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE 'events\\_%'")
                    }
                }
                // `events_landing` holds events in transit only: a read (the copy's included) files them first.
                let bookkeeping: Set = ["grdb_migrations", "tollgate_migrations", "events_landing"]
                #expect(Set(tables).subtracting(bookkeeping) == Set(MeterStore.copiedTables))
            }
        }
    }

    @Test("a PostgreSQL meter of schema v15 has its events moved into month partitions, none lost")
    func partitionsAnExistingMeter() async throws {
        guard let server = ProcessInfo.processInfo.environment["TOLLGATE_TEST_POSTGRES_URL"], !server.isEmpty else { return }
        let schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let options = try PostgresMeterOptions(url: server + (server.contains("?") ? "&" : "?") + "schema=\(schema)&pool=2")
        let v15 = Array(MeterSchema.migrations.prefix { !$0.identifier.hasPrefix("v16") })
        let old = try PostgresMeterDatabase(options: options, migrations: v15)
        try await old.write { db in
            for event in Self.events() { try db.execute(sql: EventRow.insertSQL, arguments: EventRow.arguments(event)) }
        }
        try old.close()
        let meter = try MeterStore(postgres: options)
        defer {
            try? meter.database.write { try $0.execute(sql: "DROP SCHEMA \(schema) CASCADE") }
            try? meter.close()
        }
        #expect(try await meter.events().map(\.id) == Self.events().map(\.id))
        let placed = try await meter.database.read { db in
            try SQLRow.fetchAll(db, sql: "SELECT tableoid::regclass::text AS partition, COUNT(*) AS events FROM events GROUP BY 1 ORDER BY 1")
                .map { "\($0["partition"] as String): \($0["events"] as Int)" }
        }
        #expect(placed == ["events_2026_07: 3", "events_2026_08: 2", "events_2026_11: 1"])
        // A retried write of a stored event still does nothing.
        try await meter.insert([Self.events()[0]])
        #expect(try await meter.eventCount() == 6)
    }

    @Test("an event of a month without its partition waits in events_default and moves when the month is made")
    func defaultPartitionRowsMove() async throws {
        try await withTemporaryMeter { meter in
            guard meter.dialect == .postgres else { return }
            let may = Timestamps.parse("2031-05-10T00:00:00Z")!
            let early = makeEvent(id: "evt_early", timestampMs: may)
            try await meter.database.write { db in try db.execute(sql: EventRow.insertSQL, arguments: EventRow.arguments(early)) }
            func partitions() async throws -> [String] {
                try await meter.database.read { db in
                    try String.fetchAll(db, sql: "SELECT tableoid::regclass::text FROM events WHERE ts_ms >= ? ORDER BY id", arguments: [may])
                }
            }
            #expect(try await partitions() == ["events_default"])
            try await meter.insert([makeEvent(id: "evt_later", timestampMs: may + 1)])
            #expect(try await partitions() == ["events_2031_05", "events_2031_05"])
            // The month after the latest event's is made ahead.
            let june = try await meter.database.read { db in
                try Int.fetchOne(db, sql: "SELECT CASE WHEN to_regclass('events_2031_06') IS NULL THEN 0 ELSE 1 END")
            }
            #expect(june == 1)
        }
    }

    @Test("an event id is stored once whatever the time it comes with (a batch's results read twice)")
    func oneRowPerID() async throws {
        try await withTemporaryMeter { meter in
            let first = makeEvent(id: "evt_once", timestampMs: Timestamps.parse("2026-11-03T09:00:00Z")!)
            var again = first
            again.timestampMs = Timestamps.parse("2026-12-01T00:00:00Z")!
            again.price = Money("9")!
            try await meter.insert([first])
            try await meter.insert([again])
            try await meter.insert([again, first])
            let stored = try await meter.events()
            #expect(stored.map(\.id) == ["evt_once"])
            #expect(stored.first?.timestampMs == first.timestampMs && stored.first?.price == first.price)
        }
    }
}
