import ArgumentParser
import Foundation
import Logging
import TollgateBilling
import TollgateCore
import TollgateStore

/// `tollgate export`: rated lines to billing systems and files, exactly once.
struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export rated lines to billing systems (Stripe, Lago, OpenMeter, Metronome, Orb) and files (CSV, JSON Lines, FOCUS).",
        discussion: "Sinks are configured under `sinks:` (docs/EXPORT.md). Every line goes through the meter's outbox with a deterministic "
            + "idempotency key: a failed or interrupted export resumes where it stopped and never bills twice.",
        subcommands: [Run.self, Status.self, Retry.self, Lines.self, Reconcile.self])

    /// `tollgate export run`.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stage a period's lines (late events become corrections) and send everything due, retrying until sent, held or dead.",
            discussion: """
                Each customer is exported by the periods of its billing cycle (calendar months in UTC by default). \
                Without --period: every closed period with events that was never exported, or that gained events since \
                (their difference is exported as correction lines). With --period, each cycle's period of that name, even if \
                it is still open (what it gains later is exported as corrections). Exits 0 when every line is sent or held \
                (the customer has no id in the sink's system; the reason says how to add one), 1 when some are dead.
                """)

        @OptionGroup var options: ConfigOption
        @Option(help: "The sink's name under `sinks:`.") var sink: String
        @Option(help: "A period: a month (2026-11: each cycle's period starting in it), a date in it (2026-11-20), current or previous.")
        var period: String?
        @Flag(help: "Send what is due once, without waiting for retries.") var noWait = false

        func run() async throws {
            let config = try loadConfig(options.config)
            let exporter = try makeExporter(sink, config: config)
            let progress = ProgressLine()
            let staging: ExportStaging
            do {
                staging = try await exporter.stage(period: period)
            } catch let error as ExportError {
                throw ValidationError(error.description)
            }
            FileHandle.standardError.write(
                Data("staged: \(staging.added) new lines, \(staging.corrections) corrections (\(staging.unchanged) unchanged)\n".utf8))
            var total = ExportPass()
            while true {
                let pass = try await exporter.sendDue { done, count in progress.show(done: done, total: count, label: "sending to \(sink)") }
                progress.finish()
                total.sent += pass.sent
                total.dead += pass.dead
                total.held = pass.held
                if let error = pass.lastError { total.lastError = error }
                guard !noWait, let next = try await exporter.nextRetryMs() else {
                    total.failed = pass.failed
                    break
                }
                let wait = max(0, Double(next - Timestamps.nowMs()) / 1000)
                FileHandle.standardError.write(
                    Data("\(pass.failed) lines failed (\(pass.lastError ?? "?")); retrying in \(String(format: "%.1f", wait)) s\n".utf8))
                try await Task.sleep(for: .milliseconds(Int64(wait * 1000)))
            }
            let meter = try openMeter(options.config)
            let remaining = try await meter.exportLines(sink: sink, states: [.pending, .failed, .dead])
            print(
                "sent \(total.sent), held \(total.held), failed \(remaining.filter { $0.state != .dead }.count), dead \(remaining.filter { $0.state == .dead }.count)"
            )
            for line in try await meter.exportLines(sink: sink, states: [.held, .dead]).prefix(20) {
                print("  \(line.state.rawValue) \(line.key) \(line.customer) \(line.period) \(line.meter): \(line.lastError ?? "")")
            }
            if !remaining.isEmpty { throw ExitCode(1) }
        }
    }

    /// `tollgate export status`.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Per sink: lines pending, sent, failed, dead and held, and the last error.")
        @OptionGroup var options: ConfigOption
        @Option(help: FormatOption.tableOrJSON.help(), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func run() async throws {
            let config = try loadConfig(options.config)
            let meter = try openMeter(options.config)
            var statuses = Dictionary(uniqueKeysWithValues: try await meter.exportStatus().map { ($0.sink, $0) })
            for name in config.sinks.keys where statuses[name] == nil {
                statuses[name] = ExportSinkStatus(sink: name, counts: [:], lastError: nil, lastSentMs: nil)
            }
            let rows = statuses.values.sorted { $0.sink < $1.sink }
            if format == .json {
                printJSON(
                    rows.map { status -> [String: Any] in
                        var object: [String: Any] = ["sink": status.sink, "type": config.sinks[status.sink]?.kind.rawValue ?? NSNull()]
                        for state in ExportState.allCases { object[state.rawValue] = status.counts[state] ?? 0 }
                        object["last_error"] = status.lastError ?? NSNull()
                        object["last_sent"] = status.lastSentMs.map(Timestamps.iso8601) ?? NSNull()
                        return object
                    })
                return
            }
            printTable(
                header: ["sink", "type"] + ExportState.allCases.map(\.rawValue) + ["last sent", "last error"],
                rows: rows.map { status in
                    [status.sink, config.sinks[status.sink]?.kind.rawValue ?? "(not configured)"]
                        + ExportState.allCases.map { String(status.counts[$0] ?? 0) }
                        + [status.lastSentMs.map(Timestamps.iso8601) ?? "", status.lastError ?? ""]
                })
        }
    }

    /// `tollgate export retry --dead`.
    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make dead lines pending again (after fixing what refused them); the next run sends them.")
        @OptionGroup var options: ConfigOption
        @Flag(help: "Retry the dead lines (required: says what is retried).") var dead = false
        @Option(help: "Only this sink's.") var sink: String?

        func run() async throws {
            guard dead else { throw ValidationError("say what to retry: --dead") }
            if let sink { try requireSink(sink, config: try loadConfig(options.config)) }
            let count = try await reportingMeterErrors { try await openMeter(options.config).retryDeadExports(sink: sink) }
            print("\(count) dead lines are pending again")
        }
    }

    /// `tollgate export lines`.
    struct Lines: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The outbox: a sink's lines with their keys and states.")
        @OptionGroup var options: ConfigOption
        @Option(help: "The sink's name.") var sink: String
        @Option(help: "Only lines in this state (pending, failed, sent, dead, held).") var state: String?
        @Option(help: FormatOption.tableOrJSON.help(), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func run() async throws {
            let states: Set<ExportState>
            if let state {
                guard let parsed = ExportState(rawValue: state) else {
                    throw ValidationError("--state is one of \(ExportState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                states = [parsed]
            } else {
                states = []
            }
            try requireSink(sink, config: try loadConfig(options.config))
            let lines = try await reportingMeterErrors { try await openMeter(options.config).exportLines(sink: sink, states: states) }
            if format == .json {
                printJSON(lines.map(Self.json))
                return
            }
            printTable(
                header: ["key", "state", "customer", "period", "meter", "version", "quantity", "amount", "currency", "attempts", "error"],
                rows: lines.map {
                    [
                        $0.key, $0.state.rawValue, $0.customer, $0.period, $0.meter, String($0.version), String($0.quantity), $0.amount.description,
                        $0.currency, String($0.attempts), $0.lastError ?? "",
                    ]
                })
        }

        static func json(_ line: ExportLine) -> [String: Any] {
            [
                "key": line.key, "state": line.state.rawValue, "customer": line.customer, "period": line.period, "meter": line.meter,
                "kind": line.kind.rawValue, "description": line.description, "model": line.model ?? NSNull(), "version": line.version,
                "correction": line.isCorrection, "quantity": line.quantity, "amount": line.amount.description,
                "amount_due": line.amountDue.description, "currency": line.currency, "event_ids": line.eventIDs, "attempts": line.attempts,
                "last_error": line.lastError ?? NSNull(), "usage_time": Timestamps.iso8601(line.usageMs),
                "sent": line.sentMs.map(Timestamps.iso8601) ?? NSNull(),
                "input_tokens": line.usage.inputTokens, "cache_read_tokens": line.usage.cacheReadTokens,
                "cache_write_tokens": line.usage.cacheWriteTokens, "output_tokens": line.usage.outputTokens,
                "reasoning_tokens": line.usage.reasoningTokens,
            ]
        }
    }
}

extension Export {
    /// `tollgate export reconcile`.
    struct Reconcile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that what a sink was given for a period sums, line by line, to the period as it rates now.",
            discussion: """
                Each line's versions (the line, then its corrections, or the deltas that continuous export sent while the \
                period was open) are summed and compared with the line rated today. Exits 0 when every line matches (the \
                unsent column counts versions the sink has not accepted yet), 1 when one does not: events came in after \
                the period's last staging, and the next run sends the difference.
                """)
        @OptionGroup var options: ConfigOption
        @Option(help: "The sink's name.") var sink: String
        @Option(help: "The period: a month (2026-11), a date in it, current or previous.") var period: String
        @Option(help: FormatOption.tableOrJSON.help(), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func run() async throws {
            let exporter = try makeExporter(sink, config: try loadConfig(options.config))
            let result: ExportReconciliation
            do { result = try await exporter.reconcile(period: period) } catch let error as ExportError { throw ValidationError(error.description) }
            if format == .json {
                printJSON([
                    "sink": sink, "matches": result.mismatches.isEmpty,
                    "lines": result.lines.map { line -> [String: Any] in
                        [
                            "customer": line.customer, "period": line.period, "open": line.open, "meter": line.meter, "currency": line.currency,
                            "rated_quantity": line.ratedQuantity, "rated_amount": line.ratedAmount.description,
                            "exported_quantity": line.exportedQuantity, "exported_amount": line.exportedAmount.description,
                            "versions": line.versions, "unsent": line.unsent, "matches": line.matches,
                        ]
                    },
                ])
            } else {
                printTable(
                    header: ["customer", "period", "meter", "rated", "exported", "versions", "unsent", ""],
                    rows: result.lines.map { line in
                        [
                            line.customer, line.period + (line.open ? " (open)" : ""), line.meter,
                            "\(line.ratedQuantity) = \(line.ratedAmount) \(line.currency)", "\(line.exportedQuantity) = \(line.exportedAmount)",
                            String(line.versions), String(line.unsent), line.matches ? "ok" : "DIFFERS",
                        ]
                    })
                print(
                    result.mismatches.isEmpty
                        ? "every line's versions sum to the rated line (\(result.lines.count) lines)"
                        : "\(result.mismatches.count) of \(result.lines.count) lines differ: run `tollgate export run --sink \(sink)` to send the difference"
                )
            }
            if !result.mismatches.isEmpty { throw ExitCode(1) }
        }
    }
}

/// Refuses a sink name the config does not have.
func requireSink(_ name: String, config: TollgateConfig) throws {
    guard config.sinks[name] != nil else { throw ValidationError(ExportError.unknownSink(name, known: config.sinks.keys.sorted()).description) }
}

/// The exporter for a configured sink.
func makeExporter(_ name: String, config: TollgateConfig) throws -> Exporter {
    try requireSink(name, config: config)
    guard let settings = config.sinks[name] else { throw ExitCode(2) }
    if !settings.kind.isFile, (settings.apiKey ?? "").isEmpty {
        throw ValidationError(
            ExportError.unusableSink(
                name, "no API key (api_key, or api_key_env naming a set variable\(settings.apiKeyEnv.map { ": \($0) is unset" } ?? ""))"
            )
            .description)
    }
    var logger = Logger(label: "tollgate.export")
    logger.logLevel = .warning
    let rules = config.pricingRules
    let meter: MeterStore
    do { meter = try MeterStore(config.meter) } catch { throw ValidationError(error.description) }
    return Exporter(meter: meter, sink: SinkFactory.make(settings), rules: { rules }, logger: logger)
}
