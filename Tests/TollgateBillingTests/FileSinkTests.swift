import Foundation
import Testing
import TollgateCore

@testable import TollgateBilling
@testable import TollgateStore

/// The file sinks: each format's header and rows with exact values, corrections, `{period}` paths, sending twice,
/// a crash between writing and recording, and amount columns that sum to the lines' amounts.
@Suite("File sink")
struct FileSinkTests {
    static let november = Timestamps.month("2026-11")!
    static let october = Timestamps.month("2026-10")!
    /// 2026-11-21T10:00:00.250Z.
    static let usageMs = Timestamps.parse("2026-11-21T10:00:00.250Z")!
    /// 2026-12-03T08:00:00Z: when the correction was staged.
    static let stagedInDecemberMs = Timestamps.parse("2026-12-03T08:00:00Z")!

    /// A line, with the fields a test cares about.
    static func line(
        _ key: String, period: String = "2026-11", meter: String = "usage:gpt-4o|standard@2026-01", version: Int = 0, kind: RatedLine.Kind = .usage,
        description: String = "gpt-4o, \"fast\"", model: String? = "gpt-4o", quantity: Int = 3,
        usage: TokenUsage = TokenUsage(inputTokens: 1000, cacheReadTokens: 200, outputTokens: 500, reasoningTokens: 100),
        amount: String = "0.012345", bracketsJSON: String = "[]", eventIDs: [String] = ["e1", "e2", "e3"], createdMs: Int64? = nil
    ) -> ExportLine {
        let range = Timestamps.month(period)!
        return ExportLine(
            key: "tg_" + String(repeating: "0", count: 40 - key.count) + key, sink: "files", customer: "acme", period: period,
            periodStartMs: range.startMs, periodEndMs: range.endMs, meter: meter, version: version, kind: kind, description: description,
            model: model, quantity: quantity, usage: usage, amount: Money(amount)!, currency: "USD", bracketsJSON: bracketsJSON, eventIDs: eventIDs,
            usageMs: version > 0 ? stagedInDecemberMs : min(usageMs, range.endMs - 1),
            createdMs: createdMs ?? (version > 0 ? stagedInDecemberMs : range.endMs),
            state: .pending, attempts: 0, nextAttemptMs: 0, lastError: nil, sentMs: nil)
    }

    /// A charge line billed 1500 requests at 0.002.
    static let charge = line(
        "c1", meter: "charge:API calls|requests", kind: .charge, description: "API calls", model: nil, quantity: 1500, usage: .zero, amount: "3",
        bracketsJSON: #"[{"amount":"3","from":1,"label":"units","quantity":1500,"unit_price":"0.002"}]"#, eventIDs: ["e4"])
    /// A correction of the usage line: one late request, staged in December.
    static let correction = line(
        "b1", version: 1, description: "gpt-4o (correction 1 of 2026-11)", quantity: 1,
        usage: TokenUsage(inputTokens: 10, outputTokens: 5), amount: "0.001", eventIDs: ["e9"])

    static func sink(_ kind: SinkSettings.Kind, _ path: String) -> FileSink {
        var settings = SinkSettings(name: "files", kind: kind)
        settings.path = path
        return FileSink(settings: settings)
    }

    static func outbound(_ lines: [ExportLine], externalID: String? = "cus_1") -> [OutboundLine] {
        lines.map { OutboundLine(line: $0, externalCustomerID: externalID) }
    }

    static func text(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    /// A CSV file's rows as column → cell dictionaries.
    static func rows(_ path: String) throws -> [[String: String]] {
        let records = CSVRecords.parse(Array(try text(path).utf8))
        guard let header = records.first else { return [] }
        return records.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }

    /// Runs `body` with a fresh folder, removed afterwards.
    static func withFolder(_ body: (String) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-file-sink-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await body(folder)
    }

    // MARK: - Formats

    @Test("CSV: header, then one row per line with exact values and RFC 4180 quoting")
    func csvRows() async throws {
        try await Self.withFolder { folder in
            let path = folder + "/lines.csv"
            let outcomes = await Self.sink(.csv, path).send(Self.outbound([Self.line("a1"), Self.charge]))
            #expect(outcomes == [.sent, .sent])
            let lines = try Self.text(path).split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 4)
            let expected0 = [
                "key,customer,external_customer_id,period,period_start,period_end,meter,kind,description,model,version,correction,",
                "original_period,quantity,input_tokens,cache_read_tokens,cache_write_tokens,output_tokens,reasoning_tokens,amount,",
                "amount_due,currency,brackets,event_count,event_ids,usage_time",
            ].joined()
            #expect(lines[0] == expected0)
            let expected1 = [
                "tg_00000000000000000000000000000000000000a1,acme,cus_1,2026-11,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,",
                "usage:gpt-4o|standard@2026-01,usage,\"gpt-4o, \"\"fast\"\"\",gpt-4o,0,false,,3,1000,200,0,500,100,0.012345,0.01,USD,[],3,",
                "e1 e2 e3,2026-11-21T10:00:00Z",
            ].joined()
            #expect(lines[1] == expected1)
            let expected2 = [
                "tg_00000000000000000000000000000000000000c1,acme,cus_1,2026-11,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,",
                "charge:API calls|requests,charge,API calls,,0,false,,1500,0,0,0,0,0,3,3,USD,",
                "\"[{\"\"amount\"\":\"\"3\"\",\"\"from\"\":1,\"\"label\"\":\"\"units\"\",\"\"quantity\"\":1500,\"\"unit_price\"\":\"\"0.002\"\"}]\",",
                "1,e4,2026-11-21T10:00:00Z",
            ].joined()
            #expect(lines[2] == expected2)
            #expect(lines[3] == "")
        }
    }

    @Test(
        "CSV and FOCUS: a text cell a spreadsheet would run as a formula is neutralised; negative amounts stay numbers",
        arguments: [SinkSettings.Kind.csv, .focus])
    func formulaCells(kind: SinkSettings.Kind) async throws {
        try await Self.withFolder { folder in
            let path = folder + "/lines.csv"
            let hostile = Self.line(
                "f1", meter: "usage:=1+1|standard", description: "=HYPERLINK(\"http://evil.example\")", model: "@SUM(A1)", amount: "-1.50")
            #expect(await Self.sink(kind, path).send(Self.outbound([hostile], externalID: "+cus_1")) == [.sent])
            let text = try Self.text(path)
            #expect(!text.contains(",=") && !text.contains(",@") && !text.contains(",+"))
            #expect(text.contains(",-1.5,") || text.contains(",-1.50,"))
            let row = try #require(try Self.rows(path).first)
            #expect(row.values.contains("'=HYPERLINK(\"http://evil.example\")") || row.values.contains { $0.hasPrefix("'=HYPERLINK") })
            #expect(row.values.contains("'+cus_1"))
            // The key column is read back as written: sending again adds nothing.
            #expect(await Self.sink(kind, path).send(Self.outbound([hostile], externalID: "+cus_1")) == [.sent])
            #expect(try Self.rows(path).count == 1)
        }
    }

    @Test("JSON Lines: one object per line, counts as numbers, money as strings, arrays for brackets and event ids")
    func jsonLines() async throws {
        try await Self.withFolder { folder in
            let path = folder + "/lines.jsonl"
            let outcomes = await Self.sink(.jsonl, path).send(Self.outbound([Self.line("a1"), Self.charge], externalID: nil))
            #expect(outcomes == [.sent, .sent])
            let lines = try Self.text(path).split(separator: "\n")
            #expect(lines.count == 2)
            let expected0 = [
                #"{"key":"tg_00000000000000000000000000000000000000a1","customer":"acme","external_customer_id":null,"period":"2026-11","#,
                #""period_start":"2026-11-01T00:00:00Z","period_end":"2026-12-01T00:00:00Z","meter":"usage:gpt-4o|standard@2026-01","#,
                #""kind":"usage","description":"gpt-4o, \"fast\"","model":"gpt-4o","version":0,"correction":false,"original_period":null,"#,
                #""quantity":3,"input_tokens":1000,"cache_read_tokens":200,"cache_write_tokens":0,"output_tokens":500,"reasoning_tokens":100,"#,
                #""amount":"0.012345","amount_due":"0.01","currency":"USD","brackets":[],"event_count":3,"event_ids":["e1","e2","e3"],"#,
                #""usage_time":"2026-11-21T10:00:00Z"}"#,
            ].joined()
            #expect(lines[0] == expected0)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
            #expect(object["quantity"] as? Int == 1500)
            #expect(object["amount"] as? String == "3")
            #expect(object["model"] is NSNull)
            let brackets = try #require(object["brackets"] as? [[String: Any]])
            #expect(brackets.first?["unit_price"] as? String == "0.002")
            #expect(object["event_ids"] as? [String] == ["e4"])
        }
    }

    @Test("FOCUS: header, costs, periods, categories, quantities and units; null is an empty cell")
    func focusRows() async throws {
        try await Self.withFolder { folder in
            let path = folder + "/focus.csv"
            let fee = Self.line(
                "f1", meter: "base_fee", kind: .baseFee, description: "Base fee", model: nil, quantity: 1, usage: .zero, amount: "20")
            let discount = Self.line(
                "d1", meter: "discount", kind: .discount, description: "Discount", model: nil, quantity: 1, usage: .zero, amount: "-2.5")
            let outcomes = await Self.sink(.focus, path).send(Self.outbound([Self.line("a1"), Self.charge, fee, discount]))
            #expect(outcomes == [.sent, .sent, .sent, .sent])
            let lines = try Self.text(path).split(separator: "\n")
            let expected0 = [
                "BilledCost,EffectiveCost,ListCost,ContractedCost,BillingCurrency,BillingAccountId,BillingPeriodStart,BillingPeriodEnd,",
                "ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,ChargeDescription,ChargeFrequency,ConsumedQuantity,",
                "ConsumedUnit,PricingQuantity,PricingUnit,PricingCategory,ListUnitPrice,ContractedUnitPrice,ServiceName,ServiceCategory,",
                "ResourceId,SubAccountId,InvoiceIssuerName,ProviderName,x_IdempotencyKey,x_Meter,x_Version,x_EventCount,",
                "x_ExternalCustomerId,x_AmountDue",
            ].joined()
            #expect(lines[0] == expected0)
            let expected1 = [
                "0.012345,0.012345,0.012345,0.012345,USD,acme,2026-11-01T00:00:00Z,2026-12-01T00:00:00Z,2026-11-01T00:00:00Z,",
                "2026-12-01T00:00:00Z,Usage,,\"gpt-4o, \"\"fast\"\"\",Usage-Based,1700,Tokens,1700,Tokens,Standard,,,LLM inference,",
                "AI and Machine Learning,gpt-4o,acme,Tollgate,Tollgate,tg_00000000000000000000000000000000000000a1,",
                "usage:gpt-4o|standard@2026-01,0,3,cus_1,0.01",
            ].joined()
            #expect(lines[1] == expected1)
            let rows = try Self.rows(path)
            #expect(rows.count == 4)
            // The charge: its meter's unit, and the single unit price every request was billed at.
            #expect(rows[1]["ChargeCategory"] == "Usage")
            #expect(rows[1]["ConsumedQuantity"] == "1500")
            #expect(rows[1]["ConsumedUnit"] == "Requests")
            #expect(rows[1]["PricingUnit"] == "Requests")
            #expect(rows[1]["ListUnitPrice"] == "0.002")
            #expect(rows[1]["ResourceId"] == "")
            // The base fee: a purchase of one month at its amount, nothing consumed.
            #expect(rows[2]["ChargeCategory"] == "Purchase")
            #expect(rows[2]["ChargeFrequency"] == "Recurring")
            #expect(rows[2]["ConsumedQuantity"] == "")
            #expect(rows[2]["PricingQuantity"] == "1")
            #expect(rows[2]["ListUnitPrice"] == "20")
            // The discount: an adjustment without quantities.
            #expect(rows[3]["ChargeCategory"] == "Adjustment")
            #expect(rows[3]["BilledCost"] == "-2.5")
            #expect(rows[3]["PricingQuantity"] == "")
            #expect(rows[3]["PricingCategory"] == "")
        }
    }

    @Test("A correction is a row of its own in its charge period's file, billed in the month it was staged")
    func correctionRows() async throws {
        try await Self.withFolder { folder in
            for kind in [SinkSettings.Kind.csv, .jsonl, .focus] {
                let path = folder + "/\(kind.rawValue)-{period}.out"
                let sink = Self.sink(kind, path)
                #expect(await sink.send(Self.outbound([Self.line("a1")])) == [.sent])
                #expect(await sink.send(Self.outbound([Self.correction])) == [.sent])
                let file = folder + "/\(kind.rawValue)-2026-11.out"
                #expect(!FileManager.default.fileExists(atPath: folder + "/\(kind.rawValue)-2026-12.out"))
                switch kind {
                case .csv:
                    let rows = try Self.rows(file)
                    #expect(rows.count == 2)
                    #expect(rows[1]["version"] == "1")
                    #expect(rows[1]["correction"] == "true")
                    #expect(rows[1]["original_period"] == "2026-11")
                    #expect(rows[1]["period"] == "2026-11")
                    #expect(rows[1]["amount"] == "0.001")
                    #expect(rows[1]["usage_time"] == "2026-12-03T08:00:00Z")
                    #expect(rows[0]["correction"] == "false")
                case .jsonl:
                    let lines = try Self.text(file).split(separator: "\n")
                    #expect(lines.count == 2)
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
                    #expect(object["correction"] as? Bool == true)
                    #expect(object["original_period"] as? String == "2026-11")
                    #expect(object["version"] as? Int == 1)
                default:
                    let rows = try Self.rows(file)
                    #expect(rows.count == 2)
                    #expect(rows[1]["ChargeClass"] == "Correction")
                    #expect(rows[1]["ChargePeriodStart"] == "2026-11-01T00:00:00Z")
                    #expect(rows[1]["ChargePeriodEnd"] == "2026-12-01T00:00:00Z")
                    #expect(rows[1]["BillingPeriodStart"] == "2026-12-01T00:00:00Z")
                    #expect(rows[1]["BillingPeriodEnd"] == "2027-01-01T00:00:00Z")
                    #expect(rows[1]["BilledCost"] == "0.001")
                    #expect(rows[1]["x_Version"] == "1")
                    #expect(rows[0]["ChargeClass"] == "")
                    #expect(rows[0]["BillingPeriodStart"] == "2026-11-01T00:00:00Z")
                }
            }
        }
    }

    // MARK: - Exactly once

    @Test("Sending the same lines twice (or twice in one batch) writes them once", arguments: [SinkSettings.Kind.csv, .jsonl, .focus])
    func sendTwice(kind: SinkSettings.Kind) async throws {
        try await Self.withFolder { folder in
            let path = folder + "/lines"
            let sink = Self.sink(kind, path)
            let lines = Self.outbound([Self.line("a1"), Self.charge, Self.line("a1")])
            #expect(await sink.send(lines) == [.sent, .sent, .sent])
            let first = try Data(contentsOf: URL(fileURLWithPath: path))
            #expect(await sink.send(lines) == [.sent, .sent, .sent])
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == first)
            // A new line with old ones: only the new one is added.
            #expect(await sink.send(Self.outbound([Self.charge, Self.correction])) == [.sent, .sent])
            let rowCount = try Self.text(path).split(separator: "\n").count - (kind == .jsonl ? 0 : 1)
            #expect(rowCount == 3)
        }
    }

    @Test("A crash leaves a stray half-written temporary file: the resend keeps one row per key and removes it")
    func crashThenResend() async throws {
        try await Self.withFolder { folder in
            let path = folder + "/lines.csv"
            let sink = Self.sink(.csv, path)
            let all = Self.outbound([Self.line("a1"), Self.charge, Self.line("a2", meter: "usage:o3|standard"), Self.correction])
            // The first two went out, then the process died while writing the next file and before the outbox recorded
            // anything: the outbox sends all four again.
            #expect(await sink.send(Array(all.prefix(2))) == [.sent, .sent])
            let before = try Self.text(path)
            let partial = before + String(CSVLineFormat().row(all[2]).prefix(40))
            let stray = folder + "/.lines.csv.tollgate-\(UUID().uuidString).tmp"
            try Data(partial.utf8).write(to: URL(fileURLWithPath: stray))
            #expect(try Self.text(path) == before)

            #expect(await sink.send(all) == [.sent, .sent, .sent, .sent])
            let keys = try Self.rows(path).map { $0["key"] ?? "" }
            #expect(keys == all.map(\.line.key))
            #expect(!FileManager.default.fileExists(atPath: stray))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".tmp") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test("Concurrent sends to one file (two exporters) lose no row and duplicate none")
    func concurrentSends() async throws {
        try await Self.withFolder { folder in
            let path = folder + "/lines.jsonl"
            let lines = (0..<24).map { Self.line("e\($0)", meter: "usage:model-\($0)|standard") }
            await withTaskGroup(of: [SendOutcome].self) { group in
                for (index, line) in lines.enumerated() {
                    // Every line twice, through two sink values, as two exporters would.
                    group.addTask { await Self.sink(.jsonl, path).send(Self.outbound([line, lines[(index + 1) % lines.count]])) }
                }
                for await outcomes in group { #expect(outcomes == [.sent, .sent]) }
            }
            let keys = try Self.text(path).split(separator: "\n").map { text -> String in
                let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                return object?["key"] as? String ?? ""
            }
            #expect(keys.count == lines.count)
            #expect(Set(keys) == Set(lines.map(\.key)))
        }
    }

    @Test("{period} names one file per charge period, in folders created as needed")
    func periodPaths() async throws {
        try await Self.withFolder { folder in
            let sink = Self.sink(.csv, folder + "/exports/{period}/lines-{period}.csv")
            let lines = Self.outbound([Self.line("a1"), Self.line("a0", period: "2026-10"), Self.charge, Self.correction])
            #expect(await sink.send(lines) == [.sent, .sent, .sent, .sent])
            let november = try Self.rows(folder + "/exports/2026-11/lines-2026-11.csv")
            let october = try Self.rows(folder + "/exports/2026-10/lines-2026-10.csv")
            #expect(november.map { $0["key"] ?? "" } == [lines[0], lines[2], lines[3]].map(\.line.key))
            #expect(october.map { $0["key"] ?? "" } == [lines[1].line.key])
            #expect(october.first?["period_start"] == "2026-10-01T00:00:00Z")
        }
    }

    @Test("The amount columns sum to the lines' amounts")
    func amountsSum() async throws {
        try await Self.withFolder { folder in
            let lines = [
                Self.line("a1"), Self.charge, Self.correction, Self.line("a2", meter: "usage:o3|standard", amount: "1234.567890123456789"),
                Self.line("d1", meter: "discount", kind: .discount, description: "Discount", model: nil, quantity: 1, usage: .zero, amount: "-0.75"),
            ]
            let expected = lines.reduce(Money.zero) { $0 + $1.amount }
            #expect(expected == Money("1236.831235123456789"))
            for (kind, column) in [(SinkSettings.Kind.csv, "amount"), (.focus, "BilledCost"), (.focus, "EffectiveCost")] {
                let path = folder + "/sum.\(kind.rawValue)"
                _ = await Self.sink(kind, path).send(Self.outbound(lines))
                let sum = try Self.rows(path).reduce(Money.zero) { $0 + (Money($1[column] ?? "") ?? Money(raw: 1)) }
                #expect(sum == expected, "\(kind) \(column)")
            }
            let path = folder + "/sum.jsonl"
            _ = await Self.sink(.jsonl, path).send(Self.outbound(lines))
            var sum = Money.zero
            for text in try Self.text(path).split(separator: "\n") {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                sum += Money(object["amount"] as? String ?? "") ?? Money(raw: 1)
            }
            #expect(sum == expected)
        }
    }

    // MARK: - Failures

    @Test("A path that is a folder is refused; one that cannot be written is retried; a foreign file is left alone")
    func failures() async throws {
        try await Self.withFolder { folder in
            let line = Self.outbound([Self.line("a1")])
            guard case .rejected(let reason) = await Self.sink(.csv, folder).send(line).first else {
                Issue.record("a folder path must be refused")
                return
            }
            #expect(reason.contains("is a folder"))

            // A file where the folder should be: the parent cannot be created (root ignores permissions, this does not).
            try Data("x".utf8).write(to: URL(fileURLWithPath: folder + "/blocker"))
            guard case .retry(let retryReason, _) = await Self.sink(.csv, folder + "/blocker/lines.csv").send(line).first else {
                Issue.record("an unwritable path must be retried")
                return
            }
            #expect(retryReason.contains("a file is in the way"))

            // A file with another header is not appended to.
            let foreign = folder + "/foreign.csv"
            try Data("date,amount\n2026-11-01,3\n".utf8).write(to: URL(fileURLWithPath: foreign))
            guard case .rejected(let foreignReason) = await Self.sink(.csv, foreign).send(line).first else {
                Issue.record("a foreign file must be refused")
                return
            }
            #expect(foreignReason.contains("not written by this sink"))
            #expect(try Self.text(foreign) == "date,amount\n2026-11-01,3\n")
            let foreignLines = folder + "/foreign.jsonl"
            try Data("not json\n".utf8).write(to: URL(fileURLWithPath: foreignLines))
            guard case .rejected = await Self.sink(.jsonl, foreignLines).send(line).first else {
                Issue.record("a foreign JSON Lines file must be refused")
                return
            }

            // A missing path.
            let pathless = FileSink(settings: SinkSettings(name: "files", kind: .csv))
            guard case .rejected = await pathless.send(line).first else {
                Issue.record("a sink without a path must be refused")
                return
            }
        }
    }

    @Test("The sink's shape: no customer id needed, large batches")
    func shape() {
        let sink = Self.sink(.focus, "/tmp/x.csv")
        #expect(!sink.needsCustomerID)
        #expect(sink.batchLimit >= 1000)
        #expect(sink.format is FOCUSFormat)
        #expect(Self.sink(.jsonl, "/tmp/x").format is JSONLinesFormat)
        #expect(Self.sink(.csv, "/tmp/x").format is CSVLineFormat)
    }
}
