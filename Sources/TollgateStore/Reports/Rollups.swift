import TollgateCore

/// Sums of the events kept up to date in the events' own transactions, so that reports over millions of events read
/// thousands of rows: `usage_monthly` and `usage_daily` (month or day × customer × key × feature × provider × model)
/// and `usage_hourly` (hour × customer × provider × model), all also split by cost and price currency.
///
/// Money is summed exactly as two integers per amount: the amount in units of 10⁻⁷ (truncated) and the remainder
/// in 10⁻¹⁵ (femto) units, so that SQLite's integer `SUM` never overflows nor rounds (10⁻⁷ units reach 9.2 × 10¹¹
/// currency units; each row's remainder is carried into the 10⁻⁷ units as it grows, so it stays under 10⁸ in
/// magnitude) and the pair recombines into the exact ``Money``.
enum Rollups {
    /// One rollup table: its name, its time buckets and the event dimensions it keeps.
    struct Table: Sendable {
        let name: String
        let grain: RollupGrain
        let dimensions: [RollupDimension]
    }

    static let monthly = Table(
        name: "usage_monthly", grain: .month, dimensions: [.customer, .key, .feature, .provider, .model, .currency, .priceCurrency])
    static let daily = Table(
        name: "usage_daily", grain: .fixed(86_400_000),
        dimensions: [.customer, .key, .feature, .provider, .model, .currency, .priceCurrency])
    static let hourly = Table(
        name: "usage_hourly", grain: .fixed(3_600_000), dimensions: [.customer, .provider, .model, .currency, .priceCurrency])
    static let tables = [monthly, daily, hourly]
    /// The tables whose buckets fit in a UTC day: rebuilt a day at a time from the events.
    static let dayTables = [daily, hourly]

    /// The summed columns, in the order ``Totals/values`` gives them.
    static let measures = [
        "requests", "errors", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
        "cost_e7", "cost_rem", "price_e7", "price_rem",
    ]

    /// The DDL of every rollup table.
    static var createSQL: String {
        tables.map { table in
            let keys = ["bucket_ms"] + table.dimensions.map(\.column)
            return """
                CREATE TABLE \(table.name) (
                    bucket_ms INTEGER NOT NULL,
                    \(table.dimensions.map { "\($0.column) TEXT NOT NULL" }.joined(separator: ",\n    "))
                    , \(measures.map { "\($0) INTEGER NOT NULL" }.joined(separator: ", "))
                    , PRIMARY KEY (\(keys.joined(separator: ", ")))
                ) WITHOUT ROWID;
                """
        }.joined(separator: "\n")
    }

    /// Adds newly stored events to every rollup (call it in the transaction that stored them): one upsert per table
    /// and distinct group of the batch, each after `pause`.
    static func add(
        _ events: some Sequence<UsageEvent>, to db: any SQLConnection, tables: [Table] = tables, pausing pause: (() -> Void)? = nil
    ) throws {
        // Runs in every write of the meter: arguments are built in one buffer, reused for each upsert.
        var arguments: [SQLValue] = []
        for table in tables {
            var groups: [Group: Totals] = [:]
            for event in events {
                let bucketMs = table.grain.start(containing: event.timestampMs)
                groups[Group(bucketMs: bucketMs, dimensions: table.dimensions.map { $0.value(of: event) }), default: Totals()].add(event)
            }
            guard !groups.isEmpty else { continue }
            let statement = try db.cachedStatement(sql: upserts[table.name] ?? upsertSQL(table))
            for (group, totals) in groups {
                pause?()
                guard let measures = totals.values else { throw RollupOverflow(table: table.name, bucketMs: group.bucketMs) }
                arguments.removeAll(keepingCapacity: true)
                arguments.append(.integer(group.bucketMs))
                for dimension in group.dimensions { arguments.append(.text(dimension)) }
                for measure in measures { arguments.append(.integer(measure)) }
                try statement.execute(arguments: SQLArguments(values: arguments))
            }
        }
    }

    /// A row of a rollup table: its bucket and dimension values (in the table's order).
    private struct Group: Hashable {
        let bucketMs: Int64
        let dimensions: [String]
    }

    /// Rebuilds every rollup from the events (after an import, or to check them); returns the number of events read.
    /// The buckets before `keptBefore` (where the events were pruned) stay as they are.
    @discardableResult
    static func rebuild(_ db: any SQLConnection, keptBefore: Int64? = nil) throws -> Int {
        for table in tables {
            try db.execute(sql: "DELETE FROM \(table.name) WHERE bucket_ms >= ?", arguments: [keptBefore ?? Int64.min])
        }
        return try addEvents(db, fromMs: nil, toMs: nil, tables: tables)
    }

    /// Rebuilds the rows of the whole UTC days [fromMs, toMs) of ``dayTables`` from their events; returns the number
    /// of events read. The months they fall in are left as they are: ``resumMonths(_:fromMs:toMs:)`` redoes them.
    @discardableResult
    static func rebuildDays(_ db: any SQLConnection, fromMs: Int64, toMs: Int64) throws -> Int {
        for table in dayTables {
            try db.execute(sql: "DELETE FROM \(table.name) WHERE bucket_ms >= ? AND bucket_ms < ?", arguments: [fromMs, toMs])
        }
        return try addEvents(db, fromMs: fromMs, toMs: toMs, tables: dayTables)
    }

    /// Sums the `usage_monthly` rows of every month that [fromMs, toMs) touches again from the month's `usage_daily`
    /// rows: exact, as those are, and far fewer rows to read than the events. Each remainder sum is carried into its
    /// 10⁻⁷ units as ``upsertSQL(_:)`` does, so it stays under 10⁸ in magnitude.
    static func resumMonths(_ db: any SQLConnection, fromMs: Int64, toMs: Int64) throws {
        guard fromMs < toMs else { return }
        let dimensions = monthly.dimensions.map(\.column).joined(separator: ", ")
        let split = String(Totals.split)
        // PostgreSQL sums integers as `numeric`, whose `/` does not truncate: the sums are cast back to integers first.
        let sum = { (column: String) in "CAST(SUM(\(column)) AS BIGINT)" }
        let sums = measures.map { measure -> String in
            switch measure {
            case "cost_e7", "price_e7":
                let remainder = measure.replacingOccurrences(of: "_e7", with: "_rem")
                return "\(sum(measure)) + \(sum(remainder)) / \(split)"
            case "cost_rem", "price_rem": return "\(sum(measure)) % \(split)"
            default: return sum(measure)
            }
        }
        let insert = """
            INSERT INTO \(monthly.name) (bucket_ms, \(dimensions), \(measures.joined(separator: ", ")))
            SELECT ?, \(dimensions), \(sums.joined(separator: ", ")) FROM \(daily.name) WHERE bucket_ms >= ? AND bucket_ms < ?
            GROUP BY \(dimensions)
            """
        var month = monthly.grain.start(containing: fromMs)
        while month < toMs {
            let next = monthly.grain.next(after: month)
            try db.execute(sql: "DELETE FROM \(monthly.name) WHERE bucket_ms = ?", arguments: [month])
            try db.execute(sql: insert, arguments: [month, month, next])
            month = next
        }
    }

    /// Adds the events of [fromMs, toMs) (all of them without both ends) to `tables`, 50,000 at a time; returns how
    /// many.
    private static func addEvents(_ db: any SQLConnection, fromMs: Int64?, toMs: Int64?, tables: [Table]) throws -> Int {
        var range = ""
        var arguments: [any SQLValueConvertible] = []
        if let fromMs, let toMs {
            range = " WHERE ts_ms >= ? AND ts_ms < ?"
            arguments = [fromMs, toMs]
        }
        var count = 0
        var batch: [UsageEvent] = []
        // Only the columns the rollups keep (all there since schema v2): the v4 migration runs this on meters whose
        // `events` table lacks the columns later versions add, and it reads less.
        let rows = try SQLRow.fetchCursor(
            db, sql: "SELECT \(rebuildColumns.joined(separator: ", ")) FROM events\(range) ORDER BY ts_ms",
            arguments: SQLArguments(arguments))
        while let row = try rows.next() {
            batch.append(rollupEvent(row))
            count += 1
            if batch.count == 50_000 {
                try add(batch, to: db, tables: tables)
                batch.removeAll(keepingCapacity: true)
            }
        }
        try add(batch, to: db, tables: tables)
        return count
    }

    /// The columns of `events` that ``rollupEvent(_:)`` reads.
    static let rebuildColumns = [
        "ts_ms", "customer_id", "key_id", "feature", "provider", "model", "served_model", "status", "input_tokens", "cache_read_tokens",
        "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost", "price", "currency", "price_currency",
    ]

    /// An event with the fields a rollup keeps (the others empty), from a row of ``rebuildColumns``.
    static func rollupEvent(_ row: SQLRow) -> UsageEvent {
        UsageEvent(
            id: "", timestampMs: row["ts_ms"], customer: row["customer_id"], keyID: row["key_id"], feature: row["feature"],
            provider: row["provider"], route: "", path: "", model: row["model"], servedModel: row["served_model"],
            status: row["status"], stream: false,
            usage: TokenUsage(
                inputTokens: row["input_tokens"], cacheReadTokens: row["cache_read_tokens"], cacheWriteTokens: row["cache_write_tokens"],
                outputTokens: row["output_tokens"], reasoningTokens: row["reasoning_tokens"]),
            latencyMs: 0, ttfbMs: nil, upstreamMs: nil, cost: Money(row["cost"] as String) ?? .zero,
            price: Money(row["price"] as String) ?? .zero, currency: row["currency"], estimated: false, priced: true,
            priceCurrency: row["price_currency"])
    }

    /// ``upsertSQL(_:)`` of each table, built once.
    private static let upserts = Dictionary(uniqueKeysWithValues: tables.map { ($0.name, upsertSQL($0)) })

    /// Adds to an existing row; each remainder sum is carried into its 10⁻⁷ units so it never grows past 10⁸
    /// (SQLite's `/` truncates and `%` keeps the dividend's sign, as Swift's do: the pair still sums exactly).
    private static func upsertSQL(_ table: Table) -> String {
        let columns = ["bucket_ms"] + table.dimensions.map(\.column) + measures
        let split = String(Totals.split)
        let current = { (column: String) in "\(table.name).\(column)" }
        let updates = measures.map { measure -> String in
            switch measure {
            case "cost_e7", "price_e7":
                let remainder = measure.replacingOccurrences(of: "_e7", with: "_rem")
                return "\(measure) = \(current(measure)) + excluded.\(measure) + (\(current(remainder)) + excluded.\(remainder)) / \(split)"
            case "cost_rem", "price_rem":
                return "\(measure) = (\(current(measure)) + excluded.\(measure)) % \(split)"
            default:
                return "\(measure) = \(current(measure)) + excluded.\(measure)"
            }
        }
        let keys = ["bucket_ms"] + table.dimensions.map(\.column)
        return """
            INSERT INTO \(table.name) (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))
            ON CONFLICT (\(keys.joined(separator: ", "))) DO UPDATE SET \(updates.joined(separator: ", "))
            """
    }
}

/// How a rollup cuts time into buckets (UTC): fixed lengths from 1970 (hours, days) or calendar months.
enum RollupGrain: Sendable, Equatable {
    /// Buckets of this many milliseconds, the first starting at 1970-01-01T00:00:00Z.
    case fixed(Int64)
    /// Calendar months.
    case month

    /// The start of the bucket that holds `milliseconds` (times before 1970 too).
    func start(containing milliseconds: Int64) -> Int64 {
        switch self {
        case .fixed(let length): milliseconds - milliseconds.floorModulo(length)
        case .month: Timestamps.monthStart(containing: milliseconds)
        }
    }

    /// The start of the bucket after the one that holds `milliseconds`.
    func next(after milliseconds: Int64) -> Int64 {
        switch self {
        case .fixed(let length): start(containing: milliseconds) + length
        case .month: Timestamps.nextMonthStart(after: milliseconds)
        }
    }

    /// Whether a bucket starts at `milliseconds`.
    func isBoundary(_ milliseconds: Int64) -> Bool { start(containing: milliseconds) == milliseconds }
}

/// An amount too large for a rollup's 64-bit columns (over 9.2 × 10¹¹ currency units in one bucket of one batch).
struct RollupOverflow: Error, CustomStringConvertible {
    let table: String
    let bucketMs: Int64

    var description: String { "an amount in \(table) at \(bucketMs) does not fit the rollup's 64-bit columns" }
}

/// An event field a rollup (or a report) groups by.
enum RollupDimension: String, Sendable {
    case customer, key, feature, provider, model, currency, priceCurrency

    /// The column in the rollup tables.
    var column: String {
        switch self {
        case .customer: "customer_id"
        case .key: "key_id"
        case .feature: "feature"
        case .provider: "provider"
        case .model: "model"
        case .currency: "currency"
        case .priceCurrency: "price_currency"
        }
    }

    /// The SQL expression giving the same value from the `events` table.
    var eventsExpression: String {
        switch self {
        case .customer: "customer_id"
        case .key: "key_id"
        case .feature: "COALESCE(feature, '')"
        case .provider: "provider"
        case .model: "COALESCE(model, served_model, '')"
        case .currency: "currency"
        case .priceCurrency: "COALESCE(price_currency, currency)"
        }
    }

    /// The event's value (empty when it has none): the requested model, else the served one.
    func value(of event: UsageEvent) -> String {
        switch self {
        case .customer: event.customer
        case .key: event.keyID
        case .feature: event.feature ?? ""
        case .provider: event.provider
        case .model: event.model ?? event.servedModel ?? ""
        case .currency: event.currency
        case .priceCurrency: event.effectivePriceCurrency
        }
    }
}

/// Request counts, token classes and money summed over events.
public struct Totals: Sendable, Equatable {
    /// Events (every request, refused and failed ones included).
    public var requests = 0
    /// Events whose status was 400 or more (refusals, upstream errors, clients gone: 499).
    public var errors = 0
    /// Uncached prompt tokens.
    public var inputTokens = 0
    /// Prompt tokens read from a cache.
    public var cacheReadTokens = 0
    /// Prompt tokens written to a cache (all lifetimes).
    public var cacheWriteTokens = 0
    /// Generated tokens (reasoning included).
    public var outputTokens = 0
    /// The reasoning part of the output.
    public var reasoningTokens = 0
    /// What the provider charged (cost).
    public var cost = Money.zero
    /// What the customer is charged (price).
    public var revenue = Money.zero

    /// Zero.
    public init() {}

    /// Revenue minus cost.
    public var margin: Money { revenue - cost }

    /// Margin as a percentage of revenue, two decimals, rounded half to even; `nil` without revenue.
    public var marginPercent: String? {
        guard revenue.raw != 0 else { return nil }
        // Hundredths of a percent: margin × 10 000 / revenue, rounded half to even.
        let numerator = margin.raw * 10_000
        var quotient = numerator / revenue.raw
        let remainder = numerator % revenue.raw
        let twice = (remainder * 2).magnitude
        if twice > revenue.raw.magnitude || (twice == revenue.raw.magnitude && quotient % 2 != 0) {
            quotient += (numerator < 0) != (revenue.raw < 0) ? -1 : 1
        }
        let sign = quotient < 0 ? "-" : ""
        let magnitude = quotient.magnitude
        let cents = magnitude % 100
        return "\(sign)\(magnitude / 100).\(cents < 10 ? "0" : "")\(cents)"
    }

    mutating func add(_ event: UsageEvent) {
        requests += 1
        if event.status >= 400 { errors += 1 }
        inputTokens += event.usage.inputTokens
        cacheReadTokens += event.usage.cacheReadTokens
        cacheWriteTokens += event.usage.cacheWriteTokens
        outputTokens += event.usage.outputTokens
        reasoningTokens += event.usage.reasoningTokens
        cost += event.cost
        revenue += event.price
    }

    /// Adds other totals.
    public static func += (lhs: inout Totals, rhs: Totals) {
        lhs.requests += rhs.requests
        lhs.errors += rhs.errors
        lhs.inputTokens += rhs.inputTokens
        lhs.cacheReadTokens += rhs.cacheReadTokens
        lhs.cacheWriteTokens += rhs.cacheWriteTokens
        lhs.outputTokens += rhs.outputTokens
        lhs.reasoningTokens += rhs.reasoningTokens
        lhs.cost += rhs.cost
        lhs.revenue += rhs.revenue
    }

    /// The values of ``Rollups/measures``, money split in two integers; `nil` when an amount does not fit.
    var values: [Int64]? {
        guard let costUnits = Int64(exactly: cost.raw / Self.split), let revenueUnits = Int64(exactly: revenue.raw / Self.split) else {
            return nil
        }
        return [
            Int64(requests), Int64(errors), Int64(inputTokens), Int64(cacheReadTokens), Int64(cacheWriteTokens), Int64(outputTokens),
            Int64(reasoningTokens), costUnits, Int64(cost.raw % Self.split), revenueUnits, Int64(revenue.raw % Self.split),
        ]
    }

    /// Totals read back from ``Rollups/measures`` sums, starting at column `offset` of `row`.
    init(row: SQLRow, offset: Int) {
        requests = row[offset]
        errors = row[offset + 1]
        inputTokens = row[offset + 2]
        cacheReadTokens = row[offset + 3]
        cacheWriteTokens = row[offset + 4]
        outputTokens = row[offset + 5]
        reasoningTokens = row[offset + 6]
        cost = Money(raw: Int128(row[offset + 7] as Int64) * Self.split + Int128(row[offset + 8] as Int64))
        revenue = Money(raw: Int128(row[offset + 9] as Int64) * Self.split + Int128(row[offset + 10] as Int64))
    }

    /// 10⁸ femto-units: the split between the two integers of an amount.
    static let split: Int128 = 100_000_000
}
