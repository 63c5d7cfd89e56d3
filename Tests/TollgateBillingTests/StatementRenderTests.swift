import Foundation
import Testing
import TollgateCore
import TollgateStore

@testable import TollgateBilling

/// The statement's HTML page and CSV files: escaped, self-contained, every bracket shown, every money cell exact.
@Suite struct StatementRenderTests {
    static let start = Timestamps.parse("2099-11-01")!
    static let end = Timestamps.parse("2099-12-01")!

    static let book = """
        name: calls
        currency: USD
        markup: "1.5"
        charges:
          - name: API calls
            meter: requests
            tiered:
              - {up_to: 2, unit_price: "0.10"}
              - {up_to: 1000, unit_price: "0.07"}
              - {unit_price: "0.05"}
        """

    static func rules() throws -> PricingRules {
        let book = try PriceBookFile.parse(yaml: Self.book, file: "calls.yaml", name: "calls")
        let catalog = PriceCatalog(models: ["gpt-4o": ModelPrice(input: Money.perMillionTokens("2.50")!, output: Money.perMillionTokens("10")!)])
        return PricingRules(catalogs: ["openai": catalog], priceBooks: ["calls": book], defaultPriceBook: "calls")
    }

    static func event(_ id: String, day: Int, model: String, idempotencyKey: String?, rules: PricingRules) -> UsageEvent {
        let usage = TokenUsage(inputTokens: 1000, outputTokens: 100)
        let timestamp = Self.start + Int64(day) * 86_400_000
        let rating = rules.rate(
            provider: "openai", customer: "acme", usage: usage, servedModel: model, requestedModel: model, serviceTier: nil, at: timestamp)
        return UsageEvent(
            id: id, timestampMs: timestamp, customer: "acme", keyID: "key_1", provider: "openai", route: "openai.chat",
            path: "/v1/chat/completions", model: model, servedModel: model, status: 200, stream: false, usage: usage, latencyMs: 1,
            ttfbMs: nil, upstreamMs: nil, cost: rating.cost, price: rating.price, currency: rating.currency, estimated: false,
            priced: rating.priced, idempotencyKey: idempotencyKey, priceBook: rating.priceBook, requestID: "req_\(id)")
    }

    /// Three gpt-4o calls and one of a model whose name needs escaping, for a customer whose name does too.
    static func statement() async throws -> CustomerStatement {
        let rules = try rules()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-statement-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let meter = try MeterStore(path: directory.appendingPathComponent("meter.db").path)
        try await meter.insert([
            event("evt_a", day: 1, model: "gpt-4o", idempotencyKey: "order-1", rules: rules),
            event("evt_b", day: 2, model: "gpt-4o", idempotencyKey: "<b>\"2\"</b>", rules: rules),
            event("evt_c", day: 3, model: "gpt-4o", idempotencyKey: nil, rules: rules),
            event("evt_d", day: 4, model: "my<model>&'x'", idempotencyKey: "a,b", rules: rules),
        ])
        try await meter.setCustomer(id: "acme", name: "<script>alert(\"x\")</script> & Sons")
        _ = try await meter.grantCredits(account: "customer:acme", amount: Money("5")!, currency: "USD", effectiveMs: Self.start - 1)
        return try await meter.customerStatement(customer: "acme", startMs: Self.start, endMs: Self.end, rules: rules, nowMs: Self.end)
    }

    @Test func htmlIsEscapedAndSelfContained() async throws {
        let html = StatementHTML.render(try await Self.statement())
        #expect(html.hasPrefix("<!doctype html>"))
        #expect(!html.contains("<script"), "no script, and the customer's name is escaped")
        #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons (acme)"))
        #expect(html.contains("my&lt;model&gt;&amp;&#39;x&#39;"))
        #expect(html.contains("&lt;b&gt;&quot;2&quot;&lt;/b&gt;"))
        #expect(!html.contains("<b>"))
        for external in ["http://", "https://", "<link", " src=", "@import", "url("] { #expect(!html.contains(external), "\(external)") }
        #expect(html.contains("<style>"))
        #expect(html.contains("2099-11"))
    }

    @Test("the one HTML escaper: the five characters as references, by scalar, so a combining mark cannot shield a quote")
    func htmlEscaping() {
        #expect(htmlEscaped(#"<b>x"&'y</b>"#) == "&lt;b&gt;x&quot;&amp;&#39;y&lt;/b&gt;")
        #expect(htmlEscaped("caf\u{E9} \u{1F600}") == "caf\u{E9} \u{1F600}")
        // `"` + U+0301 is one Character (not equal to `"`), but still a quote that would end an attribute.
        #expect(htmlEscaped("\"\u{301} onmouseover=x") == "&quot;\u{301} onmouseover=x")
        #expect(htmlEscaped("<\u{338}") == "&lt;\u{338}")
    }

    @Test func htmlShowsEveryBracketAndEveryMoneyCellCarriesItsExactValue() async throws {
        let statement = try await Self.statement()
        let html = StatementHTML.render(statement)
        let charge = try #require(statement.lines.first { $0.rated.kind == .charge })
        // 4 calls: 2 × 0.10 + 2 × 0.07 = 0.34.
        #expect(charge.rated.amount == Money("0.34")!)
        let rows = Self.rows(html, class: "bracket").filter { $0.contains("data-line=\"\(charge.reference)\"") }
        #expect(rows.count == 2)
        #expect(rows[0].contains("tier 1–2") && rows[1].contains("tier 3–1,000"))
        let amounts = rows.map { Self.dataValues($0) }
        // quantity, unit price, amount
        #expect(amounts.map { $0 } == [["2", "0.1", "0.2"], ["2", "0.07", "0.14"]])
        #expect(amounts.reduce(Money.zero) { $0 + Money($1[2])! } == charge.rated.amount)
        // Line rows: quantity, exact amount, amount due.
        let line = try #require(Self.rows(html, class: "line").first { $0.contains("data-line=\"\(charge.reference)\"") })
        #expect(Self.dataValues(line) == ["4", "0.34", "0.34"])
        let total = try #require(Self.rows(html, class: "total").first)
        #expect(Self.dataValues(total) == [statement.total.description, statement.amountDue.description])
        #expect(statement.lines.reduce(Money.zero) { $0 + $1.rated.amount } == statement.total)
        let due = try #require(Self.rows(html, class: "amount-due").first)
        #expect(due.contains(">\(StatementHTML.minorUnitDisplay(statement.amountDue, "USD"))<"))
        // Every numeric cell carries data-value; money ones parse as exact decimals.
        let cells = html.components(separatedBy: "<td class=\"num").dropFirst()
        #expect(cells.count > 20)
        for cell in cells {
            let value = try #require(Self.dataValues("<td class=\"num" + cell.prefix(while: { $0 != ">" }) + ">").first, "\(cell.prefix(60))")
            #expect(Money(value) != nil)
        }
        // Credits: 5 granted before the period, nothing spent in these tests.
        #expect(html.contains("id=\"credits-applied\""))
        #expect(html.contains("id=\"balance-closing\"><th>Balance at 2099-12-01T00:00:00Z</th><td class=\"num\" data-value=\"5\">5</td>"))
        // The appendix lists each event under its usage line and under the charge.
        let events = Self.rows(html, class: "event")
        #expect(events.count == 8)
        #expect(Set(events.compactMap { Self.attribute("data-event", in: $0) }) == ["evt_a", "evt_b", "evt_c", "evt_d"])
    }

    @Test func csvHasOneRowPerLineAndPerBracketThatSumUp() async throws {
        let statement = try await Self.statement()
        let rows = Self.csv(StatementCSV.lines(statement))
        #expect(rows.first == StatementCSV.lineColumns)
        let records = rows.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(StatementCSV.lineColumns, $0)) }
        let lines = records.filter { $0["record"] == "line" }
        let brackets = records.filter { $0["record"] == "bracket" }
        #expect(lines.count == statement.lines.count)
        #expect(brackets.count == 2)
        #expect(brackets.map { $0["description"] } == ["tier 1–2", "tier 3–1,000"])
        #expect(brackets.map { $0["from"] } == ["1", "3"] && brackets.map { $0["to"] } == ["2", "1000"])
        for line in lines where brackets.contains(where: { $0["line"] == line["line"] }) {
            let sum = brackets.filter { $0["line"] == line["line"] }.reduce(Money.zero) { $0 + Money($1["amount"]!)! }
            #expect(sum == Money(line["amount"]!)!)
        }
        let total = try #require(records.first { $0["record"] == "total" })
        #expect(lines.reduce(Money.zero) { $0 + Money($1["amount"]!)! } == Money(total["amount"]!)!)
        #expect(lines.reduce(Money.zero) { $0 + Money($1["amount_due"]!)! } == Money(total["amount_due"]!)!)
        #expect(records.allSatisfy { $0["customer"] == "acme" && $0["period_start"] == "2099-11-01T00:00:00Z" })
        #expect(records.contains { $0["record"] == "credits_applied" && $0["amount"] == "0" })
        #expect(lines.contains { $0["model"] == "my<model>&'x'" }, "CSV keeps values as they are")
    }

    @Test func eventsCSVListsEachLinesEvents() async throws {
        let statement = try await Self.statement()
        let rows = Self.csv(StatementCSV.events(statement))
        #expect(rows.first == StatementCSV.eventColumns)
        let records = rows.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(StatementCSV.eventColumns, $0)) }
        #expect(records.count == statement.lines.reduce(0) { $0 + $1.items.count })
        #expect(Set(records.compactMap { $0["event_id"] }) == Set(statement.events.map(\.id)))
        #expect(records.contains { $0["idempotency_key"] == "a,b" && $0["event_id"] == "evt_d" })
        #expect(records.contains { $0["request_id"] == "req_evt_a" })
        for line in statement.lines where line.rated.kind == .usage {
            let sum = records.filter { $0["line"] == line.reference }.reduce(Money.zero) { $0 + Money($1["line_amount"]!)! }
            #expect(sum == line.rated.amount)
        }
    }

    @Test func minorUnitsAndGrouping() {
        #expect(StatementHTML.minorUnitDisplay(Money("0.4")!, "USD") == "0.40")
        #expect(StatementHTML.minorUnitDisplay(Money("12")!, "EUR") == "12.00")
        #expect(StatementHTML.minorUnitDisplay(Money("-0.155")!, "USD") == "-0.16")
        #expect(StatementHTML.minorUnitDisplay(Money("1200")!, "JPY") == "1200")
        #expect(StatementHTML.minorUnitDisplay(Money("1.5")!, "KWD") == "1.500")
        #expect(StatementHTML.grouped(1_234_567) == "1,234,567" && StatementHTML.grouped(999) == "999" && StatementHTML.grouped(-1000) == "-1,000")
    }

    // MARK: - Reading the output

    /// The `<tr class="NAME" …>…</tr>` rows of a page.
    static func rows(_ html: String, class name: String) -> [String] {
        html.components(separatedBy: "<tr class=\"\(name)\"").dropFirst().map { String($0.prefix { $0 != "\n" }) }
    }

    /// Every `data-value` in a fragment, in order.
    static func dataValues(_ fragment: String) -> [String] {
        fragment.components(separatedBy: "data-value=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
    }

    static func attribute(_ name: String, in fragment: String) -> String? {
        fragment.components(separatedBy: "\(name)=\"").dropFirst().first.map { String($0.prefix { $0 != "\"" }) }
    }

    /// RFC 4180 rows.
    static func csv(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var cell = ""
        var quoted = false
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        cell.append("\"")
                        characters = characters.dropFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    cell.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                row.append(cell)
                cell = ""
            } else if character == "\n" {
                row.append(cell)
                rows.append(row)
                row = []
                cell = ""
            } else {
                cell.append(character)
            }
        }
        return rows
    }
}
