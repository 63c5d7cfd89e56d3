import Foundation
import TollgateCore

/// A limit on a customer, team or key: a cap or threshold on money, tokens or requests per period, or a rate limit
/// (period `minute`: a token bucket of `amount` per minute).
public struct LimitRecord: Sendable, Equatable, Codable {
    /// Limit id (`lim_…`).
    public var id: String
    /// What it applies to.
    public var scope: LimitScope
    /// The customer, team or key id.
    public var scopeID: String
    /// What it counts: money (the events' price), tokens, requests.
    public var metric: LimitMetric
    /// The period it resets with.
    public var period: LimitPeriod
    /// Anniversary anchor (ms since 1970); `nil`: calendar periods (UTC).
    public var anchorMs: Int64?
    /// Its size: a decimal amount of money, or a whole number of tokens or requests.
    public var amount: String
    /// Hard: refuse beyond it. Soft: alert only.
    public var enforcement: Enforcement
    /// Percentages of the amount that fire an alert once per period.
    public var thresholds: [Int]
    /// Creation time.
    public var createdMs: Int64
    /// A note.
    public var note: String?
    /// Who set it: `operator` (the config's CLI and admin API), or `customer` (the customer itself, with its own key).
    public var setBy: LimitSetter = .operator

    enum CodingKeys: String, CodingKey {
        case id, scope, metric, period, amount, enforcement, thresholds, note
        case setBy = "set_by"
        case scopeID = "scope_id"
        case anchorMs = "anchor_ms"
        case createdMs = "created_ms"
    }

    /// The period anchor.
    public var anchor: PeriodAnchor { anchorMs.map { .anniversary($0) } ?? .calendar }

    /// Whether it is a per-minute rate limit (429) rather than a cap (402).
    public var isRateLimit: Bool { period == .minute }

    /// The amount as a number of the metric's unit: money's raw fixed-point value, tokens and requests as they are.
    public var quantity: Int128 { LimitQuantity.parse(amount, metric: metric) ?? 0 }

    /// `5 USD monthly money cap on customer acme` style description.
    public func describe(currency: String?) -> String {
        let size = metric == .money ? "\(amount) \(currency ?? "")".trimmingCharacters(in: .whitespaces) : "\(amount) \(metric.rawValue)"
        let kind = isRateLimit ? "rate limit" : enforcement == .hard ? "cap" : "soft limit"
        return "\(scope.rawValue) \(scopeID)'s \(period.label) \(kind) of \(size) (\(id))"
    }
}

/// Who set a limit.
public enum LimitSetter: String, Sendable, Codable, Equatable {
    /// The operator: CLI, admin API.
    case `operator`
    /// The customer, with its own virtual key (`POST /tollgate/v1/limits`): a cap or alerts of its own, below the
    /// operator's.
    case customer
}

/// Quantities of a limit's metric as integers: money in its raw fixed-point units (exact), tokens and requests whole.
public enum LimitQuantity {
    /// A limit amount as written (`5.50`, `100000`) in the metric's unit, or `nil` when it is not one.
    public static func parse(_ text: String, metric: LimitMetric) -> Int128? {
        switch metric {
        case .money: return Money(text).map(\.raw)
        case .tokens, .requests: return Int(text).map { Int128($0) }
        }
    }

    static func format(_ value: Int128, metric: LimitMetric) -> String {
        metric == .money ? Money(raw: value).description : "\(value)"
    }
}

extension MeterStore {
    /// Adds a limit. Money amounts are decimals, tokens and requests whole numbers; thresholds are percentages.
    public func addLimit(
        scope: LimitScope, scopeID: String, metric: LimitMetric, period: LimitPeriod, amount: String, enforcement: Enforcement = .hard,
        thresholds: [Int] = [50, 80, 100], anchorMs: Int64? = nil, note: String? = nil, setBy: LimitSetter = .operator
    ) async throws(MeterError) -> LimitRecord {
        defer { forgetPrincipals() }
        if scope != .key { try Self.validateID(scopeID, what: scope.rawValue) }
        guard let quantity = LimitQuantity.parse(amount, metric: metric), quantity > 0 else {
            throw MeterError.rejected(
                metric == .money
                    ? "a money limit is a positive decimal amount (not '\(amount)')"
                    : "a \(metric.rawValue) limit is a positive whole number (not '\(amount)')")
        }
        if period == .minute, metric == .money { throw MeterError.rejected("per-minute limits count requests or tokens, not money") }
        guard thresholds.allSatisfy({ (1...1000).contains($0) }) else { throw MeterError.rejected("thresholds are percentages from 1 to 1000") }
        let record = LimitRecord(
            id: "lim_" + Self.randomToken(bytes: 9), scope: scope, scopeID: scopeID, metric: metric, period: period, anchorMs: anchorMs,
            amount: LimitQuantity.format(quantity, metric: metric), enforcement: enforcement, thresholds: Array(Set(thresholds)).sorted(),
            createdMs: Timestamps.nowMs(), note: note, setBy: setBy)
        do {
            try await database.write { db in
                switch scope {
                case .key:
                    guard
                        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM virtual_keys WHERE id = ?)"), arguments: [scopeID])
                            == true
                    else {
                        throw MeterError.notFound(what: "key", id: scopeID)
                    }
                case .customer:
                    try db.cachedStatement(
                        sql: "INSERT INTO customers (id, name, created_ms) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING"
                    ).execute(arguments: [scopeID, record.createdMs])
                case .team:
                    try db.cachedStatement(
                        sql: "INSERT INTO teams (id, name, created_ms) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING"
                    ).execute(arguments: [scopeID, record.createdMs])
                }
                try db.cachedStatement(
                    sql: """
                        INSERT INTO limits (id, scope, scope_id, metric, period, anchor_ms, amount, enforcement, thresholds, created_ms, note,
                            set_by)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(arguments: [
                    record.id, scope.rawValue, scopeID, metric.rawValue, period.rawValue, anchorMs, record.amount, enforcement.rawValue,
                    record.thresholds.map(String.init).joined(separator: ","), record.createdMs, note, setBy == .customer ? "customer" : nil,
                ])
            }
        } catch let error as MeterError {
            throw error
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
        return record
    }

    /// Removes a limit (its alerts stay).
    public func removeLimit(id: String) async throws(MeterError) {
        defer { forgetPrincipals() }
        let changed: Int
        do {
            changed = try await database.write { db in
                try db.cachedStatement(sql: "DELETE FROM limits WHERE id = ?").execute(arguments: [id])
                let count = db.changesCount
                try db.cachedStatement(sql: "DELETE FROM limit_usage WHERE limit_id = ?").execute(arguments: [id])
                return count
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
        if changed == 0 { throw MeterError.notFound(what: "limit", id: id) }
    }

    /// Limits, optionally of one scope and id.
    public func limits(scope: LimitScope? = nil, scopeID: String? = nil) async throws(MeterError) -> [LimitRecord] {
        do {
            return try await database.read { db in
                var sql = "SELECT * FROM limits WHERE 1 = 1"
                var arguments: [any SQLValueConvertible] = []
                if let scope {
                    sql += " AND scope = ?"
                    arguments.append(scope.rawValue)
                }
                if let scopeID {
                    sql += " AND scope_id = ?"
                    arguments.append(scopeID)
                }
                return try SQLRow.fetchAll(db, sql: sql + " ORDER BY created_ms, id", arguments: SQLArguments(arguments)).map(Self.limit)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// What a limit has used and holds in its current period.
    public func limitStatus(_ limit: LimitRecord, nowMs: Int64? = nil) async throws(MeterError) -> LimitStatus {
        let now = nowMs ?? Timestamps.nowMs()
        do {
            return try await database.write { db in try LimitUsage.status(db, limit: limit, nowMs: now) }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    static func limit(_ row: SQLRow) -> LimitRecord {
        LimitRecord(
            id: row["id"], scope: row.choice("scope", or: .customer), scopeID: row["scope_id"], metric: row.choice("metric", or: .money),
            period: row.choice("period", or: .month), anchorMs: row["anchor_ms"], amount: row["amount"],
            enforcement: row.choice("enforcement", or: .hard),
            thresholds: (row["thresholds"] as String).split(separator: ",").compactMap { Int($0) }, createdMs: row["created_ms"], note: row["note"],
            setBy: (row["set_by"] as String?).flatMap(LimitSetter.init(rawValue:)) ?? .operator)
    }
}

/// A limit in its current period: its size, what settled requests used, what requests in flight hold.
public struct LimitStatus: Sendable, Equatable, Codable {
    /// The limit.
    public var limit: LimitRecord
    /// Period start (ms since 1970).
    public var periodStartMs: Int64
    /// Period end, if the period ends.
    public var periodEndMs: Int64?
    /// Used by settled requests (decimal or whole number).
    public var used: String
    /// Held by requests in flight.
    public var reserved: String
    /// What is left: amount − used − reserved (never below zero).
    public var remaining: String

    enum CodingKeys: String, CodingKey {
        case limit, used, reserved, remaining
        case periodStartMs = "period_start_ms"
        case periodEndMs = "period_end_ms"
    }
}

/// Per-period usage of caps, kept with the events (same transaction) so that admission reads one row, not a sum.
enum LimitUsage {
    /// The usage row of a limit's period, created from the events already in it when missing (a limit added mid-month
    /// starts from what the month has used).
    static func load(
        _ db: any SQLConnection, limit: LimitRecord, periodStartMs: Int64, periodEndMs: Int64?
    ) throws -> (used: Int128, reserved: Int128) {
        if let row = try SQLRow.fetchOne(
            db.cachedStatement(sql: "SELECT used, reserved FROM limit_usage WHERE limit_id = ? AND period_start_ms = ?"),
            arguments: [limit.id, periodStartMs])
        {
            return (LimitQuantity.parse(row["used"], metric: limit.metric) ?? 0, LimitQuantity.parse(row["reserved"], metric: limit.metric) ?? 0)
        }
        // Summed from `events`: on SQLite, events landed and not filed yet (``EventLanding``) are filed first.
        if db.dialect == .sqlite { try EventLanding.fileAll(db) }
        let used = try usedByEvents(db, limit: limit, fromMs: periodStartMs, toMs: periodEndMs)
        try db.cachedStatement(
            sql: "INSERT INTO limit_usage (limit_id, period_start_ms, used, reserved) VALUES (?, ?, ?, ?)"
        ).execute(arguments: [
            limit.id, periodStartMs, LimitQuantity.format(used, metric: limit.metric), LimitQuantity.format(0, metric: limit.metric),
        ])
        try db.cachedStatement(
            sql: "DELETE FROM limit_usage WHERE limit_id = ? AND period_start_ms < ? AND reserved IN ('0')"
        ).execute(arguments: [limit.id, periodStartMs])
        return (used, 0)
    }

    static func store(_ db: any SQLConnection, limit: LimitRecord, periodStartMs: Int64, used: Int128, reserved: Int128) throws {
        try db.cachedStatement(
            sql: "UPDATE limit_usage SET used = ?, reserved = ? WHERE limit_id = ? AND period_start_ms = ?"
        ).execute(arguments: [
            LimitQuantity.format(used, metric: limit.metric), LimitQuantity.format(max(reserved, 0), metric: limit.metric), limit.id,
            periodStartMs,
        ])
    }

    /// The sum of the limit's metric over the events of its scope in [from, to).
    static func usedByEvents(_ db: any SQLConnection, limit: LimitRecord, fromMs: Int64, toMs: Int64?) throws -> Int128 {
        let scopeFilter: String
        switch limit.scope {
        case .customer: scopeFilter = "customer_id = ?"
        case .key: scopeFilter = "key_id = ?"
        case .team: scopeFilter = "customer_id IN (SELECT id FROM customers WHERE team_id = ?)"
        }
        let column: String
        switch limit.metric {
        case .money: column = "price"
        case .tokens:
            column =
                "input_tokens + cache_read_tokens + cache_write_tokens + cache_write_1h_tokens + output_tokens"
        case .requests: column = "1"
        }
        // Requests Tollgate refused itself (admission, unreadable bodies) are events too, but never reached a provider.
        var sql = "SELECT \(column) FROM events WHERE \(scopeFilter) AND ts_ms >= ? AND (note IS NULL OR note NOT LIKE 'refused:%')"
        var arguments: [any SQLValueConvertible] = [limit.scopeID, fromMs]
        if let toMs {
            sql += " AND ts_ms < ?"
            arguments.append(toMs)
        }
        var total: Int128 = 0
        let rows = try SQLRow.fetchCursor(db, sql: sql, arguments: SQLArguments(arguments))
        while let row = try rows.next() {
            if limit.metric == .money {
                total += (Money(row[0] as String) ?? .zero).raw
            } else {
                total += Int128(row[0] as Int64)
            }
        }
        return total
    }

    static func status(_ db: any SQLConnection, limit: LimitRecord, nowMs: Int64) throws -> LimitStatus {
        let window = limit.period.window(containing: nowMs, anchor: limit.anchor)
        let (used, reserved) =
            limit.isRateLimit ? (0, 0) : try load(db, limit: limit, periodStartMs: window.startMs, periodEndMs: window.endMs)
        return LimitStatus(
            limit: limit, periodStartMs: window.startMs, periodEndMs: window.endMs, used: LimitQuantity.format(used, metric: limit.metric),
            reserved: LimitQuantity.format(reserved, metric: limit.metric),
            remaining: LimitQuantity.format(max(limit.quantity - used - reserved, 0), metric: limit.metric))
    }
}
