import ArgumentParser
import Foundation
import TollgateCore
import TollgateStore

/// `tollgate limits`: caps, rate limits and alert thresholds on customers, teams and keys.
struct Limits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set, list and remove limits; read the alerts they fired.",
        discussion: """
            A limit counts money (the events' price), tokens or requests per period. Period minute (requests or tokens) \
            is a rate limit: 429 with Retry-After. The others are caps: a hard cap refuses with 402, a soft one only \
            fires alerts. Each threshold (a percent of the amount) fires one alert per period.
            """,
        subcommands: [Create.self, List.self, Remove.self, Alerts.self])

    /// `tollgate limits create`, also `limits set` (its first name).
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a limit to a customer, a team or a key.", aliases: ["set"])
        @OptionGroup var options: ConfigOption
        @OptionGroup var scope: LimitScopeOption
        @Option(help: "money, tokens or requests.") var metric: String
        @Option(help: "minute, day, week, month or total.") var period: String
        @Option(help: "The size: a decimal amount of money, or a whole number of tokens or requests.") var amount: String
        @Flag(help: "Alert only; never refuse requests.") var soft = false
        @Option(help: "Percents of the amount that fire an alert, like 50,80,100 (default: alerts.default_thresholds).")
        var thresholds: String?
        @Option(help: "Count periods from this time (ISO 8601 or a date) instead of the UTC calendar.") var anchor: String?
        @Option(help: "A note.") var note: String?
        @Option(help: FormatOption.tableOrJSON.help(), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func validate() throws {
            _ = try limitMetric()
            _ = try limitPeriod()
            _ = try thresholds.map(Self.parsePercents)
            _ = try anchor.map { try parseInstant($0, option: "--anchor") }
            guard try scope.selected() != nil else { throw ValidationError("give one of --customer, --team or --key") }
        }

        func run() async throws {
            let (metric, period) = (try limitMetric(), try limitPeriod())
            let config = try loadConfig(options.config)
            let percents = try thresholds.map(Self.parsePercents) ?? config.alerts.defaultThresholds
            let anchorMs = try anchor.map { try parseInstant($0, option: "--anchor") }
            guard let selected = try scope.selected() else { throw ValidationError("give one of --customer, --team or --key") }
            let meter = try openMeter(options.config)
            let record = try await reportingMeterErrors {
                try await meter.addLimit(
                    scope: selected.scope, scopeID: selected.id, metric: metric, period: period, amount: amount, enforcement: soft ? .soft : .hard,
                    thresholds: percents, anchorMs: anchorMs, note: note)
            }
            if format == .json { return try printEncoded(record) }
            let window = period.window(containing: Timestamps.nowMs(), anchor: record.anchor)
            print("added \(record.describe(currency: config.pricing.currency))")
            printFields([
                (
                    "enforcement",
                    record.isRateLimit ? "429 beyond the rate" : record.enforcement == .hard ? "hard (402 at the cap)" : "soft (alerts only)"
                ),
                ("thresholds", record.thresholds.isEmpty ? "none" : record.thresholds.map { "\($0)%" }.joined(separator: ", ")),
                ("period", record.isRateLimit ? "rolling minute" : Self.describe(window)), ("note", record.note ?? ""),
            ])
        }

        private func limitMetric() throws -> LimitMetric {
            guard let value = LimitMetric(rawValue: metric.lowercased()) else {
                throw ValidationError("--metric is money, tokens or requests, not '\(metric)'")
            }
            return value
        }

        private func limitPeriod() throws -> LimitPeriod {
            guard let value = LimitPeriod.parse(period) else {
                throw ValidationError("--period is minute, day, week, month or total, not '\(period)'")
            }
            return value
        }

        /// `50,80,100` as percents; an empty text is no thresholds.
        private static func parsePercents(_ text: String) throws -> [Int] {
            try text.split(separator: ",").map { part in
                guard let percent = Int(part.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--thresholds expects percents separated by commas, like 50,80,100, not '\(text)'")
                }
                return percent
            }
        }

        private static func describe(_ window: (startMs: Int64, endMs: Int64?)) -> String {
            guard let end = window.endMs else { return "the limit's whole life" }
            return "now \(Timestamps.iso8601(window.startMs)) to \(Timestamps.iso8601(end))"
        }
    }

    /// `tollgate limits list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List limits with what their current period has used.")
        @OptionGroup var options: ConfigOption
        @OptionGroup var scope: LimitScopeOption
        @Option(help: FormatOption.tableOrJSON.help("an array of limits with their status"), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func validate() throws { _ = try scope.selected() }

        func run() async throws {
            let config = try loadConfig(options.config)
            let selected = try scope.selected()
            let meter = try openMeter(options.config)
            let statuses = try await reportingMeterErrors {
                try await currentStatuses(of: try await meter.limits(scope: selected?.scope, scopeID: selected?.id), in: meter)
            }
            if format == .json { return try printEncoded(statuses) }
            printLimitTable(statuses, currency: config.pricing.currency)
        }
    }

    /// `tollgate limits remove LIMIT_ID`.
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a limit (the alerts it fired stay).")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The limit id (lim_…), as `limits list` shows it.") var id: String

        func run() async throws {
            let meter = try openMeter(options.config)
            try await reportingMeterErrors { try await meter.removeLimit(id: id) }
            print("removed \(id)")
        }
    }

    /// `tollgate limits alerts`.
    struct Alerts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Threshold alerts, newest first, with their webhook delivery.")
        @OptionGroup var options: ConfigOption
        @Flag(help: "Only alerts not delivered yet.") var pending = false
        @Option(help: "At most this many alerts.") var limit: Int = 100
        @Option(help: FormatOption.tableOrJSON.help("an array of alerts"), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit expects a positive number, not \(limit)") }
        }

        func run() async throws {
            let meter = try openMeter(options.config)
            let alerts = try await reportingMeterErrors { try await meter.alerts(limit: limit, pendingOnly: pending) }
            if format == .json { return try printEncoded(alerts) }
            printTable(
                header: ["fired", "id", "limit", "scope", "metric", "period", "threshold", "used", "amount", "delivery"],
                rows: alerts.map { alert in
                    [
                        Timestamps.iso8601(alert.firedMs), alert.id, alert.limitID, "\(alert.scope.rawValue) \(alert.scopeID)", alert.metric.rawValue,
                        alert.period.rawValue,
                        "\(alert.threshold)%", alert.used, alert.amount + (alert.currency.map { " \($0)" } ?? ""), Self.delivery(alert),
                    ]
                })
        }

        private static func delivery(_ alert: AlertRecord) -> String {
            if let delivered = alert.deliveredMs { return "delivered \(Timestamps.iso8601(delivered))" }
            guard alert.attempts > 0 else { return "pending" }
            return "pending after \(alert.attempts) attempt(s)" + (alert.lastError.map { ": \($0)" } ?? "")
        }
    }
}

/// `--customer ID | --team ID | --key KEY_ID`: whose limits a command works on.
struct LimitScopeOption: ParsableArguments {
    @Option(help: "A customer.") var customer: String?
    @Option(help: "A team.") var team: String?
    @Option(help: "A virtual key id (key_…).") var key: String?

    /// The scope given, `nil` when none is; more than one is refused.
    func selected() throws -> (scope: LimitScope, id: String)? {
        let given = [(LimitScope.customer, customer), (.team, team), (.key, key)].compactMap { scope, id in id.map { (scope, $0) } }
        guard given.count <= 1 else { throw ValidationError("give only one of --customer, --team or --key") }
        return given.first
    }
}

/// The current period's status of each limit, in order.
func currentStatuses(of limits: [LimitRecord], in meter: MeterStore) async throws -> [LimitStatus] {
    var statuses: [LimitStatus] = []
    for limit in limits { statuses.append(try await meter.limitStatus(limit)) }
    return statuses
}

/// Prints limits with what their current period used, holds and has left.
func printLimitTable(_ statuses: [LimitStatus], currency: String) {
    printTable(
        header: ["id", "scope", "metric", "period", "amount", "kind", "used", "reserved", "remaining", "period end", "thresholds", "note"],
        rows: statuses.map { status in
            let limit = status.limit
            let kind = limit.isRateLimit ? "rate" : limit.enforcement.rawValue
            // A rate limit's bucket lives in the proxy's memory: the meter has no usage to show for it.
            let usage =
                limit.isRateLimit
                ? ["-", "-", "-", "-"] : [status.used, status.reserved, status.remaining, status.periodEndMs.map(Timestamps.iso8601) ?? "never"]
            return [
                limit.id, "\(limit.scope.rawValue) \(limit.scopeID)", limit.metric.rawValue, limit.period.rawValue,
                limit.amount + (limit.metric == .money ? " \(currency)" : ""), kind,
            ] + usage + [limit.thresholds.map(String.init).joined(separator: ","), limit.note ?? ""]
        })
}
