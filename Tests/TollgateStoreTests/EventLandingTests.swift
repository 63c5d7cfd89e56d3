import Foundation
import GRDB
import Testing
import TollgateCore

@testable import TollgateStore

/// Events landed by a strict commit alone (``EventLanding``): durable at once, seen by every read at once, filed
/// once (rollups included) by the writer, by a read or by the next open after a kill, whichever comes first.
@Suite("Event landing")
struct EventLandingTests {
    /// Rows of `table`, read straight from the file: no read of the store, which would file landed events first.
    private static func count(_ meter: MeterStore, _ table: String) async throws -> Int {
        try await meter.sqlitePool!.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM \(table)") } ?? -1
    }

    /// The requests the daily rollup counts, read straight from the file.
    private static func rolledUp(_ meter: MeterStore) async throws -> Int {
        try await meter.sqlitePool!.read { try Int.fetchOne($0, sql: "SELECT COALESCE(SUM(requests), 0) FROM usage_daily") } ?? -1
    }

    @Test("an event recorded alone lands; every read sees it at once; the writer files it once, rollups included")
    func aloneLandsAndIsFiled() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory), synchronousFull: false)
            let events = makeEvents(20, prefix: "landed")
            let writer = try await withRunningWriter(meter) { writer in
                for event in events {
                    try await writer.record(MeterWrite(event), alone: true)
                    // A read straight after the commit, before the writer may have filed it.
                    #expect(try await meter.events(customer: event.customer).contains(event))
                }
                return writer
            }
            // Alone, but not always idle: a record that finds the writer filing earlier ones goes to the writer.
            #expect(writer.inlineCommits.load(ordering: .relaxed) > 0)
            #expect(try await Self.count(meter, "events_landing") == 0)
            #expect(try await Self.count(meter, "events") == 20)
            #expect(try await Self.rolledUp(meter) == 20)
            #expect(try await meter.events() == events)
        }
    }

    @Test("a landed event keeps every field exactly, and filing it twice stores and counts it once")
    func filedTwice() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory), synchronousFull: false)
            let landed = try #require(try meter.landIfIdle(MeterWrite(MeterStoreTests.full)))
            #expect(landed.landed)
            #expect(try await Self.count(meter, "events_landing") == 1)
            #expect(try await Self.count(meter, "events") == 0)
            // A read files it (as the CLI's would, or the admin API's) …
            #expect(try await meter.events() == [MeterStoreTests.full])
            #expect(try await Self.count(meter, "events_landing") == 0)
            // … and the writer, which had it in hand, files it again: a no-op.
            _ = try meter.insertNow([landed])
            #expect(try await Self.count(meter, "events") == 1)
            #expect(try await Self.rolledUp(meter) == 1)
        }
    }

    @Test("opening a meter files what a killed process left landed")
    func openFilesLanded() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            let meter = try MeterStore(path: path, synchronousFull: false)
            let events = makeEvents(3, prefix: "killed")
            for event in events { _ = try #require(try meter.landIfIdle(MeterWrite(event))) }
            try meter.close()  // as a kill would leave it: landed, not filed
            let reopened = try MeterStore(path: path, synchronousFull: false)
            #expect(try await Self.count(reopened, "events_landing") == 0)
            #expect(try await Self.count(reopened, "events") == 3)
            #expect(try await Self.rolledUp(reopened) == 3)
        }
    }

    @Test("a limit added while an event is landed starts from a usage that counts it")
    func limitCountsLanded() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory), synchronousFull: false)
            _ = try #require(try meter.landIfIdle(MeterWrite(makeEvent(id: "evt_before_limit", timestampMs: Timestamps.nowMs()))))
            let limit = try await meter.addLimit(scope: .customer, scopeID: "acme", metric: .requests, period: .month, amount: "10")
            // The period's usage row is made in a write transaction, where no read files anything.
            #expect(try await meter.limitStatus(limit).used == "1")
            #expect(try await Self.count(meter, "events_landing") == 0)
        }
    }

    @Test("an event that settles a reservation or resolves an idempotency key is committed whole, never landed")
    func onlyPlainEventsLand() {
        let event = makeEvent(id: "evt_whole")
        #expect(EventLanding.mayLand(MeterWrite(event)))
        #expect(!EventLanding.mayLand(MeterWrite(event, settling: "res_1")))
        let key = IdempotencyKeyRef(customer: "acme", key: "k1", eventID: event.id)
        #expect(!EventLanding.mayLand(MeterWrite(event, idempotency: (key, .released))))
    }
}
