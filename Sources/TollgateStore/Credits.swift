import Foundation
import TollgateCore

/// Who owns a credit account: a customer (its own account) or a team (the pool its customers draw from). An account
/// is named `OWNER:ID`: `customer:acme`, `team:acme-group`.
public enum CreditAccountOwner: String, Sendable, CaseIterable {
    /// A customer outside any team.
    case customer
    /// A team, whose customers all draw from its pool.
    case team

    /// The name of the account of the customer or team `id`: `customer:acme`.
    public func account(_ id: String) -> String { "\(rawValue):\(id)" }
}

/// A prepaid credit grant as stored.
public struct CreditGrant: Sendable, Equatable, Codable {
    /// Grant id (`grant_…`).
    public var id: String
    /// The account it credits: `customer:ID` or `team:ID`.
    public var account: String
    /// The amount granted, in ``currency``.
    public var amount: Money
    /// What is left of it.
    public var remaining: Money
    /// Its currency.
    public var currency: String
    /// The credit unit it was granted in, if not money (`credit`), and the number of units.
    public var unitName: String?
    /// Number of units granted (`unitName`), if granted in a credit unit.
    public var unitAmount: String?
    /// Lower is spent first.
    public var priority: Int
    /// When it starts to count (ms since 1970).
    public var effectiveMs: Int64
    /// When what is left lapses, if ever.
    public var expiresMs: Int64?
    /// Creation time.
    public var createdMs: Int64
    /// A note (purchase order, promotion).
    public var note: String?
    /// When it was closed (expired or voided), and why.
    public var closedMs: Int64?
    /// Why it was closed.
    public var closedReason: ClosedReason?

    /// Why a grant stopped counting before it was spent.
    public enum ClosedReason: String, Sendable, Codable {
        /// Its expiry time passed.
        case expired
        /// It was voided (a refund, a mistake).
        case voided

        /// The ledger line that takes what was left of the grant away.
        var ledgerKind: LedgerEntry.Kind {
            switch self {
            case .expired: .expire
            case .voided: .void
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, account, amount, remaining, currency, priority, note
        case unitName = "unit_name"
        case unitAmount = "unit_amount"
        case effectiveMs = "effective_ms"
        case expiresMs = "expires_ms"
        case createdMs = "created_ms"
        case closedMs = "closed_ms"
        case closedReason = "closed_reason"
    }

    /// The spending view of it.
    public var state: CreditGrantState {
        CreditGrantState(id: id, remaining: remaining, priority: priority, effectiveMs: effectiveMs, expiresMs: expiresMs, createdMs: createdMs)
    }
}

/// One line of the credit ledger. Balance-changing kinds: `grant` (+), `spend`, `expire`, `void` (−); `reserve` and
/// `release` record holds (a reservation taken at admission and its release at settlement, failure or restart).
public struct LedgerEntry: Sendable, Equatable, Codable {
    /// What a ledger line records; stored and shown as its raw value.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Credit granted (+).
        case grant
        /// Spent by a settled request (−); without a grant, an overdraft.
        case spend
        /// What was left of a grant when it lapsed (−).
        case expire
        /// What was left of a grant when it was voided (−).
        case void
        /// A hold taken at admission.
        case reserve
        /// A hold given back at settlement, failure or restart.
        case release
        /// Credit given back when a billing period closes: its plan rated it below what its requests spent at
        /// provisional prices (+). It is spendable like a grant (it has one, `grant_id`). A true-up the other way is a
        /// `spend` with the period and no event.
        case creditBack = "credit_back"
    }

    /// Order of writing.
    public var seq: Int64
    /// When (ms since 1970).
    public var timestampMs: Int64
    /// `customer:ID` or `team:ID`.
    public var account: String
    /// What the line records.
    public var kind: Kind
    /// Always positive; the kind says which way it goes.
    public var amount: Money
    /// The grant it concerns (a spend without one is an overdraft).
    public var grantID: String?
    /// The reservation it concerns.
    public var reservationID: String?
    /// The event a spend or release settles.
    public var eventID: String?
    /// The customer and key of a spend or hold.
    public var customer: String?
    /// The key of a spend or hold.
    public var keyID: String?
    /// Why.
    public var note: String?
    /// The billing period a true-up (a `credit_back`, or a `spend` without an event) settles, as an ISO 8601 interval
    /// (`2026-10-15T04:00:00Z/2026-11-15T05:00:00Z`).
    public var period: String?

    enum CodingKeys: String, CodingKey {
        case seq, account, kind, amount, customer, note, period
        case timestampMs = "ts_ms"
        case grantID = "grant_id"
        case reservationID = "reservation_id"
        case eventID = "event_id"
        case keyID = "key_id"
    }
}

/// A credit account's balance, every figure a sum over its ledger: available = granted − spent − expired − reserved.
public struct CreditBalance: Sendable, Equatable, Codable {
    /// `customer:ID` or `team:ID`.
    public var account: String
    /// Currency of the figures.
    public var currency: String
    /// Grants in effect now (including what was later spent, expired or voided).
    public var granted: Money
    /// Spent by settled requests (an overdraft included).
    public var spent: Money
    /// Lapsed at expiry or voided.
    public var expired: Money
    /// Held by requests in flight.
    public var reserved: Money
    /// What a new request can still reserve.
    public var available: Money
    /// Grants that take effect later.
    public var upcoming: Money
    /// Spent beyond every grant (requests that cost more than their reservation).
    public var overdraft: Money
    /// The grants, in spending order.
    public var grants: [CreditGrant]
}

extension MeterStore {
    /// Grants credit to a customer (its own account, or refused when it is in a team: grant to the team) or a team.
    /// `amount` is in `currency`; `unit` records a grant made in a credit unit (name and number of units).
    public func grantCredits(
        account: String, amount: Money, currency: String, priority: Int = 10, effectiveMs: Int64? = nil, expiresMs: Int64? = nil,
        note: String? = nil, unit: (name: String, amount: String)? = nil
    ) async throws(MeterError) -> CreditGrant {
        defer { forgetPrincipals() }
        guard amount > .zero else { throw MeterError.rejected("a grant's amount must be positive (got \(amount))") }
        let (owner, ownerID) = try Self.splitAccount(account)
        let now = Timestamps.nowMs()
        let effective = effectiveMs ?? now
        if let expiresMs, expiresMs <= effective {
            throw MeterError.rejected(
                "a grant must expire after it takes effect (\(Timestamps.iso8601(expiresMs)) ≤ \(Timestamps.iso8601(effective)))")
        }
        let grant = CreditGrant(
            id: "grant_" + Self.randomToken(bytes: 9), account: account, amount: amount, remaining: amount, currency: currency, unitName: unit?.name,
            unitAmount: unit?.amount, priority: priority, effectiveMs: effective, expiresMs: expiresMs, createdMs: now, note: note)
        do {
            try await database.write { db in
                switch owner {
                case .customer:
                    try db.cachedStatement(sql: "INSERT INTO customers (id, name, created_ms) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING").execute(
                        arguments: [
                            ownerID, now,
                        ])
                    if let team = try String.fetchOne(db.cachedStatement(sql: "SELECT team_id FROM customers WHERE id = ?"), arguments: [ownerID]) {
                        throw MeterError.conflict(
                            "customer \(ownerID) is in team \(team) and draws from its pool: grant to the team (--team \(team))")
                    }
                case .team:
                    try db.cachedStatement(sql: "INSERT INTO teams (id, name, created_ms) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING").execute(
                        arguments: [
                            ownerID, now,
                        ])
                }
                if let other = try String.fetchOne(
                    db.cachedStatement(sql: "SELECT currency FROM credit_grants WHERE account = ? LIMIT 1"), arguments: [account]),
                    other != currency
                {
                    throw MeterError.conflict("account \(account) holds \(other) credits; a grant in \(currency) cannot join them")
                }
                try db.cachedStatement(
                    sql: """
                        INSERT INTO credit_grants (id, account, amount, remaining, currency, unit_name, unit_amount, priority,
                            effective_ms, expires_ms, created_ms, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(arguments: [
                    grant.id, account, amount.description, amount.description, currency, unit?.name, unit?.amount, priority, effective,
                    expiresMs, now, note,
                ])
                try db.cachedStatement(sql: "INSERT INTO credit_accounts (id) VALUES (?) ON CONFLICT DO NOTHING").execute(arguments: [account])
                try Ledger.append(db, account: account, kind: .grant, amount: amount, grantID: grant.id, note: note, nowMs: now)
            }
        } catch let error as MeterError {
            throw error
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
        return grant
    }

    /// Voids what is left of a grant (a refund, a mistake): the ledger records it as `void`.
    public func voidGrant(id: String, note: String? = nil) async throws(MeterError) {
        defer { forgetPrincipals() }
        let now = Timestamps.nowMs()
        do {
            try await database.write { db in
                guard let row = try SQLRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM credit_grants WHERE id = ?"), arguments: [id]) else {
                    throw MeterError.notFound(what: "grant", id: id)
                }
                guard row["closed_ms"] as Int64? == nil else { throw MeterError.conflict("grant \(id) is already closed") }
                try Ledger.close(db, grant: Self.grant(row), reason: .voided, note: note, nowMs: now)
            }
        } catch let error as MeterError {
            throw error
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// The balance of an account now, after recording the expiry of grants that have lapsed.
    public func balance(account: String, currency: String, nowMs: Int64? = nil) async throws(MeterError) -> CreditBalance {
        _ = try Self.splitAccount(account)
        let now = nowMs ?? Timestamps.nowMs()
        do {
            return try await database.write { db in
                try Ledger.expireLapsed(db, account: account, nowMs: now)
                return try Ledger.balance(db, account: account, currency: currency, nowMs: now)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// The ledger of an account, oldest first (the last `limit` lines when given).
    public func ledger(account: String, limit: Int? = nil) async throws(MeterError) -> [LedgerEntry] {
        do {
            return try await database.read { db in
                var sql = "SELECT * FROM ledger WHERE account = ? ORDER BY seq"
                if let limit { sql = "SELECT * FROM (SELECT * FROM ledger WHERE account = ? ORDER BY seq DESC LIMIT \(limit)) ORDER BY seq" }
                return try SQLRow.fetchAll(db, sql: sql, arguments: [account]).compactMap(Ledger.entry)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Credits spent from an account (its `spend` lines, an overdraft included) since a time.
    public func spent(account: String, sinceMs: Int64) async throws(MeterError) -> Money {
        do {
            return try await database.read { db in
                try String.fetchAll(
                    db, sql: "SELECT amount FROM ledger WHERE account = ? AND kind = 'spend' AND ts_ms >= ?", arguments: [account, sinceMs]
                )
                .reduce(Money.zero) { $0 + (Money($1) ?? .zero) }
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// The credit account a customer draws from (its team's or its own); `customer:ID` for an unknown customer.
    public func creditAccount(customer: String) async throws(MeterError) -> String {
        let record = try await self.customer(id: customer)
        return record?.creditAccount ?? CreditAccountOwner.customer.account(customer)
    }

    /// `customer:ID` / `team:ID` split, refusing anything else.
    static func splitAccount(_ account: String) throws(MeterError) -> (owner: CreditAccountOwner, id: String) {
        let parts = account.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let owner = CreditAccountOwner(rawValue: parts[0]) else {
            throw MeterError.rejected("an account is customer:ID or team:ID (not '\(account)')")
        }
        try validateID(parts[1], what: owner.rawValue)
        return (owner, parts[1])
    }

    static func grant(_ row: SQLRow) -> CreditGrant {
        CreditGrant(
            id: row["id"], account: row["account"], amount: Money(row["amount"] as String) ?? .zero,
            remaining: Money(row["remaining"] as String) ?? .zero,
            currency: row["currency"], unitName: row["unit_name"], unitAmount: row["unit_amount"], priority: row["priority"],
            effectiveMs: row["effective_ms"], expiresMs: row["expires_ms"], createdMs: row["created_ms"], note: row["note"],
            closedMs: row["closed_ms"], closedReason: (row["closed_reason"] as String?).flatMap(CreditGrant.ClosedReason.init(rawValue:)))
    }
}

/// The ledger's SQL, shared by grants, admission and settlement (always inside the caller's transaction).
enum Ledger {
    static func append(
        _ db: any SQLConnection, account: String, kind: LedgerEntry.Kind, amount: Money, grantID: String? = nil, reservationID: String? = nil,
        eventID: String? = nil, customer: String? = nil, keyID: String? = nil, note: String? = nil, period: String? = nil, nowMs: Int64
    ) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO ledger (ts_ms, account, kind, amount, grant_id, reservation_id, event_id, customer_id, key_id, note, period)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [nowMs, account, kind.rawValue, amount.description, grantID, reservationID, eventID, customer, keyID, note, period])
    }

    /// A ledger line; `nil` for a kind this version does not know (written by a later one), which it leaves out.
    static func entry(_ row: SQLRow) -> LedgerEntry? {
        guard let kind = LedgerEntry.Kind(rawValue: row["kind"]) else { return nil }
        return LedgerEntry(
            seq: row["seq"], timestampMs: row["ts_ms"], account: row["account"], kind: kind, amount: Money(row["amount"] as String) ?? .zero,
            grantID: row["grant_id"], reservationID: row["reservation_id"], eventID: row["event_id"], customer: row["customer_id"],
            keyID: row["key_id"], note: row["note"], period: row["period"])
    }

    /// The account's open grants (not expired or voided in the ledger yet).
    static func openGrants(_ db: any SQLConnection, account: String) throws -> [CreditGrant] {
        try SQLRow.fetchAll(db.cachedStatement(sql: "SELECT * FROM credit_grants WHERE account = ? AND closed_ms IS NULL"), arguments: [account]).map(
            MeterStore.grant)
    }

    /// Whether the account has ever been granted credit (then it is prepaid: requests need a balance).
    static func isPrepaid(_ db: any SQLConnection, account: String) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM credit_grants WHERE account = ?)"), arguments: [account]) ?? false
    }

    /// What a new request can reserve now: the active grants' remainder, less overdraft and holds.
    static func available(_ db: any SQLConnection, account: String, nowMs: Int64) throws -> (available: Money, currency: String?) {
        let (overdraft, reserved) = try holdings(db, account: account)
        return try available(db, account: account, overdraft: overdraft, reserved: reserved, nowMs: nowMs)
    }

    /// ``available(_:account:nowMs:)`` with the account's overdraft and holds already read.
    static func available(
        _ db: any SQLConnection, account: String, overdraft: Money, reserved: Money, nowMs: Int64
    ) throws -> (available: Money, currency: String?) {
        let grants = try openGrants(db, account: account)
        return (GrantAllocation.remaining(of: grants.map(\.state), at: nowMs) - overdraft - reserved, grants.first?.currency)
    }

    static func holdings(_ db: any SQLConnection, account: String) throws -> (overdraft: Money, reserved: Money) {
        guard
            let row = try SQLRow.fetchOne(
                db.cachedStatement(sql: "SELECT overdraft, reserved FROM credit_accounts WHERE id = ?"), arguments: [account])
        else {
            return (.zero, .zero)
        }
        return (Money(row["overdraft"] as String) ?? .zero, Money(row["reserved"] as String) ?? .zero)
    }

    /// Whether the account is prepaid (ever granted credit), and its overdraft and holds: one statement, as the
    /// admission of every request of a prepaid customer reads them (on PostgreSQL each statement is a round trip).
    static func standing(_ db: any SQLConnection, account: String) throws -> (prepaid: Bool, overdraft: Money, reserved: Money) {
        let row = try SQLRow.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT EXISTS (SELECT 1 FROM credit_grants WHERE account = ?) AS prepaid, a.overdraft AS overdraft, a.reserved AS reserved
                    FROM (SELECT 1 AS one) AS here LEFT JOIN credit_accounts a ON a.id = ?
                    """), arguments: [account, account])
        let money = { (column: String) in (row?[column] as String?).flatMap(Money.init) ?? .zero }
        return (row?["prepaid"] ?? false, money("overdraft"), money("reserved"))
    }

    static func addReserved(_ db: any SQLConnection, account: String, _ delta: Money) throws {
        let (_, reserved) = try holdings(db, account: account)
        try setReserved(db, account: account, max(reserved + delta, .zero))
    }

    /// Sets what the account's requests in flight hold (creating its row when needed).
    static func setReserved(_ db: any SQLConnection, account: String, _ reserved: Money) throws {
        try db.cachedStatement(
            sql: "INSERT INTO credit_accounts (id, reserved) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET reserved = excluded.reserved"
        ).execute(arguments: [account, reserved.description])
    }

    /// Spends `amount` from the account's grants in spending order; what they do not cover is overdraft.
    static func spend(
        _ db: any SQLConnection, account: String, amount: Money, eventID: String, customer: String, keyID: String, nowMs: Int64
    ) throws {
        guard amount > .zero else { return }
        let grants = try openGrants(db, account: account)
        let (parts, overdraft) = GrantAllocation.allocate(amount, over: grants.map(\.state), at: nowMs)
        for part in parts {
            let grant = grants.first { $0.id == part.grantID }!
            try db.cachedStatement(
                sql: "UPDATE credit_grants SET remaining = ? WHERE id = ?"
            ).execute(arguments: [(grant.remaining - part.amount).description, grant.id])
            try append(
                db, account: account, kind: .spend, amount: part.amount, grantID: grant.id, eventID: eventID, customer: customer, keyID: keyID,
                nowMs: nowMs)
        }
        if overdraft > .zero {
            let (current, _) = try holdings(db, account: account)
            try db.cachedStatement(
                sql: "INSERT INTO credit_accounts (id, overdraft) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET overdraft = excluded.overdraft"
            ).execute(arguments: [account, (current + overdraft).description])
            try append(
                db, account: account, kind: .spend, amount: overdraft, eventID: eventID, customer: customer, keyID: keyID,
                note: "overdraft: no grant left to cover it", nowMs: nowMs)
        }
    }

    /// Closes a grant: what is left goes to the ledger as `expire` or `void`.
    static func close(_ db: any SQLConnection, grant: CreditGrant, reason: CreditGrant.ClosedReason, note: String? = nil, nowMs: Int64) throws {
        try db.cachedStatement(
            sql: "UPDATE credit_grants SET remaining = '0', closed_ms = ?, closed_reason = ? WHERE id = ?"
        ).execute(arguments: [nowMs, reason.rawValue, grant.id])
        if grant.remaining > .zero {
            try append(
                db, account: grant.account, kind: reason.ledgerKind, amount: grant.remaining, grantID: grant.id,
                note: note ?? (reason == .expired ? "expired at \(Timestamps.iso8601(grant.expiresMs ?? nowMs))" : nil), nowMs: nowMs)
        }
    }

    /// Records the expiry of every open grant of the account whose expiry has passed.
    static func expireLapsed(_ db: any SQLConnection, account: String, nowMs: Int64) throws {
        for grant in try openGrants(db, account: account) where (grant.expiresMs.map { $0 <= nowMs } ?? false) {
            try close(db, grant: grant, reason: .expired, nowMs: nowMs)
        }
    }

    /// The balance as sums over the ledger.
    static func balance(_ db: any SQLConnection, account: String, currency: String, nowMs: Int64) throws -> CreditBalance {
        let grants = try SQLRow.fetchAll(db.cachedStatement(sql: "SELECT * FROM credit_grants WHERE account = ?"), arguments: [account]).map(
            MeterStore.grant)
        var sums: [LedgerEntry.Kind: Money] = [:]
        var upcoming = Money.zero
        let effective = Dictionary(uniqueKeysWithValues: grants.map { ($0.id, $0.effectiveMs <= nowMs) })
        for row in try SQLRow.fetchAll(db.cachedStatement(sql: "SELECT kind, amount, grant_id FROM ledger WHERE account = ?"), arguments: [account]) {
            guard let kind = LedgerEntry.Kind(rawValue: row["kind"]) else { continue }
            let amount = Money(row["amount"] as String) ?? .zero
            if kind == .grant, let id: String = row["grant_id"], effective[id] == false {
                upcoming += amount
                continue
            }
            sums[kind, default: .zero] += amount
        }
        let (overdraft, reserved) = try holdings(db, account: account)
        let granted = (sums[.grant] ?? .zero) + (sums[.creditBack] ?? .zero)
        let spent = sums[.spend] ?? .zero
        let expired = (sums[.expire] ?? .zero) + (sums[.void] ?? .zero)
        return CreditBalance(
            account: account, currency: grants.first?.currency ?? currency, granted: granted, spent: spent, expired: expired, reserved: reserved,
            available: granted - spent - expired - reserved, upcoming: upcoming, overdraft: overdraft,
            grants: grants.sorted { GrantAllocation.spendsBefore($0.state, $1.state) })
    }
}
