import Foundation
import TollgateCore
import TollgateStore

/// A customer statement as CSV (cells written by ``CSV``: RFC 4180 quoting, formulas neutralised; `\n` line ends, a
/// header row): its lines, or the events behind them.
public enum StatementCSV {
    /// The columns of ``lines(_:)``.
    public static let lineColumns = [
        "customer", "period_start", "period_end", "line", "record", "kind", "bracket", "description", "model", "meter", "price_book",
        "from", "to", "quantity", "unit_price", "per", "packages", "amount", "amount_due", "currency", "events",
    ]

    /// The columns of ``events(_:)``.
    public static let eventColumns = [
        "line", "line_kind", "line_description", "event_id", "timestamp", "key_id", "model", "served_model", "status", "input_tokens",
        "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "units", "price", "line_amount", "price_currency",
        "idempotency_key", "request_id",
    ]

    /// One row per rated line (`record` = `line`, `kind` = usage, charge, base_fee, discount or minimum) and, under a
    /// charge, one per bracket (`record` = `bracket`, `bracket` = its number in the line, `description` its label and
    /// range, `amount_due` empty); then per currency one `total` row (exact total and amount due), and, with prepaid
    /// credits, a `credits_applied` row, a `credits_true_up` row when the period's close trued them up (negative: credited
    /// back) and, when the currencies match, an `amount_due_after_credits` row. The
    /// brackets of a line sum to its amount; the lines of a currency to its total.
    public static func lines(_ statement: CustomerStatement) -> String {
        var out = lineColumns.joined(separator: ",") + "\n"
        let start = Timestamps.iso8601(statement.startMs)
        let end = Timestamps.iso8601(statement.endMs)
        func row(_ values: [String: String]) {
            out += lineColumns.map { CSV.cell(values[$0] ?? "") }.joined(separator: ",") + "\n"
        }
        let common = ["customer": statement.customer, "period_start": start, "period_end": end]
        for line in statement.lines {
            let rated = line.rated
            var values = common
            values["line"] = line.reference
            values["record"] = "line"
            values["kind"] = rated.kind.rawValue
            values["description"] = rated.description
            values["model"] = rated.model ?? ""
            values["meter"] = rated.meter ?? ""
            values["price_book"] = rated.priceBook ?? ""
            values["quantity"] = String(rated.quantity)
            values["amount"] = rated.amount.description
            values["amount_due"] = rated.amountDue.description
            values["currency"] = rated.currency
            values["events"] = String(line.items.count)
            row(values)
            for (index, bracket) in rated.brackets.enumerated() {
                var values = common
                values["line"] = line.reference
                values["record"] = "bracket"
                values["kind"] = rated.kind.rawValue
                values["bracket"] = String(index + 1)
                values["description"] = StatementHTML.bracketText(bracket)
                values["meter"] = rated.meter ?? ""
                values["price_book"] = rated.priceBook ?? ""
                values["from"] = String(bracket.from)
                values["to"] = bracket.to.map(String.init) ?? ""
                values["quantity"] = String(bracket.quantity)
                values["unit_price"] = bracket.unitPrice.description
                values["per"] = String(line.per)
                values["packages"] = bracket.blocks.map(String.init) ?? ""
                values["amount"] = bracket.amount.description
                values["currency"] = rated.currency
                row(values)
            }
        }
        for currency in statement.currencies where statement.rated.totals[currency] != nil {
            var values = common
            values["record"] = "total"
            values["description"] = "Total"
            values["amount"] = (statement.rated.totals[currency] ?? .zero).description
            values["amount_due"] = (statement.rated.totalsDue[currency] ?? .zero).description
            values["currency"] = currency
            values["events"] = String(statement.events.count)
            row(values)
        }
        if let credits = statement.credits {
            var values = common
            values["record"] = "credits_applied"
            values["description"] = "Credits applied (\(credits.account))"
            values["amount"] = credits.applied.description
            values["currency"] = credits.currency
            row(values)
            if credits.trueUp != .zero {
                var values = common
                values["record"] = "credits_true_up"
                values["description"] = credits.trueUp < .zero ? "True-up: credited back at the close" : "True-up: spent further at the close"
                values["amount"] = credits.trueUp.description
                values["currency"] = credits.currency
                row(values)
            }
            if let after = statement.amountDueAfterCredits {
                var values = common
                values["record"] = "amount_due_after_credits"
                values["description"] = "Amount due after credits"
                values["amount_due"] = after.description
                values["currency"] = credits.currency
                row(values)
            }
        }
        return out
    }

    /// One row per (line, event): the events behind each line, in the lines' order and time order within a line.
    /// An event appears under its usage line and under every period charge it counts toward. `units` is what the
    /// event adds to the line's quantity; `line_amount` (usage lines) what it adds to the line's amount (its price
    /// less its provisional share of the period charges).
    public static func events(_ statement: CustomerStatement) -> String {
        var out = eventColumns.joined(separator: ",") + "\n"
        for line in statement.lines {
            for item in line.items {
                let event = statement.event(item)
                let cells = [
                    line.reference, line.rated.kind.rawValue, line.rated.description, event.id, EventFields.timestamp(event.timestampMs), event.keyID,
                    event.model ?? "", event.servedModel ?? "", String(event.status), String(event.usage.inputTokens),
                    String(event.usage.cacheReadTokens), String(event.usage.cacheWriteTokens), String(event.usage.outputTokens),
                    String(event.usage.reasoningTokens), String(item.units), event.price.description,
                    line.rated.kind == .usage ? event.usageAmount.description : "", event.priceCurrency, event.idempotencyKey ?? "",
                    event.requestID ?? "",
                ]
                out += cells.map(CSV.cell).joined(separator: ",") + "\n"
            }
        }
        return out
    }
}

/// The statement of a customer for [`startMs`, `endMs`) as CSV (`text/csv; charset=utf-8`): its lines and brackets, or
/// with `events` the events behind each line. For the dashboard's `/dashboard/customers/{id}/statement.csv`.
public func statementCSV(
    meter: MeterStore, rules: PricingRules, customer: String, startMs: Int64, endMs: Int64, events: Bool = false
) async throws -> String {
    let statement = try await meter.customerStatement(customer: customer, startMs: startMs, endMs: endMs, rules: rules)
    return events ? StatementCSV.events(statement) : StatementCSV.lines(statement)
}
