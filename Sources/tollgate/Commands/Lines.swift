import ArgumentParser
import Foundation
import TollgateCore
import TollgateStore

/// `tollgate lines`: the rated lines of a period, per customer.
struct Lines: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rate a period: per customer, usage lines by model and the plan's charges with their brackets.",
        discussion: """
            Usage lines sum the events' prices; tiered, volume, package and allowance charges, base fees, discounts and \
            minimums are rated on the period's totals under the price-book version in force at the period's start. \
            Amounts are exact; amount_due is rounded half to even to the currency's minor unit. Nothing is written. \
            With --period, each customer is rated over the period of its own billing cycle that the name gives (2026-11: \
            its period starting in November 2026), unless --time-zone asks for calendar months.
            """)

    /// What `--format` takes.
    static let formats = FormatOption(.table, .json, .csv)

    @OptionGroup var options: ConfigOption
    @OptionGroup var range: TimeRangeOptions
    @Option(help: "Only this customer.") var customer: String?
    @Option(help: Lines.formats.help(), transform: Lines.formats.read) var format = Lines.formats.defaultFormat

    func run() async throws {
        let config = try loadConfig(options.config)
        let meter = try openMeter(options.config)
        let rules = config.pricingRules
        // Each customer's billing cycle when --period names one of its periods; one range for everyone otherwise.
        var cycles: [String: BillingCycle] = [:]
        if range.period != nil, range.timeZone == nil {
            for record in try await reportingMeterErrors({ try await meter.customers(only: customer) }) {
                cycles[record.id] = rules.billingCycle(for: record.id, override: record.billingCycle).cycle
            }
            for id in rules.customers.keys where cycles[id] == nil { cycles[id] = rules.billingCycle(for: id).cycle }
        }
        let cycleOf = { (customer: String) in cycles[customer] ?? rules.billingCycle }
        let groups: [BillingCycle?] =
            range.period == nil || range.timeZone != nil
            ? [nil] : Set(customer.map { [cycleOf($0)] } ?? Array(cycles.values) + [rules.billingCycle]).map { Optional($0) }
        var statements: [PeriodStatement] = []
        var bounds: [(fromMs: Int64, toMs: Int64)] = []
        for cycle in groups {
            let (startMs, endMs) = try range.closedBounds(cycle: cycle)
            bounds.append((startMs, endMs))
            var builder = PeriodAggregate.Builder()
            try meter.forEachEvent(customer: customer, fromMs: startMs, toMs: endMs) { event in
                if cycle == nil || cycleOf(event.customer) == cycle { builder.add(event) }
            }
            statements += PeriodRater.statements(aggregates: builder.aggregates, rules: rules, startMs: startMs, endMs: endMs, only: customer)
                .filter { cycle == nil || cycleOf($0.customer) == cycle }
        }
        statements.sort { $0.customer < $1.customer }
        let startMs = bounds.map(\.fromMs).min() ?? 0
        let endMs = bounds.map(\.toMs).max() ?? 0
        switch format {
        case .json: printJSON(["from": Timestamps.iso8601(startMs), "to": Timestamps.iso8601(endMs), "statements": statements.map(statementJSON)])
        case .csv:
            print("customer,period_start,period_end,kind,description,model,meter,price_book,quantity,amount,amount_due,currency,cost,events,brackets")
            for statement in statements {
                for line in statement.lines {
                    let brackets = line.brackets.map {
                        "\($0.label) \($0.from)-\($0.to.map(String.init) ?? ""): \($0.quantity) x \($0.unitPrice) = \($0.amount)"
                    }
                    print(
                        [
                            statement.customer, Timestamps.iso8601(statement.startMs), Timestamps.iso8601(statement.endMs), line.kind.rawValue,
                            line.description,
                            line.model ?? "", line.meter ?? "", line.priceBook ?? "", String(line.quantity), line.amount.description,
                            line.amountDue.description, line.currency, line.cost.description, String(line.events), brackets.joined(separator: "; "),
                        ].map(CSV.cell).joined(separator: ","))
                }
            }
        default:
            if statements.isEmpty { print("no events and no plan charges from \(Timestamps.iso8601(startMs)) to \(Timestamps.iso8601(endMs))") }
            for statement in statements {
                print(
                    "\(statement.customer) — \(Timestamps.iso8601(statement.startMs)) to \(Timestamps.iso8601(statement.endMs)) — \(statement.priceBook)"
                )
                var rows: [[String]] = []
                for line in statement.lines {
                    rows.append([
                        line.kind.rawValue, line.description, String(line.quantity), line.amount.description, line.amountDue.description,
                        line.currency,
                    ])
                    for bracket in line.brackets {
                        let range = "\(bracket.from)–\(bracket.to.map(String.init) ?? "")"
                        rows.append([
                            "", "  \(bracket.label) \(range)", String(bracket.quantity), bracket.amount.description, "", "@ \(bracket.unitPrice)",
                        ])
                    }
                }
                printTable(header: ["kind", "line", "quantity", "amount", "due", "currency"], rows: rows)
                for (currency, total) in statement.totals.sorted(by: { $0.key < $1.key }) {
                    print("total: \(total) \(currency) (due \(statement.totalsDue[currency] ?? .zero))")
                }
                for (currency, cost) in statement.costs.sorted(by: { $0.key < $1.key }) { print("cost:  \(cost) \(currency)") }
                print("")
            }
        }
    }
}

/// A rated period as JSON: lines with their brackets, exact amounts and amounts due (decimal strings).
func statementJSON(_ statement: PeriodStatement) -> [String: Any] {
    [
        "customer": statement.customer, "price_book": statement.priceBook, "events": statement.events,
        "period_start": Timestamps.iso8601(statement.startMs), "period_end": Timestamps.iso8601(statement.endMs),
        "totals": statement.totals.mapValues(\.description), "totals_due": statement.totalsDue.mapValues(\.description),
        "costs": statement.costs.mapValues(\.description),
        "lines": statement.lines.map { line -> [String: Any] in
            var object: [String: Any] = [
                "kind": line.kind.rawValue, "description": line.description, "quantity": line.quantity, "amount": line.amount.description,
                "amount_due": line.amountDue.description, "currency": line.currency, "cost": line.cost.description, "events": line.events,
            ]
            if let model = line.model { object["model"] = model }
            if let meter = line.meter { object["meter"] = meter }
            if let book = line.priceBook { object["price_book"] = book }
            if let usage = line.usage {
                object["usage"] = [
                    "input_tokens": usage.inputTokens, "cache_read_tokens": usage.cacheReadTokens, "cache_write_tokens": usage.cacheWriteTokens,
                    "output_tokens": usage.outputTokens, "reasoning_tokens": usage.reasoningTokens,
                ]
            }
            if !line.brackets.isEmpty {
                object["brackets"] = line.brackets.map(\.jsonObject)
            }
            return object
        },
    ]
}
