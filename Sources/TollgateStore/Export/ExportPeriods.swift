import Foundation
import TollgateCore

/// Customers who share a billing cycle, as export stages them: one group per cycle in use. The default group (the
/// rules' own cycle) holds everyone not in another group, customers the meter has never heard of included.
public struct ExportCycleGroup: Sendable, Equatable {
    /// The group's cycle.
    public var cycle: BillingCycle
    /// Its customers; `nil` for the default group.
    public var customers: Set<String>?
    /// For the default group, the customers of the other groups.
    public var others: Set<String>

    /// Whether a customer belongs to the group.
    public func includes(_ customer: String) -> Bool {
        customers.map { $0.contains(customer) } ?? !others.contains(customer)
    }

    /// How the group's periods are labelled on lines (and file names, `{period}`): `2026-11` for calendar months in
    /// UTC, as always; otherwise the local date the period starts on, `2026-10-15`.
    public func label(of period: BillingPeriod) -> String {
        cycle == .calendarMonthUTC ? String(period.name.prefix(7)) : period.name
    }

    /// The key a period's staging is remembered under: the label, with the cycle when it is not calendar months in UTC
    /// (two cycles can start periods on the same local date).
    public func key(of period: BillingPeriod) -> String {
        cycle == .calendarMonthUTC
            ? label(of: period) : "\(period.name) \(cycle.cadence.rawValue) \(cycle.anchorText) \(cycle.timeText) \(cycle.timeZone)"
    }
}

extension MeterStore {
    /// The customers grouped by billing cycle under `rules`: the default group first, then one group per other cycle,
    /// each with the customers (recorded in the meter or named in the rules) whose cycle it is.
    public func exportCycleGroups(rules: PricingRules) async throws(MeterError) -> [ExportCycleGroup] {
        var cycles: [String: BillingCycle] = [:]
        for record in try await customers() { cycles[record.id] = rules.billingCycle(for: record.id, override: record.billingCycle).cycle }
        for id in rules.customers.keys where cycles[id] == nil { cycles[id] = rules.billingCycle(for: id).cycle }
        var groups: [BillingCycle: Set<String>] = [:]
        for (customer, cycle) in cycles where cycle != rules.billingCycle { groups[cycle, default: []].insert(customer) }
        let others = groups.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        return [ExportCycleGroup(cycle: rules.billingCycle, customers: nil, others: others)]
            + groups.sorted { $0.key.description < $1.key.description }.map { ExportCycleGroup(cycle: $0.key, customers: $0.value, others: []) }
    }

    /// Events per customer in [start, end): whole hours from the hourly rollup (written with the events), the edges
    /// from the events. What tells export that a customer's period gained events since it was staged.
    public func eventCountsByCustomer(startMs: Int64, endMs: Int64) async throws(MeterError) -> [String: Int] {
        let hour: Int64 = 3_600_000
        let firstHour = startMs.floorModulo(hour) == 0 ? startMs : startMs - startMs.floorModulo(hour) + hour
        let lastHour = endMs - endMs.floorModulo(hour)
        do {
            return try await database.read { db in
                var counts: [String: Int] = [:]
                func add(_ sql: String, _ arguments: SQLArguments) throws {
                    for row in try SQLRow.fetchAll(db, sql: sql, arguments: arguments) { counts[row[0], default: 0] += row[1] as Int }
                }
                let fromEvents = "SELECT customer_id, COUNT(*) FROM events WHERE ts_ms >= ? AND ts_ms < ? GROUP BY customer_id"
                if firstHour < lastHour {
                    try add(
                        "SELECT customer_id, SUM(requests) FROM usage_hourly WHERE bucket_ms >= ? AND bucket_ms < ? GROUP BY customer_id",
                        [firstHour, lastHour])
                    if startMs < firstHour { try add(fromEvents, [startMs, firstHour]) }
                    if lastHour < endMs { try add(fromEvents, [lastHour, endMs]) }
                } else {
                    try add(fromEvents, [startMs, endMs])
                }
                return counts
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// For a sink and a period key, the customers staged so far and how many events each had then.
    public func exportFingerprints(sink: String, period: String) async throws(MeterError) -> [String: Int] {
        do {
            return try await database.read { db in
                var staged: [String: Int] = [:]
                for row in try SQLRow.fetchAll(
                    db, sql: "SELECT customer_id, events FROM export_fingerprints WHERE sink = ? AND period = ?", arguments: [sink, period])
                {
                    staged[row["customer_id"]] = row["events"]
                }
                return staged
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// Records that customers' lines of a period were staged for a sink when they had these event counts.
    public func markExported(sink: String, period: String, events: [String: Int], nowMs: Int64) async throws(MeterError) {
        do {
            try await database.write { db in
                for (customer, count) in events {
                    try db.execute(
                        sql: """
                            INSERT INTO export_fingerprints (sink, period, customer_id, events, staged_ms) VALUES (?, ?, ?, ?, ?)
                            ON CONFLICT (sink, period, customer_id) DO UPDATE SET events = excluded.events, staged_ms = excluded.staged_ms
                            """,
                        arguments: [sink, period, customer, count, nowMs])
                }
            }
        } catch {
            throw MeterError.writeFailed("\(error)")
        }
    }

    static let exportFingerprintsSQL = """
        CREATE TABLE export_fingerprints (
            sink TEXT NOT NULL,
            period TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            events INTEGER NOT NULL,
            staged_ms INTEGER NOT NULL,
            PRIMARY KEY (sink, period, customer_id)
        );
        """
}

/// What a sink has been given for one line of a period, over all its versions.
public struct ExportedTotal: Sendable, Equatable {
    public var customer: String
    public var meter: String
    public var description: String
    /// Sum of the versions' quantities and amounts.
    public var quantity: Int
    public var amount: Money
    public var currency: String
    /// Versions staged (1 + corrections or deltas).
    public var versions: Int
    /// Versions not (yet) accepted by the sink: pending, failed, held or dead.
    public var unsent: Int
}

extension MeterStore {
    /// Per customer and meter, the sums of every version a sink was given for a period (by its label).
    public func exportedTotals(sink: String, period: String) async throws(MeterError) -> [ExportedTotal] {
        do {
            return try await database.read { db in
                var totals: [String: ExportedTotal] = [:]
                var order: [String] = []
                for row in try SQLRow.fetchAll(
                    db,
                    sql: """
                        SELECT customer_id, meter, description, version, quantity, amount, currency, state FROM export_lines
                        WHERE sink = ? AND period = ? ORDER BY customer_id, meter, version
                        """, arguments: [sink, period])
                {
                    let key = "\(row["customer_id"] as String)\u{1}\(row["meter"] as String)"
                    if totals[key] == nil {
                        order.append(key)
                        totals[key] = ExportedTotal(
                            customer: row["customer_id"], meter: row["meter"], description: row["description"], quantity: 0, amount: .zero,
                            currency: row["currency"], versions: 0, unsent: 0)
                    }
                    totals[key]!.quantity += row["quantity"] as Int
                    totals[key]!.amount += Money(row["amount"] as String) ?? .zero
                    totals[key]!.versions += 1
                    if (row["state"] as String) != ExportState.sent.rawValue { totals[key]!.unsent += 1 }
                }
                return order.map { totals[$0]! }
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }
}
