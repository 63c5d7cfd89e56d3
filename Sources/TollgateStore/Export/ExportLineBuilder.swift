import Foundation
import TollgateCore

extension MeterStore {
    /// The rated lines of a period for every customer with events in it (and every customer whose plan bills an empty
    /// period), as statements rate them, each with the ids of the events behind it. Deterministic: the same events and
    /// rules give the same lines in the same order.
    public func ratedExportLines(
        startMs: Int64, endMs: Int64, rules: PricingRules, only: Set<String>? = nil
    ) async throws(MeterError) -> [RatedExportLine] {
        var customers = Set(try await customersWithEvents(startMs: startMs, endMs: endMs))
        for customer in rules.customers.keys where PeriodRater.billsEmptyPeriod(customer: customer, rules: rules, startMs: startMs) {
            customers.insert(customer)
        }
        if let only { customers.formIntersection(only) }
        var lines: [RatedExportLine] = []
        for customer in customers.sorted() {
            let statement = try await customerStatement(
                customer: customer, startMs: startMs, endMs: endMs, rules: rules, nowMs: endMs, includeCredits: false)
            lines += Self.exportLines(of: statement, endMs: endMs)
        }
        return lines
    }

    /// Customers with at least one event in [start, end), from the daily rollup (whole days) and the events (edges).
    func customersWithEvents(startMs: Int64, endMs: Int64) async throws(MeterError) -> [String] {
        do {
            return try await database.read { db in
                try String.fetchAll(
                    db, sql: "SELECT DISTINCT customer_id FROM events WHERE ts_ms >= ? AND ts_ms < ? ORDER BY customer_id",
                    arguments: [startMs, endMs])
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }

    /// A statement's lines as export lines. A line's meter names it within the customer's period: `usage:MODEL|BOOK`,
    /// `charge:NAME`, `base_fee`, `discount`, `minimum`.
    static func exportLines(of statement: CustomerStatement, endMs: Int64) -> [RatedExportLine] {
        statement.lines.map { line in
            let rated = line.rated
            let meter: String
            switch rated.kind {
            case .usage: meter = "usage:\(rated.model ?? "")|\(rated.priceBook ?? "markup")"
            case .charge: meter = "charge:\(rated.meter.map { "\(rated.description)|\($0)" } ?? rated.description)"
            case .baseFee, .discount, .minimum: meter = rated.kind.rawValue
            }
            let events = line.items.map { statement.event($0) }
            return RatedExportLine(
                customer: statement.customer, meter: meter, kind: rated.kind, description: rated.description, model: rated.model,
                quantity: rated.quantity, usage: rated.usage ?? .zero, amount: rated.amount, currency: rated.currency,
                bracketsJSON: bracketsJSON(rated.brackets), eventIDs: events.map(\.id), lastEventMs: events.map(\.timestampMs).max())
        }
    }

    /// Brackets as a JSON array with decimal-string amounts.
    static func bracketsJSON(_ brackets: [ChargeRating.Bracket]) -> String {
        let objects = brackets.map(\.jsonObject)
        let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
