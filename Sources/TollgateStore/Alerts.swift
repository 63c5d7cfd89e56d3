import TollgateCore

/// A limit's threshold crossing as the meter keeps it: what crossed (the limit, its period and the percent), the
/// usage when it fired, and how its webhook delivery is going.
///
/// Each crossing is stored once per limit × period × threshold; the webhook sender takes the undelivered ones
/// whose next attempt is due and marks them delivered or failed. Shown as JSON (snake_case keys) by the admin API
/// and `tollgate limits alerts`.
public struct AlertRecord: Sendable, Equatable, Codable {
    /// Alert id (`alr_…`), sent as the `Tollgate-Event-Id` header so that receivers can drop repeats.
    public var id: String
    /// The limit that crossed a threshold.
    public var limitID: String
    /// The start of the limit's period the crossing happened in (ms since 1970).
    public var periodStartMs: Int64
    /// The threshold crossed, in percent of the limit (50, 80, 100, …).
    public var threshold: Int
    /// What the limit applies to.
    public var scope: LimitScope
    /// The customer, team or key id.
    public var scopeID: String
    /// What the limit counts.
    public var metric: LimitMetric
    /// The limit's period.
    public var period: LimitPeriod
    /// Whether requests are refused at the limit (hard) or it only alerts (soft).
    public var enforcement: Enforcement
    /// The limit's size: a decimal string for money, a whole number for tokens and requests.
    public var amount: String
    /// The usage when the alert fired, written like `amount`.
    public var used: String
    /// The currency of a money limit.
    public var currency: String?
    /// The end of the period (ms since 1970); `nil` for a period that does not end.
    public var periodEndMs: Int64?
    /// When the crossing happened (ms since 1970).
    public var firedMs: Int64
    /// When the webhook receiver accepted it; `nil` while undelivered.
    public var deliveredMs: Int64?
    /// Delivery attempts made so far, the successful one included.
    public var attempts: Int
    /// The earliest time of the next delivery attempt (ms since 1970).
    public var nextAttemptMs: Int64
    /// Why the last attempt failed.
    public var lastError: String?

    /// Creates a record; a new alert is undelivered, has no attempts and is due at once (`nextAttemptMs` defaults
    /// to `firedMs`).
    public init(
        id: String, limitID: String, periodStartMs: Int64, threshold: Int, scope: LimitScope, scopeID: String, metric: LimitMetric,
        period: LimitPeriod, enforcement: Enforcement, amount: String, used: String, currency: String? = nil, periodEndMs: Int64? = nil,
        firedMs: Int64, deliveredMs: Int64? = nil, attempts: Int = 0, nextAttemptMs: Int64? = nil, lastError: String? = nil
    ) {
        self.id = id
        self.limitID = limitID
        self.periodStartMs = periodStartMs
        self.threshold = threshold
        self.scope = scope
        self.scopeID = scopeID
        self.metric = metric
        self.period = period
        self.enforcement = enforcement
        self.amount = amount
        self.used = used
        self.currency = currency
        self.periodEndMs = periodEndMs
        self.firedMs = firedMs
        self.deliveredMs = deliveredMs
        self.attempts = attempts
        self.nextAttemptMs = nextAttemptMs ?? firedMs
        self.lastError = lastError
    }

    enum CodingKeys: String, CodingKey {
        case id
        case limitID = "limit_id"
        case periodStartMs = "period_start_ms"
        case threshold, scope
        case scopeID = "scope_id"
        case metric, period, enforcement, amount, used, currency
        case periodEndMs = "period_end_ms"
        case firedMs = "fired_ms"
        case deliveredMs = "delivered_ms"
        case attempts
        case nextAttemptMs = "next_attempt_ms"
        case lastError = "last_error"
    }
}

/// A prepaid account's level, for the low-balance watch (``MeterStore/creditLevels(nowMs:)``).
public struct CreditLevel: Sendable, Equatable {
    public var account: String
    public var currency: String
    /// Granted in effect (credit backs included).
    public var granted: Money
    /// What a request can still reserve.
    public var available: Money
    /// When the latest grant in effect took effect: a new grant re-arms the alert.
    public var armedMs: Int64
}

/// What an alert is about, as its webhook's `type` says.
public enum AlertKind: String, Sendable, Equatable {
    /// A limit's threshold was crossed (`limit.threshold_crossed`).
    case limitThreshold = "limit.threshold_crossed"
    /// A prepaid account's available balance fell below `alerts.low_balance` (`credits.balance_low`).
    case lowBalance = "credits.balance_low"
    /// A customer's revenue was below its cost over a UTC day (`customer.margin_negative`).
    case negativeMargin = "customer.margin_negative"
}

extension AlertRecord {
    /// What the alert is about: a limit's (`lim_…`), a balance's (`balance:ACCOUNT`) or a margin's (`margin:CUSTOMER`).
    public var kind: AlertKind {
        limitID.hasPrefix("balance:") ? .lowBalance : limitID.hasPrefix("margin:") ? .negativeMargin : .limitThreshold
    }
}

extension MeterStore {
    /// Stores a low-balance or negative-margin alert unless the same one (its subject × period × threshold) is stored
    /// already; returns whether it fires now.
    public func recordWatchAlert(_ record: AlertRecord) async throws(MeterError) -> Bool {
        do {
            return try await database.write { db in try Self.insertAlert(db, record) }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Every account that has had a grant, in one read without walking ledgers: what was granted to it in effect
    /// now (true-up credit backs included), what is available (the open grants' remainder less overdraft and holds),
    /// and when its latest grant in effect took effect.
    public func creditLevels(nowMs: Int64) async throws(MeterError) -> [CreditLevel] {
        do {
            return try await database.read { db in
                let accounts = try SQLRow.fetchAll(
                    db,
                    sql: """
                        SELECT account, MIN(currency) AS currency, COALESCE(MAX(effective_ms), 0) AS armed,
                            GROUP_CONCAT(amount, ' ') AS amounts
                        FROM credit_grants WHERE effective_ms <= ? GROUP BY account ORDER BY account
                        """, arguments: [nowMs])
                return try accounts.map { row in
                    let account: String = row["account"]
                    let granted = (row["amounts"] as String? ?? "").split(separator: " ").reduce(Money.zero) { $0 + (Money(String($1)) ?? .zero) }
                    return CreditLevel(
                        account: account, currency: row["currency"], granted: granted,
                        available: try Ledger.available(db, account: account, nowMs: nowMs).available, armedMs: row["armed"])
                }
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Alerts, newest first; with `pendingOnly`, only those not delivered yet (given up ones included).
    public func alerts(limit: Int = 100, pendingOnly: Bool = false) async throws(MeterError) -> [AlertRecord] {
        do {
            return try await database.read { db in
                let filter = pendingOnly ? " WHERE delivered_ms IS NULL" : ""
                return try SQLRow.fetchAll(
                    db, sql: "SELECT * FROM alerts\(filter) ORDER BY fired_ms DESC, id DESC LIMIT ?", arguments: [max(0, limit)]
                ).map(Self.alert)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// The alerts a webhook delivery is due for at `nowMs`: undelivered, fewer than `maxAttempts` attempts, next
    /// attempt not in the future; the oldest crossing first.
    public func dueAlerts(nowMs: Int64, maxAttempts: Int, limit: Int = 50) async throws(MeterError) -> [AlertRecord] {
        do {
            return try await database.read { db in
                let statement = try db.cachedStatement(
                    sql: """
                        SELECT * FROM alerts
                        WHERE delivered_ms IS NULL AND attempts < ? AND next_attempt_ms <= ?
                        ORDER BY fired_ms, id LIMIT ?
                        """)
                return try SQLRow.fetchAll(statement, arguments: [maxAttempts, nowMs, max(0, limit)]).map(Self.alert)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Records that the receiver accepted alert `id` (counting the attempt). An alert already delivered, or
    /// unknown, is left as it is: another instance may have delivered it first.
    public func markAlertDelivered(id: String, nowMs: Int64) async throws(MeterError) {
        do {
            try await database.write { db in
                try db.execute(
                    sql: "UPDATE alerts SET delivered_ms = ?, attempts = attempts + 1 WHERE id = ? AND delivered_ms IS NULL",
                    arguments: [nowMs, id])
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Records a failed delivery attempt of alert `id`: one more attempt, why it failed, and when to try again.
    /// An alert already delivered, or unknown, is left as it is.
    public func markAlertFailed(id: String, error reason: String, nextAttemptMs: Int64) async throws(MeterError) {
        do {
            try await database.write { db in
                try db.execute(
                    sql: """
                        UPDATE alerts SET attempts = attempts + 1, last_error = ?, next_attempt_ms = ?
                        WHERE id = ? AND delivered_ms IS NULL
                        """,
                    arguments: [reason, nextAttemptMs, id])
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Stores a threshold crossing unless that limit × period × threshold (or that id) is already stored, inside
    /// the caller's transaction. Returns whether a row was inserted, that is, whether the alert fires now.
    static func insertAlert(_ db: any SQLConnection, _ record: AlertRecord) throws -> Bool {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO alerts (
                    id, limit_id, period_start_ms, threshold, scope, scope_id, metric, period, enforcement, amount, used, currency,
                    period_end_ms, fired_ms, delivered_ms, attempts, next_attempt_ms, last_error
                ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """)
        try statement.execute(arguments: [
            record.id, record.limitID, record.periodStartMs, record.threshold, record.scope.rawValue, record.scopeID, record.metric.rawValue,
            record.period.rawValue, record.enforcement.rawValue, record.amount, record.used, record.currency, record.periodEndMs, record.firedMs,
            record.deliveredMs, record.attempts, record.nextAttemptMs, record.lastError,
        ])
        return db.changesCount == 1
    }

    private static func alert(_ row: SQLRow) -> AlertRecord {
        AlertRecord(
            id: row["id"], limitID: row["limit_id"], periodStartMs: row["period_start_ms"], threshold: row["threshold"],
            scope: row.choice("scope", or: .customer), scopeID: row["scope_id"], metric: row.choice("metric", or: .money),
            period: row.choice("period", or: .month), enforcement: row.choice("enforcement", or: .hard), amount: row["amount"],
            used: row["used"], currency: row["currency"], periodEndMs: row["period_end_ms"], firedMs: row["fired_ms"],
            deliveredMs: row["delivered_ms"], attempts: row["attempts"], nextAttemptMs: row["next_attempt_ms"], lastError: row["last_error"])
    }
}
