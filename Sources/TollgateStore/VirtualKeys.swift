import Crypto
import Foundation
import TollgateCore

/// A virtual key as the meter keeps it: never the secret, only its SHA-256 and a short prefix to recognise it.
public struct VirtualKey: Sendable, Equatable, Codable {
    /// Key id (`key_…`), used on events and to revoke.
    public var id: String
    /// The customer it bills to.
    public var customer: String
    /// The first characters of the secret, for people to tell keys apart.
    public var prefix: String
    /// An optional label.
    public var name: String?
    /// Creation time (ms since 1970).
    public var createdMs: Int64
    /// Revocation time, if revoked.
    public var revokedMs: Int64?
}

extension MeterStore {
    /// Creates a key for `customer` (creating the customer if new) and returns the record and the secret,
    /// which is shown this once and never stored.
    public func createKey(customer: String, name: String? = nil) async throws(MeterError) -> (key: VirtualKey, secret: String) {
        defer { forgetPrincipals() }
        guard !customer.isEmpty, customer.count <= 200 else { throw MeterError.rejected("a customer id is 1 to 200 characters") }
        let secret = "tg_" + Self.randomToken(bytes: 30)
        let key = VirtualKey(
            id: "key_" + Self.randomToken(bytes: 9), customer: customer, prefix: String(secret.prefix(10)), name: name,
            createdMs: Timestamps.nowMs(), revokedMs: nil
        )
        do {
            try await database.write { db in
                try db.execute(
                    sql: "INSERT INTO customers (id, name, created_ms) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING",
                    arguments: [customer, key.createdMs])
                try db.execute(
                    sql: "INSERT INTO virtual_keys (id, customer_id, key_hash, prefix, name, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [key.id, customer, Self.hash(secret), key.prefix, name, key.createdMs])
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
        return (key, secret)
    }

    /// Keys, newest last; optionally of one customer.
    public func keys(customer: String? = nil) async throws(MeterError) -> [VirtualKey] {
        do {
            return try await database.read { db in
                let filter = customer == nil ? "" : " WHERE customer_id = ?"
                let rows = try SQLRow.fetchAll(
                    db, sql: "SELECT * FROM virtual_keys\(filter) ORDER BY created_ms, id",
                    arguments: SQLArguments(customer.map { [$0] } ?? []))
                return rows.map(Self.key)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Revokes a key by id; requests with it are refused from then on. Throws when there is no such key.
    public func revokeKey(id: String) async throws(MeterError) {
        defer { forgetPrincipals() }
        let changed: Int
        do {
            changed = try await database.write { db in
                try db.execute(
                    sql: "UPDATE virtual_keys SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
                    arguments: [Timestamps.nowMs(), id])
                return db.changesCount
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
        if changed == 0 { throw MeterError.notFound(what: "active key", id: id) }
    }

    /// The active key whose secret this is, or `nil` (unknown or revoked).
    ///
    /// Synchronous on purpose: it is kept in memory (see ``principal(secret:)``), and when it is read, an indexed lookup
    /// on a WAL reader takes microseconds, far less than handing the request to another thread and back (measured in
    /// bench/README.md). A revocation applies to the very next request.
    public func authenticate(secret: String) throws(MeterError) -> VirtualKey? {
        try principal(secret: secret)?.key
    }

    /// The hex SHA-256 of a secret: what the meter stores of it.
    static func hash(_ secret: String) -> String {
        digest(secret).withUnsafeBytes { Hex.lowercase($0) }
    }

    /// The SHA-256 of a secret (``principal(secret:)`` keeps principals by it).
    static func digest(_ secret: String) -> SHA256Digest {
        var secret = secret
        return secret.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }

    /// `count` random bytes (the system's CSPRNG), base64url without padding. Eight bytes per draw: an admission's
    /// reservation id used to cost a system call per byte.
    public static func randomToken(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 7)
        while bytes.count < count {
            let word: UInt64 = generator.next()
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return base64URL(bytes.prefix(count))
    }

    private static let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Base64url (RFC 4648 §5) without padding.
    static func base64URL(_ bytes: ArraySlice<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let chunk = bytes[index..<min(index + 3, bytes.endIndex)]
            var group: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { group |= UInt32(byte) << (16 - 8 * UInt32(offset)) }
            for position in 0...chunk.count { text.append(base64URLAlphabet[Int((group >> (18 - 6 * UInt32(position))) & 0x3F)]) }
            index += 3
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func key(_ row: SQLRow) -> VirtualKey {
        VirtualKey(
            id: row["id"], customer: row["customer_id"], prefix: row["prefix"], name: row["name"], createdMs: row["created_ms"],
            revokedMs: row["revoked_ms"])
    }
}
