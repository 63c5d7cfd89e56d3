import ArgumentParser
import Foundation
import TollgateBilling
import TollgateCore
import TollgateStore

/// `tollgate statement`: a customer's statement for a period.
struct Statement: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A customer's statement for a period: rated lines with their brackets, credits, balance and the events behind each line.",
        discussion: """
            html (default): a self-contained printable page. csv: one row per line and per bracket, with totals. \
            events-csv: the events behind each line (event id, time, model, tokens, price, idempotency key, request id), \
            to check against your own logs. json: all of it. Lines are rated as `tollgate lines` rates them; amounts are \
            exact, amounts due rounded half to even to the currency's minor unit. docs/STATEMENTS.md explains each figure.
            """)

    /// What `--format` takes.
    static let formats = FormatOption(.html, .csv, .eventsCSV, .json)

    @OptionGroup var options: ConfigOption
    @Option(help: "The customer.") var customer: String
    @OptionGroup var range: TimeRangeOptions
    @Option(help: Statement.formats.help(), transform: Statement.formats.read) var format = Statement.formats.defaultFormat
    @Option(help: "Write to this file instead of standard output.") var output: String?

    func run() async throws {
        let config = try loadConfig(options.config)
        let meter = try openMeter(options.config)
        let cycle = try await reportingMeterErrors { try await meter.billingCycle(customer: customer, rules: config.pricingRules).cycle }
        let (startMs, endMs) = try range.closedBounds(cycle: cycle)
        var statement: CustomerStatement
        do {
            statement = try await meter.customerStatement(customer: customer, startMs: startMs, endMs: endMs, rules: config.pricingRules)
        } catch {
            throw refusal(error.description)
        }
        if range.period != nil, range.timeZone == nil { statement.billingCycle = cycle }
        let text: String
        switch format {
        case .csv: text = StatementCSV.lines(statement)
        case .eventsCSV: text = StatementCSV.events(statement)
        case .json: text = Self.jsonText(statement)
        default: text = StatementHTML.render(statement)
        }
        if let output {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output))
            } catch {
                throw refusal("cannot write \(output): \(error.localizedDescription)")
            }
        } else {
            print(text, terminator: "")
        }
    }

    /// The statement as one JSON object (money as decimal strings; no provider cost, which is not the customer's).
    static func jsonText(_ statement: CustomerStatement) -> String {
        var object = statementJSON(statement.rated)
        object["costs"] = nil
        object["name"] = statement.customerName ?? NSNull()
        object["period_start"] = Timestamps.iso8601(statement.startMs)
        object["period_end"] = Timestamps.iso8601(statement.endMs)
        object["billing_cycle"] = statement.billingCycle?.description ?? NSNull()
        object["currency"] = statement.currency
        object["total"] = statement.total.description
        object["amount_due"] = statement.amountDue.description
        object["amount_due_after_credits"] = statement.amountDueAfterCredits?.description ?? NSNull()
        object["issued"] = Timestamps.iso8601(statement.generatedMs)
        let rendered = (object["lines"] as? [[String: Any]]) ?? []
        object["lines"] = zip(statement.lines, rendered).map { line, json -> [String: Any] in
            var json = json
            json["cost"] = nil
            json["reference"] = line.reference
            json["per"] = line.per
            json["event_count"] = line.items.count
            json["events"] = line.items.map { item -> [String: Any] in
                var entry: [String: Any] = ["id": statement.event(item).id, "units": item.units]
                if line.rated.kind == .usage { entry["line_amount"] = statement.event(item).usageAmount.description }
                return entry
            }
            return json
        }
        object["event_details"] = statement.events.map { event -> [String: Any] in
            [
                "id": event.id, "timestamp": EventFields.timestamp(event.timestampMs), "key_id": event.keyID, "model": event.model ?? NSNull(),
                "served_model": event.servedModel ?? NSNull(), "status": event.status, "input_tokens": event.usage.inputTokens,
                "cache_read_tokens": event.usage.cacheReadTokens, "cache_write_tokens": event.usage.cacheWriteTokens,
                "output_tokens": event.usage.outputTokens, "reasoning_tokens": event.usage.reasoningTokens, "price": event.price.description,
                "price_currency": event.priceCurrency, "idempotency_key": event.idempotencyKey ?? NSNull(), "request_id": event.requestID ?? NSNull(),
            ]
        }
        if let credits = statement.credits {
            object["credits"] =
                [
                    "account": credits.account, "currency": credits.currency, "applied": credits.applied.description,
                    "overdraft": credits.overdraft.description, "true_up": credits.trueUp.description,
                    "opening_balance": credits.openingBalance.description, "granted": credits.granted.description,
                    "credited_back": credits.creditedBack.description, "spent": credits.spent.description, "expired": credits.expired.description,
                    "closing_balance": credits.closingBalance.description,
                    "current": [
                        "available": credits.current.available.description, "reserved": credits.current.reserved.description,
                        "as_of": Timestamps.iso8601(credits.currentAsOfMs),
                    ],
                    "movements": credits.movements.map { movement -> [String: Any] in
                        [
                            "kind": movement.kind.rawValue, "time": Timestamps.iso8601(movement.timestampMs), "amount": movement.amount.description,
                            "grant_id": movement.grantID ?? NSNull(), "note": movement.note ?? NSNull(),
                        ]
                    },
                ] as [String: Any]
        } else {
            object["credits"] = NSNull()
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
