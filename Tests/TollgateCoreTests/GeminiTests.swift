import Testing
import TollgateCore

/// Gemini: the recorded responses (plain, JSON-array streams, `alt=sse`, embeddings) read as their case.json
/// expects, whole and split at any byte; the usage mapping follows the fixture README; cut, broken and failed
/// streams are read as far as they go and noted; the model comes from the path.
@Suite("Gemini")
struct GeminiTests {
    static let recorded = RecordedCase.all.filter { $0.api.family == .gemini }
    static let arrayStreams = recorded.filter { $0.stream && !$0.contentType.hasPrefix("text/event-stream") }

    // MARK: - Recorded responses

    @Test("all gemini-* cases were copied with their bodies")
    func fixtureSet() {
        #expect(Self.recorded.count == 11)
        #expect(Self.recorded.filter(\.stream).count == 8)
        #expect(Self.arrayStreams.count == 7)
        #expect(Self.recorded.allSatisfy { !$0.body.isEmpty && $0.id.hasPrefix("gemini-") && $0.status == 200 })
    }

    @Test("usage, served model and tier match expected", arguments: Self.recorded)
    func readsExpectedUsage(_ recorded: RecordedCase) throws {
        let request = try recorded.prepare()
        #expect(request.stream == recorded.stream)
        #expect(request.rewrittenBody == nil, "nothing is added to a Gemini request")
        #expect(request.model == GeminiFormat.model(inPath: recorded.requestPath))
        #expect(request.model != nil)
        #expect(request.maxOutputTokens == nil, "no recorded request sets generationConfig.maxOutputTokens")
        let meter = recorded.meter(for: request)
        #expect(!meter.rewrites)
        let run = meter.run(recorded.body)
        let reading = run.reading
        #expect(reading.servedModel == recorded.expected.model)
        #expect(TokenClasses(reading.usage) == recorded.expected.classes)
        #expect((reading.usage == nil) == (recorded.expected.classes == .zero))
        #expect(reading.usage.map { $0.cacheWriteTokens == 0 && $0.inputAudioTokens == 0 && $0.outputImageTokens == 0 } ?? true)
        #expect(reading.serviceTier == (recorded.body.text.contains(#""serviceTier""#) ? "standard" : nil))
        #expect(reading.completed)
        #expect(reading.note == nil)
        #expect(run.clientBytes == recorded.body)
    }

    @Test("the raw usage is the last usageMetadata, verbatim; content events are the chunks with parts", arguments: Self.recorded)
    func rawUsageAndContentEvents(_ recorded: RecordedCase) throws {
        let reading = recorded.meter(for: try recorded.prepare()).run(recorded.body).reading
        let chunks = try responseObjects(of: recorded)
        let lastUsage = chunks.compactMap { $0["usageMetadata"] as? [String: Any] }.last
        if let lastUsage {
            let raw = try #require(reading.rawUsage)
            #expect(!raw.contains("\n"))
            #expect(String(decoding: JSONEdit.compacted(recorded.body), as: UTF8.self).contains(raw))
            #expect(sameJSON(Array(utf8: raw), serializeJSON(lastUsage)))
        } else {
            #expect(reading.rawUsage == nil && reading.usage == nil)
        }
        let withParts = chunks.filter { chunk in
            (chunk["candidates"] as? [[String: Any]] ?? []).contains { (($0["content"] as? [String: Any])?["parts"] as? [Any])?.isEmpty == false }
        }
        #expect(reading.contentEvents == (recorded.stream ? withParts.count : 0))
    }

    @Test("an array stream re-spaced (CRLF, no whitespace, one chunk per line) reads the same")
    func arrayLayouts() throws {
        let recorded = RecordedCase.named("gemini-stream-array-schema")
        let chunks = try responseObjects(of: recorded).map(serializeJSON)
        let plain = recorded.meter(for: try recorded.prepare()).run(recorded.body).reading
        for separator in [",", ",\r\n", "\n,\n", " ,\t"] {
            let body = Array(utf8: "[" + chunks.map(\.text).joined(separator: separator) + "]\r\n")
            let reading = geminiArrayReader().run(body).reading
            #expect(reading.usage == plain.usage)
            #expect(reading.servedModel == plain.servedModel && reading.contentEvents == plain.contentEvents)
            #expect(reading.completed && reading.note == nil)
        }
    }

    // MARK: - Cut streams

    @Test("an array stream cut anywhere: complete only at its ], usage from the chunks that closed", arguments: Self.arrayStreams)
    func arrayStreamCutAnywhere(_ recorded: RecordedCase) throws {
        let body = recorded.body
        let request = try recorded.prepare()
        let usages = try responseObjects(of: recorded).map { $0["usageMetadata"] as? [String: Any] }
        // The recordings are pretty-printed: a chunk closes with a `}` alone on its line.
        let chunkEnds = body.indices.filter { body[$0] == UInt8(ascii: "}") && body[$0 - 1] == 0x0A && body[$0 + 1] == 0x0A }.map { $0 + 1 }
        try #require(chunkEnds.count == usages.count)
        let closeEnd = try #require(body.lastIndex(of: UInt8(ascii: "]"))) + 1
        for length in 0...body.count {
            var meter = recorded.meter(for: request)
            _ = body[..<length].withUnsafeBytes { meter.observe($0) }
            #expect(meter.reachedEnd == (length >= closeEnd), "cut at \(length)")
            let reading = meter.finish().reading
            #expect(reading.completed == (length >= closeEnd), "cut at \(length)")
            #expect((reading.note == nil) == (length >= closeEnd), "cut at \(length): \(reading.note ?? "")")
            let closed = chunkEnds.filter { $0 <= length }.count
            let expected = usages[..<closed].compactMap { $0 }.last.map(readmeClasses) ?? .zero
            #expect(TokenClasses(reading.usage) == expected, "cut at \(length)")
            if closed > 0 { #expect(reading.servedModel == recorded.expected.model, "cut at \(length)") }
        }
    }

    @Test("an alt=sse stream cut anywhere: complete once the finishing chunk's data is whole, usage from whole chunks")
    func sseStreamCutAnywhere() throws {
        let recorded = RecordedCase.named("gemini-stream-sse-running-totals")
        let body = recorded.body
        let request = try recorded.prepare()
        let usages = try responseObjects(of: recorded).map { $0["usageMetadata"] as? [String: Any] }
        // A chunk's data is whole once its line is (a last line without its line end is read at the finish).
        let dataEnds = body.indices.filter { body[$0] == UInt8(ascii: "}") && body[$0 + 1] == 0x0D }.map { $0 + 1 }
        try #require(dataEnds.count == usages.count)
        let finishing = try #require(dataEnds.last)
        for length in 0...body.count {
            var meter = recorded.meter(for: request)
            _ = body[..<length].withUnsafeBytes { meter.observe($0) }
            // The last event is dispatched at its blank line: `}` CR LF CR.
            #expect(meter.reachedEnd == (length >= finishing + 3), "cut at \(length)")
            let reading = meter.finish().reading
            #expect(reading.completed == (length >= finishing), "cut at \(length)")
            #expect((reading.note == nil) == (length >= finishing), "cut at \(length): \(reading.note ?? "")")
            let whole = dataEnds.filter { $0 <= length }.count
            let expected = usages[..<whole].compactMap { $0 }.last.map(readmeClasses) ?? .zero
            #expect(TokenClasses(reading.usage) == expected, "cut at \(length)")
        }
    }

    @Test("a cut array stream says why; a cut plain body is not complete but keeps what it showed")
    func cutNotes() throws {
        let stream = RecordedCase.named("gemini-stream-array-tools-3")
        let cut = geminiArrayReader().run([stream.body.dropLast()]).reading
        #expect(cut.note == "stream ended before the array's closing ]")
        #expect(!cut.completed && TokenClasses(cut.usage) == stream.expected.classes)

        let plain = RecordedCase.named("gemini-generate-json-basic")
        let reading = plain.meter(for: try plain.prepare()).run([plain.body.dropLast(2)]).reading
        #expect(!reading.completed)
        #expect(reading.note == "response body is not complete JSON")
        #expect(TokenClasses(reading.usage) == plain.expected.classes)
    }

    // MARK: - Malformed and failed streams

    @Test("a malformed chunk in the array is noted and later usage still read")
    func malformedArrayChunk() {
        let body = arrayStream([
            chunk(text: "a", usage: usage(prompt: 10, candidates: 1)),
            #"{"candidates": [{"content": {"parts": [{"text": "b"}]}}], "usageMetadata": {"promptTokenCount": 10 x}}"#,
            chunk(text: "c", usage: usage(prompt: 10, candidates: 5), finish: true),
        ])
        let run = geminiArrayReader().run(body)
        #expect(run.reading.note == "malformed stream chunk")
        #expect(run.reading.usage == TokenUsage(inputTokens: 10, outputTokens: 5))
        #expect(run.reading.completed)
        #expect(run.reading.contentEvents == 2)
        #expect(run.clientBytes == body)
        expectSplitInvariant(body, equals: run) { geminiArrayReader() }
    }

    @Test(
        "an array that breaks off into other bytes is noted, never complete, usage kept",
        arguments: ["} garbage", "{\"a\":1} {\"b\":2}]", "]]", ",]", "x"])
    func brokenArray(_ tail: String) {
        let body = Array(utf8: "[" + chunk(text: "a", usage: usage(prompt: 7, candidates: 2)) + tail)
        let reading = geminiArrayReader().run(body).reading
        #expect(reading.usage == TokenUsage(inputTokens: 7, outputTokens: 2))
        #expect(reading.note?.hasPrefix("malformed JSON array stream: ") == true || reading.note == "stream ended before the array's closing ]")
        #expect(!reading.completed || tail == "]]")
        expectSplitInvariant(body, equals: geminiArrayReader().run(body)) { geminiArrayReader() }
    }

    @Test("data after the array's ] is noted; the stream stays complete")
    func dataAfterArray() {
        let body = arrayStream([chunk(text: "a", usage: usage(prompt: 7, candidates: 2), finish: true)]) + Array(utf8: "\n]")
        let reading = geminiArrayReader().run(body).reading
        #expect(reading.completed)
        #expect(reading.note == "malformed JSON array stream: data after the array's closing ]")
    }

    @Test("an error chunk ends the array stream uncompleted, noted, with the usage seen before it")
    func errorChunkInArray() {
        let body = arrayStream([
            chunk(text: "Once upon", usage: usage(prompt: 30, candidates: 4, cached: 20)),
            #"{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}"#,
        ])
        let run = geminiArrayReader().run(body)
        #expect(!run.reading.completed)
        #expect(run.reading.note == "stream error: 503 UNAVAILABLE: The model is overloaded. Please try again later.")
        #expect(run.reading.usage == TokenUsage(inputTokens: 10, cacheReadTokens: 20, outputTokens: 4))
        #expect(run.reading.contentEvents == 1)
        expectSplitInvariant(body, equals: run) { geminiArrayReader() }

        var meter = geminiArrayReader()
        _ = body.dropLast().withUnsafeBytes { meter.observe($0) }
        #expect(meter.reachedEnd, "the error chunk ends the stream before its ]")
        // An array holding only an error (Gemini's answer to a bad streaming request).
        let alone = geminiArrayReader().run(arrayStream([#"{"error": {"code": 400, "status": "INVALID_ARGUMENT"}}"#])).reading
        #expect(alone.note == "stream error: 400 INVALID_ARGUMENT" && !alone.completed && alone.usage == nil)
    }

    @Test("an error chunk in an alt=sse stream ends it uncompleted and noted")
    func errorChunkInSSE() {
        let stream = sseStream([
            chunk(text: "a", usage: usage(prompt: 5, candidates: 1)),
            #"{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}"#,
        ])
        let run = geminiSSEReader().run(stream)
        #expect(!run.reading.completed)
        #expect(run.reading.note == "stream error: 500 INTERNAL: An internal error has occurred.")
        #expect(run.reading.usage == TokenUsage(inputTokens: 5, outputTokens: 1))
        var meter = geminiSSEReader()
        _ = stream.withUnsafeBytes { meter.observe($0) }
        #expect(meter.reachedEnd)
    }

    @Test("an alt=sse stream: a malformed chunk is noted, a stream without a finishReason is not complete")
    func sseMalformedAndUnfinished() {
        let finished = sseStream([
            chunk(text: "a", usage: usage(prompt: 5, candidates: 1)), "{not json",
            chunk(text: "b", usage: usage(prompt: 5, candidates: 3, thoughts: 4), finish: true),
        ])
        let run = geminiSSEReader().run(finished)
        #expect(run.reading.completed && run.reading.note == "malformed stream chunk")
        #expect(run.reading.usage == TokenUsage(inputTokens: 5, outputTokens: 7, reasoningTokens: 4))
        expectSplitInvariant(finished, equals: run) { geminiSSEReader() }

        let unfinished = geminiSSEReader().run(sseStream([chunk(text: "a", usage: usage(prompt: 5, candidates: 1))])).reading
        #expect(!unfinished.completed && unfinished.note == "stream ended without a finishReason")
        #expect(unfinished.usage == TokenUsage(inputTokens: 5, outputTokens: 1))
    }

    @Test("with two candidates, the stream ends only when both have finished")
    func twoCandidates() {
        func twoCandidateChunk(finished: [Int], usage: String) -> String {
            let candidates = (0..<2).map { index in
                let reason = finished.contains(index) ? #", "finishReason": "STOP""# : ""
                return #"{"content": {"parts": [{"text": "x"}], "role": "model"}\#(reason), "index": \#(index)}"#
            }
            return #"{"candidates": [\#(candidates.joined(separator: ", "))], "usageMetadata": \#(usage), "modelVersion": "gemini-2.5-flash"}"#
        }
        let first = twoCandidateChunk(finished: [0], usage: usage(prompt: 5, candidates: 2))
        let last = twoCandidateChunk(finished: [1], usage: usage(prompt: 5, candidates: 6))
        var meter = geminiSSEReader()
        _ = sseStream([first]).withUnsafeBytes { meter.observe($0) }
        #expect(!meter.reachedEnd, "candidate 1 is still streaming")
        let cut = geminiSSEReader().run(sseStream([first])).reading
        #expect(!cut.completed)
        let whole = geminiSSEReader().run(sseStream([first, last])).reading
        #expect(whole.completed)
        #expect(whole.usage == TokenUsage(inputTokens: 5, outputTokens: 6))
    }

    @Test("huge modality counts saturate instead of trapping")
    func hugeModalityCounts() {
        let entry = #"{"modality": "AUDIO", "tokenCount": 999999999999999}"#
        let details = "[" + Array(repeating: entry, count: 10_000).joined(separator: ",") + "]"
        let body = #"{"candidates": [], "usageMetadata": {"promptTokenCount": 999999999999999, "promptTokensDetails": \#(details)}}"#
        let reading = geminiJSONReader().run(Array(body.utf8)).reading
        #expect(reading.usage != nil)
    }

    @Test("a blocked prompt ends an alt=sse stream: complete, input only, no content")
    func blockedPrompt() {
        let stream = sseStream([
            #"{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}, "modelVersion": "gemini-2.5-flash"}"#
        ])
        let reading = geminiSSEReader().run(stream).reading
        #expect(reading.completed && reading.note == nil)
        #expect(reading.usage == TokenUsage(inputTokens: 9))
        #expect(reading.contentEvents == 0)
        #expect(reading.servedModel == "gemini-2.5-flash")
    }

    @Test(
        "bodies that are not a Gemini response never crash and never complete",
        arguments: ["", " \n", "[", "[{", "nope", "data: {", "[{\"a\":\"\\", "[1, 2", "\u{0}\r\r\n:", "{\"usageMetadata\":"])
    func notAResponse(_ text: String) {
        for meter in [geminiArrayReader(), geminiSSEReader(), geminiJSONReader()] {
            let reading = meter.run(Array(utf8: text)).reading
            #expect(!reading.completed, "\(text)")
            #expect(reading.usage == nil)
            #expect(reading.note != nil)
        }
    }

    @Test("mutated streams (bytes dropped, doubled, flipped) never crash and read the same at every split")
    func mutatedStreams() throws {
        var generator = SeededGenerator(seed: 7)
        for recorded in [RecordedCase.named("gemini-stream-array-tools-3"), RecordedCase.named("gemini-stream-sse-running-totals")] {
            let request = try recorded.prepare()
            for _ in 0..<40 {
                var body = recorded.body
                for _ in 0..<3 {
                    let at = Int.random(in: 0..<body.count, using: &generator)
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0: body.remove(at: at)
                    case 1: body.insert(body[at], at: at)
                    default: body[at] = UInt8.random(in: 0...255, using: &generator)
                    }
                }
                let whole = recorded.meter(for: request).run(body)
                #expect(whole.clientBytes == body)
                #expect(whole.reading.completed || whole.reading.note != nil)
                let cut = Int.random(in: 0...body.count, using: &generator)
                #expect(recorded.meter(for: request).run(body.pieces(cutAt: [cut])) == whole)
                #expect(recorded.meter(for: request).run(body.bytewise) == whole)
            }
        }
    }

    // MARK: - Plain bodies

    @Test("an error body reads as complete, noted, without usage or model (embeddings included)")
    func errorBody() throws {
        let body = Array(
            utf8: #"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "#
                + #""details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}"#)
        for api in [APIName.geminiGenerateContent, .geminiBatchEmbedContents, .geminiStreamGenerateContent] {
            let meter = api.wireFormat.makeReader(for: PreparedRequest(model: "gemini-embedding-001", stream: false), contentType: "application/json")
            let run = meter.run(body)
            #expect(run.reading.completed)
            #expect(run.reading.usage == nil && run.reading.rawUsage == nil && run.reading.servedModel == nil)
            #expect(run.reading.note == "error response: 400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key.")
            expectSplitInvariant(body, equals: run) { api.wireFormat.makeReader(for: PreparedRequest(model: "m", stream: false), contentType: nil) }
        }
    }

    @Test("embeddings: promptTokenCount is the input; no usageMetadata is no usage; the path names the model")
    func embeddings() {
        let format = APIName.geminiEmbedContent.wireFormat
        let request = PreparedRequest(model: "gemini-embedding-001", stream: false)
        let withUsage = format.makeReader(for: request, contentType: "application/json").run(
            Array(
                utf8:
                    #"{"embedding": {"values": [0.1, -0.2]}, "usageMetadata": {"promptTokenCount": 12, "promptTokenDetails": [{"modality": "AUDIO", "tokenCount": 5}]}}"#
            )
        ).reading
        #expect(withUsage.usage == TokenUsage(inputTokens: 12, inputAudioTokens: 5))
        #expect(withUsage.servedModel == "gemini-embedding-001")
        #expect(withUsage.completed && withUsage.contentEvents == 0)
        let without = format.makeReader(for: request, contentType: "application/json").run(Array(utf8: #"{"embedding": {"values": [0.1]}}"#)).reading
        #expect(without.usage == nil && without.rawUsage == nil && without.note == nil)
        #expect(without.servedModel == "gemini-embedding-001")
        // generateContent names its model in the body only: none, none read.
        let generate = geminiJSONReader().run(Array(utf8: #"{"candidates": [], "usageMetadata": {"promptTokenCount": 3}}"#)).reading
        #expect(generate.servedModel == nil && generate.usage == TokenUsage(inputTokens: 3))
    }

    // MARK: - Usage mapping

    @Test("every class: cache inside the prompt, tool-use prompt beside it, thoughts outside the answer")
    func mapping() throws {
        let usage = Array(
            utf8: #"{"promptTokenCount": 1000, "cachedContentTokenCount": 600, "toolUsePromptTokenCount": 50, "candidatesTokenCount": 200, "#
                + #""thoughtsTokenCount": 300, "totalTokenCount": 1550, "serviceTier": "priority", "#
                + #""promptTokensDetails": [{"modality": "TEXT", "tokenCount": 700}, {"modality": "AUDIO", "tokenCount": 250}, {"modality": "IMAGE", "tokenCount": 50}], "#
                + #""cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 100}, {"modality": "TEXT", "tokenCount": 500}], "#
                + #""toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 50}], "#
                + #""candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 120}, {"modality": "TEXT", "tokenCount": 80}]}"#)
        let canonical = try #require(GeminiUsage.canonical(usage))
        #expect(
            canonical
                == TokenUsage(
                    inputTokens: 450, cacheReadTokens: 600, outputTokens: 500, reasoningTokens: 300, inputAudioTokens: 150,
                    inputImageTokens: 50, outputImageTokens: 120
                ))
        let body = Array(utf8: #"{"modelVersion": "gemini-2.5-flash-image", "usageMetadata": "#) + usage + Array(utf8: "}")
        let run = geminiJSONReader().run(body)
        #expect(run.reading.usage == canonical)
        #expect(run.reading.serviceTier == "priority")
        #expect(run.reading.rawUsage == JSONEdit.compacted(usage).text)
        expectSplitInvariant(body, equals: run) { geminiJSONReader() }
    }

    @Test(
        "modality parts never exceed their whole",
        arguments: [
            (
                #"{"promptTokenCount": 10, "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 40}, {"modality": "IMAGE", "tokenCount": 40}]}"#,
                10, 0, 0, 0
            ),
            (
                #"{"candidatesTokenCount": 5, "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 3}, {"modality": "IMAGE", "tokenCount": 9}]}"#,
                0, 0, 3, 2
            ),
            (
                #"{"promptTokenCount": 8, "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 2}, {"modality": "AUDIO", "tokenCount": 3}]}"#,
                5, 0, 0, 0
            ),
        ])
    func modalityClamps(_ usage: String, inputAudio: Int, inputImage: Int, outputAudio: Int, outputImage: Int) throws {
        let canonical = try #require(GeminiUsage.canonical(Array(utf8: usage)))
        #expect(canonical.inputAudioTokens == inputAudio && canonical.inputImageTokens == inputImage)
        #expect(canonical.outputAudioTokens == outputAudio && canonical.outputImageTokens == outputImage)
    }

    @Test(
        "null, missing and non-integer fields count as zero; an object without any count is no usage",
        arguments: [
            (
                #"{"promptTokenCount": 4, "candidatesTokenCount": null, "thoughtsTokenCount": "7", "cachedContentTokenCount": 1.5}"#,
                TokenUsage(inputTokens: 4)
            ),
            (
                #"{"candidatesTokenCount": 3, "promptTokensDetails": null, "candidatesTokensDetails": [null, 4, {"modality": "AUDIO"}]}"#,
                TokenUsage(outputTokens: 3)
            ),
            (#"{"promptTokenCount": 2, "cachedContentTokenCount": 5}"#, TokenUsage(cacheReadTokens: 5)),
        ])
    func partialFields(_ usage: String, expected: TokenUsage) {
        #expect(GeminiUsage.canonical(Array(utf8: usage)) == expected)
    }

    @Test(
        "no counts",
        arguments: ["{}", #"{"totalTokenCount": 5}"#, #"{"promptTokenCount": null, "serviceTier": "standard"}"#, #"{"promptTokenCount": -1}"#])
    func noCounts(_ usage: String) {
        #expect(GeminiUsage.canonical(Array(utf8: usage)) == nil)
    }

    @Test("stream usage: the last usageMetadata wins whole; null or missing resets nothing; an empty one is noted")
    func streamUsage() {
        let body = arrayStream([
            chunk(text: "a", usage: usage(prompt: 10, candidates: 2, thoughts: 6)),
            chunk(text: "b", usage: "null"),
            chunk(text: "c", usage: nil, model: "gemini-2.5-flash-001"),
            chunk(text: "d", usage: "{}", finish: true, model: "gemini-2.5-pro"),
        ])
        let run = geminiArrayReader().run(body)
        #expect(run.reading.usage == TokenUsage(inputTokens: 10, outputTokens: 8, reasoningTokens: 6))
        #expect(run.reading.rawUsage == usage(prompt: 10, candidates: 2, thoughts: 6).filter { $0 != " " })
        #expect(run.reading.servedModel == "gemini-2.5-pro")
        #expect(run.reading.note == "usage object without token counts")
        #expect(run.reading.completed && run.reading.contentEvents == 4)

        let later = arrayStream([
            chunk(text: "a", usage: usage(prompt: 10, candidates: 2, thoughts: 6)),
            chunk(text: "b", usage: #"{"promptTokenCount": 10, "candidatesTokenCount": 9}"#, finish: true),
        ])
        #expect(geminiArrayReader().run(later).reading.usage == TokenUsage(inputTokens: 10, outputTokens: 9), "replaced whole, never merged or added")
    }

    @Test("content events: chunks whose candidates have parts; usage-only and empty-content chunks are not")
    func contentEvents() {
        let body = arrayStream([
            chunk(text: "a", usage: nil),
            #"{"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}], "usageMetadata": {"promptTokenCount": 3}}"#,
            #"{"candidates": [], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}}"#,
            #"{"candidates": [{"index": 0}, {"index": 1, "content": {"parts": [{"functionCall": {"name": "f", "args": {"s": "]}\""}}}]}}]}"#,
        ])
        let reading = geminiArrayReader().run(body).reading
        #expect(reading.contentEvents == 2)
        #expect(reading.completed && reading.note == nil)
    }

    // MARK: - Requests

    @Test(
        "the model comes from the path, percent-decoded",
        arguments: [
            ("/v1beta/models/gemini-2.5-flash:generateContent", "gemini-2.5-flash"),
            ("/v1/models/gemini-2.0-flash-001:streamGenerateContent", "gemini-2.0-flash-001"),
            ("/v1beta/models/gemini-2.5-flash%3AstreamGenerateContent", "gemini-2.5-flash"),
            ("/v1beta/models/my%40model%2Bx:embedContent", "my@model+x"),
            ("/v1beta/tunedModels/number-generator-model-psx3d3:generateContent", "number-generator-model-psx3d3"),
            ("/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent", "gemini-2.5-pro"),
            ("/v1beta/models/text-embedding-004", "text-embedding-004"),
            ("/v1beta/models/bad%zzescape:generateContent", "bad%zzescape"),
        ])
    func modelFromPath(_ path: String, model: String) throws {
        let request = try APIName.geminiGenerateContent.wireFormat.prepare(
            body: Array(utf8: "{}"), options: RequestOptions(acceptsStreamUsageOption: true, path: path))
        #expect(request.model == model)
    }

    @Test("paths that name no model", arguments: ["", "/", "/v1beta/models/:generateContent", "/v1beta/cachedContents/x:generateContent", "/models"])
    func noModelInPath(_ path: String) {
        #expect(GeminiFormat.model(inPath: path) == nil)
    }

    @Test("the request: a stream exactly for streamGenerateContent, the output limit, the body never rewritten")
    func request() throws {
        let body = Array(utf8: #"{"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 256}}"#)
        let path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        for api in [APIName.geminiGenerateContent, .geminiStreamGenerateContent, .geminiEmbedContent, .geminiBatchEmbedContents] {
            let format = api.wireFormat
            #expect(format.api == api)
            let prepared = try format.prepare(
                body: body, options: RequestOptions(acceptsStreamUsageOption: true, upstreamModel: "gemini-2.5-pro", path: path, query: "alt=sse"))
            #expect(prepared.stream == (api == .geminiStreamGenerateContent))
            #expect(prepared.model == "gemini-2.5-flash", "a model alias cannot apply: the model is in the path")
            #expect(prepared.rewrittenBody == nil && !prepared.injectedStreamUsage)
            #expect(prepared.maxOutputTokens == 256)
        }
        let snake = try GeminiFormat(api: .geminiGenerateContent).prepare(
            body: Array(utf8: #"{"generation_config": {"max_output_tokens": 64}}"#), options: RequestOptions(acceptsStreamUsageOption: true))
        #expect(snake.maxOutputTokens == 64)
        // Protobuf's JSON mapping, which Gemini parses with, reads an integer written as a string.
        let quoted = try GeminiFormat(api: .geminiGenerateContent).prepare(
            body: Array(utf8: #"{"generationConfig": {"maxOutputTokens": "64", "candidateCount": "2"}}"#),
            options: RequestOptions(acceptsStreamUsageOption: true))
        #expect(quoted.maxOutputTokens == 64 && quoted.choices == 2)
    }

    @Test(
        "a body that is not one JSON object is refused",
        arguments: [
            ("", RequestError.invalidJSON("the body is empty")), ("  ", .invalidJSON("the body is empty")),
            ("[{}]", .invalidJSON("expected a JSON object")), ("\"x\"", .invalidJSON("expected a JSON object")),
            ("{\"contents\": [", .invalidJSON("the object is not well-formed or is cut short")),
            ("{} {}", .invalidJSON("the object is not well-formed or is cut short")),
        ])
    func refusedBodies(_ body: String, error: RequestError) {
        #expect(throws: error) {
            try GeminiFormat(api: .geminiGenerateContent).prepare(body: Array(utf8: body), options: RequestOptions(acceptsStreamUsageOption: true))
        }
    }
}

// MARK: - Helpers

/// The response objects of a recorded body: the array's chunks, each SSE event's data, or the one plain object.
private func responseObjects(of recorded: RecordedCase) throws -> [[String: Any]] {
    if recorded.contentType.hasPrefix("text/event-stream") {
        return try recorded.body.text.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("data: ") }.map {
            try #require(parseJSONObject(Array(utf8: String($0.dropFirst(6)))))
        }
    }
    if recorded.stream {
        let wrapped = try #require(parseJSONObject(Array(utf8: #"{"chunks":"#) + recorded.body + Array(utf8: "}")))
        return try #require(wrapped["chunks"] as? [[String: Any]])
    }
    return [try #require(parseJSONObject(recorded.body))]
}

/// The README's Gemini classes of a decoded usageMetadata, computed apart from the code under test.
private func readmeClasses(_ usage: [String: Any]) -> TokenClasses {
    func count(_ key: String) -> Int { usage[key] as? Int ?? 0 }
    return TokenClasses(
        input: count("promptTokenCount") - count("cachedContentTokenCount") + count("toolUsePromptTokenCount"),
        cacheRead: count("cachedContentTokenCount"), output: count("candidatesTokenCount") + count("thoughtsTokenCount"),
        reasoning: count("thoughtsTokenCount"))
}

/// A meter for a JSON-array `streamGenerateContent` response.
private func geminiArrayReader() -> any ResponseReader {
    APIName.geminiStreamGenerateContent.wireFormat.makeReader(
        for: PreparedRequest(model: "gemini-2.5-flash", stream: true), contentType: "application/json; charset=UTF-8")
}

/// A meter for an `alt=sse` `streamGenerateContent` response.
private func geminiSSEReader() -> any ResponseReader {
    APIName.geminiStreamGenerateContent.wireFormat.makeReader(
        for: PreparedRequest(model: "gemini-2.5-flash", stream: true), contentType: "text/event-stream")
}

/// A meter for a plain `generateContent` response.
private func geminiJSONReader() -> any ResponseReader {
    APIName.geminiGenerateContent.wireFormat.makeReader(
        for: PreparedRequest(model: "gemini-2.5-flash", stream: false), contentType: "application/json")
}

/// A JSON-array stream of the given chunks, laid out as Gemini writes it.
private func arrayStream(_ chunks: [String]) -> [UInt8] {
    Array(utf8: "[" + chunks.joined(separator: "\n,\r\n") + "\n]")
}

/// A minimal response chunk; `usage` is the raw JSON of its usageMetadata, or nil to leave the member out.
private func chunk(text: String, usage: String?, finish: Bool = false, model: String = "gemini-2.5-flash") -> String {
    let finishReason = finish ? #", "finishReason": "STOP""# : ""
    let usageMember = usage.map { #", "usageMetadata": \#($0)"# } ?? ""
    return #"{"candidates": [{"content": {"parts": [{"text": "\#(text)"}], "role": "model"}\#(finishReason), "index": 0}]"#
        + #"\#(usageMember), "modelVersion": "\#(model)"}"#
}

/// A usageMetadata object.
private func usage(prompt: Int, candidates: Int, thoughts: Int? = nil, cached: Int? = nil) -> String {
    var members = [#""promptTokenCount": \#(prompt)"#, #""candidatesTokenCount": \#(candidates)"#]
    if let thoughts { members.append(#""thoughtsTokenCount": \#(thoughts)"#) }
    if let cached { members.append(#""cachedContentTokenCount": \#(cached)"#) }
    return "{" + members.joined(separator: ", ") + "}"
}
