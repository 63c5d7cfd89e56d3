import ArgumentParser
import Foundation
import TollgateCore
import TollgateStore

/// `tollgate meter …`: the meter itself (where it is, its schema) and moving it to PostgreSQL.
struct Meter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the meter, copy a SQLite meter into PostgreSQL when moving to replicas, or prune old months of events.",
        subcommands: [Info.self, Migrate.self, Prune.self])

    /// `tollgate meter info`.
    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Where the meter is, its schema version and how many events it holds.")

        @OptionGroup var options: ConfigOption

        func run() async throws {
            let meter = try openMeter(options.config)
            try await reportingMeterErrors {
                let migrations = try meter.appliedMigrations()
                print("meter:      \(meter.path)")
                print("database:   \(meter.dialect == .postgres ? "PostgreSQL" : "SQLite")")
                print("schema:     \(migrations.last ?? "none")")
                print("events:     \(try await meter.eventCount())")
                if let pruned = try await meter.eventsPrunedBefore() {
                    print("pruned:     events before \(Timestamps.monthName(of: pruned)) (their report rollups kept)")
                }
            }
        }
    }

    /// `tollgate meter migrate --to postgres://…`.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the config's meter (every table) into a new, empty PostgreSQL meter, and check the copy.",
            discussion: """
                Stop serve first: the meter is read in one snapshot, and events written after it would stay behind. \
                The target's schema is created when missing; it must hold no rows. Afterwards row counts of every table \
                and the money sums of events, grants and the ledger are compared; any difference exits 1. Then point \
                meter.url at the target and start the replicas (docs/SCALING.md).
                """)

        @OptionGroup var options: ConfigOption
        @Option(name: .long, help: "The PostgreSQL meter: postgres://user@host:5432/database?sslmode=require")
        var to: String
        @Option(name: .long, help: "Environment variable holding the target's password.")
        var passwordEnv: String?

        func run() async throws {
            let source = try openMeter(options.config)
            guard MeterSettings.isPostgresURL(to) else {
                throw refusal("--to must be a postgres:// URL, not \(MeterSettings.redactedURL(to))")
            }
            var password: String?
            if let passwordEnv {
                guard let value = ProcessInfo.processInfo.environment[passwordEnv], !value.isEmpty else {
                    throw refusal("--password-env names \(passwordEnv), which is unset")
                }
                password = value
            }
            try await reportingMeterErrors {
                let target = try MeterStore(postgres: PostgresMeterOptions(url: to, password: password))
                defer { try? target.close() }
                let started = Date()
                let progress = ProgressLine()
                let report = try await source.copy(to: target) { table, rows in
                    if rows % 10_000 == 0 || rows < 1_000 { progress.note("\(table): \(rows) rows") }
                }
                progress.finish()
                for (table, rows) in report.rows.sorted(by: { $0.key < $1.key }) where rows > 0 { print("  \(table): \(rows) rows") }
                for (sum, amount) in report.sums.sorted(by: { $0.key < $1.key }) { print("  \(sum): \(amount) (equal)") }
                let total = report.rows.values.reduce(0, +)
                print(
                    "copied \(total) rows from \(source.path) to \(target.path) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s; "
                        + "counts and money sums match")
            }
        }
    }

    /// `tollgate meter prune --before 2026-09`.
    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the events of every month before --before (shows what it would delete without --yes).",
            discussion: """
                Whole months (UTC) only, and never the current month or the two before it. On PostgreSQL each month's                 partition is dropped; on SQLite the rows go 10,000 per transaction while serve runs. The report rollups                 stay: margin reports and statements of pruned months keep their totals; listing their events, `rerate`                 and `report rebuild` no longer reach them. Export lines already staged are kept. The prune is recorded                 (tollgate meter info).
                """)

        @OptionGroup var options: ConfigOption
        @Option(help: "The first month kept (2026-09): every event before it is deleted.") var before: String
        @Flag(help: "Delete; without it, only print what would be deleted.") var yes = false

        func run() async throws {
            guard let month = Timestamps.month(before) else { throw refusal("--before takes a month like 2026-09, not \(before)") }
            let meter = try openMeter(options.config)
            try await reportingMeterErrors {
                let progress = ProgressLine()
                let pruning = try await meter.pruneEvents(before: month.startMs, dryRun: !yes) { month, deleted in
                    progress.note("\(month): \(deleted) events deleted")
                }
                progress.finish()
                for (month, events) in pruning.months { print("  \(month): \(events) events") }
                if pruning.months.isEmpty {
                    print("no events before \(before) in \(meter.path)")
                } else if pruning.dryRun {
                    print("would delete \(pruning.events) events before \(before) from \(meter.path); run again with --yes to delete them")
                } else {
                    print("deleted \(pruning.events) events before \(before) from \(meter.path); report rollups kept")
                }
            }
        }
    }
}
