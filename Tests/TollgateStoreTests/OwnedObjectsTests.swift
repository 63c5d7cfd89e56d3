import Foundation
import Testing
import TollgateCore

@testable import TollgateStore

/// Who owns which provider object: the first owner stays, lists page through one customer's objects only, and a
/// background response is claimed for metering once.
@Suite("Owned objects")
struct OwnedObjectsTests {
    static func object(_ id: String, _ customer: String, at ms: Int64, kind: ObjectKind = .file) -> OwnedObject {
        OwnedObject(provider: "openai", id: id, kind: kind, customer: customer, keyID: "key_\(customer)", createdMs: ms)
    }

    @Test("an object keeps its first owner; another provider's id is another object")
    func firstOwnerStays() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory))
            try await meter.recordObjects([Self.object("file-1", "alice", at: 1)])
            try await meter.recordObjects([Self.object("file-1", "bob", at: 2)])
            #expect(try meter.object(provider: "openai", id: "file-1")?.customer == "alice")
            #expect(try meter.object(provider: "anthropic", id: "file-1") == nil)
            try await meter.removeObject(provider: "openai", id: "file-1")
            #expect(try meter.object(provider: "openai", id: "file-1") == nil)
        }
    }

    @Test("pages: one customer's objects of a kind, newest first (or oldest), after a cursor, has_more honest")
    func pages() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory))
            try await meter.recordObjects(
                (1...5).map { Self.object("file-a\($0)", "alice", at: Int64($0)) } + [Self.object("file-b", "bob", at: 3)]
                    + [Self.object("batch_a", "alice", at: 9, kind: .batch)])
            let first = try await meter.objects(customer: "alice", provider: "openai", kinds: [.file], descending: true, after: nil, limit: 2)
            #expect(first.objects.map(\.id) == ["file-a5", "file-a4"])
            #expect(first.hasMore)
            let second = try await meter.objects(
                customer: "alice", provider: "openai", kinds: [.file], descending: true, after: "file-a4", limit: 2)
            #expect(second.objects.map(\.id) == ["file-a3", "file-a2"])
            let last = try await meter.objects(
                customer: "alice", provider: "openai", kinds: [.file], descending: true, after: "file-a2", limit: 2)
            #expect(last.objects.map(\.id) == ["file-a1"])
            #expect(!last.hasMore)
            let ascending = try await meter.objects(customer: "alice", provider: "openai", kinds: [.file], descending: false, after: nil, limit: 10)
            #expect(ascending.objects.map(\.id) == (1...5).map { "file-a\($0)" })
            // Another customer's id is no cursor into alice's list.
            let foreign = try await meter.objects(customer: "alice", provider: "openai", kinds: [.file], descending: true, after: "file-b", limit: 10)
            #expect(foreign.objects.count == 5)
        }
    }

    @Test("a pending object is claimed for metering once")
    func claimOnce() async throws {
        try await withTemporaryDirectory { directory in
            let meter = try MeterStore(path: meterPath(in: directory))
            var pending = Self.object("resp_1", "alice", at: 1, kind: .response)
            pending.state = "pending"
            try await meter.recordObjects([pending, Self.object("resp_2", "alice", at: 1, kind: .response)])
            #expect(try await meter.claimObjectForMetering(provider: "openai", id: "resp_1"))
            #expect(try await !meter.claimObjectForMetering(provider: "openai", id: "resp_1"))
            #expect(try await !meter.claimObjectForMetering(provider: "openai", id: "resp_2"))
            #expect(try meter.object(provider: "openai", id: "resp_1")?.state == "metered")
        }
    }
}
