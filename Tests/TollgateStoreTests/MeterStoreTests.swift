import Foundation
import GRDB
import Testing
import TollgateCore

@testable import TollgateStore

/// The meter file: created and migrated on first open, reopened as it is, events written once per id and read back
/// filtered, in time order and field for field as they were written.
@Suite("MeterStore")
struct MeterStoreTests {
    /// An event with every field set to a value that would show a lossy column: exact money with 15 fractional digits,
    /// doubles that are not short decimals, text with quotes, commas and non-ASCII letters, JSON usage.
    static let full = UsageEvent(
        id: "evt_0192f0c4a1b27c3d8e9fa0b1c2d3e4f5", timestampMs: 1_731_234_567_891, customer: "cüstomer 'quoted', \"double\"",
        keyID: "key_AbC-123_x", feature: "summarize", endUser: "user-42", project: "proj,with,commas", provider: "groq",
        route: APIName.openAIResponses.rawValue, path: "/groq/openai/v1/responses", model: "fast", servedModel: "llama-3.1-8b-instant",
        status: 499, stream: true,
        usage: TokenUsage(
            inputTokens: 1001, cacheReadTokens: 2002, cacheWriteTokens: 303, cacheWrite1hTokens: 101, outputTokens: 4004,
            reasoningTokens: 505, inputAudioTokens: 66, outputAudioTokens: 77
        ),
        rawUsage: #"{"prompt_tokens":3306,"completion_tokens":4004,"details":{"note":"é \"q\""}}"#, serviceTier: "flex",
        latencyMs: 1234.5678, ttfbMs: 0.1, upstreamMs: 987.654321, cost: Money("0.000000000000001")!,
        price: Money("123456789012.123456789012345")!, currency: "EUR", estimated: true, priced: false, note: "client went away",
        idempotencyKey: "idem-7f3a"
    )

    @Test("a fresh file is created (folder included) and migrated")
    func opensFreshFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            #expect(!FileManager.default.fileExists(atPath: path))
            let meter = try MeterStore(path: path)
            #expect(meter.path == path)
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(try await meter.eventCount() == 0)
            #expect(try await meter.events().isEmpty)
            let applied = try meter.appliedMigrations()
            #expect(
                applied == [
                    "v1: customers, keys, events", "v2: image tokens, server-tool requests, price book",
                    "v3: teams, credits ledger, reservations, limits, alerts",
                    "v4: usage rollups for reports, the provider's request id",
                    "v5: billing export outbox, customers' ids in billing systems",
                    "v6: provider objects owned by customers",
                    "v7: media usage: images, audio seconds, input characters",
                    "v8: idempotent retries: stored responses by customer and key, replay events",
                    "v9: dashboard sessions revoked by logout", "v10: customers' own billing cycles",
                    "v11: export staged per customer and billing period", "v12: credit true-ups at the close of billing periods",
                    "v13: limits customers set for themselves", "v14: one request at a time admitted on less than its worst case",
                    "v15: shared by replicas: per-minute limits, leases of fleet-wide duties",
                    "v16: events partitioned by month on PostgreSQL, old months pruned",
                    "v17: events landed by a strict commit alone, filed right after (SQLite)",
                ])
        }
    }

    @Test("an existing file reopens with its events, migrated only once")
    func reopensExistingFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            let events = makeEvents(3, prefix: "reopen")
            do {
                let first = try MeterStore(path: path)
                try await first.insert(events)
            }
            let reopened = try MeterStore(path: path)
            #expect(try await reopened.events() == events)
            let migrations = try await reopened.sqlitePool!.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM grdb_migrations") }
            #expect(migrations == MeterSchema.migrations.count)
        }
    }

    @Test(
        "a write only if idle never waits: not behind a write of this process, not for another's lock, not for an fsync",
        .timeLimit(.minutes(1)))
    func writeIfIdleNeverWaits() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            let meter = try MeterStore(path: path, synchronousFull: false)
            let insert = "INSERT INTO customers (id, created_ms) VALUES (?, 0)"
            // Each write is made outside `#expect`, whose expansion may evaluate its operands more than once.
            let idle: Void? = try meter.database.writeIfIdle { db in try db.execute(sql: insert, arguments: ["idle"], cached: false) }
            #expect(idle != nil)
            // A write of this process in its transaction, held on another thread.
            let release = DispatchSemaphore(value: 0)
            holdWrite(meter, until: release)
            // Should it wait for the held write, the write lets go by itself after 2 s (rather than never).
            DispatchQueue.global().asyncAfter(deadline: .now() + 2) { release.signal() }
            var started = ContinuousClock.now
            let behind: Void? = try meter.database.writeIfIdle { db in try db.execute(sql: insert, arguments: ["behind"], cached: false) }
            #expect(behind == nil)
            #expect(ContinuousClock.now - started < .seconds(1))
            // Another connection (the CLI, a replica on the same file) holding SQLite's write lock: no wait of up to 5 s.
            let other = try MeterStore(path: path, synchronousFull: false)
            let unlock = DispatchSemaphore(value: 0)
            holdWrite(other, until: unlock)
            started = ContinuousClock.now
            let locked: Void? = try meter.database.writeIfIdle { db in try db.execute(sql: insert, arguments: ["locked"], cached: false) }
            #expect(locked == nil)
            #expect(ContinuousClock.now - started < .seconds(1))
            unlock.signal()
            // Commits that sync to disk take milliseconds: never on the caller's thread.
            let synced = try MeterStore(path: directory.appendingPathComponent("synced.db").path, synchronousFull: true)
            let fsynced = try synced.database.writeIfIdle { _ in 1 }
            #expect(fsynced == nil)
            // Once the others are done, it writes again; what it declined was never written.
            var wrote: Int?
            for _ in 0..<100 where wrote == nil {
                wrote = try meter.database.writeIfIdle { db in try db.execute(sql: insert, arguments: ["after"], cached: false) }.map { 1 }
                if wrote == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(wrote == 1)
            let ids = try await meter.database.read { db in try db.rows(sql: "SELECT id FROM customers ORDER BY id", arguments: [], cached: false) }
            #expect(ids.map { $0["id"] as String } == ["after", "idle"])
        }
    }

    /// Starts a write of `meter` on a thread of its own, holding its transaction (and SQLite's write lock) until
    /// `release` is signalled; returns once the transaction has begun.
    private func holdWrite(_ meter: MeterStore, until release: DispatchSemaphore) {
        let begun = DispatchSemaphore(value: 0)
        Thread {
            _ = try? meter.database.write { _ in
                begun.signal()
                release.wait()
            }
        }.start()
        begun.wait()
    }

    @Test("two meters on one file (serve and the CLI) see each other's writes")
    func sharedFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            let server = try MeterStore(path: path)
            let cli = try MeterStore(path: path)
            try await server.insert(makeEvents(2, prefix: "shared"))
            #expect(try await cli.eventCount() == 2)
        }
    }

    @Test("past the threshold, a checkpoint is asked for once per step of new pages, and again from the start once the log started over")
    func checkpointsAskedPerStep() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory), synchronousFull: false)
            let checkpointer = try #require((meter.database as? SQLiteMeterDatabase)?.checkpointer)
            checkpointer.pauseForTests()
            let (threshold, step) = (WALCheckpointer.threshold, WALCheckpointer.step)
            #expect(!checkpointer.logGrew(to: threshold - 1))
            #expect(checkpointer.logGrew(to: threshold))
            #expect(!checkpointer.logGrew(to: threshold + 6))
            #expect(!checkpointer.logGrew(to: threshold + step - 1))
            #expect(checkpointer.logGrew(to: threshold + step))
            #expect(!checkpointer.logGrew(to: threshold + step + 12))
            // The log started over: the next time it passes the threshold asks at once.
            #expect(!checkpointer.logGrew(to: 6))
            #expect(checkpointer.logGrew(to: threshold + 3))
            checkpointer.resumeForTests()
            try meter.close()
        }
    }

    @Test("the write-ahead log is checkpointed beside the writer, not inside its commits")
    func checkpointsBesideTheWriter() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            let meter = try MeterStore(path: path, synchronousFull: false)
            let checkpointer = try #require((meter.database as? SQLiteMeterDatabase)?.checkpointer)
            // With the checkpointer held up, 500 transactions (several pages each) take the log past SQLite's
            // 1,000-page threshold: the writer does not checkpoint in its commits (the log file grows on; its frames
            // are pages of 4 KB plus 24 bytes, after a 32-byte header).
            checkpointer.pauseForTests()
            for event in makeEvents(500, prefix: "wal", distinctCustomers: true) { _ = try meter.insertNow([MeterWrite(event)]) }
            #expect(checkpointer.checkpoints.count == 0)
            let logBytes = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
            let behind = (logBytes - 32) / (4096 + 24)
            #expect(behind > Int(WALCheckpointer.threshold))
            #expect(behind < Int(WALCheckpointer.inlineThreshold))
            // Let go, it checkpoints; the writer's next commit starts the log over.
            checkpointer.resumeForTests()
            for _ in 0..<500 where checkpointer.checkpoints.count == 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(checkpointer.checkpoints.count >= 1)
            #expect(checkpointer.checkpoints.failure == nil)
            // Only a log copied whole can be started over: the checkpointer copied it all.
            _ = try meter.insertNow([MeterWrite(makeEvent(id: "wal-after"))])
            let observer = try DatabaseQueue(path: path)
            #expect(try observer.inDatabase { try $0.checkpoint(.passive) }.walFrameCount < Int(WALCheckpointer.threshold))
            #expect(try await meter.eventCount() == 501)
            try observer.close()
            try meter.close()
        }
    }

    @Test("a file that is not a meter is refused with its path")
    func refusesForeignFile() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("notes.txt").path
            #expect(FileManager.default.createFile(atPath: path, contents: Data(String(repeating: "not a database\n", count: 100).utf8)))
            let error = #expect(throws: MeterError.self) { try MeterStore(path: path) }
            guard case .cannotOpen(let reported, _) = error else {
                Issue.record("expected cannotOpen, got \(String(describing: error))")
                return
            }
            #expect(reported == path)
        }
    }

    @Test("the same event id twice in one batch keeps one row")
    func idempotentInOneBatch() async throws {
        try await withTemporaryMeter { meter in
            let event = makeEvent(id: "evt_twice")
            try await meter.insert([event, event])
            #expect(try await meter.events() == [event])
        }
    }

    @Test("the same event id in two batches keeps the first row")
    func idempotentAcrossBatches() async throws {
        try await withTemporaryMeter { meter in
            let event = makeEvent(id: "evt_retried")
            try await meter.insert([event])
            try await meter.insert([event])
            var changed = event
            changed.customer = "someone-else"
            changed.cost = Money("9")!
            try await meter.insert([changed])
            #expect(try await meter.eventCount() == 1)
            #expect(try await meter.events() == [event])
        }
    }

    @Test("every field round-trips exactly, money as exact decimal text")
    func roundTripsEveryField() async throws {
        try await withTemporaryMeter { meter in
            try await meter.insert([Self.full])
            #expect(try await meter.events() == [Self.full])
            let stored = try await meter.database.read { try SQLRow.fetchOne($0, sql: "SELECT cost, price FROM events") }
            #expect(stored?["cost"] == "0.000000000000001")
            #expect(stored?["price"] == "123456789012.123456789012345")
        }
    }

    /// SQLite's binding (texts bound in place from one buffer per run); a SQLite file whatever the suite's database.
    @Test("bound texts read back byte for byte: empty, non-ASCII, long, beside nulls and numbers, run after run")
    func bindsTextsInPlace() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory))
            let long = String(repeating: "ab\u{e9}\u{1F600}", count: 200)
            let rows: [[SQLValue]] = [
                [.text(""), .null, .text("\u{e9}t\u{e9}"), .integer(7), .text(long)],
                [.text("x"), .text(""), .null, .real(0.5), .text("")],
                [.null, .text("\"quoted\", comma"), .text(long), .integer(-1), .text("\u{0}nul inside")],
            ]
            let read = try await meter.database.write { db in
                try db.executeSchema("CREATE TABLE bound (a TEXT, b TEXT, c TEXT, d, e TEXT)")
                for row in rows {
                    try db.execute(sql: "INSERT INTO bound VALUES (?, ?, ?, ?, ?)", arguments: SQLArguments(values: row), cached: true)
                }
                return try db.rows(sql: "SELECT a, b, c, d, e FROM bound ORDER BY rowid", arguments: [], cached: false)
            }
            #expect(read.map(\.values) == rows)
        }
    }

    @Test("optional fields left out read back as nil")
    func roundTripsNils() async throws {
        try await withTemporaryMeter { meter in
            let sparse = makeEvent(id: "evt_sparse")
            try await meter.insert([sparse])
            let read = try #require(try await meter.events().first)
            #expect(read == sparse)
            #expect(read.feature == nil && read.endUser == nil && read.project == nil && read.servedModel == nil)
            #expect(read.rawUsage == nil && read.serviceTier == nil && read.ttfbMs == nil && read.upstreamMs == nil)
            #expect(read.note == nil && read.idempotencyKey == nil)
        }
    }

    /// Five events over four instants and two customers, the last two at the same instant.
    static let base: Int64 = 1_700_000_000_000
    static let timeline: [UsageEvent] = [
        makeEvent(id: "evt_a", timestampMs: base, customer: "acme"),
        makeEvent(id: "evt_b", timestampMs: base + 1_000, customer: "globex"),
        makeEvent(id: "evt_c", timestampMs: base + 2_000, customer: "acme"),
        makeEvent(id: "evt_d", timestampMs: base + 3_000, customer: "acme"),
        makeEvent(id: "evt_e", timestampMs: base + 3_000, customer: "globex"),
    ]

    /// A filter of ``MeterStore/events(customer:since:until:limit:)`` and the ids it must return, in order.
    struct Filter: Sendable, CustomTestStringConvertible {
        var customer: String?
        var since: Int64?
        var until: Int64?
        var limit: Int?
        var expected: [String]
        var testDescription: String {
            "customer \(customer ?? "-") since \(since.map { "+\($0 - base)" } ?? "-") until \(until.map { "+\($0 - base)" } ?? "-")"
                + " limit \(limit.map(String.init) ?? "-")"
        }
    }

    @Test(
        "events() filters by customer, since (inclusive), until (exclusive) and limit, in time order",
        arguments: [
            Filter(expected: ["evt_a", "evt_b", "evt_c", "evt_d", "evt_e"]),
            Filter(customer: "acme", expected: ["evt_a", "evt_c", "evt_d"]),
            Filter(customer: "nobody", expected: []),
            Filter(since: base + 2_000, expected: ["evt_c", "evt_d", "evt_e"]),
            Filter(since: base + 1, expected: ["evt_b", "evt_c", "evt_d", "evt_e"]),
            Filter(until: base + 2_000, expected: ["evt_a", "evt_b"]),
            Filter(until: base + 2_001, expected: ["evt_a", "evt_b", "evt_c"]),
            Filter(since: base + 1_000, until: base + 3_000, expected: ["evt_b", "evt_c"]),
            Filter(customer: "acme", since: base + 1_000, until: base + 3_001, expected: ["evt_c", "evt_d"]),
            Filter(limit: 2, expected: ["evt_a", "evt_b"]),
            Filter(customer: "acme", limit: 2, expected: ["evt_a", "evt_c"]),
            Filter(customer: "globex", since: base + 2_000, limit: 5, expected: ["evt_e"]),
            Filter(limit: 0, expected: []),
        ])
    func filters(_ filter: Filter) async throws {
        try await withTemporaryMeter { meter in
            // Written out of order: the order read back comes from the query.
            let timeline = Self.timeline
            try await meter.insert([timeline[3], timeline[1], timeline[4], timeline[0], timeline[2]])
            let events = try await meter.events(
                customer: filter.customer, since: filter.since.map(date(ms:)), until: filter.until.map(date(ms:)), limit: filter.limit)
            #expect(events.map(\.id) == filter.expected)
        }
    }

    @Test("a lease has one holder until it runs out, is given up, or its replica is gone; its holder renews it")
    func leases() async throws {
        try await withTemporaryMeter { meter in
            // Two replicas, registered as running on other hosts.
            let (a, b) = ("ins_replica_a", "ins_replica_b")
            let now = Timestamps.nowMs()
            try await meter.database.write { db in
                for id in [a, b] {
                    try db.execute(
                        sql: "INSERT INTO instances (id, host, pid, started_ms, heartbeat_ms) VALUES (?, 'elsewhere', 1, ?, ?)",
                        arguments: [id, now, now])
                }
            }
            #expect(try await meter.holdLease("export", holder: a, ttlMs: 1_000, nowMs: now))
            #expect(try await !meter.holdLease("export", holder: b, ttlMs: 1_000, nowMs: now + 999))
            #expect(try await meter.holdLease("alerts", holder: b, ttlMs: 1_000, nowMs: now), "another duty is another lease")
            #expect(try await meter.holdLease("export", holder: a, ttlMs: 1_000, nowMs: now + 999), "renewed")
            // Renewed a moment ago: only read, its expiry left where it was (b takes it at now + 1,999 all the same).
            #expect(try await meter.holdLease("export", holder: a, ttlMs: 1_000, nowMs: now + 1_100), "still held")
            #expect(try await !meter.holdLease("export", holder: b, ttlMs: 1_000, nowMs: now + 1_998))
            #expect(try await meter.holdLease("export", holder: b, ttlMs: 1_000, nowMs: now + 1_999), "a's lease ran out")
            try await meter.releaseLease("export", holder: a)  // not a's any more: nothing happens
            #expect(try await !meter.holdLease("export", holder: a, ttlMs: 1_000, nowMs: now + 2_000))
            try await meter.releaseLease("export", holder: b)
            #expect(try await meter.holdLease("export", holder: a, ttlMs: 60_000, nowMs: now + 2_000))
            // The holder's replica is gone (what a restart after kill -9 finds): the lease is free at once.
            try await meter.database.write { try $0.execute(sql: "DELETE FROM instances WHERE id = ?", arguments: [a]) }
            #expect(try await meter.holdLease("export", holder: b, ttlMs: 60_000, nowMs: now + 2_001))
        }
    }
}
