import Foundation
import Testing
import TollgateCore

@testable import TollgateStore

/// Idempotency keys at the meter: one claim per customer and key, resolved in the transaction of its request's event,
/// bound to its request's hash, replayable for its window, and taken over when the process holding it died.
@Suite("Idempotency keys")
struct IdempotencyKeyTests {
    static let window: Int64 = 86_400_000
    static let response = StoredResponse(status: 200, headers: [HeaderPair("content-type", "application/json")], body: Array("{}".utf8))

    private func claim(
        _ meter: MeterStore, customer: String = "acme", key: String = "k1", hash: String = "h1", event: String, instance: String? = nil,
        nowMs: Int64 = 1_000
    ) async throws -> IdempotencyClaim {
        try await meter.claimIdempotencyKey(
            customer: customer, key: key, requestHash: hash, eventID: event, instance: instance, nowMs: nowMs, windowMs: Self.window)
    }

    private func complete(
        _ meter: MeterStore, event: String, customer: String = "acme", key: String = "k1", response: StoredResponse? = response
    )
        async throws
    {
        let write = MeterWrite(
            makeEvent(id: event, timestampMs: 1_000, customer: customer),
            idempotency: (IdempotencyKeyRef(customer: customer, key: key, eventID: event), .completed(response, bytes: 2, expiresMs: 5_000)))
        _ = try await meter.insert([write])
    }

    @Test("the first claim wins; a duplicate sees it in flight, then its response once its event is stored")
    func claimThenReplay() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory))
            #expect(try await claim(meter, event: "evt_1") == .claimed)
            #expect(try await claim(meter, event: "evt_2") == .inFlight(original: "evt_1"))
            #expect(try await claim(meter, hash: "other", event: "evt_3") == .mismatch(original: "evt_1"))
            try await complete(meter, event: "evt_1")
            #expect(try await claim(meter, event: "evt_4") == .replay(original: "evt_1", Self.response))
            #expect(try await claim(meter, customer: "globex", event: "evt_5") == .claimed)
            // After the window the key is free again.
            #expect(try await claim(meter, event: "evt_6", nowMs: 5_000) == .claimed)
        }
    }

    @Test("a released claim frees the key; a response too large to keep is reported, not replayed")
    func releasedAndNotStored() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory))
            #expect(try await claim(meter, event: "evt_1") == .claimed)
            let released = MeterWrite(
                makeEvent(id: "evt_1", timestampMs: 1_000, customer: "acme"),
                idempotency: (IdempotencyKeyRef(customer: "acme", key: "k1", eventID: "evt_1"), .released))
            _ = try await meter.insert([released])
            #expect(try await claim(meter, event: "evt_2") == .claimed)
            try await complete(meter, event: "evt_2", response: nil)
            #expect(try await claim(meter, event: "evt_3") == .notStored(original: "evt_2", bytes: 2))
        }
    }

    @Test("an event written again does not resolve a key that another request holds now")
    func rewriteDoesNotResolve() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory))
            #expect(try await claim(meter, event: "evt_1") == .claimed)
            try await complete(meter, event: "evt_1")
            #expect(try await claim(meter, event: "evt_2", nowMs: 6_000) == .claimed)
            try await complete(meter, event: "evt_1")  // a retried write of the first event: already stored
            #expect(try await claim(meter, event: "evt_3", nowMs: 6_000) == .inFlight(original: "evt_2"))
        }
    }

    @Test("a key held in flight by a process that is gone is taken over, and purged with expired keys")
    func deadHolder() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory))
            let admission = AdmissionControl(meter: meter)
            try await admission.start()
            #expect(try await claim(meter, event: "evt_1", instance: admission.instanceID) == .claimed)
            #expect(try await claim(meter, event: "evt_2", instance: "ins_other") == .inFlight(original: "evt_1"))
            #expect(try await claim(meter, key: "k2", event: "evt_3", instance: "ins_dead") == .claimed)
            #expect(try await meter.purgeIdempotencyKeys(nowMs: 2_000) == 1)  // k2: its holder never registered
            await admission.stop()
            #expect(try await claim(meter, event: "evt_4", instance: "ins_other") == .claimed)
            #expect(try await meter.purgeIdempotencyKeys(nowMs: 1_000 + Self.window) == 1)
        }
    }
}
