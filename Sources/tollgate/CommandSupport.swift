import ArgumentParser
import Foundation
import Logging
import TollgateConfiguration
import TollgateCore
import TollgateStore

// What every command shares: the config and the meter, printing, and the grammar of times and ranges.

// MARK: - Config and meter

/// The `--config` option every command shares.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "YAML config file (default: embedded defaults).")
    var config: String?
}

/// Loads a config or exits with its error in `FILE:LINE: message` form (status 2).
func loadConfig(_ path: String?) throws -> TollgateConfig {
    do {
        return try ConfigFiles.load(path: path)
    } catch {
        throw refusal(error.description, exitCode: ExitCode(2))
    }
}

/// Opens the meter named by a config, or exits with why it cannot (status 1).
func openMeter(_ configPath: String?) throws -> MeterStore {
    let config = try loadConfig(configPath)
    do {
        return try MeterStore(config.meter)
    } catch {
        throw refusal(error.description)
    }
}

extension MeterStore {
    /// Opens the meter the config's `meter:` names: PostgreSQL at `url`, else the SQLite file at `path`.
    convenience init(_ settings: MeterSettings) throws(MeterError) {
        if let url = settings.url {
            try self.init(postgres: PostgresMeterOptions(url: url, password: settings.password, poolSize: settings.poolSize))
        } else {
            try self.init(path: settings.path, synchronousFull: settings.fsync)
        }
    }
}

/// A logger writing to standard error at the configured level.
/// Runs a meter operation; a refusal or failure is printed as `error: …` and exits with status 1, never a trace.
func reportingMeterErrors<T>(_ operation: () async throws -> T) async throws -> T {
    do {
        return try await operation()
    } catch let error as MeterError {
        throw refusal(error.description)
    }
}

/// Prints `error: message` and returns the exit to throw: for refusals that depend on the config, the meter or the
/// files named rather than on the arguments alone (those are `ValidationError`s, printed with the usage).
func refusal(_ message: String, exitCode: ExitCode = .failure) -> ExitCode {
    standardError("error: \(message)")
    return exitCode
}

/// Writes a line to stderr.
func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

// MARK: - Output

/// What `--format` prints. Every command spells a format the same way and takes the ones it can print (see
/// ``FormatOption``); `table` is for people, the others for programs.
enum OutputFormat: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Aligned columns.
    case table
    /// One JSON document (snake_case keys, money as decimal strings).
    case json
    /// One JSON object per line.
    case jsonl
    /// Comma-separated values with a header row.
    case csv
    /// A self-contained page.
    case html
    /// The events behind a statement's lines, as CSV.
    case eventsCSV = "events-csv"

    /// The spelling on the command line.
    var description: String { rawValue }
}

/// A command's `--format`: the formats it prints, its default first. The option's help and its reader are made from
/// this one list, so that they cannot disagree:
/// `@Option(help: Self.formats.help(), transform: Self.formats.read) var format = Self.formats.defaultFormat`.
struct FormatOption: Sendable {
    /// Aligned columns or one JSON document: what most commands print.
    static let tableOrJSON = FormatOption(.table, .json)

    /// The formats the command prints; the first is its default.
    let formats: [OutputFormat]

    /// A command printing `formats`, the first by default.
    init(_ first: OutputFormat, _ others: OutputFormat...) {
        formats = [first] + others
    }

    /// The format printed when `--format` is not given.
    var defaultFormat: OutputFormat { formats[0] }

    /// The formats as a sentence says them: `table, csv or json`.
    var spelledOut: String {
        let names = formats.map(\.rawValue)
        return names.count == 1 ? names[0] : names.dropLast().joined(separator: ", ") + " or " + names[names.count - 1]
    }

    /// The option's help: the formats, what `note` says the output holds, and the default.
    func help(_ note: String? = nil) -> ArgumentHelp {
        ArgumentHelp("\(spelledOut)\(note.map { " (\($0))" } ?? ""). (default: \(defaultFormat))")
    }

    /// Reads `--format`, refusing a format the command does not print as `--format is table, csv or json`.
    func read(_ text: String) throws -> OutputFormat {
        guard let format = OutputFormat(rawValue: text), formats.contains(format) else { throw ValidationError("--format is \(spelledOut)") }
        return format
    }
}

/// Prints rows as aligned columns.
func printTable(header: [String], rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// Prints `label  value` lines with the values aligned, leaving out empty values.
func printFields(_ fields: [(String, String)]) {
    let shown = fields.filter { !$0.1.isEmpty }
    let width = shown.map(\.0.count).max() ?? 0
    for (label, value) in shown { print(label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value) }
}

/// Prints a value as one line of JSON: sorted snake_case keys, money as decimal strings.
func printEncoded(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Prints a JSON object with sorted keys.
func printJSON(_ object: Any) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    print(String(decoding: data, as: UTF8.self))
}

// MARK: - Time

/// The range of time a command reads: `--from`/`--to` (also spelled `--since`/`--until`), or a billing period with
/// `--period`. Times are UTC unless `--time-zone` names a zone; `--from` is inclusive, `--to` exclusive.
struct TimeRangeOptions: ParsableArguments {
    @Option(
        name: [.customLong("from"), .customLong("since")],
        help: "Start (inclusive): an ISO 8601 time (2026-11-21T10:00:00Z), a date (2026-11-21) or an age (30m, 12h, 7d).")
    var from: String?
    @Option(name: [.customLong("to"), .customLong("until")], help: "End (exclusive), written like --from.")
    var to: String?
    @Option(
        help: ArgumentHelp(
            "A period instead of --from/--to: a month (2026-11), a date in the period (2026-11-20), current or previous.",
            discussion: "For one customer, the period of its billing cycle (2026-11: the one that starts in November); "
                + "otherwise a calendar month, in --time-zone."))
    var period: String?
    @Option(help: "An IANA time zone (Europe/Paris): --period is a calendar month there and dates in --from/--to are its midnights.")
    var timeZone: String?

    /// The calendar months of `--time-zone` (UTC without it).
    func calendar() throws -> BillingCycle {
        guard let timeZone else { return .calendarMonthUTC }
        do {
            return try BillingCycle(cadence: "month", timeZone: timeZone)
        } catch {
            throw ValidationError("--time-zone: \(error.description)")
        }
    }

    /// [from, to) in ms since 1970, either end `nil` when not given; `--period` names a period of `cycle` (the calendar
    /// months of `--time-zone` when that is given or `cycle` is `nil`). Refused: `--period` with `--from` or `--to`, a
    /// text that is no period or time, and `--to` not after `--from`.
    func bounds(cycle: BillingCycle? = nil, nowMs: Int64 = Timestamps.nowMs()) throws -> (fromMs: Int64?, toMs: Int64?) {
        let calendar = try calendar()
        if let period {
            guard from == nil, to == nil else { throw ValidationError("give --period or --from/--to, not both") }
            do {
                let named = try (timeZone == nil ? cycle ?? calendar : calendar).period(named: period, nowMs: nowMs)
                return (named.startMs, named.endMs)
            } catch {
                throw ValidationError("--period: \(error.description)")
            }
        }
        let fromMs = try from.map { try parseTimeMs($0, option: "--from", zone: calendar) }
        let toMs = try to.map { try parseTimeMs($0, option: "--to", zone: calendar) }
        if let fromMs, let toMs, toMs <= fromMs { throw ValidationError("--to must be after --from") }
        return (fromMs, toMs)
    }

    /// [from, to) in ms since 1970 for a command that needs both ends: `--period`, or `--from` and `--to`.
    func closedBounds(cycle: BillingCycle? = nil, nowMs: Int64 = Timestamps.nowMs()) throws -> (fromMs: Int64, toMs: Int64) {
        let (fromMs, toMs) = try bounds(cycle: cycle, nowMs: nowMs)
        guard let fromMs, let toMs else { throw ValidationError("give --period (2026-11, current, previous), or both --from and --to") }
        return (fromMs, toMs)
    }
}

/// A time option in ms since 1970: an ISO 8601 time or date exactly as written (`.123` is 123 ms, not the 122.99…
/// a round trip through `Date` can give; a date is midnight in `zone`'s time zone), else an age such as `12h` before
/// now.
func parseTimeMs(_ text: String, option: String, zone: BillingCycle = .calendarMonthUTC) throws -> Int64 {
    // A bare date in a time zone: its midnight there.
    if zone.timeZone != "UTC", let midnight = zone.midnight(of: text) { return midnight }
    if let milliseconds = Timestamps.parse(text) { return milliseconds }
    if let last = text.last, let amount = Double(text.dropLast()), amount >= 0, let unit = ["s": 1.0, "m": 60, "h": 3600, "d": 86400][last] {
        return Int64(((Date().timeIntervalSince1970 - amount * unit) * 1000).rounded())
    }
    throw ValidationError("\(option) expects an ISO 8601 time, a date or an age like 12h, not '\(text)'")
}

/// Parses an absolute time (ISO 8601 or a date, UTC) into ms since 1970, refusing anything else by the option's name.
func parseInstant(_ text: String, option: String) throws -> Int64 {
    guard let milliseconds = Timestamps.parse(text) else {
        throw ValidationError("\(option) expects an ISO 8601 time (2026-12-31T23:59:59Z) or a date (2026-12-31), not '\(text)'")
    }
    return milliseconds
}

// MARK: - Files

/// Reads a catalog file: a provider file or a catalog written by `tollgate rates import-litellm`.
func loadCatalog(_ path: String) throws -> PriceCatalog {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("cannot read the catalog \(path)")
    }
    do {
        return try ProviderSpec.parse(yaml: text, file: path).catalog(currency: "USD")
    } catch {
        throw refusal(error.description, exitCode: ExitCode(2))
    }
}

// MARK: - Progress

/// One progress line on standard error: redrawn in place on a terminal, a line per 10 % otherwise.
final class ProgressLine: @unchecked Sendable {
    private let lock = NSLock()
    private var lastDecile = -1
    private var drawn = false
    private let terminal = isatty(STDERR_FILENO) != 0

    /// Shows `done` of `total` after `label`.
    func show(done: Int, total: Int, label: String) {
        guard total > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        let width = 30
        let filled = width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        if terminal {
            FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total)".utf8))
            drawn = true
        } else if done * 10 / total > lastDecile {
            lastDecile = done * 10 / total
            FileHandle.standardError.write(Data("\(label): \(done)/\(total)\n".utf8))
        }
    }

    /// Shows a line of text (no total known): redrawn in place on a terminal, printed as is otherwise.
    func note(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        if terminal {
            FileHandle.standardError.write(Data("\r\(text)\u{1B}[K".utf8))
            drawn = true
        } else {
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }

    /// Ends the line, so that what is printed next starts on a line of its own.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
        lastDecile = -1
    }
}
