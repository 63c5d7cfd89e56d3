import Foundation
import GRDB
import Testing
import TollgateCore

@testable import TollgateStore

/// Virtual keys: the secret (`tg_…`) is returned once at creation and never stored or listed; it authenticates until
/// the key is revoked, and revoking is refused for a key that is unknown or already revoked.
@Suite("Virtual keys")
struct VirtualKeyTests {
    /// Whether `error` is the meter's refusal of an operation.
    private func isRejection(_ error: MeterError?) -> Bool {
        if case .rejected = error { return true }
        return false
    }

    /// Whether `error` says that what the operation names does not exist.
    private func isNotFound(_ error: MeterError?) -> Bool {
        if case .notFound = error { return true }
        return false
    }

    @Test("create returns a tg_ secret and a record that only shows its prefix")
    func create() async throws {
        try await withTemporaryMeter { meter in
            let (key, secret) = try await meter.createKey(customer: "acme", name: "production")
            #expect(secret.hasPrefix("tg_"))
            #expect(secret.count == 43, "tg_ and 30 random bytes in unpadded base64url")
            #expect(secret.dropFirst(3).allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
            #expect(key.id.hasPrefix("key_"))
            #expect(key.customer == "acme")
            #expect(key.name == "production")
            #expect(key.prefix == String(secret.prefix(10)))
            #expect(key.revokedMs == nil)
            let (other, otherSecret) = try await meter.createKey(customer: "acme")
            #expect(other.id != key.id)
            #expect(otherSecret != secret)
        }
    }

    @Test("a customer id must be 1 to 200 characters", arguments: ["", String(repeating: "c", count: 201)])
    func refusesCustomer(_ customer: String) async throws {
        try await withTemporaryMeter { meter in
            let error = await #expect(throws: MeterError.self) { try await meter.createKey(customer: customer) }
            #expect(isRejection(error))
        }
    }

    @Test("listing shows the keys, filtered by customer, and never the secret")
    func listNeverShowsSecret() async throws {
        try await withTemporaryMeter { meter in
            let (first, firstSecret) = try await meter.createKey(customer: "acme", name: "one")
            let (second, secondSecret) = try await meter.createKey(customer: "globex")
            let all = try await meter.keys()
            #expect(Set(all.map(\.id)) == [first.id, second.id])
            #expect(try await meter.keys(customer: "acme") == [first])
            #expect(try await meter.keys(customer: "nobody").isEmpty)
            let listed = String(decoding: try JSONEncoder().encode(all), as: UTF8.self)
            let stored = try await meter.database.read { db in
                try SQLRow.fetchAll(db, sql: "SELECT * FROM virtual_keys").map { $0.description }.joined(separator: "\n")
            }
            for secret in [firstSecret, secondSecret] {
                let hidden = String(secret.dropFirst(10))
                #expect(!listed.contains(hidden), "the listing shows no more than the prefix")
                #expect(!stored.contains(hidden), "the database keeps no more than the prefix")
            }
        }
    }

    @Test("the secret authenticates its key; anything else does not")
    func authenticate() async throws {
        try await withTemporaryMeter { meter in
            let (key, secret) = try await meter.createKey(customer: "acme")
            #expect(try meter.authenticate(secret: secret) == key)
            for wrong in ["", "tg_", secret + "x", String(secret.dropLast()), "sk_" + secret.dropFirst(3), key.prefix, key.id] {
                #expect(try meter.authenticate(secret: wrong) == nil, "\(wrong)")
            }
        }
    }

    @Test("a revoked key no longer authenticates; the customer's other keys still do")
    func revoke() async throws {
        try await withTemporaryMeter { meter in
            let (revoked, revokedSecret) = try await meter.createKey(customer: "acme")
            let (kept, keptSecret) = try await meter.createKey(customer: "acme")
            try await meter.revokeKey(id: revoked.id)
            #expect(try meter.authenticate(secret: revokedSecret) == nil)
            #expect(try meter.authenticate(secret: keptSecret) == kept)
            let listed = try await meter.keys(customer: "acme")
            #expect(listed.first { $0.id == revoked.id }?.revokedMs != nil)
            #expect(listed.first { $0.id == kept.id }?.revokedMs == nil)
        }
    }

    @Test("revoking twice, or an unknown id, is refused")
    func revokeRefused() async throws {
        try await withTemporaryMeter { meter in
            let (key, _) = try await meter.createKey(customer: "acme")
            try await meter.revokeKey(id: key.id)
            let twice = await #expect(throws: MeterError.self) { try await meter.revokeKey(id: key.id) }
            #expect(isNotFound(twice))
            let unknown = await #expect(throws: MeterError.self) { try await meter.revokeKey(id: "key_unknown") }
            #expect(isNotFound(unknown))
        }
    }

    @Test("a principal is kept in memory, and a change made through another process's store on the file applies at once")
    func principalsFollowOtherProcesses() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            let proxy = try MeterStore(path: path)
            let cli = try MeterStore(path: path)
            #expect(proxy.principalChanges != nil)
            let (key, secret) = try await cli.createKey(customer: "acme")
            let read = ContinuousClock.now
            #expect(try proxy.principal(secret: secret)?.controlled == false)
            // Written behind the stores' backs: the kept principal stands (within its time limit)...
            try await cli.database.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO limits (id, scope, scope_id, metric, period, anchor_ms, amount, enforcement, thresholds, created_ms)
                        VALUES ('l', 'key', ?, 'requests', 'day', 0, '1', 'hard', '[]', 0)
                        """, arguments: [key.id])
            }
            let kept = try proxy.principal(secret: secret)?.controlled
            if ContinuousClock.now - read < .milliseconds(MeterStore.principalTTLMs - 100) {
                #expect(kept == false, "kept, not read again")
            }
            try await cli.database.write { try $0.execute(sql: "DELETE FROM limits WHERE id = 'l'") }
            // ...while every change made through a store applies to the next request.
            _ = try await cli.grantCredits(account: "customer:acme", amount: Money("10")!, currency: "USD")
            #expect(try proxy.principal(secret: secret)?.controlled == true)
            try await cli.revokeKey(id: key.id)
            #expect(try proxy.principal(secret: secret) == nil)
            let (_, second) = try await cli.createKey(customer: "acme")
            #expect(try proxy.principal(secret: second)?.key.customer == "acme")
        }
    }

    @Test("without its change counter (its file cannot be made), a store reads every principal")
    func principalsWithoutCounter() async throws {
        try await withTemporaryDirectory { directory in
            let path = meterPath(in: directory)
            try FileManager.default.createDirectory(atPath: path + "-changes", withIntermediateDirectories: true)
            let proxy = try MeterStore(path: path)
            let cli = try MeterStore(path: path)
            #expect(proxy.principalChanges == nil)
            let (key, secret) = try await cli.createKey(customer: "acme")
            #expect(try proxy.principal(secret: secret)?.key == key)
            try await cli.database.write { db in
                try db.execute(sql: "UPDATE virtual_keys SET revoked_ms = 1 WHERE id = ?", arguments: [key.id])
            }
            #expect(try proxy.principal(secret: secret) == nil)
        }
    }

    @Test("random tokens are base64url without padding, as Foundation would write them, and differ")
    func randomTokens() {
        for count in 0..<40 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255) }
            let foundation = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(MeterStore.base64URL(bytes[...]) == foundation)
        }
        let tokens = (0..<1000).map { _ in MeterStore.randomToken(bytes: 9) }
        #expect(Set(tokens).count == 1000)
        #expect(tokens.allSatisfy { $0.count == 12 })
    }
}
