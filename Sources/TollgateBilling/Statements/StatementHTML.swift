import Foundation
import TollgateCore
import TollgateStore

/// A customer statement as one self-contained, printable HTML page: inline CSS, no script, nothing fetched.
///
/// Every value from the meter or the config is HTML-escaped. Every money cell carries `data-value` with the exact
/// decimal it shows (the amount due cells the rounded amount, exactly), and quantity cells carry their integer, so a
/// program can check the page without parsing display text. Rows are marked for the same purpose: `tr.line`
/// (`data-line="L1"`, `data-kind`), `tr.bracket` (`data-line` of its line), `tr.total` (`data-currency`), and the
/// appendix's `tr.event` (`data-line`, `data-event`).
public enum StatementHTML {
    /// The page; `csvHref` and `eventsCSVHref`, when given, are links to the statement's CSV files (hidden in print).
    public static func render(_ statement: CustomerStatement, csvHref: String? = nil, eventsCSVHref: String? = nil) -> String {
        var page = Page()
        let who = statement.customerName.map { "\($0) (\(statement.customer))" } ?? statement.customer
        page.add("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        page.add("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        page.add("<title>Statement — \(htmlEscaped(who)) — \(htmlEscaped(periodLabel(statement)))</title>\n<style>\(css)</style>\n</head>\n<body>\n")
        header(statement, who: who, into: &page)
        if csvHref != nil || eventsCSVHref != nil {
            page.add("<p class=\"downloads\">")
            if let csvHref { page.add("<a href=\"\(htmlEscaped(csvHref))\">Lines (CSV)</a> ") }
            if let eventsCSVHref { page.add("<a href=\"\(htmlEscaped(eventsCSVHref))\">Events (CSV)</a>") }
            page.add("</p>\n")
        }
        lines(statement, into: &page)
        credits(statement, into: &page)
        appendix(statement, into: &page)
        page.add("</body>\n</html>\n")
        return page.text
    }

    // MARK: - Sections

    static func header(_ statement: CustomerStatement, who: String, into page: inout Page) {
        page.add("<header>\n<h1>Statement</h1>\n<dl class=\"facts\">\n")
        func fact(_ name: String, _ value: String, _ attribute: String) {
            page.add("<dt>\(name)</dt><dd \(attribute)>\(value)</dd>\n")
        }
        fact("Customer", htmlEscaped(who), "id=\"customer\" data-value=\"\(htmlEscaped(statement.customer))\"")
        fact(
            "Period",
            "\(htmlEscaped(periodLabel(statement))): \(htmlEscaped(Timestamps.iso8601(statement.startMs))) to "
                + "\(htmlEscaped(Timestamps.iso8601(statement.endMs))) (end excluded)",
            "id=\"period\" data-start=\"\(htmlEscaped(Timestamps.iso8601(statement.startMs)))\" data-end=\"\(htmlEscaped(Timestamps.iso8601(statement.endMs)))\""
        )
        fact("Price book", htmlEscaped(statement.rated.priceBook), "id=\"price-book\"")
        fact("Currency", htmlEscaped(statement.currency), "id=\"currency\"")
        fact("Events", String(statement.events.count), "id=\"event-count\" data-value=\"\(statement.events.count)\"")
        fact("Issued", htmlEscaped(Timestamps.iso8601(statement.generatedMs)), "id=\"issued\"")
        page.add("</dl>\n</header>\n")
    }

    static func lines(_ statement: CustomerStatement, into page: inout Page) {
        page.add("<section id=\"charges\">\n<h2>Charges</h2>\n")
        guard !statement.lines.isEmpty else {
            page.add("<p>No charges in this period.</p>\n</section>\n")
            return
        }
        page.add("<table class=\"lines\">\n<thead><tr><th>Ref</th><th>Description</th><th>Quantity</th><th>Unit price</th>")
        page.add("<th>Amount (exact)</th><th>Amount due</th><th>Currency</th></tr></thead>\n<tbody>\n")
        let main = statement.lines.filter { [.usage, .charge, .baseFee].contains($0.rated.kind) }
        for line in main { lineRows(line, into: &page) }
        page.add("</tbody>\n<tfoot>\n")
        for currency in statement.currencies {
            let mainLines = main.filter { $0.rated.currency == currency }
            let subtotal = mainLines.reduce(Money.zero) { $0 + $1.rated.amount }
            let subtotalDue = mainLines.reduce(Money.zero) { $0 + $1.rated.amountDue }
            page.add("<tr class=\"subtotal\" data-currency=\"\(htmlEscaped(currency))\"><th colspan=\"4\">Subtotal</th>")
            page.add("\(moneyCell(subtotal))\(dueCell(subtotalDue, currency))<td>\(htmlEscaped(currency))</td></tr>\n")
            for line in statement.lines where line.rated.currency == currency && ![.usage, .charge, .baseFee].contains(line.rated.kind) {
                lineRows(line, into: &page)
            }
            let total = statement.rated.totals[currency] ?? .zero
            let due = statement.rated.totalsDue[currency] ?? .zero
            page.add("<tr class=\"total\" data-currency=\"\(htmlEscaped(currency))\"><th colspan=\"4\">Total</th>")
            page.add("\(moneyCell(total))\(dueCell(due, currency))<td>\(htmlEscaped(currency))</td></tr>\n")
            page.add("<tr class=\"amount-due\" data-currency=\"\(htmlEscaped(currency))\"><th colspan=\"5\">Amount due ")
            page.add("<span class=\"note\">(each line rounded half to even to \(minorUnitText(currency)))</span></th>")
            page.add("\(dueCell(due, currency, strong: true))<td>\(htmlEscaped(currency))</td></tr>\n")
        }
        page.add("</tfoot>\n</table>\n")
        page.add(
            "<p class=\"note\">Usage lines are the sums of the events' prices less their provisional share of the plan's period "
                + "charges; each period charge is rated on the period's total, bracket by bracket. The events behind every line "
                + "are listed in the appendix.</p>\n</section>\n")
    }

    static func lineRows(_ line: StatementLine, into page: inout Page) {
        let rated = line.rated
        var description = htmlEscaped(rated.description)
        if rated.kind == .usage, let book = rated.priceBook { description += " <span class=\"note\">usage, \(htmlEscaped(book))</span>" }
        if rated.kind == .charge, let meter = rated.meter { description += " <span class=\"note\">\(htmlEscaped(meter))</span>" }
        page.add("<tr class=\"line\" id=\"line-\(htmlEscaped(line.reference))\" data-line=\"\(htmlEscaped(line.reference))\" ")
        page.add("data-kind=\"\(rated.kind.rawValue)\"><td>\(htmlEscaped(line.reference))</td><td>\(description)</td>")
        page.add("\(quantityCell(rated.quantity))<td></td>\(moneyCell(rated.amount))\(dueCell(rated.amountDue, rated.currency))")
        page.add("<td>\(htmlEscaped(rated.currency))</td></tr>\n")
        for (index, bracket) in rated.brackets.enumerated() {
            page.add("<tr class=\"bracket\" data-line=\"\(htmlEscaped(line.reference))\" data-bracket=\"\(index + 1)\"><td></td>")
            page.add("<td class=\"indent\">\(htmlEscaped(bracketText(bracket)))</td>\(quantityCell(bracket.quantity))")
            page.add("<td class=\"num\" data-value=\"\(bracket.unitPrice.description)\">\(htmlEscaped(unitPriceText(bracket, per: line.per)))</td>")
            page.add("\(moneyCell(bracket.amount))<td></td><td>\(htmlEscaped(rated.currency))</td></tr>\n")
        }
    }

    static func credits(_ statement: CustomerStatement, into page: inout Page) {
        page.add("<section id=\"credits\">\n<h2>Credits and balance</h2>\n")
        guard let credits = statement.credits else {
            page.add("<p>No prepaid credits: nothing was paid from a credit balance.</p>\n</section>\n")
            return
        }
        let currency = credits.currency
        page.add("<table class=\"credits\">\n<tbody>\n")
        func row(_ id: String, _ label: String, _ amount: Money, note: String = "") {
            page.add("<tr id=\"\(id)\"><th>\(label)\(note.isEmpty ? "" : " <span class=\"note\">\(note)</span>")</th>")
            page.add("\(moneyCell(amount))<td>\(htmlEscaped(currency))</td></tr>\n")
        }
        row(
            "credits-applied", "Credits applied", credits.applied,
            note: "spent from prepaid grants on this period's events, at the prices the events carried")
        if credits.overdraft > .zero { row("credits-overdraft", "Not covered by credits", credits.overdraft, note: "overdraft") }
        if credits.trueUp != .zero {
            row(
                "credits-true-up", credits.trueUp < .zero ? "True-up: credited back" : "True-up: spent further", credits.trueUp,
                note: "at the period's close, to what the plan rates the period at (events spent provisional prices)")
        }
        if let after = statement.amountDueAfterCredits {
            page.add("<tr id=\"due-after-credits\"><th>Amount due after credits <span class=\"note\">")
            page.add("amount due less credits applied and the true-up; negative until the period's true-up: in your favour</span></th>")
            page.add("\(dueCell(after, currency, strong: true))<td>\(htmlEscaped(currency))</td></tr>\n")
        }
        page.add("</tbody>\n</table>\n<h3>Balance of \(htmlEscaped(credits.account))</h3>\n<table class=\"credits\">\n<tbody>\n")
        row("balance-opening", "Balance at \(htmlEscaped(Timestamps.iso8601(statement.startMs)))", credits.openingBalance)
        row("credits-granted", "+ granted in the period", credits.granted)
        if credits.creditedBack > .zero { row("credits-credited-back", "+ credited back in the period", credits.creditedBack, note: "true-ups") }
        row("credits-spent", "− spent in the period", credits.spent, note: credits.account.hasPrefix("team:") ? "by every member of the team" : "")
        row("credits-expired", "− expired or voided in the period", credits.expired)
        let closing =
            statement.endMs <= statement.generatedMs
            ? "Balance at \(htmlEscaped(Timestamps.iso8601(statement.endMs)))"
            : "Balance at \(htmlEscaped(Timestamps.iso8601(statement.generatedMs))) <span class=\"note\">the period is not over</span>"
        row("balance-closing", closing, credits.closingBalance)
        row(
            "balance-current", "Current balance", credits.current.available,
            note: "available now, as of \(htmlEscaped(Timestamps.iso8601(credits.currentAsOfMs))); holds of requests in flight: "
                + "\(htmlEscaped(credits.current.reserved.description))")
        page.add("</tbody>\n</table>\n")
        if !credits.movements.isEmpty {
            page.add(
                "<table class=\"movements\">\n<thead><tr><th>Time</th><th>Movement</th><th>Grant</th><th>Amount</th><th>Note</th></tr></thead>\n<tbody>\n"
            )
            for movement in credits.movements {
                let sign = movement.kind == .grant || movement.kind == .creditBack ? movement.amount : .zero - movement.amount
                page.add(
                    "<tr class=\"movement\" data-kind=\"\(htmlEscaped(movement.kind.rawValue))\"><td>\(htmlEscaped(Timestamps.iso8601(movement.timestampMs)))</td>"
                )
                page.add(
                    "<td>\(htmlEscaped(movement.kind.rawValue))</td><td class=\"mono\">\(htmlEscaped(movement.grantID ?? ""))</td>\(moneyCell(sign))")
                page.add("<td>\(htmlEscaped(movement.note ?? ""))</td></tr>\n")
            }
            page.add("</tbody>\n</table>\n")
        }
        page.add(
            "<p class=\"note\">Balances are sums over the credit ledger: grants from when they take effect, spends when they were "
                + "settled, expiries at the grant's expiry time. The balance excludes holds of requests in flight.</p>\n</section>\n")
    }

    static func appendix(_ statement: CustomerStatement, into page: inout Page) {
        page.add("<section id=\"events\" class=\"appendix\">\n<h2>Appendix: the events behind each line</h2>\n")
        page.add(
            "<p class=\"note\">Each event is one request through Tollgate. Match them with your own logs by event id (returned in "
                + "the response's <code>x-tollgate-event-id</code> header where available), by the provider's request id, or by "
                + "your Idempotency-Key. Times are UTC.</p>\n")
        var any = false
        for line in statement.lines where !line.items.isEmpty {
            any = true
            let rated = line.rated
            page.add("<h3 id=\"events-\(htmlEscaped(line.reference))\">\(htmlEscaped(line.reference)) — \(htmlEscaped(rated.description)) ")
            page.add("<span class=\"note\">\(line.items.count) event\(line.items.count == 1 ? "" : "s"), ")
            page.add(rated.kind == .usage ? "quantity: billable requests" : "quantity: \(htmlEscaped(rated.meter ?? "units"))")
            page.add("</span></h3>\n<table class=\"events\">\n<thead><tr><th>Event</th><th>Time</th><th>Key</th><th>Model</th>")
            page.add("<th>Status</th><th>Input</th><th>Cache read</th><th>Cache write</th><th>Output</th><th>Reasoning</th>")
            page.add("<th>Units</th><th>Price</th>\(rated.kind == .usage ? "<th>Line amount</th>" : "")<th>Idempotency key</th>")
            page.add("<th>Request id</th></tr></thead>\n<tbody>\n")
            for item in line.items {
                let event = statement.event(item)
                page.add("<tr class=\"event\" data-line=\"\(htmlEscaped(line.reference))\" data-event=\"\(htmlEscaped(event.id))\">")
                page.add(
                    "<td class=\"mono\">\(htmlEscaped(event.id))</td><td class=\"mono\">\(htmlEscaped(EventFields.timestamp(event.timestampMs)))</td>"
                )
                page.add("<td class=\"mono\">\(htmlEscaped(event.keyID))</td><td>\(htmlEscaped(modelText(event)))</td>\(quantityCell(event.status))")
                for tokens in [
                    event.usage.inputTokens, event.usage.cacheReadTokens, event.usage.cacheWriteTokens, event.usage.outputTokens,
                    event.usage.reasoningTokens,
                ] {
                    page.add(quantityCell(tokens))
                }
                page.add("\(quantityCell(item.units))\(moneyCell(event.price))")
                if rated.kind == .usage { page.add(moneyCell(event.usageAmount)) }
                page.add(
                    "<td class=\"mono\">\(htmlEscaped(event.idempotencyKey ?? ""))</td><td class=\"mono\">\(htmlEscaped(event.requestID ?? ""))</td></tr>\n"
                )
            }
            page.add("</tbody>\n</table>\n")
        }
        if !any { page.add("<p>No events in this period.</p>\n") }
        page.add("</section>\n")
    }

    // MARK: - Cells and text

    /// A money cell: the exact decimal, shown and in `data-value`.
    static func moneyCell(_ amount: Money) -> String {
        "<td class=\"num\" data-value=\"\(amount.description)\">\(amount.description)</td>"
    }

    /// A rounded amount: shown with every digit of the currency's minor unit (`0.40`), exact in `data-value`.
    static func dueCell(_ amount: Money, _ currency: String, strong: Bool = false) -> String {
        let text = minorUnitDisplay(amount, currency)
        return "<td class=\"num due\" data-value=\"\(amount.description)\">\(strong ? "<strong>\(text)</strong>" : text)</td>"
    }

    static func quantityCell(_ quantity: Int) -> String {
        "<td class=\"num\" data-value=\"\(quantity)\">\(grouped(quantity))</td>"
    }

    /// `12.3` as `12.30` for a 2-digit currency: the digits of the minor unit, padded.
    static func minorUnitDisplay(_ amount: Money, _ currency: String) -> String {
        let digits = Currency.minorUnits(currency)
        var text = amount.rounded(toDigits: digits).description
        guard digits > 0 else { return text }
        if !text.contains(".") { text += "." }
        let fraction = text.count - 1 - (text.firstIndex(of: ".").map { text.distance(from: text.startIndex, to: $0) } ?? 0)
        return text + String(repeating: "0", count: max(0, digits - fraction))
    }

    static func minorUnitText(_ currency: String) -> String {
        let digits = Currency.minorUnits(currency)
        return digits == 0 ? "whole units" : "\(digits) decimals"
    }

    /// `1234567` as `1,234,567`.
    static func grouped(_ number: Int) -> String {
        let digits = String(number.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (number < 0 ? "-" : "") + out
    }

    /// `tier 1,001–10,000`, `tier 10,001 and above`, `included 1–100,000`, `packages of 1000: 3 packages, units 1–…`.
    static func bracketText(_ bracket: ChargeRating.Bracket) -> String {
        let range = bracket.to.map { "\(grouped(bracket.from))–\(grouped($0))" } ?? "\(grouped(bracket.from)) and above"
        if let blocks = bracket.blocks { return "\(bracket.label): \(grouped(blocks)) package\(blocks == 1 ? "" : "s"), units \(range)" }
        return "\(bracket.label) \(range)"
    }

    static func unitPriceText(_ bracket: ChargeRating.Bracket, per: Int) -> String {
        if bracket.blocks != nil { return "\(bracket.unitPrice.description) per package" }
        return per == 1 ? bracket.unitPrice.description : "\(bracket.unitPrice.description) per \(grouped(per))"
    }

    static func modelText(_ event: StatementEvent) -> String {
        guard let served = event.servedModel, let requested = event.model, served != requested else { return event.displayModel }
        return "\(requested) → \(served)"
    }

    /// `2026-11` for a calendar month (UTC); for a period of the customer's billing cycle its first and last local day
    /// and the time zone; else the range's first and last day (UTC).
    static func periodLabel(_ statement: CustomerStatement) -> String {
        if let cycle = statement.billingCycle, cycle != .calendarMonthUTC {
            let first = cycle.localDate(of: statement.startMs)
            let last = cycle.localDate(of: statement.endMs - 1)
            return (first == last ? first : "\(first) – \(last)") + (cycle.timeZone == "UTC" ? "" : " (\(cycle.timeZone))")
        }
        let month = Timestamps.monthName(of: statement.startMs)
        if let range = Timestamps.month(month), range.startMs == statement.startMs, range.endMs == statement.endMs { return month }
        let last = Timestamps.date(of: statement.endMs - 1)
        let first = Timestamps.date(of: statement.startMs)
        return first == last ? first : "\(first) – \(last)"
    }

    /// The page being written.
    struct Page {
        var text = ""
        mutating func add(_ piece: String) { text += piece }
    }

    static let css = """
        body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1b1f24;margin:2rem auto;max-width:1200px;padding:0 1rem}
        h1{font-size:1.6rem;margin:0 0 .5rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
        h3{font-size:1rem;margin:1.2rem 0 .4rem}
        dl.facts{display:grid;grid-template-columns:max-content auto;gap:.15rem 1rem;margin:0}dl.facts dt{color:#57606a}dl.facts dd{margin:0}
        table{border-collapse:collapse;width:100%;margin:.3rem 0}th,td{padding:.25rem .5rem;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
        thead th{background:#f6f8fa;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        table.credits,table.movements{width:auto;min-width:50%}table.credits th{font-weight:normal}
        tr.line td{font-weight:600}tr.bracket td{color:#424a53;font-size:.92em}td.indent{padding-left:2rem}
        tr.subtotal th,tr.total th,tr.amount-due th{text-align:right}tr.total td,tr.total th{border-top:2px solid #1b1f24}
        tr.amount-due td,tr.amount-due th{font-size:1.05em}.note{color:#57606a;font-weight:normal;font-size:.88em}
        .mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}
        table.events{font-size:.85em}.downloads a{margin-right:1rem}
        @media print{body{margin:0;max-width:none;font-size:11px}.downloads{display:none}section.appendix{page-break-before:always}
        h3{page-break-after:avoid}tr{page-break-inside:avoid}thead{display:table-header-group}}
        """
}

/// The statement page of a customer for [`startMs`, `endMs`) under `rules` (HTML, `text/html; charset=utf-8`), for the
/// dashboard's `/dashboard/customers/{id}/statement`. Throws ``MeterError/notFound(what:id:detail:)`` for an unknown
/// customer (no events in the period, no record, no terms) and ``MeterError/rejected(_:)`` for an empty period.
public func statementPage(
    meter: MeterStore, rules: PricingRules, customer: String, startMs: Int64, endMs: Int64, csvHref: String? = nil, eventsCSVHref: String? = nil
) async throws -> String {
    let statement = try await meter.customerStatement(customer: customer, startMs: startMs, endMs: endMs, rules: rules)
    return StatementHTML.render(statement, csvHref: csvHref, eventsCSVHref: eventsCSVHref)
}
