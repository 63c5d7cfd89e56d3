import ArgumentParser
import Foundation
import TollgateCore
import TollgateStore

/// `tollgate report`: what finance reads.
struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Finance reports over the meter: revenue, cost and margin.",
        subcommands: [Margin.self, Rebuild.self])

    /// `tollgate report margin`.
    struct Margin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Requests, tokens, revenue (price), cost and margin, grouped and with totals.",
            discussion: """
                Group by any of customer, model, provider, feature, key, hour, day, month (comma-separated, in output \
                order): --by customer,model. Times are UTC; --from is inclusive, --to exclusive; either may be left \
                open. Figures are exact sums over the events (money never passes through floating point): whole days \
                and hours are read from rollups kept with the events, the edges of the range from the events themselves. \
                `model` is the model the client asked for (the served one when the request named none); requests \
                count every event, refused and failed ones included (`errors` counts those with status 400 or more).
                """)

        /// What `--format` takes.
        static let formats = FormatOption(.table, .csv, .json)

        @OptionGroup var options: ConfigOption
        @OptionGroup var range: TimeRangeOptions
        @Option(help: "Group by: customer, model, provider, feature, key, hour, day, month (comma-separated).") var by: String = "customer"
        @Option(help: "Only this customer.") var customer: String?
        @Option(help: "Only this provider.") var provider: String?
        @Option(help: "Only this model (as requested).") var model: String?
        @Option(help: "Order rows by revenue, cost, margin, margin_pct or requests, largest first (default: by group).") var sort: String?
        @Option(help: "At most this many rows (after sorting).") var limit: Int?
        @Option(help: Report.Margin.formats.help(), transform: Report.Margin.formats.read) var format = Report.Margin.formats.defaultFormat

        func run() async throws {
            if let sort, !MarginSort.allCases.map(\.rawValue).contains(sort) {
                throw ValidationError("--sort is one of \(MarginSort.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
            let dimensions: [ReportDimension]
            do { dimensions = try ReportDimension.list(by) } catch { throw ValidationError("--by: \(error)") }
            guard !dimensions.isEmpty else {
                throw ValidationError("--by needs one or more of \(ReportDimension.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let config = try loadConfig(options.config)
            let meter = try openMeter(options.config)
            // One customer's --period is a period of its billing cycle; across customers, a calendar month (in --time-zone).
            var cycle: BillingCycle?
            if let customer, range.period != nil {
                cycle = try await reportingMeterErrors { try await meter.billingCycle(customer: customer, rules: config.pricingRules).cycle }
            }
            let (fromMs, toMs) = try range.bounds(cycle: cycle)
            var query = MarginQuery(fromMs: fromMs, toMs: toMs, by: dimensions, customer: customer, provider: provider, model: model)
            query.calendar = try range.calendar()
            var report = try await meter.marginReport(query)
            if let sort = sort.flatMap(MarginSort.init) { report.rows.sort(by: sort.ordersBefore) }
            if let limit { report.rows = Array(report.rows.prefix(limit)) }
            let currency = config.pricing.currency
            switch format {
            case .json: printJSON(MarginOutput.json(report, defaultCurrency: currency))
            case .csv: print(MarginOutput.csv(report), terminator: "")
            default: MarginOutput.table(report, defaultCurrency: currency)
            }
        }
    }

    /// `tollgate report rebuild`.
    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the report rollups from the events (after importing events by hand; never needed otherwise).",
            discussion: "One UTC day per transaction: serve may keep running (its writes wait for at most one day's rebuild).")

        @OptionGroup var options: ConfigOption

        func run() async throws {
            let meter = try openMeter(options.config)
            let started = Date()
            let progress = ProgressLine()
            let count = try await meter.rebuildRollups { done, days in progress.show(done: done, total: days, label: "rebuilding days") }
            progress.finish()
            print("rebuilt the rollups from \(count) events in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        }
    }
}

/// How `--sort` orders rows.
enum MarginSort: String, CaseIterable {
    case revenue, cost, margin, marginPct = "margin_pct", requests

    func ordersBefore(_ lhs: MarginRow, _ rhs: MarginRow) -> Bool {
        switch self {
        case .revenue: lhs.totals.revenue > rhs.totals.revenue
        case .cost: lhs.totals.cost > rhs.totals.cost
        case .margin: lhs.totals.margin > rhs.totals.margin
        case .requests: lhs.totals.requests > rhs.totals.requests
        case .marginPct: percent(lhs) > percent(rhs)
        }
    }

    private func percent(_ row: MarginRow) -> Decimal { row.totals.marginPercent.flatMap { Decimal(string: $0) } ?? -Decimal.greatestFiniteMagnitude }
}

/// The three shapes of a margin report.
enum MarginOutput {
    static let measureNames = [
        "requests", "errors", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "revenue", "cost",
        "margin", "margin_pct", "currency", "cost_currency",
    ]

    /// The figures of a row as JSON values (money as decimal strings; the margin only within one currency).
    static func measures(_ row: MarginRow) -> [String: Any] {
        let totals = row.totals
        var object: [String: Any] = [
            "requests": totals.requests, "errors": totals.errors, "input_tokens": totals.inputTokens,
            "cache_read_tokens": totals.cacheReadTokens, "cache_write_tokens": totals.cacheWriteTokens, "output_tokens": totals.outputTokens,
            "reasoning_tokens": totals.reasoningTokens, "revenue": totals.revenue.description, "cost": totals.cost.description,
            "currency": row.currency, "cost_currency": row.costCurrency,
        ]
        if row.currency == row.costCurrency {
            object["margin"] = totals.margin.description
            object["margin_pct"] = totals.marginPercent ?? NSNull()
        } else {
            object["margin"] = NSNull()
            object["margin_pct"] = NSNull()
        }
        return object
    }

    static func json(_ report: MarginReport, defaultCurrency: String) -> [String: Any] {
        let rows = report.rows.map { row -> [String: Any] in
            var object = measures(row)
            for dimension in report.query.by { object[dimension.rawValue] = row.group[dimension] ?? "" }
            return object
        }
        let byCurrency = report.totals.isEmpty ? [emptyTotals(defaultCurrency)] : report.totals
        var totals: [String: Any]
        if byCurrency.count == 1 {
            totals = measures(byCurrency[0])
        } else {
            // Counts add up across currencies; money does not.
            var sum = Totals()
            for row in byCurrency { sum += row.totals }
            totals = measures(MarginRow(group: [:], currency: "", costCurrency: "", totals: sum))
            for field in ["revenue", "cost", "margin", "margin_pct", "currency", "cost_currency"] { totals[field] = NSNull() }
        }
        var object: [String: Any] = [
            "by": report.query.by.map(\.rawValue), "rows": rows, "totals": totals, "totals_by_currency": byCurrency.map(measures),
            "from": report.query.fromMs.map(Timestamps.iso8601) ?? NSNull(), "to": report.query.toMs.map(Timestamps.iso8601) ?? NSNull(),
        ]
        if let customer = report.query.customer { object["customer"] = customer }
        return object
    }

    static func csv(_ report: MarginReport) -> String {
        let groupNames = report.query.by.map(\.rawValue)
        var text = (groupNames + measureNames).joined(separator: ",") + "\n"
        func line(_ groups: [String], _ row: MarginRow) {
            let values = measures(row)
            let cells =
                groups
                + measureNames.map { name -> String in
                    switch values[name] {
                    case let number as Int: String(number)
                    case let string as String: string
                    default: ""
                    }
                }
            text += cells.map(CSV.cell).joined(separator: ",") + "\n"
        }
        for row in report.rows { line(report.query.by.map { row.group[$0] ?? "" }, row) }
        for total in report.totals { line(groupNames.isEmpty ? [] : ["TOTAL"] + Array(repeating: "", count: groupNames.count - 1), total) }
        return text
    }

    static func table(_ report: MarginReport, defaultCurrency: String) {
        let header = report.query.by.map(\.rawValue) + ["requests", "input", "cached", "output", "revenue", "cost", "margin", "margin %", "currency"]
        func cells(_ groups: [String], _ row: MarginRow) -> [String] {
            let totals = row.totals
            let sameCurrency = row.currency == row.costCurrency
            return groups + [
                String(totals.requests), String(totals.inputTokens), String(totals.cacheReadTokens), String(totals.outputTokens),
                totals.revenue.description, totals.cost.description, sameCurrency ? totals.margin.description : "-",
                sameCurrency ? totals.marginPercent ?? "-" : "-", sameCurrency ? row.currency : "\(row.currency) / cost \(row.costCurrency)",
            ]
        }
        var rows = report.rows.map { row in cells(report.query.by.map { row.group[$0].map { $0.isEmpty ? "(none)" : $0 } ?? "" }, row) }
        let totals = report.totals.isEmpty ? [emptyTotals(defaultCurrency)] : report.totals
        for total in totals {
            rows.append(cells(report.query.by.isEmpty ? [] : ["TOTAL"] + Array(repeating: "", count: report.query.by.count - 1), total))
        }
        printTable(header: header, rows: rows)
    }

    private static func emptyTotals(_ currency: String) -> MarginRow {
        MarginRow(group: [:], currency: currency, costCurrency: currency, totals: Totals())
    }
}
