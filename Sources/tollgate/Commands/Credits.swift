import ArgumentParser
import Foundation
import TollgateCore
import TollgateStore

/// `tollgate credits`: prepaid credit grants, balances and the ledger that explains them.
struct Credits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Grant credits, read balances and the ledger, void grants.",
        discussion: """
            Credits are money in the pricing currency (pricing.currency). A customer in a team draws from the team's \
            pool: grant to the team, and read the customer's balance to see the team's. Grants are spent by priority \
            (lower first), then soonest expiry (none last), then oldest.
            """,
        subcommands: [Grant.self, Balance.self, Ledger.self, VoidGrant.self, TrueUpPeriod.self])

    /// `tollgate credits grant`.
    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grant credits to a customer or a team.")
        @OptionGroup var options: ConfigOption
        @OptionGroup var account: CreditAccountOption
        @Option(help: "The amount, a decimal in the pricing currency.") var amount: String?
        @Option(help: "The amount as a number of credit units (needs credits.unit in the config).") var credits: String?
        @Option(help: "Lower is spent first.") var priority: Int = 10
        @Option(help: "When it starts to count: an ISO 8601 time or a date (default: now).") var effective: String?
        @Option(help: "When what is left lapses: an ISO 8601 time or a date (default: never).") var expires: String?
        @Option(help: "A note (purchase order, promotion).") var note: String?
        @Option(help: FormatOption.tableOrJSON.help(), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func validate() throws {
            _ = try account.grantee()
            switch (amount, credits) {
            case (let text?, nil):
                guard let money = Money(text), money > .zero else {
                    throw ValidationError("--amount expects a positive decimal amount (like 25 or 12.50), not '\(text)'")
                }
            case (nil, let text?):
                guard let units = Money(text), units > .zero else { throw ValidationError("--credits expects a positive number, not '\(text)'") }
            default:
                throw ValidationError("give either --amount or --credits")
            }
            _ = try effective.map { try parseInstant($0, option: "--effective") }
            _ = try expires.map { try parseInstant($0, option: "--expires") }
        }

        func run() async throws {
            let config = try loadConfig(options.config)
            let (money, unit) = try grantAmount(unit: config.credits)
            let effectiveMs = try effective.map { try parseInstant($0, option: "--effective") }
            let expiresMs = try expires.map { try parseInstant($0, option: "--expires") }
            let grantee = try account.grantee()
            let meter = try openMeter(options.config)
            let grant = try await reportingMeterErrors {
                try await meter.grantCredits(
                    account: grantee, amount: money, currency: config.pricing.currency, priority: priority, effectiveMs: effectiveMs,
                    expiresMs: expiresMs, note: note, unit: unit)
            }
            if format == .json { return try printEncoded(grant) }
            print("granted \(grant.id) to \(grant.account)")
            printFields([
                ("amount", "\(grant.amount) \(grant.currency)" + (grant.unitName.map { " (\(grant.unitAmount ?? "?") \($0))" } ?? "")),
                ("priority", String(grant.priority)), ("effective", Timestamps.iso8601(grant.effectiveMs)),
                ("expires", grant.expiresMs.map(Timestamps.iso8601) ?? "never"), ("note", grant.note ?? ""),
            ])
        }

        /// The grant's money amount (`--amount`, or `--credits` × the unit's value, exact) and the unit it was given
        /// in; the arguments were checked by `validate()`.
        private func grantAmount(unit settings: CreditSettings) throws -> (Money, (name: String, amount: String)?) {
            guard let text = credits, let units = Money(text) else { return (Money(amount ?? "") ?? .zero, nil) }
            guard let name = settings.unitName, let value = settings.unitValue else {
                throw refusal("--credits needs a credit unit in the config (credits: {unit: {name: credit, value: \"0.01\"}}); or give --amount")
            }
            // Both are fixed point with Money.scale: the product is exact when it divides back without a remainder.
            let (product, overflow) = units.raw.multipliedReportingOverflow(by: value.raw)
            guard !overflow, product % Money.scale == 0 else {
                throw refusal("--credits \(text) × \(value) (the value of a \(name)) is too large or too precise for an exact amount")
            }
            return (Money(raw: product / Money.scale), (name, units.description))
        }
    }

    /// `tollgate credits balance`.
    struct Balance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The balance of a customer's or a team's account: available = granted − spent − expired − reserved.")
        @OptionGroup var options: ConfigOption
        @OptionGroup var account: CreditAccountOption
        @Option(help: FormatOption.tableOrJSON.help("one object, amounts as decimal strings"), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func validate() throws { _ = try account.grantee() }

        func run() async throws {
            let config = try loadConfig(options.config)
            let meter = try openMeter(options.config)
            let balance = try await reportingMeterErrors {
                try await meter.balance(account: try await account.drawnAccount(meter), currency: config.pricing.currency)
            }
            if format == .json { return try printEncoded(balance) }
            printBalance(balance, customer: account.customer)
        }
    }

    /// `tollgate credits ledger`.
    struct Ledger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every ledger line of an account, oldest first, with the sums per kind and the balance they explain.")
        @OptionGroup var options: ConfigOption
        @OptionGroup var account: CreditAccountOption
        @Option(help: "Only the last N lines (the sums still cover every line).") var limit: Int?
        @Option(help: FormatOption.tableOrJSON.help("an array of lines"), transform: FormatOption.tableOrJSON.read)
        var format = FormatOption.tableOrJSON.defaultFormat

        func validate() throws {
            _ = try account.grantee()
            if let limit, limit < 1 { throw ValidationError("--limit expects a positive number of lines, not \(limit)") }
        }

        func run() async throws {
            let config = try loadConfig(options.config)
            let meter = try openMeter(options.config)
            let (balance, every) = try await reportingMeterErrors {
                let name = try await account.drawnAccount(meter)
                // The balance first: it records the expiry of lapsed grants, which the ledger then shows.
                let balance = try await meter.balance(account: name, currency: config.pricing.currency)
                return (balance, try await meter.ledger(account: name))
            }
            let shown = limit.map { Array(every.suffix($0)) } ?? every
            if format == .json { return try printEncoded(shown) }
            printTable(
                header: ["seq", "time", "kind", "amount", "grant", "reservation", "event", "customer", "key", "note"],
                rows: shown.map { entry in
                    [
                        String(entry.seq), Timestamps.iso8601(entry.timestampMs), entry.kind.rawValue, Self.signed(entry), entry.grantID ?? "",
                        entry.reservationID ?? "", entry.eventID ?? "", entry.customer ?? "", entry.keyID ?? "", entry.note ?? "",
                    ]
                })
            if shown.count < every.count { print("(last \(shown.count) of \(every.count) lines; the sums below cover all of them)") }
            print("")
            var sums: [LedgerEntry.Kind: Money] = [:]
            for entry in every { sums[entry.kind, default: .zero] += entry.amount }
            print("sums: " + LedgerEntry.Kind.allCases.map { "\($0.rawValue) \(sums[$0] ?? .zero)" }.joined(separator: ", "))
            print(
                "granted \(balance.granted) − spent \(balance.spent) − expired \(balance.expired) − reserved \(balance.reserved)"
                    + " = available \(balance.available) \(balance.currency)")
            if balance.upcoming > .zero { print("(granted leaves out \(balance.upcoming) of grants not in effect yet)") }
        }

        /// The amount as it moves what is available: grants and releases add, the rest takes away.
        private static func signed(_ entry: LedgerEntry) -> String {
            ([.grant, .release, .creditBack].contains(entry.kind) ? "+" : "-") + entry.amount.description
        }
    }

    /// `tollgate credits true-up --customer ID`.
    struct TrueUpPeriod: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "true-up",
            abstract: "True up a customer's credits for a closed period of its billing cycle (serve does it for the last closed one).",
            discussion: """
                Requests spend credits at provisional prices (usage plus the plan's charges at their first rate); the period \
                rates lower on its tiers (a credit back) or higher (a further spend, as far as the credits go). Writes only \
                the change: running it again, or after late events, is safe. docs/CREDITS.md#true-ups.
                """)
        @OptionGroup var options: ConfigOption
        @Option(help: "The customer.") var customer: String
        @Option(help: "The period (2026-11, a date in it, previous); the last closed one by default.") var period: String = "previous"

        func run() async throws {
            let config = try loadConfig(options.config)
            let meter = try openMeter(options.config)
            let rules = config.pricingRules
            let cycle = try await reportingMeterErrors { try await meter.billingCycle(customer: customer, rules: rules).cycle }
            let now = Timestamps.nowMs()
            let named: BillingPeriod
            do { named = try cycle.period(named: period, nowMs: now) } catch { throw ValidationError("--period: \(error.description)") }
            guard named.endMs <= now else {
                throw ValidationError(
                    "--period \(period) is not over (it ends \(Timestamps.iso8601(named.endMs))): a period is trued up once it closes")
            }
            let result = try await reportingMeterErrors {
                try await meter.trueUp(customer: customer, startMs: named.startMs, endMs: named.endMs, rules: rules, nowMs: now)
            }
            guard let result else {
                print("\(customer) has no prepaid credits in its plan's currency: nothing to true up")
                return
            }
            printFields([
                ("customer", result.customer), ("account", result.account), ("period", result.period),
                ("rated (usage and charges)", "\(result.target) \(result.currency)"),
                ("spent on its events", "\(result.spentOnEvents) (not covered: \(result.overdraft))"),
                (
                    "true-up now",
                    result.change == .zero
                        ? "none needed" : result.change < .zero ? "credited back \(.zero - result.change)" : "spent \(result.change)"
                ),
                ("true-ups of the period", result.total.description),
            ])
        }
    }

    /// `tollgate credits void GRANT_ID`.
    struct VoidGrant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "void", abstract: "Void what is left of a grant (a refund, a mistake).")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The grant id (grant_…), as `credits balance` shows it.") var id: String
        @Option(help: "Why, for the ledger.") var note: String?

        func run() async throws {
            let meter = try openMeter(options.config)
            try await reportingMeterErrors { try await meter.voidGrant(id: id, note: note) }
            print("voided \(id)")
        }
    }
}

/// `--customer ID | --team ID`: the credit account a command works on.
struct CreditAccountOption: ParsableArguments {
    @Option(help: "A customer (a team member's balance is its team's).") var customer: String?
    @Option(help: "A team.") var team: String?

    /// The account a grant goes to: the customer's own or the team's (the meter refuses a grant to a team member).
    func grantee() throws -> String {
        switch (customer, team) {
        case (let customer?, nil): return CreditAccountOwner.customer.account(customer)
        case (nil, let team?): return CreditAccountOwner.team.account(team)
        default: throw ValidationError("give either --customer or --team")
        }
    }

    /// The account the customer draws from (its team's when it has one), or the team's.
    func drawnAccount(_ meter: MeterStore) async throws -> String {
        let account = try grantee()
        guard let customer else { return account }
        return try await meter.creditAccount(customer: customer)
    }
}

/// Prints a balance as labelled figures, then its grants in spending order.
func printBalance(_ balance: CreditBalance, customer: String?) {
    let drawnBy = customer.flatMap { balance.account == CreditAccountOwner.customer.account($0) ? nil : " (customer \($0) draws from it)" } ?? ""
    printFields([
        ("account", balance.account + drawnBy), ("currency", balance.currency), ("granted", balance.granted.description),
        ("spent", balance.spent.description), ("expired", balance.expired.description), ("reserved", balance.reserved.description),
        ("available", balance.available.description), ("upcoming", balance.upcoming.description), ("overdraft", balance.overdraft.description),
    ])
    guard !balance.grants.isEmpty else { return }
    print("")
    print("grants, in spending order:")
    let now = Timestamps.nowMs()
    printTable(
        header: ["id", "amount", "remaining", "priority", "effective", "expires", "state", "note"],
        rows: balance.grants.map { grant in
            let state =
                grant.closedReason?.rawValue ?? (grant.effectiveMs > now ? "upcoming" : grant.remaining == .zero ? "spent" : "active")
            return [
                grant.id, grant.amount.description, grant.remaining.description, String(grant.priority), Timestamps.iso8601(grant.effectiveMs),
                grant.expiresMs.map(Timestamps.iso8601) ?? "never", state, grant.note ?? "",
            ]
        })
}
