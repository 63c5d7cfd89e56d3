import Foundation
import TollgateCore

/// A customer as the meter keeps it: who is billed, the team whose credit pool it shares, the models its plan
/// includes.
public struct CustomerRecord: Sendable, Equatable, Codable {
    /// Customer id (what virtual keys and events name).
    public var id: String
    /// A display name.
    public var name: String?
    /// The team whose credit pool it shares, if any.
    public var team: String?
    /// Model patterns the plan includes (`gpt-4o*`, `claude-*`); `nil`: every model.
    public var models: [String]?
    /// Creation time (ms since 1970).
    public var createdMs: Int64
    /// The customer's own billing cycle, set in the meter (`nil`: the config's terms, price book or default decide).
    public var billingCycle: BillingCycle?

    enum CodingKeys: String, CodingKey {
        case id, name, team, models
        case createdMs = "created_ms"
        case billingCycle = "billing_cycle"
    }

    /// The credit account the customer draws from: its team's pool, or its own.
    public var creditAccount: String { team.map(CreditAccountOwner.team.account) ?? CreditAccountOwner.customer.account(id) }

    /// Whether the plan includes `model` (glob patterns with `*`); a request without a model is allowed.
    public func allows(model: String?) -> Bool {
        guard let models, let model else { return true }
        return models.contains { PriceTable.glob($0, matches: model) }
    }
}

/// A team: customers that share one credit pool (and may share team-scoped limits).
public struct TeamRecord: Sendable, Equatable, Codable {
    /// Team id.
    public var id: String
    /// A display name.
    public var name: String?
    /// Creation time (ms since 1970).
    public var createdMs: Int64
    /// Its customers' ids.
    public var customers: [String]

    enum CodingKeys: String, CodingKey {
        case id, name, customers
        case createdMs = "created_ms"
    }
}

/// A secret's SHA-256, by which ``MeterStore/principal(secret:)`` keeps principals.
typealias SecretDigest = SIMD4<UInt64>

/// A principal as ``MeterStore/principal(secret:)`` keeps it (`nil`: no active key has that secret).
struct KeptPrincipal {
    var principal: Principal?
    /// The meter's change counter when it was read.
    var generation: UInt64
    var fetchedMs: Int64
}

/// Who is making a request: the key, its customer's record, and whether admission has anything to check.
public struct Principal: Sendable {
    /// The virtual key.
    public var key: VirtualKey
    /// The customer's team, if any.
    public var team: String?
    /// The customer's model patterns (`nil`: every model).
    public var models: [String]?
    /// Whether the customer, its team or the key has credits or limits: only then does a request go through
    /// admission (a reservation); everyone else pays nothing for the feature.
    public var controlled: Bool

    /// The customer.
    public var customer: String { key.customer }
    /// The credit account the customer draws from.
    public var creditAccount: String { team.map(CreditAccountOwner.team.account) ?? CreditAccountOwner.customer.account(key.customer) }
}

extension MeterStore {
    /// Ids allowed for customers and teams: what a URL path segment and a log line can carry unharmed.
    static func validateID(_ id: String, what: String) throws(MeterError) {
        guard !id.isEmpty, id.count <= 200, id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.@:".contains($0) }) else {
            throw MeterError.rejected("a \(what) id is 1 to 200 letters, digits, '-', '_', '.', '@' or ':' (not '\(id)')")
        }
    }

    /// Creates or updates a customer. `team: ""` takes it out of its team; `models: []` removes the model list (every
    /// model allowed); `billingCycle: .some(nil)` removes its own billing cycle (the config's applies again); `nil`
    /// leaves a field as it is. A team named for the first time is created.
    @discardableResult
    public func setCustomer(
        id: String, name: String? = nil, team: String? = nil, models: [String]? = nil, billingCycle: BillingCycle?? = nil
    ) async throws(MeterError) -> CustomerRecord {
        defer { forgetPrincipals() }
        try Self.validateID(id, what: "customer")
        if let team, !team.isEmpty { try Self.validateID(team, what: "team") }
        let now = Timestamps.nowMs()
        do {
            try await database.write { db in
                try db.execute(sql: "INSERT INTO customers (id, name, created_ms) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING", arguments: [id, now])
                if let name { try db.execute(sql: "UPDATE customers SET name = ? WHERE id = ?", arguments: [name.isEmpty ? nil : name, id]) }
                if let team {
                    if !team.isEmpty {
                        try db.execute(
                            sql: "INSERT INTO teams (id, name, created_ms) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING", arguments: [team, now])
                        let ownGrants =
                            try Int.fetchOne(
                                db, sql: "SELECT COUNT(*) FROM credit_grants WHERE account = ?", arguments: [CreditAccountOwner.customer.account(id)])
                            ?? 0
                        if ownGrants > 0 {
                            throw MeterError.conflict(
                                "customer \(id) has credit grants of its own; a team member draws from the team's pool only (void or spend them first)"
                            )
                        }
                    }
                    try db.execute(sql: "UPDATE customers SET team_id = ? WHERE id = ?", arguments: [team.isEmpty ? nil : team, id])
                }
                if let models {
                    let text = models.isEmpty ? nil : String(decoding: try JSONEncoder().encode(models), as: UTF8.self)
                    try db.execute(sql: "UPDATE customers SET models = ? WHERE id = ?", arguments: [text, id])
                }
                if let billingCycle {
                    let text = try billingCycle.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
                    try db.execute(sql: "UPDATE customers SET billing_cycle = ? WHERE id = ?", arguments: [text, id])
                }
            }
        } catch let error as MeterError {
            throw error
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
        guard let record = try await customer(id: id) else { throw MeterError.readFailed("customer \(id) vanished") }
        return record
    }

    /// One customer, or `nil`.
    public func customer(id: String) async throws(MeterError) -> CustomerRecord? {
        try await customers(only: id).first
    }

    /// Every customer (or one), by id.
    public func customers(only id: String? = nil) async throws(MeterError) -> [CustomerRecord] {
        do {
            return try await database.read { db in
                let filter = id == nil ? "" : " WHERE id = ?"
                return try SQLRow.fetchAll(db, sql: "SELECT * FROM customers\(filter) ORDER BY id", arguments: SQLArguments(id.map { [$0] } ?? []))
                    .map(Self.customerRecord)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Creates a team (or renames it).
    @discardableResult
    public func setTeam(id: String, name: String? = nil) async throws(MeterError) -> TeamRecord {
        defer { forgetPrincipals() }
        try Self.validateID(id, what: "team")
        let now = Timestamps.nowMs()
        do {
            try await database.write { db in
                try db.execute(sql: "INSERT INTO teams (id, name, created_ms) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING", arguments: [id, now])
                if let name { try db.execute(sql: "UPDATE teams SET name = ? WHERE id = ?", arguments: [name.isEmpty ? nil : name, id]) }
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
        return try await teams().first { $0.id == id }!
    }

    /// Every team with its members.
    public func teams() async throws(MeterError) -> [TeamRecord] {
        do {
            return try await database.read { db in
                try SQLRow.fetchAll(db, sql: "SELECT * FROM teams ORDER BY id").map { row in
                    let id: String = row["id"]
                    let members = try String.fetchAll(db, sql: "SELECT id FROM customers WHERE team_id = ? ORDER BY id", arguments: [id])
                    return TeamRecord(id: id, name: row["name"], createdMs: row["created_ms"], customers: members)
                }
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// The active key whose secret this is, with what admission needs to know of its customer; `nil` when the key
    /// is unknown or revoked.
    ///
    /// Kept in memory, read again (one indexed read, like ``authenticate(secret:)``) when the meter's
    /// ``ChangeCounter`` moved since, or after ``principalTTLMs``:
    /// - on SQLite the counter is shared by every process that opens the meter, so a key revoked, a first grant or a
    ///   limit set by the CLI, the admin API or another `serve` on the host applies to the next request (a cache
    ///   without it let a burst right after a customer's first grant through unadmitted: test_revenue_integrity
    ///   covers it); the time limit only bounds what a change made outside Tollgate (plain SQL) takes to apply;
    /// - on PostgreSQL a change made through this store applies at once, one made by another replica within the time
    ///   limit (a round trip per request would block the proxy's threads).
    public func principal(secret: String) throws(MeterError) -> Principal? {
        guard secret.hasPrefix("tg_"), secret.count < 200 else { return nil }
        // Kept by the digest itself: its hex text, which the table stores, is made only to read the table.
        let digest = Self.digest(secret).withUnsafeBytes { $0.loadUnaligned(as: SecretDigest.self) }
        guard let changes = principalChanges else { return try lookUpPrincipal(digest: digest) }
        // Read before the lookup: a change committed after this moves it, so the row read is not kept past it.
        let generation = changes.value
        let now = Timestamps.nowMs()
        if let kept = principals.withLock({ $0[digest] }), kept.generation == generation, now - kept.fetchedMs < Self.principalTTLMs {
            return kept.principal
        }
        let principal = try lookUpPrincipal(digest: digest)
        principals.withLock { kept in
            if kept.count >= 10_000 { kept.removeAll(keepingCapacity: true) }
            kept[digest] = KeptPrincipal(principal: principal, generation: generation, fetchedMs: now)
        }
        return principal
    }

    /// How long a principal is kept at most: how long a change made outside this store (another PostgreSQL replica,
    /// plain SQL on the file) takes to apply.
    public static let principalTTLMs: Int64 = 1_000

    /// Applies a change to keys, customers, teams, grants or limits (once committed) to the principals kept, in this
    /// process and, on SQLite, in every process that has the meter open.
    func forgetPrincipals() {
        principalChanges?.raise()
    }

    private func lookUpPrincipal(digest: SecretDigest) throws(MeterError) -> Principal? {
        let digest = withUnsafeBytes(of: digest) { Hex.lowercase($0) }
        do {
            return try database.lookup { db in
                let statement = try db.cachedStatement(
                    sql: """
                        SELECT k.*, c.team_id AS team_id, c.models AS models,
                            EXISTS (SELECT 1 FROM credit_grants g WHERE g.account = 'customer:' || k.customer_id
                                        OR g.account = 'team:' || c.team_id)
                            OR EXISTS (SELECT 1 FROM limits l WHERE (l.scope = 'customer' AND l.scope_id = k.customer_id)
                                        OR (l.scope = 'key' AND l.scope_id = k.id)
                                        OR (l.scope = 'team' AND l.scope_id = c.team_id)) AS controlled
                        FROM virtual_keys k LEFT JOIN customers c ON c.id = k.customer_id
                        WHERE k.key_hash = ? AND k.revoked_ms IS NULL
                        """)
                guard let row = try SQLRow.fetchOne(statement, arguments: [digest]) else { return nil }
                return Principal(
                    key: Self.key(row), team: row["team_id"], models: Self.modelList(row["models"]), controlled: row["controlled"])
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    static func customerRecord(_ row: SQLRow) -> CustomerRecord {
        CustomerRecord(
            id: row["id"], name: row["name"], team: row["team_id"], models: modelList(row["models"]), createdMs: row["created_ms"],
            billingCycle: (row["billing_cycle"] as String?).flatMap { try? JSONDecoder().decode(BillingCycle.self, from: Data($0.utf8)) })
    }

    /// A customer's billing cycle and where it is set: its own in the meter, else what `rules` give it (its terms, its
    /// price book, the default).
    public func billingCycle(customer: String, rules: PricingRules) async throws(MeterError) -> (cycle: BillingCycle, source: BillingCycleSource) {
        rules.billingCycle(for: customer, override: try await self.customer(id: customer)?.billingCycle)
    }

    static func modelList(_ text: String?) -> [String]? {
        guard let text else { return nil }
        return try? JSONDecoder().decode([String].self, from: Data(text.utf8))
    }

}
