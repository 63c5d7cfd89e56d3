import Foundation
import Testing

@testable import TollgateConfiguration
@testable import TollgateCore

/// `LiteLLMImport` on a hand-made slice of LiteLLM's table (Fixtures/litellm/sample.json): what is mapped and how,
/// what is left out, flagged, rounded and adjusted, and that the catalog loads as a provider file.
@Suite("LiteLLM import")
struct LiteLLMImportTests {
    static let fixture: Data = {
        guard let url = Bundle.module.resourceURL?.appendingPathComponent("Fixtures/litellm/sample.json"),
            let data = FileManager.default.contents(atPath: url.path)
        else { fatalError("missing fixture Fixtures/litellm/sample.json") }
        return data
    }()

    static func imported() throws -> LiteLLMImport.Output {
        try LiteLLMImport.convert(fixture, sourceName: "sample.json")
    }

    /// The catalog the import wrote, read back the way `tollgate quote --catalog` reads it.
    static func prices() throws -> [String: ModelPrice] {
        let output = try imported()
        return try ProviderSpec.parse(yaml: output.yaml, file: "litellm.yaml").catalog(currency: "USD").latest.models
    }

    static func price(_ model: String) throws -> ModelPrice {
        try #require(try prices()[model], "\(model) is in the catalog")
    }

    static func rate(_ text: String) throws -> Money { try perMillionRate(text) }

    static func unit(_ text: String) throws -> Money { try #require(Money(text)) }

    @Test("every entry but sample_spec is either mapped or listed as unmapped, with the reason")
    func mappedAndUnmapped() throws {
        let report = try Self.imported().report
        #expect(report.source == "sample.json")
        #expect(report.entries == 19)
        #expect(report.mapped == 14)
        let reasons = Dictionary(uniqueKeysWithValues: report.unmapped.map { ($0.model, $0.reason) })
        #expect(
            reasons == [
                "dall-e-test": "no per-token price; priced by output_cost_per_image",
                "whisper-test": "no per-token price; priced by input_cost_per_second, output_cost_per_second",
                "free-image-test": "token rates are all 0; priced by output_cost_per_image",
                "no-price-test": "no price",
                "not-an-object": "not an object (a number)",
            ])
        #expect(report.unmapped.map(\.model) == report.unmapped.map(\.model).sorted())
        #expect(report.unmapped.first { $0.model == "dall-e-test" }?.mode == "image_generation")
        #expect(try Self.prices().count == 14)
        #expect(try Self.prices()["sample_spec"] == nil)
    }

    @Test("standard rates, 1-hour cache writes, batch rates, web search and limits map to the catalog's classes")
    func standardRates() throws {
        let claude = try Self.price("claude-test-4-5")
        #expect(claude.rates[.input] == (try Self.rate("3")))
        #expect(claude.rates[.output] == (try Self.rate("15")))
        #expect(claude.rates[.cacheRead] == (try Self.rate("0.3")))
        #expect(claude.rates[.cacheWrite] == (try Self.rate("3.75")))
        #expect(claude.rates[.cacheWrite1h] == (try Self.rate("6")))
        #expect(claude.rates[.webSearch] == (try Self.unit("0.01")))
        #expect(claude.maxInputTokens == 200_000)
        #expect(claude.maxOutputTokens == 64000, "a limit written as a string")
        let batch = try #require(claude.serviceTiers["batch"])
        #expect(batch.rates[.input] == (try Self.rate("1.5")))
        #expect(batch.rates[.output] == (try Self.rate("7.5")))
        #expect(batch.rates[.cacheWrite] == (try Self.rate("1.875")))
        #expect(claude.longContext.isEmpty)
        // 1000 input at 3, 100 output at 15, 60 five-minute writes at 3.75, 40 one-hour writes at 6.
        let usage = TokenUsage(inputTokens: 1000, cacheWriteTokens: 100, cacheWrite1hTokens: 40, outputTokens: 100)
        #expect(claude.cost(of: usage).total == Money("0.004965"))
        #expect(try Self.price("gemini/test-pro").maxOutputTokens == 65536, "a limit written as 65536.0")
    }

    @Test("above-threshold keys become long-context tiers, service-tier keys tiers with their own long context")
    func longContextAndServiceTiers() throws {
        let gemini = try Self.price("gemini/test-pro")
        let long = try #require(gemini.longContext.first)
        #expect(gemini.longContext.count == 1)
        #expect(long.threshold == 200_000 && !long.inclusive)
        #expect(long.rates[.input] == (try Self.rate("2.5")))
        #expect(long.rates[.output] == (try Self.rate("15")))
        #expect(long.rates[.cacheRead] == (try Self.rate("0.25")))
        let priority = try #require(gemini.serviceTiers["priority"])
        #expect(priority.rates[.input] == (try Self.rate("2.25")))
        #expect(priority.longContext.map(\.threshold) == [200_000])
        #expect(priority.longContext.first?.rates[.input] == (try Self.rate("4.5")))
        #expect(gemini.serviceTiers["flex"]?.rates[.input] == (try Self.rate("0.625")))
        // Priority above 200k: input 4.5, output 27 (and reasoning at the tier's output rate, see below).
        let usage = TokenUsage(inputTokens: 200_001, outputTokens: 1000, reasoningTokens: 400)
        #expect(gemini.cost(of: usage, serviceTier: "priority").total == Money("0.9270045"))
        // Exactly at the threshold is below it.
        #expect(gemini.cost(of: TokenUsage(inputTokens: 200_000)).total == Money("0.25"))
    }

    @Test("xAI thresholds are inclusive: `from:`")
    func xaiInclusive() throws {
        let output = try Self.imported()
        #expect(output.yaml.contains("- {from: 200000, input: \"2.5\", output: \"5\", cache_read: \"0.4\"}"))
        let grok = try Self.price("xai/test-grok")
        #expect(grok.longContext.first?.inclusive == true)
        #expect(grok.cost(of: TokenUsage(inputTokens: 200_000)).total == Money("0.5"))
        #expect(grok.cost(of: TokenUsage(inputTokens: 199_999)).total == Money("0.24999875"))
    }

    @Test("rates are LiteLLM's floats as shortest decimals, exact per million, rounded half to even past 9 decimals")
    func rounding() throws {
        let model = try Self.price("rounding-test")
        #expect(model.rates[.input] == (try Self.rate("1.1")), "1.1000000000000001e-06 is the float 1.1e-06")
        #expect(model.rates[.output] == (try Self.rate("1")), "1.0000000005 rounds to even")
        #expect(model.rates[.reasoning] == (try Self.rate("1.000000002")), "1.0000000015 rounds to even")
        #expect(model.rates[.cacheRead] == (try Self.rate("0.000000001")))
        #expect(model.rates[.cacheWrite] == (try Self.rate("15.00002")))
        let rounded = try Self.imported().report.rounded.filter { $0.model == "rounding-test" }
        #expect(
            rounded.map { "\($0.key)=\($0.value)→\($0.written)" }.sorted() == [
                "cache_creation_input_token_cost=1.5000020000000002e-05→15.00002",
                "cache_read_input_token_cost=7.5e-16→0.000000001",
                "output_cost_per_reasoning_token=1.0000000015e-06→1.000000002",
                "output_cost_per_token=1.0000000005e-06→1",
            ])
        #expect(try Self.imported().report.roundedEntries == 1)
    }

    @Test("suspicious prices are kept and flagged")
    func flags() throws {
        let flagged = Dictionary(uniqueKeysWithValues: try Self.imported().report.flagged.map { ($0.model, $0.issues) })
        let suspicious = try #require(flagged["suspicious-test"])
        #expect(suspicious.contains("cache_write_1h 1 is below the 5-minute cache_write 1.25"))
        #expect(suspicious.contains("cache_read 2 is above input 1"))
        #expect(suspicious.contains("above 128000 tokens input 0.5 is below the base 1"))
        #expect(suspicious.contains("batch input 2 is above the standard 1"))
        #expect(suspicious.contains("output is 0 while input is 1 for a chat model"))
        #expect(flagged["absurd-test"] == ["absurd rate over 1000 per million tokens: input 2000, output 4000"])
        #expect(
            flagged["negative-test"] == [
                "cache_read_input_token_cost is not a number (\"abc\"); left out",
                "input_cost_per_token is negative (-1e-06); left out",
                "input is 0 while output is 0.3 for a chat model",
            ])
        #expect(
            flagged["bedrock/anthropic.claude-cheap-write"] == [
                "cache_write 1 is below input 3 for a Claude model (cache writes cost more)"
            ])
        #expect(flagged["claude-test-4-5"] == nil)
        #expect(flagged["per-request-test"] == nil, "a per-request model may have a zero input rate")
        // Kept: the negative input is left out, the string output read as LiteLLM reads it.
        let negative = try Self.price("negative-test")
        #expect(negative.rates[.input] == nil)
        #expect(negative.rates[.output] == (try Self.rate("0.3")))
        #expect(try Self.price("suspicious-test").maxInputTokens == nil)
        let notes = try Self.imported().report.adjusted.first { $0.model == "suspicious-test" }?.notes
        #expect(notes == ["max_input_tokens left out: 0 is not a whole number of tokens between 1 and 100000000"])
    }

    @Test("LiteLLM's billing rules: fireworks cache reads, output at the image rate, reasoning in a tier")
    func litellmRules() throws {
        #expect(try Self.price("fireworks_ai/accounts/fireworks/models/test").rates[.cacheRead] == (try Self.rate("0.45")))
        let image = try Self.price("gpt-image-test")
        #expect(image.rates[.output] == (try Self.rate("40")))
        #expect(image.rates[.outputImage] == (try Self.rate("40")))
        let flash = try Self.price("flash-test")
        #expect(flash.rates[.reasoning] == (try Self.rate("2.5")))
        #expect(flash.serviceTiers["flex"]?.rates[.reasoning] == (try Self.rate("1.25")))
        #expect(try Self.price("gemini/test-pro").serviceTiers["priority"]?.longContext.first?.rates[.reasoning] == (try Self.rate("27")))
        let adjusted = Set(try Self.imported().report.adjusted.map(\.model))
        #expect(
            adjusted.isSuperset(of: [
                "fireworks_ai/accounts/fireworks/models/test", "gpt-image-test", "flash-test", "gemini/test-pro", "dashscope/test-tiered",
            ]))
        #expect(!adjusted.contains("claude-test-4-5"))
    }

    @Test("tiered_pricing becomes a base price and long-context tiers that set every class the tier changes")
    func tieredPricing() throws {
        let model = try Self.price("dashscope/test-tiered")
        #expect(model.rates[.input] == (try Self.rate("0.05")))
        #expect(model.rates[.output] == (try Self.rate("0.4")))
        #expect(model.rates[.cacheRead] == (try Self.rate("0.01")))
        let long = try #require(model.longContext.first)
        #expect(model.longContext.count == 1 && long.threshold == 256_000 && !long.inclusive)
        #expect(long.rates[.input] == (try Self.rate("0.25")))
        #expect(long.rates[.output] == (try Self.rate("2")))
        #expect(long.rates[.cacheRead] == (try Self.rate("0.25")), "the upper tier has no cache-read rate: its input rate")
        let usage = TokenUsage(inputTokens: 250_000, cacheReadTokens: 10_000, outputTokens: 1000)
        #expect(model.cost(of: usage).total == Money("0.067"))
    }

    @Test("ignored price keys are listed, model names are kept exactly (quoted)")
    func ignoredKeysAndNames() throws {
        let output = try Self.imported()
        #expect(output.report.ignored.first { $0.model == "gemini/test-pro" }?.keys == ["off_peak_pricing"])
        #expect(output.report.ignoredKeys["off_peak_pricing"] == 1)
        #expect(output.yaml.contains(#"  "odd \"key\": #1 *": {input: "1", output: "2"}"#))
        let odd = try #require(try Self.prices()["odd \"key\": #1 *"])
        #expect(odd.rates[.output] == (try Self.rate("2")))
        #expect(try Self.price("per-request-test").rates[.perRequest] == (try Self.unit("0.005")))
    }

    @Test("the output is deterministic and says what it is")
    func header() throws {
        let first = try Self.imported()
        let second = try LiteLLMImport.convert(Array(Self.fixture), sourceName: "sample.json")
        #expect(first.yaml == second.yaml)
        #expect(first.report == second.report)
        #expect(first.yaml.hasPrefix("# LiteLLM's price table as a Tollgate catalog, generated by tollgate rates import-litellm from sample.json."))
        #expect(first.yaml.contains("# 19 entries read: 14 mapped, 5 unmapped, 4 flagged, 1 rounded"))
        let keys = first.yaml.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { String($0) }
        #expect(keys == keys.sorted())
    }

    @Test("invalid JSON fails with its place; JSON that is not an object of models fails too")
    func invalidInput() {
        #expect(throws: LiteLLMImport.Failure.self) {
            try LiteLLMImport.convert(Array("{\n  \"a\": {\"input_cost_per_token\": 1e-6,}\n}".utf8), sourceName: "x")
        }
        do {
            _ = try LiteLLMImport.convert(Array("{\n  \"a\": [1, 2\n}".utf8), sourceName: "x")
            Issue.record("no error")
        } catch {
            #expect(error.description.hasPrefix("not valid JSON: expected ',' or ']' at line 3"))
        }
        do {
            _ = try LiteLLMImport.convert(Array("[1]".utf8), sourceName: "x")
            Issue.record("no error")
        } catch {
            #expect(error.description.contains("expected a JSON object of models"))
        }
        #expect(throws: LiteLLMImport.Failure.self) { try LiteLLMImport.convert([], sourceName: "x") }
        #expect((try? LiteLLMImport.convert(Array("{}".utf8), sourceName: "x"))?.yaml.hasSuffix("prices: {}\n") == true)
    }

    @Test(
        "exact decimals: parsing, scaling, half-even rounding, plain notation",
        arguments: [
            ("3e-06", 6, 9, "3", false),
            ("1.1e-06", 6, 9, "1.1", false),
            ("1.5000020000000002e-05", 6, 9, "15.00002", true),
            ("2.5e-16", 6, 9, "0", true),
            ("7.5e-16", 6, 9, "0.000000001", true),
            ("1.0000000025e-06", 6, 9, "1.000000002", true),
            ("9.9999999995e-07", 6, 9, "1", true),
            ("0.035", 0, 15, "0.035", false),
            ("1e+16", 0, 15, "10000000000000000", false),
            ("5.0", 6, 9, "5000000", false),
            ("-0.0", 6, 9, "0", false),
            ("123.4500", -2, 9, "1.2345", false),
        ])
    func exactDecimals(text: String, shift: Int, places: Int, expected: String, changed: Bool) throws {
        let decimal = try #require(ExactDecimal(text))
        let result = decimal.shifted(by: shift).rounded(toFractionDigits: places)
        #expect(result.value.plain == expected)
        #expect(result.changed == changed)
    }

    @Test("exact decimals refuse what is not a number; shortest form of a double")
    func exactDecimalEdges() {
        for text in ["", "e5", "1e", "1.2.3", "abc", "1e1234567", "0x10", "--1"] { #expect(ExactDecimal(text) == nil, "\(text)") }
        #expect(ExactDecimal(shortestOf: 0.1 + 0.2)?.plain == "0.30000000000000004")
        #expect(ExactDecimal(shortestOf: .infinity) == nil)
        #expect(ExactDecimal("-12.5")?.plain == "-12.5")
    }

    @Test("YAML keys are double-quoted with escapes")
    func quoting() {
        #expect(LiteLLMImport.yamlQuoted("gpt-4o") == "\"gpt-4o\"")
        #expect(LiteLLMImport.yamlQuoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(LiteLLMImport.yamlQuoted("tab\there\u{1}") == #""tab\there\u0001""#)
    }
}
