import Testing
import TollgateCore

/// Ollama's native API: `stream` defaults to true; NDJSON streams are framed at any split, their last line
/// (`done: true`) carries the counts; a missing count is unknown, never invented; broken lines are noted and
/// passed over; plain answers and errors are one JSON object.
@Suite("Ollama native API")
struct OllamaTests {
    /// The hand-made answers and streams of /api/chat and /api/generate.
    static let fixtures = RecordedCase.handmadeCases.filter { $0.api == .ollamaChat || $0.api == .ollamaGenerate }

    // MARK: - Fixtures

    @Test("chat and generate, plain and streamed, are all there")
    func fixtureSet() {
        #expect(
            Self.fixtures.map(\.id) == [
                "ollama-chat-json-basic", "ollama-chat-ndjson-stream", "ollama-generate-json-basic", "ollama-generate-ndjson-stream",
            ])
    }

    @Test("usage and served model match expected; the raw usage is the counts and timings", arguments: Self.fixtures)
    func readsExpectedUsage(_ fixture: RecordedCase) throws {
        let request = try fixture.prepare()
        #expect(request.rewrittenBody == nil && !request.injectedStreamUsage)
        #expect(request.model == fixture.requestMembers["model"]?.value as? String)
        #expect(!fixture.meter(for: request).rewrites)
        let run = try expectReadsAsExpected(fixture, rawUsageIsVerbatim: false)
        let raw = try #require(run.reading.rawUsage)
        #expect(raw.hasPrefix(#"{"total_duration":"#) && raw.contains(#","eval_count":\#(fixture.expected.classes.output),"#))
        // Every member kept is the body's own, verbatim.
        let members = raw.dropFirst().dropLast().split(separator: ",")
        #expect(members.count == 6)
        #expect(members.allSatisfy { fixture.body.text.contains($0) })
        if fixture.stream {
            let lines = fixture.body.text.split(separator: "\n")
            #expect(run.reading.contentEvents == lines.count - 1, "every line before the done one")
        }
    }

    // MARK: - Line framing

    @Test("CRLF line ends, blank lines and a last line without its newline read as the plain stream")
    func lineFraming() {
        let fixture = RecordedCase.handmade("ollama-chat-ndjson-stream")
        let plain = ollamaStreamReader().run(fixture.body)
        let variants = [
            fixture.body.text.replacingOccurrences(of: "\n", with: "\r\n"),
            "\n\n" + fixture.body.text.replacingOccurrences(of: "\n", with: "\n \n\t\n"),
            String(fixture.body.text.dropLast()),
        ]
        for variant in variants.map({ Array(utf8: $0) }) {
            let run = ollamaStreamReader().run(variant)
            #expect(run.reading == plain.reading)
            #expect(run.clientBytes == variant)
            expectSplitInvariant(variant, equals: run) { ollamaStreamReader() }
        }
    }

    @Test("a stream cut anywhere: completed, with usage, only once the done line is whole")
    func streamCutAnywhere() throws {
        let fixture = RecordedCase.handmade("ollama-generate-ndjson-stream")
        let body = fixture.body
        let doneStart = try #require(body.text.range(of: #"{"model":"llama3.2","created_at":"2023-08-04T19:22:45"#))
        let start = body.text.utf8.distance(from: body.text.startIndex, to: doneStart.lowerBound)
        let end = body.count - 1  // the done line is whole without its newline
        let firstLineEnd = try #require(body.firstIndex(of: 0x0A))
        for length in 0...body.count {
            let reading = ollamaStreamReader().run([body[..<length]]).reading
            #expect(reading.completed == (length >= end), "cut at \(length)")
            #expect((reading.usage != nil) == (length >= end), "cut at \(length)")
            #expect((reading.note == nil) == (length >= end), "cut at \(length): \(reading.note ?? "")")
            #expect((reading.servedModel != nil) == (length >= firstLineEnd), "cut at \(length)")
        }
        #expect(ollamaStreamReader().run([body[..<start]]).reading.note == "stream ended before the done object")
        #expect(ollamaStreamReader().run([body[..<(start + 10)]]).reading.note == "malformed stream line")
    }

    @Test("a malformed line is noted and passed over; the usage is still read")
    func malformedLine() {
        let stream = ndjson([
            chatLine("The"), #"{"model":"llama3.2","message":{"role":"assistant","content":" sky"#, "not json at all", "{}{}",
            chatLine(" is"), doneLine(#""prompt_eval_count":26,"eval_count":3"#),
        ])
        let run = ollamaStreamReader().run(stream)
        #expect(run.reading.note == "malformed stream line")
        #expect(run.reading.usage == TokenUsage(inputTokens: 26, outputTokens: 3))
        #expect(run.reading.completed)
        #expect(run.reading.contentEvents == 2)
        #expect(run.clientBytes == stream)
        expectSplitInvariant(stream, equals: run) { ollamaStreamReader() }
    }

    @Test("a very long line of garbage is framed like any other and leaves the next lines readable")
    func longGarbageLine() {
        let garbage = String(repeating: "[{\"x\":", count: 30_000)
        let stream = ndjson([chatLine("a"), garbage, doneLine(#""prompt_eval_count":26,"eval_count":3"#)])
        let reading = ollamaStreamReader().run(stream.pieces(cutAt: [100, 70_000, 150_000])).reading
        #expect(reading.usage == TokenUsage(inputTokens: 26, outputTokens: 3))
        #expect(reading.note == "malformed stream line" && reading.completed)
    }

    @Test("unknown members and lines of other shapes are passed over")
    func unknownLines() {
        let plain = ndjson([chatLine("a"), doneLine(#""prompt_eval_count":26,"eval_count":3"#)])
        let stream = ndjson([
            #"{"model":"llama3.2","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"","thinking":"hm"},"done":false,"future":{"usage":{"eval_count":999}}}"#,
            chatLine("a"), doneLine(#""prompt_eval_count":26,"eval_count":3,"future_count":7"#),
        ])
        let reading = ollamaStreamReader().run(stream).reading
        #expect(reading.usage == ollamaStreamReader().run(plain).reading.usage)
        #expect(reading.note == nil && reading.completed && reading.contentEvents == 2)
    }

    // MARK: - Counts

    @Test(
        "a missing count is unknown: 0 in its class and noted; no count at all is no usage",
        arguments: [
            (#""eval_count":12"#, TokenUsage(outputTokens: 12), "no prompt_eval_count: input tokens unknown"),
            (#""prompt_eval_count":null,"eval_count":12"#, TokenUsage(outputTokens: 12), "no prompt_eval_count: input tokens unknown"),
            (#""prompt_eval_count":26"#, TokenUsage(inputTokens: 26), "no eval_count: output tokens unknown"),
            (#""prompt_eval_count":26,"eval_count":"12""#, TokenUsage(inputTokens: 26), "no eval_count: output tokens unknown"),
            (#""prompt_eval_count":26,"eval_count":12"#, TokenUsage(inputTokens: 26, outputTokens: 12), nil),
        ])
    func missingCounts(_ counts: String, _ usage: TokenUsage, _ note: String?) {
        let reading = ollamaStreamReader().run(ndjson([chatLine("a"), doneLine(counts)])).reading
        #expect(reading.usage == usage)
        #expect(reading.note == note)
        #expect(reading.completed)
        #expect(reading.rawUsage == "{" + counts + "}", "the raw usage keeps the values as given")
    }

    @Test("a done line without counts (a model load) has no usage and no note", arguments: [#""total_duration":1"#, #""eval_count":-1"#])
    func noCounts(_ members: String) {
        let reading = ollamaStreamReader().run(ndjson([doneLine(members)])).reading
        #expect(reading.usage == nil && reading.rawUsage == nil)
        #expect(reading.completed && reading.note == nil)
    }

    @Test("an error line mid-stream ends the inference uncompleted, noted")
    func errorLine() {
        let stream = ndjson([chatLine("a"), #"{"error":"an error was encountered while running the model: unexpected EOF"}"#])
        let run = ollamaStreamReader().run(stream)
        #expect(!run.reading.completed && run.reading.usage == nil)
        #expect(run.reading.note == "stream error: an error was encountered while running the model: unexpected EOF")
        var meter = ollamaStreamReader()
        _ = stream.withUnsafeBytes { meter.observe($0) }
        #expect(meter.reachedEnd)
        let late = ollamaStreamReader().run(stream + ndjson([doneLine(#""prompt_eval_count":26,"eval_count":3"#)])).reading
        #expect(!late.completed, "a done line after an error does not complete the inference")
    }

    // MARK: - Plain bodies and content types

    @Test("an error body reads as complete, without usage or model")
    func errorBody() {
        let reading = ollamaJSONReader().run(Array(utf8: #"{"error":"model \"llama9\" not found, try pulling it first"}"#)).reading
        #expect(reading.completed && reading.note == nil)
        #expect(reading.usage == nil && reading.rawUsage == nil && reading.servedModel == nil)
    }

    @Test("a plain body may span lines; cut short it is noted, never complete")
    func plainBody() throws {
        let fixture = RecordedCase.handmade("ollama-chat-json-basic")
        let pretty = Array(utf8: fixture.body.text.replacingOccurrences(of: ",\"", with: ",\n  \""))
        #expect(ollamaJSONReader().run(pretty).reading == ollamaJSONReader().run(fixture.body).reading)
        for body in [Array(fixture.body.dropLast()), []] {
            let reading = ollamaJSONReader().run(body).reading
            #expect(!reading.completed && reading.note == "response body is not complete JSON")
        }
        var meter = ollamaJSONReader()
        _ = fixture.body.withUnsafeBytes { meter.observe($0) }
        #expect(meter.reachedEnd, "a plain answer ends with its object")
    }

    @Test(
        "the content type chooses the framing; without one, the request's stream does",
        arguments: [
            ("application/x-ndjson", false, true), ("application/x-ndjson; charset=utf-8", false, true),
            ("application/json; charset=utf-8", true, false), (nil, true, true), (nil, false, false), ("text/plain", true, true),
        ])
    func framingChoice(_ contentType: String?, _ stream: Bool, _ expectLines: Bool) {
        let body = ndjson([chatLine("a"), doneLine(#""prompt_eval_count":26,"eval_count":3"#)])
        let meter = APIName.ollamaChat.wireFormat.makeReader(for: PreparedRequest(model: "llama3.2", stream: stream), contentType: contentType)
        let reading = meter.run(body).reading
        // Two objects read as one body are not one JSON document.
        #expect(reading.completed == expectLines)
        #expect((reading.usage != nil) == expectLines)
    }

    // MARK: - Requests

    @Test(
        "stream defaults to true: only an explicit false turns it off",
        arguments: [
            (#"{"model":"llama3.2"}"#, true), (#"{"model":"llama3.2","stream":null}"#, true),
            (#"{"model":"llama3.2","stream":true}"#, true), (#"{"model":"llama3.2","stream":false}"#, false),
        ])
    func streamDefault(_ body: String, _ stream: Bool) throws {
        for api in [APIName.ollamaChat, .ollamaGenerate] {
            let request = try api.wireFormat.prepare(body: Array(utf8: body), options: RequestOptions(acceptsStreamUsageOption: true))
            #expect(request.stream == stream)
            #expect(request.rewrittenBody == nil && !request.injectedStreamUsage, "nothing is added to an Ollama request")
        }
    }

    @Test("the output limit is options.num_predict when positive; an alias replaces only the model")
    func requestMembers() throws {
        let format = APIName.ollamaGenerate.wireFormat
        #expect(format.api == .ollamaGenerate)
        let body = #"{"model":"fast","prompt":"model","options":{"num_predict":128,"temperature":0},"max_tokens":5}"#
        let request = try format.prepare(
            body: Array(utf8: body), options: RequestOptions(acceptsStreamUsageOption: true, upstreamModel: "llama3.2", path: "/api/generate")
        )
        #expect(request.model == "fast" && request.stream && request.maxOutputTokens == 128)
        #expect(request.rewrittenBody?.text == body.replacingOccurrences(of: #""fast""#, with: #""llama3.2""#))
        #expect(throws: RequestError.invalidField("options.num_predict", "must be a whole number")) {
            try format.prepare(
                body: Array(utf8: #"{"model":"m","options":{"num_predict":"64"}}"#), options: RequestOptions(acceptsStreamUsageOption: true))
        }
        for limit in ["-1", "-2", "0", "null"] {
            let unlimited = try format.prepare(
                body: Array(utf8: #"{"model":"m","options":{"num_predict":\#(limit)}}"#), options: RequestOptions(acceptsStreamUsageOption: true))
            #expect(unlimited.maxOutputTokens == nil, "num_predict \(limit)")
        }
        #expect(throws: RequestError.invalidField("stream", "must be a boolean")) {
            try format.prepare(body: Array(utf8: #"{"model":"m","stream":"yes"}"#), options: RequestOptions(acceptsStreamUsageOption: true))
        }
    }
}

// MARK: - Helpers

/// An Ollama meter for a synthetic NDJSON stream.
private func ollamaStreamReader() -> any ResponseReader {
    APIName.ollamaChat.wireFormat.makeReader(for: PreparedRequest(model: "llama3.2", stream: true), contentType: "application/x-ndjson")
}

/// An Ollama meter for a synthetic plain body.
private func ollamaJSONReader() -> any ResponseReader {
    APIName.ollamaChat.wireFormat.makeReader(for: PreparedRequest(model: "llama3.2", stream: false), contentType: "application/json; charset=utf-8")
}

/// NDJSON: each line followed by a newline.
private func ndjson(_ lines: [String]) -> [UInt8] {
    Array(utf8: lines.map { $0 + "\n" }.joined())
}

/// A chat stream line carrying one piece of the answer.
private func chatLine(_ content: String) -> String {
    #"{"model":"llama3.2","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"\#(content)"},"done":false}"#
}

/// The last chat stream line, with the given raw count members.
private func doneLine(_ counts: String) -> String {
    #"{"model":"llama3.2","created_at":"2024-01-01T00:00:01Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,\#(counts)}"#
}
