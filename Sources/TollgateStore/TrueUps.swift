import Foundation
import TollgateCore

/// What closing a billing period did to a prepaid customer's credits (``MeterStore/trueUp(customer:startMs:endMs:rules:nowMs:)``).
///
/// During a period each request spends credits at its provisional price: its usage price plus its share of the plan's
/// period charges at their first billed rate. At the close the plan rates the period on its totals (later tiers are
/// cheaper, a volume tier reprices every unit, a minimum adds a true-up line). A customer whose credits paid the
/// provisional prices gets the difference back as a `credit_back` ledger line; one whose period rated above them has
/// the rest spent from its credits, as far as they go (a `spend` naming the period). Afterwards the credits applied
/// to the period never exceed what it is invoiced, so the statement's amount due after credits is never negative.
public struct TrueUp: Sendable, Equatable {
    /// The customer and the account it draws from.
    public var customer: String
    public var account: String
    /// The period, as an ISO 8601 interval (`2026-10-15T04:00:00Z/2026-11-15T05:00:00Z`).
    public var period: String
    /// What the credits should have paid: the period's usage and charge lines (amounts due), at most its amount due.
    public var target: Money
    /// Spent from grants on the period's events when they were settled.
    public var spentOnEvents: Money
    /// Of the events' prices, what no grant covered (invoiced).
    public var overdraft: Money
    /// Every true-up of the period so far, this one included (+ spent, − credited back).
    public var total: Money
    /// This run's ledger change (+ a further spend, − a credit back; zero when the period was already trued up).
    public var change: Money
    /// The credits' currency.
    public var currency: String
}

extension MeterStore {
    /// The period as the ledger names it: an ISO 8601 interval.
    public static func trueUpPeriod(startMs: Int64, endMs: Int64) -> String { "\(Timestamps.iso8601(startMs))/\(Timestamps.iso8601(endMs))" }

    /// Trues up a customer's credits for [start, end) (a closed period of its billing cycle), writing the ledger line
    /// that brings the true-ups of the period to what it needs; `nil` when the customer has no credits or they are in
    /// another currency than its plan. Safe to run again (after late events too): it writes only a change.
    public func trueUp(customer: String, startMs: Int64, endMs: Int64, rules: PricingRules, nowMs: Int64? = nil) async throws(MeterError) -> TrueUp? {
        let now = nowMs ?? Timestamps.nowMs()
        let statement = try await customerStatement(customer: customer, startMs: startMs, endMs: endMs, rules: rules, nowMs: now)
        guard let credits = statement.credits, credits.currency == statement.currency else { return nil }
        let billedAgainstCredits = statement.rated.lines.filter { ($0.kind == .usage || $0.kind == .charge) && $0.currency == statement.currency }
            .reduce(Money.zero) { $0 + $1.amountDue }
        let target = max(.zero, min(billedAgainstCredits, statement.amountDue))
        // What the true-ups should come to: back to the target when credits paid more; a further spend when the period
        // rated above every provisional price (paid or overdrawn).
        var wanted = Money.zero
        if credits.applied > target {
            wanted = target - credits.applied
        } else if target > credits.applied + credits.overdraft {
            wanted = target - credits.applied - credits.overdraft
        }
        let goal = wanted
        let period = Self.trueUpPeriod(startMs: startMs, endMs: endMs)
        let account = credits.account
        let currency = credits.currency
        do {
            let (total, change) = try await database.write { db -> (Money, Money) in
                let earlier = try Self.trueUps(db, account: account, customer: customer, period: period)
                var change = goal - earlier
                if change < .zero {
                    try Self.creditBack(
                        db, account: account, amount: .zero - change, currency: currency, customer: customer, period: period, nowMs: now)
                } else if change > .zero {
                    let (available, _) = try Ledger.available(db, account: account, nowMs: now)
                    change = min(change, max(.zero, available))
                    if change > .zero {
                        try Self.spendTrueUp(db, account: account, amount: change, customer: customer, period: period, nowMs: now)
                    }
                }
                try db.execute(
                    sql: """
                        INSERT INTO true_ups (customer_id, period, events, trued_ms) VALUES (?, ?, ?, ?)
                        ON CONFLICT (customer_id, period) DO UPDATE SET events = excluded.events, trued_ms = excluded.trued_ms
                        """, arguments: [customer, period, statement.events.count, now])
                return (earlier + change, change)
            }
            return TrueUp(
                customer: customer, account: account, period: period, target: target, spentOnEvents: credits.applied, overdraft: credits.overdraft,
                total: total, change: change, currency: currency)
        } catch let error as MeterError {
            throw error
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// The event count a period had when it was last trued up for a customer, if it was.
    public func trueUpEvents(customer: String, startMs: Int64, endMs: Int64) async throws(MeterError) -> Int? {
        do {
            return try await database.read { db in
                try Int.fetchOne(
                    db, sql: "SELECT events FROM true_ups WHERE customer_id = ? AND period = ?",
                    arguments: [customer, Self.trueUpPeriod(startMs: startMs, endMs: endMs)])
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// The signed sum of a period's true-ups for a customer: + spent, − credited back.
    static func trueUps(_ db: any SQLConnection, account: String, customer: String, period: String) throws -> Money {
        var total = Money.zero
        for row in try SQLRow.fetchAll(
            db, sql: "SELECT kind, amount FROM ledger WHERE account = ? AND customer_id = ? AND period = ?", arguments: [account, customer, period])
        {
            let amount = Money(row["amount"] as String) ?? .zero
            switch LedgerEntry.Kind(rawValue: row["kind"]) {
            case .spend: total += amount
            case .creditBack: total = total - amount
            default: break
            }
        }
        return total
    }

    /// Gives credit back: a grant of its own (spent first, never expiring) so that later requests can use it, and the
    /// `credit_back` line that records why.
    static func creditBack(
        _ db: any SQLConnection, account: String, amount: Money, currency: String, customer: String, period: String, nowMs: Int64
    ) throws {
        let id = "grant_" + randomToken(bytes: 9)
        let note = "true-up of \(customer)'s period \(period): rated below the provisional prices its credits paid"
        try db.execute(
            sql: """
                INSERT INTO credit_grants (id, account, amount, remaining, currency, priority, effective_ms, created_ms, note)
                VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)
                """, arguments: [id, account, amount.description, amount.description, currency, nowMs, nowMs, note])
        try Ledger.append(
            db, account: account, kind: .creditBack, amount: amount, grantID: id, customer: customer, note: note, period: period, nowMs: nowMs)
    }

    /// Spends a further amount from the account's grants in spending order (never into overdraft: the caller spends at
    /// most what is available).
    static func spendTrueUp(_ db: any SQLConnection, account: String, amount: Money, customer: String, period: String, nowMs: Int64) throws {
        let grants = try Ledger.openGrants(db, account: account)
        let (parts, _) = GrantAllocation.allocate(amount, over: grants.map(\.state), at: nowMs)
        for part in parts {
            let grant = grants.first { $0.id == part.grantID }!
            try db.execute(
                sql: "UPDATE credit_grants SET remaining = ? WHERE id = ?", arguments: [(grant.remaining - part.amount).description, grant.id])
            try Ledger.append(
                db, account: account, kind: .spend, amount: part.amount, grantID: grant.id, customer: customer,
                note: "true-up of \(customer)'s period \(period): rated above the provisional prices", period: period, nowMs: nowMs)
        }
    }

    static let trueUpsSQL = """
        CREATE TABLE true_ups (
            customer_id TEXT NOT NULL,
            period TEXT NOT NULL,
            events INTEGER NOT NULL,
            trued_ms INTEGER NOT NULL,
            PRIMARY KEY (customer_id, period)
        );
        CREATE INDEX ledger_by_period ON ledger(account, customer_id, period) WHERE period IS NOT NULL;
        """
}

extension MeterStore {
    /// Customers that draw from an account that has ever had a grant (their own, or their team's pool).
    public func prepaidCustomers() async throws(MeterError) -> [String] {
        do {
            return try await database.read { db in
                try String.fetchAll(
                    db,
                    sql: """
                        SELECT c.id FROM customers c WHERE EXISTS (SELECT 1 FROM credit_grants g
                            WHERE g.account = CASE WHEN c.team_id IS NULL THEN 'customer:' || c.id ELSE 'team:' || c.team_id END)
                        ORDER BY c.id
                        """)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }
}
