import ArgumentParser
import Foundation
import TollgateCore
import TollgateStore

/// `tollgate events`: reads the meter.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print metered events, oldest first.",
        discussion: "--since/--until take an ISO 8601 time (2026-11-21T10:00:00Z), a date (2026-11-21), or an age (30m, 12h, 7d).")

    /// What `--format` takes.
    static let formats = FormatOption(.table, .jsonl, .csv)

    @OptionGroup var options: ConfigOption
    @Option(help: "Only this customer's events.") var customer: String?
    @Option(help: "Events at or after this time.") var since: String?
    @Option(help: "Events before this time.") var until: String?
    @Option(help: "At most this many events.") var limit: Int?
    @Option(help: Events.formats.help(), transform: Events.formats.read) var format = Events.formats.defaultFormat

    func run() async throws {
        let sinceDate = try since.map { try parseTime($0, option: "--since") }
        let untilDate = try until.map { try parseTime($0, option: "--until") }
        let events = try await openMeter(options.config).events(customer: customer, since: sinceDate, until: untilDate, limit: limit)
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
