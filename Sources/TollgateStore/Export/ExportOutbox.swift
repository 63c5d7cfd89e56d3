import Crypto
import Foundation
import TollgateCore

/// One rated line bound for one billing sink: what is sent, under which idempotency key, and how far it got.
///
/// A line is customer × charge period × meter (`usage:MODEL`, `charge:METER`, `base_fee`, `discount`, `minimum`) and a
/// version: version 0 is the line as first exported; a later build that finds more (a late event) adds version 1, 2 …
/// carrying only the difference, marked as a correction of the original charge period. Stored lines never change
/// their content, so a retry always sends the same thing under the same key.
public struct ExportLine: Sendable, Equatable {
    /// Deterministic idempotency key: a digest of the line's identity, version and content.
    public var key: String
    /// The sink's name in the config.
    public var sink: String
    /// The customer (Tollgate's id).
    public var customer: String
    /// Charge period (`2026-11`).
    public var period: String
    /// Charge period start (inclusive) and end (exclusive), milliseconds.
    public var periodStartMs: Int64
    public var periodEndMs: Int64
    /// The line's meter: `usage:gpt-4o`, `charge:api_calls`, `base_fee`, `discount`, `minimum`.
    public var meter: String
    /// 0 for the line itself, 1 … for corrections.
    public var version: Int
    /// What the line is: usage, a charge, a base fee, a discount or a minimum.
    public var kind: RatedLine.Kind
    /// What a statement says for it.
    public var description: String
    /// The model (usage lines).
    public var model: String?
    /// Units (requests for usage lines, the meter's units for charges, 1 for fees); a correction carries the difference.
    public var quantity: Int
    /// Tokens behind the line (usage lines), or their difference for a correction.
    public var usage: TokenUsage
    /// Exact amount (or its difference).
    public var amount: Money
    /// Currency of the amount.
    public var currency: String
    /// The tier breakdown of a charge line, as JSON (`[{"label","from","to","quantity","unit_price","amount"}]`).
    public var bracketsJSON: String
    /// The events behind the line (for a correction, the ones not in earlier versions).
    public var eventIDs: [String]
    /// The usage time sent to the sink: the period's last second (when it was staged before the period ended, the
    /// staging time); for a correction, when it was staged. As late as the period allows, because billing systems
    /// refuse usage far in the past (Stripe: 35 days, Metronome: 34) and place it by this time.
    public var usageMs: Int64
    /// When it was staged.
    public var createdMs: Int64
    /// Where it stands.
    public var state: ExportState
    /// Send attempts so far.
    public var attempts: Int
    /// Not before this time (after a failure).
    public var nextAttemptMs: Int64
    /// The last error (failed, dead) or why the line is held.
    public var lastError: String?
    /// When the sink accepted it.
    public var sentMs: Int64?

    /// Whether it corrects an exported line.
    public var isCorrection: Bool { version > 0 }
    /// The amount rounded half to even to the currency's minor unit.
    public var amountDue: Money { amount.rounded(toDigits: Currency.minorUnits(currency)) }
}

/// The life of an exported line.
public enum ExportState: String, Sendable, Codable, CaseIterable {
    /// Waiting for its first send.
    case pending
    /// A send failed; retried at ``ExportLine/nextAttemptMs``.
    case failed
    /// Accepted by the sink.
    case sent
    /// Gave up after the last attempt, or refused for good; `tollgate export retry --dead` sends it again.
    case dead
    /// Not sendable yet: the customer has no id in the sink's system. Re-checked on every run.
    case held
}

/// A line as built from the meter, before it is staged.
public struct RatedExportLine: Sendable, Equatable {
    public var customer: String
    public var meter: String
    public var kind: RatedLine.Kind
    public var description: String
    public var model: String?
    public var quantity: Int
    public var usage: TokenUsage
    public var amount: Money
    public var currency: String
    public var bracketsJSON: String
    public var eventIDs: [String]
    public var lastEventMs: Int64?

    /// A built line.
    public init(
        customer: String, meter: String, kind: RatedLine.Kind, description: String, model: String?, quantity: Int, usage: TokenUsage, amount: Money,
        currency: String, bracketsJSON: String, eventIDs: [String], lastEventMs: Int64?
    ) {
        self.customer = customer
        self.meter = meter
        self.kind = kind
        self.description = description
        self.model = model
        self.quantity = quantity
        self.usage = usage
        self.amount = amount
        self.currency = currency
        self.bracketsJSON = bracketsJSON
        self.eventIDs = eventIDs
        self.lastEventMs = lastEventMs
    }
}

/// What staging a period did.
public struct ExportStaging: Sendable, Equatable {
    /// New lines (version 0).
    public var added = 0
    /// New corrections.
    public var corrections = 0
    /// Lines already staged with the same content.
    public var unchanged = 0

    /// Counts (nothing staged by default).
    public init(added: Int = 0, corrections: Int = 0, unchanged: Int = 0) {
        self.added = added
        self.corrections = corrections
        self.unchanged = unchanged
    }
}

/// One sink's lines by state, and its last error.
public struct ExportSinkStatus: Sendable, Equatable {
    public var sink: String
    public var counts: [ExportState: Int]
    public var lastError: String?
    public var lastSentMs: Int64?

    /// A status.
    public init(sink: String, counts: [ExportState: Int], lastError: String?, lastSentMs: Int64?) {
        self.sink = sink
        self.counts = counts
        self.lastError = lastError
        self.lastSentMs = lastSentMs
    }
}

extension MeterStore {
    /// Stages a period's lines for a sink: a line never exported is added as version 0; one whose content grew since
    /// (late events) gets a correction with the difference; an unchanged one is left alone. Deterministic: staging the
    /// same lines twice adds nothing, and the keys depend only on the lines.
    public func stageExport(
        sink: String, period: String, startMs: Int64, endMs: Int64, lines: [RatedExportLine], nowMs: Int64? = nil
    ) async throws(MeterError) -> ExportStaging {
        let now = nowMs ?? Timestamps.nowMs()
        do {
            return try await database.write { db in
                var staging = ExportStaging()
                for line in lines {
                    let previous = try SQLRow.fetchAll(
                        db,
                        sql: """
                            SELECT version, quantity, amount, usage, event_ids FROM export_lines
                            WHERE sink = ? AND customer_id = ? AND period = ? AND meter = ? ORDER BY version
                            """,
                        arguments: [sink, line.customer, period, line.meter])
                    var quantity = 0
                    var amount = Money.zero
                    var usage = TokenUsage.zero
                    var seen = Set<String>()
                    for row in previous {
                        quantity += row["quantity"] as Int
                        amount += Money(row["amount"] as String) ?? .zero
                        usage = usage + ExportCoding.usage(row["usage"] as String)
                        seen.formUnion(ExportCoding.strings(row["event_ids"] as String))
                    }
                    let delta = (
                        quantity: line.quantity - quantity, amount: line.amount - amount, usage: ExportCoding.difference(line.usage, usage)
                    )
                    if !previous.isEmpty, delta.quantity == 0, delta.amount == .zero, delta.usage == .zero {
                        staging.unchanged += 1
                        continue
                    }
                    let version = previous.count
                    let correction = version > 0
                    let eventIDs = correction ? line.eventIDs.filter { !seen.contains($0) } : line.eventIDs
                    var staged = ExportLine(
                        key: "", sink: sink, customer: line.customer, period: period, periodStartMs: startMs, periodEndMs: endMs,
                        meter: line.meter, version: version, kind: line.kind,
                        description: correction ? "\(line.description) (correction \(version) of \(period))" : line.description,
                        model: line.model, quantity: correction ? delta.quantity : line.quantity,
                        usage: correction ? delta.usage : line.usage, amount: correction ? delta.amount : line.amount,
                        currency: line.currency, bracketsJSON: correction ? "[]" : line.bracketsJSON, eventIDs: eventIDs,
                        usageMs: correction ? now : min(endMs - 1000, now), createdMs: now,
                        state: .pending, attempts: 0, nextAttemptMs: now, lastError: nil, sentMs: nil)
                    staged.key = ExportCoding.key(staged)
                    try ExportCoding.insert(staged, db)
                    if correction { staging.corrections += 1 } else { staging.added += 1 }
                }
                return staging
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// The time of the first event, if any.
    public func firstEventMs() async throws(MeterError) -> Int64? {
        do {
            return try await database.read { db in try Int64.fetchOne(db, sql: "SELECT MIN(ts_ms) FROM events") }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Lines of a sink in the given states (all states when empty), oldest first.
    public func exportLines(
        sink: String, states: Set<ExportState> = [], dueBy nowMs: Int64? = nil, limit: Int? = nil
    ) async throws(MeterError)
        -> [ExportLine]
    {
        do {
            return try await database.read { db in
                var sql = "SELECT * FROM export_lines WHERE sink = ?"
                var arguments: [any SQLValueConvertible] = [sink]
                if !states.isEmpty {
                    sql += " AND state IN (\(states.map { _ in "?" }.joined(separator: ", ")))"
                    arguments += states.map(\.rawValue).sorted()
                }
                if let nowMs {
                    sql += " AND next_attempt_ms <= ?"
                    arguments.append(nowMs)
                }
                sql += " ORDER BY created_ms, period, customer_id, meter, version"
                if let limit { sql += " LIMIT \(limit)" }
                return try SQLRow.fetchAll(db, sql: sql, arguments: SQLArguments(arguments)).map(ExportCoding.line)
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Records how sends went, all in one transaction.
    public func recordExportResults(
        sink: String, _ results: [(key: String, state: ExportState, nextAttemptMs: Int64, error: String?)], nowMs: Int64? = nil
    )
        async throws(MeterError)
    {
        let now = nowMs ?? Timestamps.nowMs()
        do {
            try await database.write { db in
                for result in results {
                    let attempted = result.state == .held ? 0 : 1
                    try db.execute(
                        sql: """
                            UPDATE export_lines SET state = ?, attempts = attempts + ?, next_attempt_ms = ?, last_error = ?,
                                sent_ms = CASE WHEN ? = 'sent' THEN ? ELSE sent_ms END
                            WHERE sink = ? AND key = ? AND state != 'sent'
                            """,
                        arguments: [
                            result.state.rawValue, attempted, result.nextAttemptMs, result.error, result.state.rawValue, now, sink, result.key,
                        ])
                }
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Sends dead lines again (all sinks, or one): they become pending with their attempts reset. Returns how many.
    @discardableResult
    public func retryDeadExports(sink: String? = nil, nowMs: Int64? = nil) async throws(MeterError) -> Int {
        let now = nowMs ?? Timestamps.nowMs()
        do {
            return try await database.write { db in
                try db.execute(
                    sql: "UPDATE export_lines SET state = 'pending', attempts = 0, next_attempt_ms = ? WHERE state = 'dead'"
                        + (sink == nil ? "" : " AND sink = ?"),
                    arguments: SQLArguments([now as any SQLValueConvertible] + (sink.map { [$0] } ?? [])))
                return db.changesCount
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Per sink: lines by state, the last error and the last send.
    public func exportStatus() async throws(MeterError) -> [ExportSinkStatus] {
        do {
            return try await database.read { db in
                var statuses: [String: ExportSinkStatus] = [:]
                for row in try SQLRow.fetchAll(
                    db, sql: "SELECT sink, state, COUNT(*) AS n, MAX(sent_ms) AS sent FROM export_lines GROUP BY sink, state")
                {
                    let sink: String = row["sink"]
                    var status = statuses[sink] ?? ExportSinkStatus(sink: sink, counts: [:], lastError: nil, lastSentMs: nil)
                    if let state = ExportState(rawValue: row["state"]) { status.counts[state] = row["n"] }
                    if let sent: Int64 = row["sent"] { status.lastSentMs = max(status.lastSentMs ?? 0, sent) }
                    statuses[sink] = status
                }
                for (sink, var status) in statuses {
                    status.lastError = try String.fetchOne(
                        db,
                        sql: """
                            SELECT last_error FROM export_lines WHERE sink = ? AND last_error IS NOT NULL AND state != 'sent'
                            ORDER BY next_attempt_ms DESC LIMIT 1
                            """,
                        arguments: [sink])
                    statuses[sink] = status
                }
                return statuses.values.sorted { $0.sink < $1.sink }
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Sets (or with `nil`, removes) a customer's id in a billing system (`stripe` → `cus_123`).
    public func setExternalID(customer: String, system: String, id: String?) async throws(MeterError) {
        try Self.validateID(customer, what: "customer")
        guard !system.isEmpty, system.count <= 100 else { throw .rejected("a billing system name is 1 to 100 characters") }
        let now = Timestamps.nowMs()
        do {
            try await database.write { db in
                try db.execute(
                    sql: "INSERT INTO customers (id, name, created_ms) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING", arguments: [customer, now])
                if let id, !id.isEmpty {
                    try db.execute(
                        sql: """
                            INSERT INTO customer_external_ids (customer_id, system, external_id) VALUES (?, ?, ?)
                            ON CONFLICT (customer_id, system) DO UPDATE SET external_id = excluded.external_id
                            """,
                        arguments: [customer, system, id])
                } else {
                    try db.execute(sql: "DELETE FROM customer_external_ids WHERE customer_id = ? AND system = ?", arguments: [customer, system])
                }
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// A customer's ids in billing systems, by system.
    public func externalIDs(customer: String) async throws(MeterError) -> [String: String] {
        do {
            return try await database.read { db in
                var ids: [String: String] = [:]
                for row in try SQLRow.fetchAll(
                    db, sql: "SELECT system, external_id FROM customer_external_ids WHERE customer_id = ?", arguments: [customer])
                {
                    ids[row["system"]] = row["external_id"]
                }
                return ids
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }
}

/// How export lines are stored and keyed.
enum ExportCoding {
    static let createSQL = """
        CREATE TABLE customer_external_ids (
            customer_id TEXT NOT NULL,
            system TEXT NOT NULL,
            external_id TEXT NOT NULL,
            PRIMARY KEY (customer_id, system)
        );
        CREATE TABLE export_lines (
            sink TEXT NOT NULL,
            key TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            period TEXT NOT NULL,
            period_start_ms INTEGER NOT NULL,
            period_end_ms INTEGER NOT NULL,
            meter TEXT NOT NULL,
            version INTEGER NOT NULL,
            kind TEXT NOT NULL,
            description TEXT NOT NULL,
            model TEXT,
            quantity INTEGER NOT NULL,
            usage TEXT NOT NULL,
            amount TEXT NOT NULL,
            currency TEXT NOT NULL,
            brackets TEXT NOT NULL,
            event_ids TEXT NOT NULL,
            usage_ms INTEGER NOT NULL,
            created_ms INTEGER NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_ms INTEGER NOT NULL,
            last_error TEXT,
            sent_ms INTEGER,
            PRIMARY KEY (sink, key),
            UNIQUE (sink, customer_id, period, meter, version)
        );
        CREATE INDEX export_lines_due ON export_lines(sink, state, next_attempt_ms);
        CREATE TABLE export_periods (
            sink TEXT NOT NULL,
            period TEXT NOT NULL,
            events INTEGER NOT NULL,
            staged_ms INTEGER NOT NULL,
            PRIMARY KEY (sink, period)
        );
        """

    /// `tg_` and 40 hex digits of SHA-256 over the line's identity, version and content: the same line always gets the
    /// same key, a correction its own. Fits every system's limit (Stripe's identifier: 100; Chargebee's: 36 is not a
    /// target).
    static func key(_ line: ExportLine) -> String {
        let content = [
            line.customer, line.period, line.meter, String(line.version), line.kind.rawValue, String(line.quantity), line.amount.description,
            line.currency, usageText(line.usage), line.eventIDs.joined(separator: ","),
        ].joined(separator: "\u{1F}")
        let digest = SHA256.hash(data: Data(content.utf8))
        return Hex.lowercase(Array(digest.prefix(20)), prefix: "tg_")
    }

    static func insert(_ line: ExportLine, _ db: any SQLConnection) throws {
        try db.execute(
            sql: """
                INSERT INTO export_lines (sink, key, customer_id, period, period_start_ms, period_end_ms, meter, version, kind, description,
                    model, quantity, usage, amount, currency, brackets, event_ids, usage_ms, created_ms, state, attempts, next_attempt_ms,
                    last_error, sent_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                line.sink, line.key, line.customer, line.period, line.periodStartMs, line.periodEndMs, line.meter, line.version, line.kind.rawValue,
                line.description, line.model, line.quantity, usageText(line.usage), line.amount.description, line.currency, line.bracketsJSON,
                stringsText(line.eventIDs), line.usageMs, line.createdMs, line.state.rawValue, line.attempts, line.nextAttemptMs,
                line.lastError, line.sentMs,
            ])
    }

    static func line(_ row: SQLRow) -> ExportLine {
        ExportLine(
            key: row["key"], sink: row["sink"], customer: row["customer_id"], period: row["period"], periodStartMs: row["period_start_ms"],
            periodEndMs: row["period_end_ms"], meter: row["meter"], version: row["version"], kind: row.choice("kind", or: .usage),
            description: row["description"], model: row["model"], quantity: row["quantity"], usage: usage(row["usage"]),
            amount: Money(row["amount"] as String) ?? .zero, currency: row["currency"], bracketsJSON: row["brackets"],
            eventIDs: strings(row["event_ids"]), usageMs: row["usage_ms"], createdMs: row["created_ms"], state: row.choice("state", or: .pending),
            attempts: row["attempts"], nextAttemptMs: row["next_attempt_ms"], lastError: row["last_error"], sentMs: row["sent_ms"])
    }

    /// The token classes an export carries, as a small JSON object.
    static func usageText(_ usage: TokenUsage) -> String {
        "{\"input_tokens\":\(usage.inputTokens),\"cache_read_tokens\":\(usage.cacheReadTokens),\"cache_write_tokens\":\(usage.cacheWriteTokens),"
            + "\"output_tokens\":\(usage.outputTokens),\"reasoning_tokens\":\(usage.reasoningTokens)}"
    }

    static func usage(_ text: String) -> TokenUsage {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Int] else { return .zero }
        return TokenUsage(
            inputTokens: object["input_tokens"] ?? 0, cacheReadTokens: object["cache_read_tokens"] ?? 0,
            cacheWriteTokens: object["cache_write_tokens"] ?? 0, outputTokens: object["output_tokens"] ?? 0,
            reasoningTokens: object["reasoning_tokens"] ?? 0)
    }

    static func difference(_ lhs: TokenUsage, _ rhs: TokenUsage) -> TokenUsage {
        TokenUsage(
            inputTokens: lhs.inputTokens - rhs.inputTokens, cacheReadTokens: lhs.cacheReadTokens - rhs.cacheReadTokens,
            cacheWriteTokens: lhs.cacheWriteTokens - rhs.cacheWriteTokens, outputTokens: lhs.outputTokens - rhs.outputTokens,
            reasoningTokens: lhs.reasoningTokens - rhs.reasoningTokens)
    }

    static func stringsText(_ strings: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode(strings)) ?? Data("[]".utf8), as: UTF8.self)
    }

    static func strings(_ text: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }
}
