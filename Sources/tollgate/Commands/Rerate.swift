import ArgumentParser
import Foundation
import TollgateCore
import TollgateStore

/// `tollgate rerate`: what stored history would have earned under a draft price book. Nothing stored changes.
struct Rerate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Price stored events under a draft price book and compare revenue and margin with what was charged.",
        discussion: """
            Every event from --from to --to is priced again under the draft book (its version in force at the event's \
            time), with each customer's own terms (rate overrides, discounts) kept and holds on old versions dropped; \
            the draft's period charges are rated on the whole range as one period (use whole months). "Charged" is the \
            same range rated under the books in force. The meter is only read.
            """)

    @OptionGroup var options: ConfigOption
    @Option(name: .customLong("price-book"), help: "The draft price book file.") var priceBook: String
    @OptionGroup var range: TimeRangeOptions
    @Option(help: "Only this customer.") var customer: String?
    @Option(help: FormatOption.tableOrJSON.help(), transform: FormatOption.tableOrJSON.read)
    var format = FormatOption.tableOrJSON.defaultFormat

    func run() async throws {
        let (startMs, endMs) = try range.closedBounds()
        let config = try loadConfig(options.config)
        let draft = try loadPriceBook(priceBook)
        let actualRules = config.pricingRules
        var draftRules = actualRules
        draftRules.priceBooks[draft.name] = draft
        draftRules.defaultPriceBook = draft.name
        for (id, var terms) in draftRules.customers {
            terms.priceBook = draft.name
            terms.hold = nil
            draftRules.customers[id] = terms
        }
        var actual = PeriodAggregate.Builder()
        var drafted = PeriodAggregate.Builder()
        let meter = try openMeter(options.config)
        try meter.forEachEvent(customer: customer, fromMs: startMs, toMs: endMs) { event in
            actual.add(event)
            let models = [event.servedModel, event.model].compactMap { $0 }
            let priced = draftRules.price(
                customer: event.customer, usage: event.usage, cost: event.cost, costCurrency: event.currency, models: models,
                serviceTier: event.serviceTier,
                at: event.timestampMs, billable: event.isBillable)
            drafted.add(event, price: priced.price, priceBook: priced.label, priceCurrency: priced.currency)
        }
        let before = PeriodRater.statements(aggregates: actual.aggregates, rules: actualRules, startMs: startMs, endMs: endMs, only: customer)
        let after = PeriodRater.statements(aggregates: drafted.aggregates, rules: draftRules, startMs: startMs, endMs: endMs, only: customer)
        let draftByCustomer = Dictionary(after.map { ($0.customer, $0) }, uniquingKeysWith: { first, _ in first })
        var rows: [[String: Any]] = []
        var table: [[String]] = []
        for statement in before {
            let draftStatement = draftByCustomer[statement.customer]
            let (charged, chargedCurrency) = statement.total
            let (revenue, draftCurrency) = draftStatement?.total ?? (.zero, draft.currency)
            let cost = statement.costs[chargedCurrency] ?? statement.costs.values.first ?? .zero
            let draftCost = statement.costs[draftCurrency] ?? cost
            rows.append([
                "customer": statement.customer, "events": statement.events, "cost": cost.description,
                "charged": charged.description, "charged_currency": chargedCurrency, "charged_margin": (charged - cost).description,
                "draft_revenue": revenue.description, "draft_currency": draftCurrency, "draft_margin": (revenue - draftCost).description,
                "change": chargedCurrency == draftCurrency ? (revenue - charged).description : NSNull(),
                "price_book_before": statement.priceBook, "price_book_draft": draftStatement?.priceBook ?? draft.name,
            ])
            table.append([
                statement.customer, String(statement.events), cost.description, "\(charged) \(chargedCurrency)", (charged - cost).description,
                "\(revenue) \(draftCurrency)", (revenue - draftCost).description,
                chargedCurrency == draftCurrency ? (revenue - charged).description : "n/a",
            ])
        }
        if format == .json {
            printJSON([
                "from": Timestamps.iso8601(startMs), "to": Timestamps.iso8601(endMs), "draft": draft.name, "customers": rows,
            ])
        } else {
            print("draft '\(draft.name)' (\(priceBook)) from \(Timestamps.iso8601(startMs)) to \(Timestamps.iso8601(endMs)); nothing stored changes")
            printTable(header: ["customer", "events", "cost", "charged", "margin", "draft revenue", "draft margin", "change"], rows: table)
        }
    }
}

/// Reads a price book file or exits with its `FILE:LINE: message`.
func loadPriceBook(_ path: String) throws -> PriceBook {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("cannot read the price book \(path)")
    }
    do {
        return try PriceBookFile.parse(yaml: text, file: path, name: ((path as NSString).lastPathComponent as NSString).deletingPathExtension)
    } catch {
        throw refusal(error.description, exitCode: ExitCode(2))
    }
}
