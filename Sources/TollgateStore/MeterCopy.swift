import TollgateCore

/// What ``MeterStore/copy(to:progress:)`` moved: rows per table, and the money the two meters agree on.
public struct MeterCopyReport: Sendable, Equatable {
    /// Rows copied, by table.
    public var rows: [String: Int] = [:]
    /// The sums compared after the copy, by what they sum (`events.price USD`, `credit_grants.remaining USD` …).
    public var sums: [String: Money] = [:]
}

extension MeterStore {
    /// The tables a copy moves, in an order that keeps every reference valid (the schema's own bookkeeping excluded).
    static let copiedTables = [
        "customers", "teams", "virtual_keys", "events", "credit_accounts", "credit_grants", "ledger", "reservations", "limits",
        "limit_usage", "alerts", "instances", "usage_monthly", "usage_daily", "usage_hourly", "export_lines", "export_periods",
        "customer_external_ids", "export_fingerprints", "objects", "idempotency_keys", "dashboard_revoked_sessions", "true_ups",
        "rate_buckets", "leases", "event_prunes",
    ]

    /// Copies every row of this meter into `target` (another database: SQLite into PostgreSQL when moving to replicas),
    /// then compares row counts and money sums table by table; throws when anything differs. The target must be empty
    /// (its schema created, no rows); this meter is read in one snapshot, so run it with `serve` stopped to carry
    /// every last event. `progress` gets (table, rows copied so far).
    public func copy(to target: MeterStore, progress: @Sendable (String, Int) -> Void = { _, _ in }) async throws(MeterError) -> MeterCopyReport {
        let tables = try existingTables()
        do {
            for table in tables {
                if try await target.database.read({ db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }) > 0 {
                    throw MeterError.conflict("the target meter \(target.path) is not empty (its \(table) has rows): copy into a new one")
                }
            }
            var report = MeterCopyReport()
            report.rows = try copyRows(to: target, tables: tables, progress: progress)
            target.forgetPrincipals()
            if target.dialect == .postgres, tables.contains("ledger") {
                // The ledger's sequence goes on after the copied lines.
                try await target.database.write { db in
                    try db.execute(
                        sql: "SELECT setval(pg_get_serial_sequence('ledger', 'seq'), COALESCE((SELECT MAX(seq) FROM ledger), 0) + 1, false)")
                }
            }
            try await compare(with: target, tables: tables, into: &report)
            return report
        } catch let error as MeterError {
            throw error
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    /// Copies the rows of `tables`, read in one snapshot of this meter, in write transactions of 1,000 rows.
    private func copyRows(to target: MeterStore, tables: [String], progress: (String, Int) -> Void) throws -> [String: Int] {
        try database.read { db in
            // The read filed what was landed (``EventLanding``), unless this meter could not be written: its events
            // would be left out of the copy, and out of the comparison after it.
            if db.dialect == .sqlite, try EventLanding.anyLanded(db) {
                throw MeterError.conflict(
                    "\(path) has events landed and not filed, which a process that can write it files: open it once with write access (any tollgate command), then copy"
                )
            }
            var counts: [String: Int] = [:]
            for table in tables {
                if table == "events", let first = try Int64.fetchOne(db, sql: "SELECT MIN(ts_ms) FROM events"),
                    let last = try Int64.fetchOne(db, sql: "SELECT MAX(ts_ms) FROM events")
                {
                    try target.ensureEventPartitionsNow(EventPartitions.months(fromMs: first, toMs: last + 1))
                }
                let cursor = try SQLRow.fetchCursor(db, sql: "SELECT * FROM \(table)")
                var batch: [SQLRow] = []
                var copied = 0
                func flush() throws {
                    guard let first = batch.first else { return }
                    let columns = first.columns.names
                    let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"
                    try target.database.write { target in
                        let statement = try target.cachedStatement(sql: sql)
                        for row in batch { try statement.execute(arguments: SQLArguments(values: row.values)) }
                    }
                    copied += batch.count
                    batch.removeAll(keepingCapacity: true)
                    progress(table, copied)
                }
                while let row = try cursor.next() {
                    batch.append(row)
                    if batch.count == 1_000 { try flush() }
                }
                try flush()
                counts[table] = copied
            }
            return counts
        }
    }

    /// The copied tables this meter has (an older schema may lack the newest).
    private func existingTables() throws(MeterError) -> [String] {
        do {
            let present: Set<String> = try database.read { db in
                switch db.dialect {
                case .sqlite: return Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
                case .postgres: return Set(try String.fetchAll(db, sql: "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
                }
            }
            return Self.copiedTables.filter(present.contains)
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Row counts of every table and the money columns summed per currency, on both meters; throws on a difference.
    private func compare(with target: MeterStore, tables: [String], into report: inout MeterCopyReport) async throws {
        let money: [(table: String, amount: String, currency: String)] = [
            ("events", "price", "COALESCE(price_currency, currency)"), ("events", "cost", "currency"),
            ("credit_grants", "amount", "currency"), ("credit_grants", "remaining", "currency"), ("ledger", "amount", "account"),
        ]
        for table in tables {
            let sql = "SELECT COUNT(*) FROM \(table)"
            let (here, there) = (
                try await database.read { try Int.fetchOne($0, sql: sql) ?? 0 },
                try await target.database.read { try Int.fetchOne($0, sql: sql) ?? 0 }
            )
            guard here == there else { throw MeterError.conflict("after the copy, \(table) has \(here) rows here and \(there) in the target") }
        }
        for (table, amount, currency) in money where tables.contains(table) {
            let sql = "SELECT \(currency) AS currency, \(amount) AS amount FROM \(table)"
            func sums(_ meter: MeterStore) async throws -> [String: Money] {
                try await meter.database.read { db in
                    var sums: [String: Money] = [:]
                    let rows = try SQLRow.fetchCursor(db, sql: sql)
                    while let row = try rows.next() {
                        let key: String = row["currency"]
                        sums[key, default: .zero] += Money(row["amount"] as String) ?? .zero
                    }
                    return sums
                }
            }
            let (here, there) = (try await sums(self), try await sums(target))
            guard here == there else {
                throw MeterError.conflict("after the copy, the sums of \(table).\(amount) differ: \(here) here, \(there) in the target")
            }
            for (key, sum) in here { report.sums["\(table).\(amount) \(key)"] = sum }
        }
    }
}
