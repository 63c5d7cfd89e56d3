import Foundation
import Logging
import Synchronization
import Testing
import TollgateCore

@testable import TollgateStore

/// The single event writer: `record` returns only once its event is committed, however many callers there are;
/// `submit`ted events are all written before `run` returns after `close`; an event handed over after `close` is
/// still written.
@Suite("MeterStore writer")
struct EventWriterTests {
    @Test(
        "1,000 concurrent record() calls each return after their event is committed (alone: racing for the idle meter)",
        arguments: [false, true])
    func concurrentRecords(alone: Bool) async throws {
        try await withTemporaryMeter { meter in
            let events = makeEvents(1_000, prefix: "concurrent", distinctCustomers: true)
            let notYetStored = try await withRunningWriter(meter, maxBatch: 64) { writer in
                try await withThrowingTaskGroup(of: String?.self) { group in
                    for event in events {
                        group.addTask {
                            try await writer.record(MeterWrite(event), alone: alone)
                            // Read straight after the return: the event must already be in the file.
                            return try await meter.events(customer: event.customer) == [event] ? nil : event.id
                        }
                    }
                    return try await group.reduce(into: [String]()) { missing, id in if let id { missing.append(id) } }
                }
            }
            #expect(notYetStored.isEmpty, "record() returned before the commit for \(notYetStored.prefix(5))")
            #expect(try await meter.eventCount() == 1_000)
        }
    }

    @Test("submit(), then close(), then run() returns with every event written", arguments: [1, 7, 512])
    func submitCloseRun(maxBatch: Int) async throws {
        try await withTemporaryMeter { meter in
            let writer = EventWriter(meter: meter, maxBatch: maxBatch)
            let events = makeEvents(100, prefix: "submitted")
            for event in events { writer.submit(event) }
            writer.close()
            await writer.run()
            let stored = try await meter.events()
            #expect(stored == events)
        }
    }

    @Test("run() with nothing handed over returns once closed")
    func closeIdle() async throws {
        try await withTemporaryMeter { meter in
            try await withRunningWriter(meter) { _ in }
            #expect(try await meter.eventCount() == 0)
        }
    }

    @Test("record() after close() still writes the event", arguments: [false, true])
    func recordAfterClose(hadRun: Bool) async throws {
        try await withTemporaryMeter { meter in
            let writer = EventWriter(meter: meter)
            writer.close()
            if hadRun { await writer.run() }
            let late = makeEvent(id: "evt_late")
            try await writer.record(late)
            #expect(try await meter.events() == [late])
        }
    }

    @Test("an event recorded alone on an idle meter is committed on the caller's thread; not alone, by the writer's")
    func aloneCommitsInline() async throws {
        // SQLite only: on PostgreSQL (a round trip to a server) every event goes to the writer's thread.
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory), synchronousFull: false)
            let events = makeEvents(4, prefix: "alone")
            let writer = try await withRunningWriter(meter) { writer in
                for event in events.prefix(3) { try await writer.record(MeterWrite(event), alone: true) }
                try await writer.record(MeterWrite(events[3]), alone: false)
                return writer
            }
            #expect(try await meter.events() == events)
            #expect(writer.inlineCommits.load(ordering: .relaxed) == 3)
        }
    }

    @Test("the same event recorded twice is stored once")
    func recordTwice() async throws {
        try await withTemporaryMeter { meter in
            let event = makeEvent(id: "evt_again")
            try await withRunningWriter(meter) { writer in
                try await writer.record(event)
                try await writer.record(event)
            }
            #expect(try await meter.events() == [event])
        }
    }

    @Test("events nobody waits for gather for a moment and are written together; one with a waiter ends the gathering")
    func relaxedEventsGather() async throws {
        try await withTemporaryMeter { meter in
            let batches = Mutex<[Int]>([])
            let writer = EventWriter(
                meter: meter, maxBatch: 512, logger: Logger(label: "test"),
                beforeCommit: { events in
                    batches.withLock { $0.append(events.count) }
                })
            async let running: Void = writer.run()
            let events = makeEvents(21, prefix: "gathered")
            let started = ContinuousClock.now
            writer.submit(events[0])
            // Time for the writer to wake up for the first event (without a gathering, it would write it alone).
            try await Task.sleep(for: .milliseconds(1))
            for event in events[1..<20] { writer.submit(event) }
            try await writer.record(events[20])
            let handedOver = ContinuousClock.now - started
            writer.close()
            await running
            #expect(try await meter.events() == events)
            // The gathering lasts `relaxedWindow` from the first hand-over at the earliest: when everything, the
            // waiter's commit included, was over within it (a starved machine may not manage), the waiter's event
            // ended the gathering and one transaction wrote all 21.
            if handedOver < .milliseconds(5) { #expect(batches.withLock { $0 } == [21]) }
        }
    }

    @Test("close() during a gathering writes the events at once and run() returns")
    func closeWhileGathering() async throws {
        try await withTemporaryMeter { meter in
            let event = makeEvent(id: "evt_gathering")
            try await withRunningWriter(meter) { writer in
                writer.submit(event)
                try await Task.sleep(for: .milliseconds(1))  // the writer finds it and starts gathering
            }
            #expect(try await meter.events() == [event])
        }
    }
}
