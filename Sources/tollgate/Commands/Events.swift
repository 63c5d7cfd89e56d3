import ArgumentParser
import Foundation
import TollgateCore
import TollgateStore

/// `tollgate events`: reads the meter.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print metered events, oldest first.",
        discussion: """
            --from/--to (or --since/--until) take an ISO 8601 time (2026-11-21T10:00:00Z), a date (2026-11-21), or an age \
            (30m, 12h, 7d); --period a calendar month (2026-11).
            """)

    /// What `--format` takes.
    static let formats = FormatOption(.table, .jsonl, .csv)

    @OptionGroup var options: ConfigOption
    @Option(help: "Only this customer's events.") var customer: String?
    @OptionGroup var range: TimeRangeOptions
    @Option(help: "At most this many events.") var limit: Int?
    @Option(help: Events.formats.help(), transform: Events.formats.read) var format = Events.formats.defaultFormat

    func run() async throws {
        let (fromMs, toMs) = try range.bounds()
        let date = { (milliseconds: Int64) in Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
        let events = try await openMeter(options.config).events(customer: customer, since: fromMs.map(date), until: toMs.map(date), limit: limit)
        switch format {
        case .jsonl:
            for event in events { print(EventFields.jsonLine(event)) }
        case .csv:
            print(EventFields.names.joined(separator: ","))
            for event in events { print(EventFields.csvRow(event)) }
        default:
            let rows = events.map { event in
                [
                    EventFields.timestamp(event.timestampMs), event.customer, event.provider, event.servedModel ?? event.model ?? "-",
                    String(event.status), event.stream ? "yes" : "no", String(event.usage.inputTokens), String(event.usage.cacheReadTokens),
                    String(event.usage.outputTokens), String(format: "%.1f", event.latencyMs), event.cost.description, event.price.description,
                    event.estimated ? "estimated" : "",
                ]
            }
            printTable(
                header: ["time", "customer", "provider", "model", "status", "stream", "input", "cached", "output", "ms", "cost", "price", ""],
                rows: rows)
        }
    }
}
