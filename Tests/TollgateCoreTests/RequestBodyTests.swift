import Foundation
import Testing

@testable import TollgateCore

/// One reading of the body: the members that decide routing, price and admission are read as the provider reads
/// them (escapes decoded, numbers by value), or the request is refused.
@Suite("Request body")
struct RequestBodyTests {
    private func read(_ json: String, _ layout: RequestLayout = .openAI) throws(RequestError) -> RequestBody {
        try RequestBody(Array(json.utf8), layout: layout)
    }

    @Test("escaped keys are the keys they spell: model, stream and limits cannot hide behind \\u escapes")
    func escapedKeys() throws {
        let body = try read(#"{"mod\u0065l":"o3-pro","\u0073tream":true,"max_\u0074okens":9,"\u006e":2}"#)
        #expect(body.model == "o3-pro" && body.stream == true && body.maxOutputTokens == 9 && body.choices == 2)
        let opted = try APIName.openAIChat.wireFormat.prepare(
            body: Array(#"{"mod\u0065l":"gpt-4o","stre\u0061m":true}"#.utf8), options: RequestOptions(acceptsStreamUsageOption: true))
        #expect(opted.model == "gpt-4o" && opted.stream && opted.injectedStreamUsage, "the usage opt-in is added to an escaped stream")
    }

    @Test(
        "a member that matters, named twice (however spelled), is refused with its name",
        arguments: [
            (#"{"model":"gpt-4o-mini","model":"o3-pro"}"#, "model"),
            (#"{"model":"gpt-4o-mini","mod\u0065l":"o3-pro"}"#, "model"),
            (#"{"stream":false,"stream":true}"#, "stream"),
            (#"{"max_tokens":5,"max_tokens":50000}"#, "max_tokens"),
            (#"{"stream":true,"stream_options":{"include_usage":true,"include_usage":false}}"#, "stream_options.include_usage"),
            (#"{"stream_options":{"include_usage":true},"stream_options":{"include_usage":false}}"#, "stream_options"),
            (#"{"previous_response_id":"a","previous_response_id":null}"#, "previous_response_id"),
            (#"{"store":false,"st\u006fre":true}"#, "store"),
        ])
    func duplicates(_ json: String, _ member: String) {
        #expect(throws: RequestError.duplicateMember(member)) { try read(json) }
    }

    @Test("what decides who owns a stored answer is read in the same one reading: store, background, previous response")
    func storedAnswers() throws {
        let prepared = try read(#"{"model":"m","st\u006fre":false,"background":true,"previous_response_id":"resp_1"}"#).prepared(stream: false)
        #expect(prepared.store == false && prepared.background && prepared.previousResponseID == "resp_1")
        let plain = try read(#"{"model":"m","store":null,"previous_response_id":null}"#).prepared(stream: false)
        #expect(plain.store == nil && !plain.background && plain.previousResponseID == nil)
        #expect(try read(#"{"store":true}"#).prepared(stream: false).store == true)
    }

    @Test("duplicates elsewhere (inside messages, in members that do not matter) are the provider's business")
    func harmlessDuplicates() throws {
        let body = try read(#"{"model":"m","messages":[{"model":"x","model":"y"}],"user":"a","user":"b","metadata":{"n":1,"n":2}}"#)
        #expect(body.model == "m" && body.choices == 1)
    }

    @Test("a Gemini config named twice in two spellings counts the larger limit; twice in one spelling is refused")
    func geminiSpellings() throws {
        let both = try read(#"{"generationConfig":{"maxOutputTokens":10},"generation_config":{"max_output_tokens":900}}"#, .gemini)
        #expect(both.maxOutputTokens == 900)
        #expect(throws: RequestError.duplicateMember("generationConfig")) {
            try read(#"{"generationConfig":{"maxOutputTokens":10},"generationConfig":{"candidateCount":4}}"#, .gemini)
        }
    }

    @Test(
        "limits are read by value; the largest limit present bounds the answer, the largest count multiplies it",
        arguments: [
            (#"{"max_tokens":1e3}"#, 1000, 1), (#"{"max_tokens":1000.0}"#, 1000, 1), (#"{"max_tokens":1.5E+3}"#, 1500, 1),
            (#"{"max_tokens":100,"max_completion_tokens":4000}"#, 4000, 1), (#"{"max_output_tokens":7,"n":3,"best_of":5}"#, 7, 5),
            (#"{"max_tokens":null,"n":null}"#, nil, 1), (#"{"max_tokens":-1}"#, nil, 1), (#"{"max_tokens":0}"#, nil, 1),
        ] as [(String, Int?, Int)])
    func limits(_ json: String, _ limit: Int?, _ choices: Int) throws {
        let body = try read(json)
        #expect(body.maxOutputTokens == limit && body.choices == choices)
    }

    @Test(
        "a limit that is not a whole number, or a model, stream or tier of the wrong type, is refused",
        arguments: [
            (#"{"max_tokens":2.5}"#, RequestError.invalidField("max_tokens", "must be a whole number")),
            (#"{"max_tokens":"64"}"#, .invalidField("max_tokens", "must be a whole number")),
            (#"{"max_tokens":1e400}"#, .invalidField("max_tokens", "must be a whole number")),
            (#"{"n":true}"#, .invalidField("n", "must be a whole number")),
            (#"{"model":5}"#, .invalidField("model", "must be a string")),
            (#"{"stream":"true"}"#, .invalidField("stream", "must be a boolean")),
            (#"{"service_tier":1}"#, .invalidField("service_tier", "must be a string")),
            (#"{"background":"yes"}"#, .invalidField("background", "must be a boolean")),
            (#"{"store":"yes"}"#, .invalidField("store", "must be a boolean")),
            (#"{"stream_options":true}"#, .invalidField("stream_options", "must be an object")),
        ])
    func wrongTypes(_ json: String, _ error: RequestError) {
        #expect(throws: error) { try read(json) }
    }

    @Test("images are counted wherever they are; stored content, documents and retrieval tools make the prompt unbounded")
    func promptParts() throws {
        let chat = try read(
            #"{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hi"},"#
                + #"{"type":"image_url","image_url":{"url":"https://x/a.png"}},{"t\u0079pe":"image_url","image_url":{"url":"data:"}}]}]}"#)
        #expect(chat.imageParts == 2 && chat.unboundedInput == nil)
        #expect(chat.prepared(stream: false).imageInputTokens == 2 * 3_779)
        #expect(
            try read(#"{"model":"gpt-4o-mini","input":[{"type":"input_image","image_url":"x"}]}"#).prepared(stream: false).imageInputTokens == 48_169)
        let claude = try read(#"{"messages":[{"content":[{"type":"image","source":{"type":"base64","data":""}}]}]}"#, .messages)
        #expect(claude.prepared(stream: false).imageInputTokens == 1_600)
        let gemini = try read(#"{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":""}}]}]}"#, .gemini)
        #expect(gemini.imageParts == 1 && gemini.unboundedInput == nil)
        let converse = try read(#"{"messages":[{"content":[{"image":{"format":"png","source":{"bytes":""}}}]}]}"#, .bedrockConverse)
        #expect(converse.imageParts == 1)
        for json in [
            #"{"previous_response_id":"resp_1"}"#, #"{"conversation":"conv_1"}"#, #"{"prompt":{"id":"pmpt_1"}}"#,
            #"{"input":[{"type":"input_file","file_id":"file-1"}]}"#, #"{"messages":[{"content":[{"type":"document"}]}]}"#,
            #"{"tools":[{"type":"web_search_preview"}]}"#, #"{"tools":[{"type":"file_search","vector_store_ids":["v"]}]}"#,
        ] {
            #expect(try read(json).unboundedInput != nil, "\(json)")
        }
        #expect(try read(#"{"prompt":"Say this is a test"}"#).unboundedInput == nil, "Completions' prompt is text")
        #expect(try read(#"{"cachedContent":"cachedContents/abc"}"#, .gemini).unboundedInput != nil)
        #expect(try read(#"{"contents":[{"parts":[{"fileData":{"fileUri":"gs://x","mimeType":"video/mp4"}}]}]}"#, .gemini).unboundedInput != nil)
        #expect(try read(#"{"contents":[{"parts":[{"inlineData":{"mimeType":"audio/mp3","data":""}}]}]}"#, .gemini).unboundedInput != nil)
        #expect(try read(#"{"tools":[{"googleSearch":{}}]}"#, .gemini).unboundedInput != nil)
        #expect(try read(#"{"messages":[{"content":[{"document":{"name":"a","source":{}}}]}]}"#, .bedrockConverse).unboundedInput != nil)
    }

    @Test(
        "whole numbers by value, exactly",
        arguments: [
            ("0", 0), ("-0", 0), ("12", 12), ("1e3", 1000), ("1E+3", 1000), ("2.50e1", 25), ("100.000", 100), ("-7", -7),
            ("999999999999999", 999_999_999_999_999),
        ] as [(String, Int)])
    func wholeNumbers(_ text: String, _ value: Int) {
        #expect(JSONNumber.wholeNumber(Array(text.utf8)) == value)
    }

    @Test(
        "fractions, out-of-range numbers and non-numbers are not whole numbers",
        arguments: [
            "2.5", "1e-1", "1e16", "1e400", "01", "1.", ".5", "+1", "1e", "--1", "0x10", "NaN", "Infinity", "\"1\"", "", "1 ",
        ])
    func notWholeNumbers(_ text: String) {
        #expect(JSONNumber.wholeNumber(Array(text.utf8)) == nil)
    }
}

/// Differential check: random bodies (escaped keys, duplicates, whitespace, numbers in every spelling, values of the
/// wrong type, the same keys nested where they do not count) read by Tollgate and by a reference JSON parser
/// (Foundation's) with the generator's own account of what each member means: Tollgate must agree or refuse.
@Suite("Request body: differential")
struct RequestBodyDifferentialTests {
    /// A generated value: its JSON text and what a provider reads in it.
    private enum Meaning: Equatable {
        case string(String), bool(Bool), null, whole(Int), fraction, outOfRange, other
    }

    private struct Member {
        var key: String
        var text: String
        var meaning: Meaning
    }

    private static let watched = ["model", "stream", "max_tokens", "max_completion_tokens", "max_output_tokens", "n"]
    private static let noise = ["messages", "temperature", "user", "metadata", "modelx", "Model", "streams"]

    @Test("a member without a value is refused, not given the usage opt-in a second time")
    func memberWithoutValue() throws {
        // fuzz/regressions/FuzzRequestBody/: the rewritten body named stream_options twice.
        let body = #"{"model": "gpt-5-nano", "stream": true, "stream_options", "temperature": 1}"#
        #expect(throws: RequestError.invalidJSON("the object is not well-formed or is cut short")) {
            try RequestBody(Array(body.utf8), layout: .openAI)
        }
        #expect(throws: RequestError.invalidJSON("the object is not well-formed or is cut short")) {
            try OpenAIChatFormat(api: .openAIChat).prepare(body: Array(body.utf8), options: RequestOptions(acceptsStreamUsageOption: true))
        }
    }

    @Test("2,000 random bodies: Tollgate reads what the reference parser reads, or refuses")
    func differential() throws {
        var random = SeededGenerator(seed: 0x7011_6A7E)
        var accepted = 0
        var refused = 0
        for round in 0..<2_000 {
            var members: [Member] = []
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let key = Bool.random(using: &random) ? Self.watched.randomElement(using: &random)! : Self.noise.randomElement(using: &random)!
                let (text, meaning) = Self.value(for: key, using: &random)
                members.append(Member(key: key, text: text, meaning: meaning))
            }
            if Int.random(in: 0..<6, using: &random) == 0, let first = members.first(where: { Self.watched.contains($0.key) }) {
                let (text, meaning) = Self.value(for: first.key, using: &random)
                members.insert(Member(key: first.key, text: text, meaning: meaning), at: Int.random(in: 0...members.count, using: &random))
            }
            let json = Self.render(members, using: &random)
            let reference = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            #expect(reference != nil, "the generator wrote invalid JSON: \(json)")
            let expected = Self.expectation(members)
            let actual = Result { () throws(RequestError) in try RequestBody(Array(json.utf8), layout: .openAI) }
            switch (expected, actual) {
            case (.failure(let want), .failure(let got)):
                #expect(want == got, "round \(round): \(json)")
                refused += 1
            case (.success(let want), .success(let got)):
                #expect(want.model == got.model && want.stream == got.stream, "round \(round): \(json)")
                #expect(want.limit == got.maxOutputTokens && want.choices == got.choices, "round \(round): \(json)")
                // The reference parser decodes the model's escapes the same way.
                if let model = got.model, let referenceModel = reference?["model"] as? String { #expect(model == referenceModel) }
                accepted += 1
            case (.success, .failure(let error)):
                Issue.record("round \(round): refused (\(error)) a body the provider reads fine: \(json)")
            case (.failure(let error), .success):
                Issue.record("round \(round): accepted a body that must be refused (\(error)): \(json)")
            }
        }
        #expect(accepted > 400 && refused > 400, "both outcomes are exercised (\(accepted) accepted, \(refused) refused)")
    }

    private struct Reading: Equatable {
        var model: String?
        var stream: Bool?
        var limit: Int?
        var choices: Int
    }

    /// What a careful reader must conclude, in Tollgate's order of checks.
    private static func expectation(_ members: [Member]) -> Result<Reading, RequestError> {
        var seen: Set<String> = []
        for member in members where watched.contains(member.key) {
            if !seen.insert(member.key).inserted { return .failure(.duplicateMember(member.key)) }
        }
        func meaning(_ key: String) -> Meaning? { members.last { $0.key == key }?.meaning }
        var reading = Reading(choices: 1)
        switch meaning("model") {
        case .string(let model): reading.model = model
        case nil, .null: break
        default: return .failure(.invalidField("model", "must be a string"))
        }
        switch meaning("stream") {
        case .bool(let value): reading.stream = value
        case nil, .null: break
        default: return .failure(.invalidField("stream", "must be a boolean"))
        }
        for key in ["max_tokens", "max_completion_tokens", "max_output_tokens", "n"] {
            switch meaning(key) {
            case .whole(let value):
                if key == "n" {
                    // No provider answers more than 128 times to one request: more is refused.
                    if value > 128 { return .failure(.invalidField(key, "must be at most 128")) }
                    reading.choices = max(1, value)
                } else if value > 0 {
                    reading.limit = max(reading.limit ?? 0, value)
                }
            case nil, .null: break
            default: return .failure(.invalidField(key, "must be a whole number"))
            }
        }
        return .success(reading)
    }

    private static func value(for key: String, using random: inout SeededGenerator) -> (String, Meaning) {
        let pick = Int.random(in: 0..<12, using: &random)
        switch (key, pick) {
        case ("model", 0..<7), (_, 0):
            let name = ["gpt-4o-mini", "o3-pro", "gpt-4o", "m\u{e9}", "a/b", "\u{1F600}", ""].randomElement(using: &random)!
            return (escapedString(name, using: &random), .string(name))
        case ("stream", 0..<7), (_, 1):
            let value = Bool.random(using: &random)
            return (String(value), .bool(value))
        case (_, 2): return ("null", .null)
        case (_, 3): return (#"{"model":"x","stream":true,"n":9}"#, .other)
        case (_, 4): return (#"[{"model":"y"}]"#, .other)
        case (_, 5): return (["\"64\"", "\"true\""].randomElement(using: &random)!, .other)
        default:
            let numbers: [(String, Meaning)] = [
                ("16", .whole(16)), ("1e3", .whole(1000)), ("1000.0", .whole(1000)), ("2E+2", .whole(200)), ("-1", .whole(-1)),
                ("0", .whole(0)), ("2.5", .fraction), ("1e-2", .fraction), ("1e30", .outOfRange), ("4096", .whole(4096)),
            ]
            return numbers.randomElement(using: &random)!
        }
    }

    /// A JSON string literal for `text`, each character written plainly or as a `\u` escape at random.
    private static func escapedString(_ text: String, using random: inout SeededGenerator) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            if scalar == "/" && Bool.random(using: &random) {
                out += "\\/"
            } else if Int.random(in: 0..<3, using: &random) == 0 {
                for unit in String(scalar).utf16 { out += String(format: Bool.random(using: &random) ? "\\u%04x" : "\\u%04X", unit) }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func render(_ members: [Member], using random: inout SeededGenerator) -> String {
        func space() -> String { ["", "", " ", "\n", "\t", " \r\n "].randomElement(using: &random)! }
        let parts = members.map { member in space() + escapedString(member.key, using: &random) + space() + ":" + space() + member.text + space() }
        return space() + "{" + parts.joined(separator: ",") + "}" + space()
    }
}

/// What the review of the one reading found, kept as regressions.
@Suite("Request body: hostile inputs")
struct RequestBodyHostileTests {
    @Test("a huge answer count is refused, not multiplied into an overflow")
    func hugeChoices() {
        #expect(throws: RequestError.invalidField("n", "must be at most 128")) {
            try RequestBody(Array(#"{"model":"gpt-4o","max_tokens":16384,"n":562949953421311}"#.utf8), layout: .openAI)
        }
        #expect(throws: RequestError.invalidField("generationConfig.candidateCount", "must be at most 128")) {
            try RequestBody(Array(#"{"generationConfig":{"candidateCount":"100000"}}"#.utf8), layout: .gemini)
        }
    }

    @Test("Ollama reads keys without regard to case (Go's encoding/json): MODEL is model, and both at once are refused")
    func ollamaCase() throws {
        let folded = try RequestBody(Array(#"{"MODEL":"llama3.1:405b","Stream":false,"OPTIONS":{"Num_Predict":64}}"#.utf8), layout: .ollama)
        #expect(folded.model == "llama3.1:405b" && folded.stream == false && folded.maxOutputTokens == 64)
        #expect(throws: RequestError.duplicateMember("model")) {
            try RequestBody(Array(#"{"model":"llama3.2:1b","MODEL":"llama3.1:405b"}"#.utf8), layout: .ollama)
        }
        // Go folds the long s into s: "ſtream" is stream.
        #expect(throws: RequestError.duplicateMember("stream")) {
            try RequestBody(Array("{\"stream\":true,\"\u{17F}tream\":false}".utf8), layout: .ollama)
        }
        #expect(throws: RequestError.duplicateMember("model")) {
            try RequestBody(Array(#"{"model":"a","MODEL":"b"}"#.utf8), layout: .ollama)
        }
        let openAI = try RequestBody(Array(#"{"model":"a","MODEL":"b"}"#.utf8), layout: .openAI)
        #expect(openAI.model == "a", "OpenAI's parsers are case-sensitive: MODEL is another member")
    }

    @Test("stored items pulled into a prompt, and Gemini's retrieval tools, leave the prompt unbounded")
    func moreReferences() throws {
        #expect(try RequestBody(Array(#"{"input":[{"type":"item_reference","id":"msg_1"}]}"#.utf8), layout: .openAI).unboundedInput != nil)
        #expect(try RequestBody(Array(#"{"tools":[{"codeExecution":{}}]}"#.utf8), layout: .gemini).unboundedInput != nil)
        #expect(try RequestBody(Array(#"{"tools":[{"google_maps":{}}]}"#.utf8), layout: .gemini).unboundedInput != nil)
    }

    @Test("a media body that names a member twice is refused; an image request must name its model")
    func mediaBodies() throws {
        let options = RequestOptions(acceptsStreamUsageOption: true, path: "/v1/images/generations")
        #expect(throws: RequestError.duplicateMember("model")) {
            try APIName.openAIImages.wireFormat.prepare(
                body: Array(#"{"model":"dall-e-2","model":"gpt-image-1","prompt":"x"}"#.utf8), options: options)
        }
        #expect(throws: RequestError.self) {
            try APIName.openAIImages.wireFormat.prepare(body: Array(#"{"prompt":"x","quality":"high"}"#.utf8), options: options)
        }
    }
}
