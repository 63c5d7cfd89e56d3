import ArgumentParser
import Foundation
import TollgateCore
import TollgateStore

/// `tollgate customers`: who is billed, the team whose credits they share, the models their plan includes.
struct Customers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show and update customers and their teams.", subcommands: [List.self, Show.self, SetCustomer.self, Teams.self])

    /// `tollgate customers list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List customers.")
        @OptionGroup var options: ConfigOption
        @Option(help: FormatOption.tableOrJSON.help("an array of customers"), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func run() async throws {
            let meter = try openMeter(options.config)
            let customers = try await reportingMeterErrors { try await meter.customers() }
            if format == .json { return try printEncoded(customers) }
            printTable(
                header: ["id", "name", "team", "models", "created"],
                rows: customers.map { [$0.id, $0.name ?? "", $0.team ?? "", modelsText($0.models), Timestamps.iso8601($0.createdMs)] })
        }
    }

    /// `tollgate customers show --customer ID`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "One customer: its record, the balance it draws from, the limits on it, on its team and on its keys (with their current period), and its keys."
        )
        @OptionGroup var options: ConfigOption
        @Option(help: "The customer id.") var customer: String
        @Option(help: FormatOption.tableOrJSON.help("one object"), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func run() async throws {
            let config = try loadConfig(options.config)
            let meter = try openMeter(options.config)
            let view = try await reportingMeterErrors {
                try await CustomerView.load(customer, from: meter, currency: config.pricing.currency, rules: config.pricingRules)
            }
            if format == .json { return try printEncoded(view) }
            let record = view.customer
            printFields(
                [
                    ("customer", record.id), ("name", record.name ?? ""), ("team", record.team ?? ""), ("models", modelsText(record.models)),
                    ("created", Timestamps.iso8601(record.createdMs)),
                ] + cycleFields(view.billingCycle) + view.externalIDs.sorted { $0.key < $1.key }.map { ("id in \($0.key)", $0.value) })
            print("")
            printBalance(view.balance, customer: record.id)
            print("")
            if view.limits.isEmpty {
                print("limits: none")
            } else {
                print("limits:")
                printLimitTable(view.limits, currency: config.pricing.currency)
            }
            print("")
            print("keys:")
            printTable(
                header: ["id", "prefix", "name", "created", "revoked"],
                rows: view.keys.map { key in
                    [key.id, key.prefix + "…", key.name ?? "", Timestamps.iso8601(key.createdMs), key.revokedMs.map(Timestamps.iso8601) ?? "active"]
                })
        }
    }

    /// `tollgate customers set --customer ID`.
    struct SetCustomer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Create or update a customer; options not given are left as they are.")
        @OptionGroup var options: ConfigOption
        @Option(help: "The customer id (created if new).") var customer: String
        @Option(help: "A display name (empty: none).") var name: String?
        @Option(help: "Put it in this team (created if new): it then draws from the team's credits.") var team: String?
        @Flag(help: "Take it out of its team.") var noTeam = false
        @Option(help: "The model patterns its plan includes, separated by commas (gpt-4o*,claude-*).") var models: String?
        @Flag(help: "Allow every model.") var allModels = false
        @Option(
            help: ArgumentHelp(
                "The customer's id in a billing system, SYSTEM=ID (stripe=cus_123; SYSTEM= removes it); repeatable.",
                discussion: "SYSTEM is a sink's type (stripe, lago, openmeter, metronome, orb) or its customer_id_system."))
        var external: [String] = []
        @Option(
            help: ArgumentHelp(
                "Its own billing cycle: week, month or year (default: back to the config's).",
                discussion: "Periods start on --anchor at --anchor-time in --time-zone: a statement's --period then names the customer's cycle."))
        var cycle: String?
        @Option(help: "The day its periods start: 15 (month), 03-15 (year) or monday (week); the 1st, January 1 or Monday by default.")
        var anchor: String?
        @Option(help: "The local time of day its periods start, HH:MM (00:00 by default).") var anchorTime: String?
        @Option(help: "The IANA time zone of its periods (America/New_York; UTC by default).") var timeZone: String?

        func validate() throws {
            if team != nil, noTeam { throw ValidationError("give --team or --no-team, not both") }
            if models != nil, allModels { throw ValidationError("give --models or --all-models, not both") }
            if cycle == nil, anchor != nil || anchorTime != nil || timeZone != nil {
                throw ValidationError("--anchor, --anchor-time and --time-zone go with --cycle week|month|year")
            }
            if cycle == "default", anchor != nil || anchorTime != nil || timeZone != nil {
                throw ValidationError("--cycle default takes no --anchor, --anchor-time or --time-zone")
            }
        }

        /// The billing cycle change: `nil` to leave it, `.some(nil)` for `--cycle default`.
        func cycleChange() throws -> BillingCycle?? {
            guard let cycle else { return nil }
            if cycle == "default" { return .some(nil) }
            do {
                return .some(try BillingCycle(cadence: cycle, anchor: anchor, time: anchorTime, timeZone: timeZone))
            } catch {
                throw ValidationError(error.description)
            }
        }

        func run() async throws {
            let patterns = try models.map(Self.parsePatterns) ?? (allModels ? [] : nil)
            let ids = try external.map { entry -> (String, String) in
                let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw ValidationError("--external expects SYSTEM=ID, such as stripe=cus_123, not '\(entry)'")
                }
                return (parts[0], parts[1])
            }
            let billingCycle = try cycleChange()
            let config = try loadConfig(options.config)
            let meter = try openMeter(options.config)
            let record = try await reportingMeterErrors {
                let record = try await meter.setCustomer(
                    id: customer, name: name, team: noTeam ? "" : team, models: patterns, billingCycle: billingCycle)
                for (system, id) in ids { try await meter.setExternalID(customer: customer, system: system, id: id.isEmpty ? nil : id) }
                return record
            }
            let externalIDs = try await reportingMeterErrors { try await meter.externalIDs(customer: customer) }
            print("customer \(record.id)")
            printFields(
                [
                    ("name", record.name ?? ""), ("team", record.team ?? ""), ("models", modelsText(record.models)),
                    ("credits from", record.creditAccount),
                ]
                    + cycleFields(
                        ResolvedBillingCycle(
                            config.pricingRules.billingCycle(for: record.id, override: record.billingCycle), nowMs: Timestamps.nowMs()))
                    + externalIDs.sorted { $0.key < $1.key }.map { ("id in \($0.key)", $0.value) })
        }

        private static func parsePatterns(_ text: String) throws -> [String] {
            let patterns = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !patterns.isEmpty else {
                throw ValidationError("--models expects model patterns like gpt-4o*,claude-*; for every model, --all-models")
            }
            return patterns
        }
    }

    /// `tollgate customers teams`.
    struct Teams: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List teams and their customers.")
        @OptionGroup var options: ConfigOption
        @Option(help: FormatOption.tableOrJSON.help("an array of teams"), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func run() async throws {
            let meter = try openMeter(options.config)
            let teams = try await reportingMeterErrors { try await meter.teams() }
            if format == .json { return try printEncoded(teams) }
            printTable(
                header: ["id", "name", "customers", "created"],
                rows: teams.map { [$0.id, $0.name ?? "", $0.customers.joined(separator: ","), Timestamps.iso8601($0.createdMs)] })
        }
    }
}

/// Everything `customers show` tells about a customer, and its JSON shape.
struct CustomerView: Encodable {
    /// The record.
    var customer: CustomerRecord
    /// The balance of the account it draws from (its team's when it has one).
    var balance: CreditBalance
    /// The limits on it, on its team and on its keys, with their current period.
    var limits: [LimitStatus]
    /// Its keys, revoked ones included.
    var keys: [VirtualKey]
    /// Its ids in billing systems, by system.
    var externalIDs: [String: String]
    /// Its billing cycle, where it is set, and the period in progress.
    var billingCycle: ResolvedBillingCycle

    enum CodingKeys: String, CodingKey {
        case customer, balance, limits, keys, externalIDs
        case billingCycle = "billing_cycle"
    }

    /// Reads the customer's view; an unknown customer is refused.
    static func load(_ id: String, from meter: MeterStore, currency: String, rules: PricingRules) async throws -> CustomerView {
        guard let record = try await meter.customer(id: id) else { throw MeterError.notFound(what: "customer", id: id) }
        let keys = try await meter.keys(customer: id)
        var limits = try await meter.limits(scope: .customer, scopeID: id)
        if let team = record.team { limits += try await meter.limits(scope: .team, scopeID: team) }
        for key in keys { limits += try await meter.limits(scope: .key, scopeID: key.id) }
        return CustomerView(
            customer: record, balance: try await meter.balance(account: record.creditAccount, currency: currency),
            limits: try await currentStatuses(of: limits, in: meter), keys: keys, externalIDs: try await meter.externalIDs(customer: id),
            billingCycle: ResolvedBillingCycle(rules.billingCycle(for: id, override: record.billingCycle), nowMs: Timestamps.nowMs()))
    }
}

/// The billing cycle lines of `customers show` and `customers set`.
private func cycleFields(_ resolved: ResolvedBillingCycle) -> [(String, String)] {
    [
        ("billing cycle", "\(resolved.cycle) (\(resolved.source))"),
        ("current period", "\(Timestamps.iso8601(resolved.current.startMs)) to \(Timestamps.iso8601(resolved.current.endMs))"),
    ]
}

/// A model list as people read it: `all` when every model is allowed.
private func modelsText(_ models: [String]?) -> String {
    models?.joined(separator: ",") ?? "all"
}
