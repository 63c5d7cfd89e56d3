import Foundation
import TollgateCore

/// What a margin report can group by.
public enum ReportDimension: String, Sendable, CaseIterable, Codable {
    case customer, model, provider, feature, key, hour, day, month

    /// The rollup dimension behind it; `nil` for the time dimensions.
    var rollup: RollupDimension? {
        switch self {
        case .customer: .customer
        case .model: .model
        case .provider: .provider
        case .feature: .feature
        case .key: .key
        case .hour, .day, .month: nil
        }
    }

    /// Parses `customer,model` (spaces allowed); throws a message naming the accepted values.
    public static func list(_ text: String) throws(MeterError) -> [ReportDimension] {
        var dimensions: [ReportDimension] = []
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let dimension = ReportDimension(rawValue: part) else {
                throw .rejected("cannot group by '\(part)': use \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if !dimensions.contains(dimension) { dimensions.append(dimension) }
        }
        return dimensions
    }

    /// The label of the time bucket holding `milliseconds`: `2026-11-21T10:00:00Z` (the hour, UTC), `2026-11-21`,
    /// `2026-11` (the day and the month in `calendar`'s time zone).
    func label(ofTime milliseconds: Int64, calendar: BillingCycle) -> String {
        switch self {
        case .hour: Timestamps.iso8601(milliseconds - milliseconds.floorModulo(3_600_000))
        case .day: calendar.localDate(of: milliseconds)
        case .month: String(calendar.localDate(of: milliseconds).prefix(7))
        default: ""
        }
    }
}

/// What a margin report covers: a time range (either end open), the group-by list and optional filters.
public struct MarginQuery: Sendable, Equatable {
    /// Start, inclusive (milliseconds since 1970, UTC); `nil` from the first event.
    public var fromMs: Int64?
    /// End, exclusive; `nil` up to the last event.
    public var toMs: Int64?
    /// Group-by dimensions, in output order (empty: one row per currency).
    public var by: [ReportDimension]
    /// Only this customer.
    public var customer: String?
    /// Only this provider.
    public var provider: String?
    /// Only this (requested) model.
    public var model: String?
    /// The time zone of the `day` and `month` groups, as the calendar months of a billing cycle (UTC by default).
    public var calendar: BillingCycle = .calendarMonthUTC

    /// A query.
    public init(
        fromMs: Int64? = nil, toMs: Int64? = nil, by: [ReportDimension], customer: String? = nil, provider: String? = nil, model: String? = nil
    ) {
        self.fromMs = fromMs
        self.toMs = toMs
        self.by = by
        self.customer = customer
        self.provider = provider
        self.model = model
    }
}

/// One row of a margin report: the group's values and its sums.
public struct MarginRow: Sendable, Equatable {
    /// The group-by values, keyed by dimension (empty string: events without that dimension, such as no feature).
    public var group: [ReportDimension: String]
    /// Currency of the revenue (the customer's price currency).
    public var currency: String
    /// Currency of the cost (the provider's); the margin is only meaningful when both are the same.
    public var costCurrency: String
    /// The sums.
    public var totals: Totals

    /// A row.
    public init(group: [ReportDimension: String], currency: String, costCurrency: String, totals: Totals) {
        self.group = group
        self.currency = currency
        self.costCurrency = costCurrency
        self.totals = totals
    }
}

/// A margin report: rows in group order and totals per currency, exactly the sums over the events they cover.
public struct MarginReport: Sendable {
    /// What was asked.
    public var query: MarginQuery
    /// The rows, sorted by their group values in the order of ``MarginQuery/by``.
    public var rows: [MarginRow]
    /// One row per currency pair with no group values: the sums of the rows.
    public var totals: [MarginRow]
    /// Rollup rows read (monthly, daily and hourly).
    public var rollupRowsRead: Int
    /// Events read one by one (the edges of a range that does not start or end on a whole hour or day).
    public var eventsRead: Int
}

/// Where the sums of one time segment are read from.
enum ReportSource: Equatable {
    case rollup(Rollups.Table)
    case events

    static func == (lhs: ReportSource, rhs: ReportSource) -> Bool {
        switch (lhs, rhs) {
        case (.events, .events): true
        case (.rollup(let a), .rollup(let b)): a.name == b.name
        default: false
        }
    }
}

/// A time range of a report and where it is read from: whole months from the monthly rollup when the report needs
/// no day nor hour, whole days from the daily one, whole hours from the hourly one when the report needs no key or
/// feature, the rest from the events.
struct ReportSegment: Equatable {
    var source: ReportSource
    var fromMs: Int64?
    var toMs: Int64?

    /// Cuts [from, to) into segments for a report grouped by `dimensions`, its days and months in `calendar`'s time
    /// zone. The daily and monthly rollups are UTC days and months: a report grouped by day or month in another zone
    /// reads hours (the hourly rollup when the zone's offsets over the range are whole hours, the events otherwise).
    static func plan(
        fromMs: Int64?, toMs: Int64?, dimensions: [ReportDimension], calendar: BillingCycle = .calendarMonthUTC
    ) -> [ReportSegment] {
        if let fromMs, let toMs, toMs <= fromMs { return [] }  // an empty range
        let hourlyServes = dimensions.allSatisfy { $0.rollup.map(Rollups.hourly.dimensions.contains) ?? true }
        let events: Edge = { a, b in [ReportSegment(source: .events, fromMs: a, toMs: b)] }
        let hours: Edge = hourlyServes ? { a, b in split(a, b, Rollups.hourly, edge: events) } : events
        if dimensions.contains(.hour) { return hours(fromMs, toMs) }
        if calendar.timeZone != "UTC", dimensions.contains(.day) || dimensions.contains(.month) {
            return calendar.hasWholeHourOffsets(from: fromMs, to: toMs) ? hours(fromMs, toMs) : events(fromMs, toMs)
        }
        let days: Edge = { a, b in split(a, b, Rollups.daily, edge: hours) }
        if dimensions.contains(.day) { return days(fromMs, toMs) }
        return split(fromMs, toMs, Rollups.monthly, edge: days)
    }

    /// Plans the segments of [from, to) (either end open).
    private typealias Edge = (Int64?, Int64?) -> [ReportSegment]

    /// The whole buckets of [from, to) read from `table`, the edges handed to `edge`.
    private static func split(_ fromMs: Int64?, _ toMs: Int64?, _ table: Rollups.Table, edge: Edge) -> [ReportSegment] {
        let grain = table.grain
        let start = fromMs.map { grain.isBoundary($0) ? $0 : grain.next(after: $0) }
        let end = toMs.map { grain.start(containing: $0) }
        if let start, let end, let fromMs, let toMs, start >= end {  // no whole bucket inside
            return toMs > fromMs ? edge(fromMs, toMs) : []
        }
        var segments: [ReportSegment] = []
        if let fromMs, let start, start > fromMs { segments += edge(fromMs, start) }
        segments.append(ReportSegment(source: .rollup(table), fromMs: start, toMs: end))
        if let toMs, let end, toMs > end { segments += edge(end, toMs) }
        return segments
    }
}

extension MeterStore {
    /// The margin report for a query, read from the rollups for whole months, days and hours and from the events for
    /// the rest.
    public func marginReport(_ query: MarginQuery) async throws(MeterError) -> MarginReport {
        do {
            return try await database.read { db in
                var reader = MarginReportReader(query: query)
                return try reader.read(db)
            }
        } catch let error as MeterError {
            throw error
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }
}

/// Reads and merges the segments of one report.
private struct MarginReportReader {
    let query: MarginQuery
    var groups: [[String]: MarginRow] = [:]
    var rollupRows = 0
    var events = 0
    /// The time labels of each quarter hour read so far (a day's and a month's labels are the same for all of them):
    /// formatting dates is slow, and a report over events reads many per hour.
    var timeLabels: [Int64: [String]] = [:]

    /// The time dimensions of the query, in its order.
    let timeDimensions: [ReportDimension]
    /// The event fields the query groups by, in its order.
    let fieldDimensions: [RollupDimension]

    init(query: MarginQuery) {
        self.query = query
        timeDimensions = query.by.filter { $0.rollup == nil }
        fieldDimensions = query.by.compactMap(\.rollup)
    }

    mutating func read(_ db: any SQLConnection) throws -> MarginReport {
        for segment in ReportSegment.plan(fromMs: query.fromMs, toMs: query.toMs, dimensions: query.by, calendar: query.calendar) {
            switch segment.source {
            case .rollup(let table): try readRollup(db, table: table, segment: segment)
            case .events: try readEvents(db, segment: segment)
            }
        }
        let rows = groups.values.sorted { lhs, rhs in
            for dimension in query.by where lhs.group[dimension] != rhs.group[dimension] {
                return (lhs.group[dimension] ?? "") < (rhs.group[dimension] ?? "")
            }
            return (lhs.currency, lhs.costCurrency) < (rhs.currency, rhs.costCurrency)
        }
        var totals: [String: MarginRow] = [:]
        for row in rows {
            totals[
                "\(row.currency)\u{1}\(row.costCurrency)",
                default: MarginRow(group: [:], currency: row.currency, costCurrency: row.costCurrency, totals: Totals())
            ]
            .totals += row.totals
        }
        return MarginReport(
            query: query, rows: rows, totals: totals.values.sorted { ($0.currency, $0.costCurrency) < ($1.currency, $1.costCurrency) },
            rollupRowsRead: rollupRows, eventsRead: events)
    }

    /// Filters as SQL conditions over columns named as in both the rollups and `events` (`customer_id`, `provider`);
    /// the model filter uses `modelColumn`.
    private func filters(timeColumn: String, segment: ReportSegment, modelColumn: String) -> (String, [any SQLValueConvertible]) {
        let clauses: [(String, (any SQLValueConvertible)?)] = [
            ("\(timeColumn) >= ?", segment.fromMs), ("\(timeColumn) < ?", segment.toMs), ("customer_id = ?", query.customer),
            ("provider = ?", query.provider), ("\(modelColumn) = ?", query.model),
        ]
        var conditions: [String] = []
        var arguments: [any SQLValueConvertible] = []
        for (condition, value) in clauses {
            guard let value else { continue }
            conditions.append(condition)
            arguments.append(value)
        }
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), arguments)
    }

    private mutating func readRollup(_ db: any SQLConnection, table: Rollups.Table, segment: ReportSegment) throws {
        let fields = fieldDimensions + [.currency, .priceCurrency]
        let keys = (timeDimensions.isEmpty ? [] : ["bucket_ms"]) + fields.map(\.column)
        let (conditions, arguments) = filters(timeColumn: "bucket_ms", segment: segment, modelColumn: "model")
        let sql = """
            SELECT \((keys + Rollups.measures.map { "SUM(\($0))" }).joined(separator: ", ")) FROM \(table.name) \(conditions)
            GROUP BY \(keys.joined(separator: ", "))
            """
        let rows = try SQLRow.fetchCursor(db, sql: sql, arguments: SQLArguments(arguments))
        while let row = try rows.next() {
            rollupRows += 1
            var values: [String] = []
            if !timeDimensions.isEmpty { values += labels(ofTime: row[0]) }
            let offset = timeDimensions.isEmpty ? 0 : 1
            for index in fields.indices { values.append(row[offset + index] as String) }
            merge(values: values, totals: Totals(row: row, offset: offset + fields.count))
        }
    }

    private mutating func readEvents(_ db: any SQLConnection, segment: ReportSegment) throws {
        let fields = fieldDimensions + [.currency, .priceCurrency]
        let (conditions, arguments) = filters(timeColumn: "ts_ms", segment: segment, modelColumn: "COALESCE(model, served_model, '')")
        let sql = """
            SELECT ts_ms, \(fields.map(\.eventsExpression).joined(separator: ", ")), status, input_tokens, cache_read_tokens,
                cache_write_tokens, output_tokens, reasoning_tokens, cost, price FROM events \(conditions)
            """
        let rows = try SQLRow.fetchCursor(db, sql: sql, arguments: SQLArguments(arguments))
        while let row = try rows.next() {
            events += 1
            var values = timeDimensions.isEmpty ? [] : labels(ofTime: row[0])
            for index in fields.indices { values.append(row[1 + index] as String) }
            let base = 1 + fields.count
            var totals = Totals()
            totals.requests = 1
            totals.errors = (row[base] as Int) >= 400 ? 1 : 0
            totals.inputTokens = row[base + 1]
            totals.cacheReadTokens = row[base + 2]
            totals.cacheWriteTokens = row[base + 3]
            totals.outputTokens = row[base + 4]
            totals.reasoningTokens = row[base + 5]
            totals.cost = Money(row[base + 6] as String) ?? .zero
            totals.revenue = Money(row[base + 7] as String) ?? .zero
            merge(values: values, totals: totals)
        }
    }

    /// The labels of the time dimensions for a time, computed once per quarter hour (every time zone's offset is a
    /// whole number of quarter hours, so a day's and a month's labels are the same for all of a quarter's times).
    private mutating func labels(ofTime milliseconds: Int64) -> [String] {
        let quarter = milliseconds - milliseconds.floorModulo(900_000)
        if let labels = timeLabels[quarter] { return labels }
        let labels = timeDimensions.map { $0.label(ofTime: quarter, calendar: query.calendar) }
        timeLabels[quarter] = labels
        return labels
    }

    /// Adds a partial sum to its group; `values` are the time labels, the field values, then cost and price currency.
    private mutating func merge(values: [String], totals: Totals) {
        if groups[values] != nil {
            groups[values]?.totals += totals
            return
        }
        var group: [ReportDimension: String] = [:]
        var index = 0
        for dimension in timeDimensions + query.by.filter({ $0.rollup != nil }) {
            group[dimension] = values[index]
            index += 1
        }
        groups[values] = MarginRow(group: group, currency: values[values.count - 1], costCurrency: values[values.count - 2], totals: totals)
    }
}
