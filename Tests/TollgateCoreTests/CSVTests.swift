import Testing
import TollgateCore

/// The one CSV cell writer: RFC 4180 quoting, and formula cells neutralised (OWASP CSV injection), numbers left alone.
@Suite("CSV")
struct CSVTests {
    @Test(
        "a text cell starting with =, +, -, @, tab or CR gets a ' in front",
        arguments: [
            ("=HYPERLINK(\"http://evil.example\",\"x\")", "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\""),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("-", "'-"),
            ("- 1", "'- 1"),
            ("-1.5.2", "'-1.5.2"),
            ("--1", "'--1"),
            ("1e5x", "1e5x"),
        ])
    func neutralised(_ text: String, _ written: String) {
        #expect(CSV.cell(text) == written)
    }

    @Test(
        "a plain number is written as it is, negative amounts included",
        arguments: ["-1.50", "+3", "-0.000000001", "-2e-7", "1E+5", ".5", "-.5", "12", "0", "-12.", "-3.0000000000000001"])
    func numbers(_ text: String) {
        #expect(CSV.cell(text) == text)
    }

    @Test("ordinary text is left alone; a comma, quote or line break is quoted with quotes doubled")
    func quoting() {
        #expect(CSV.cell("acme") == "acme")
        #expect(CSV.cell("") == "")
        #expect(CSV.cell("a,b") == "\"a,b\"")
        #expect(CSV.cell("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(CSV.cell("two\nlines") == "\"two\nlines\"")
        #expect(CSV.cell("crlf\r\nend") == "\"crlf\r\nend\"")
        #expect(CSV.cell("a=b") == "a=b")
        #expect(CSV.cell(" =1") == " =1")
        #expect(CSV.row(["=1", "-1", "x,y"]) == "'=1,-1,\"x,y\"")
    }

    @Test("event rows go through it: a hostile dimension or model is neutralised, a negative price is not")
    func eventRows() {
        let event = UsageEvent(
            id: "evt_1", timestampMs: 0, customer: "=cmd", keyID: "key_1", provider: "openai", route: "openai.chat", path: "/v1/chat/completions",
            model: "@model", servedModel: nil, status: 200, stream: false, usage: .zero, latencyMs: 1, ttfbMs: nil, upstreamMs: nil,
            cost: Money("-1.50")!, price: Money("-2")!, currency: "USD", estimated: false, priced: true)
        let row = EventFields.csvRow(event)
        #expect(row.contains(",'=cmd,") && row.contains(",'@model,"))
        #expect(row.contains(",-1.5,") || row.contains(",-1.50,"))
    }
}
