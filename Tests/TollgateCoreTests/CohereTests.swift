import Testing
import TollgateCore

/// Cohere v2 chat: billed units are billed (the raw template-inclusive `tokens` are not), the served model is the
/// requested one, streams end at `message-end` whose `delta.usage` carries the usage; cut, broken and failed
/// streams are read as far as they go and noted.
@Suite("Cohere v2 chat")
struct CohereTests {
    /// The recorded answer and the hand-made streams.
    static let fixtures = (RecordedCase.all + RecordedCase.handmadeCases).filter { $0.api == .cohereChat }

    // MARK: - Fixtures

    @Test("the recorded answer and the hand-made streams are all there")
    func fixtureSet() {
        #expect(Self.fixtures.map(\.id) == ["cohere-chat-json-basic", "cohere-chat-stream-basic", "cohere-chat-stream-tools"])
        #expect(Self.fixtures.filter(\.stream).count == 2)
    }

    @Test("usage and served model match expected; the raw usage is Cohere's own object", arguments: Self.fixtures)
    func readsExpectedUsage(_ fixture: RecordedCase) throws {
        let request = try fixture.prepare()
        #expect(request.rewrittenBody == nil && !request.injectedStreamUsage, "nothing is added to a Cohere request")
        #expect(request.model == fixture.requestMembers["model"]?.value as? String)
        #expect(request.maxOutputTokens == fixture.requestMembers["max_tokens"]?.value as? Int)
        #expect(!fixture.meter(for: request).rewrites)
        let run = try expectReadsAsExpected(fixture)
        let raw = try #require(run.reading.rawUsage.flatMap { parseJSONObject(Array(utf8: $0)) })
        #expect(raw["billed_units"] != nil && raw["tokens"] != nil, "the information-only counts stay in the raw usage")
    }

    @Test("content events: every generated piece, tool plans and tool calls included")
    func contentEvents() throws {
        let basic = RecordedCase.handmade("cohere-chat-stream-basic")
        #expect(basic.meter(for: try basic.prepare()).run(basic.body).reading.contentEvents == 15)
        let tools = RecordedCase.handmade("cohere-chat-stream-tools")
        #expect(tools.meter(for: try tools.prepare()).run(tools.body).reading.contentEvents == 9 + 5)
    }

    @Test("CRLF line ends, comments and missing event lines read as the plain stream", arguments: ["\r\n", "\n"])
    func framingVariants(_ lineEnd: String) {
        let fixture = RecordedCase.handmade("cohere-chat-stream-basic")
        let lines = fixture.body.text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("event:") }
        let stream = Array(utf8: ": keep-alive" + lineEnd + lineEnd + lines.joined(separator: lineEnd))
        let plain = cohereStreamReader().run(fixture.body)
        let run = cohereStreamReader().run(stream)
        #expect(run.reading == plain.reading)
        #expect(run.clientBytes == stream)
        expectSplitInvariant(stream, equals: run) { cohereStreamReader() }
    }

    // MARK: - Mapping

    @Test("billed units are billed; raw tokens and cached tokens are information only")
    func billedUnits() throws {
        let usage = #"{"billed_units":{"input_tokens":13,"output_tokens":61},"tokens":{"input_tokens":542,"output_tokens":63},"cached_tokens":448}"#
        #expect(CohereUsage.canonical(Array(utf8: usage)) == TokenUsage(inputTokens: 13, outputTokens: 61))
        // Cohere leaves out units it did not bill.
        #expect(CohereUsage.canonical(Array(utf8: #"{"billed_units":{"input_tokens":4}}"#)) == TokenUsage(inputTokens: 4))
    }

    @Test(
        "without a whole billed count there is no usage",
        arguments: [
            #"{"tokens":{"input_tokens":542,"output_tokens":63}}"#, #"{"billed_units":{"input_tokens":"13","output_tokens":-1}}"#,
            #"{"billed_units":null}"#, #"{"billed_units":{"input_tokens":1.5,"output_tokens":null}}"#, "{}",
        ])
    func noBilledUnits(_ usage: String) {
        #expect(CohereUsage.canonical(Array(utf8: usage)) == nil)
    }

    @Test("a usage object without billed units is noted and kept raw")
    func usageWithoutBilledUnits() {
        let stream = cohereStream([
            messageStart, contentDelta("a"),
            messageEnd(#"{"finish_reason":"COMPLETE","usage":{"tokens":{"input_tokens":542,"output_tokens":63}}}"#),
        ])
        let reading = cohereStreamReader().run(stream).reading
        #expect(reading.usage == nil)
        #expect(reading.rawUsage == #"{"tokens":{"input_tokens":542,"output_tokens":63}}"#)
        #expect(reading.note == "usage object without billed units")
        #expect(reading.completed)
    }

    // MARK: - Streams

    @Test("a stream cut anywhere: completed, with usage, only once message-end is whole")
    func streamCutAnywhere() throws {
        let fixture = RecordedCase.handmade("cohere-chat-stream-basic")
        let body = fixture.body
        let endData = try #require(body.text.range(of: #"data: {"type":"message-end""#))
        let endLine = try #require(body.text[endData.upperBound...].firstIndex(of: "\n"))
        // The data line of message-end is read at the finish even without the blank line after it.
        let whole = body.text.utf8.distance(from: body.text.startIndex, to: endLine)
        for length in 0...body.count {
            let reading = cohereStreamReader().run([body[..<length]]).reading
            #expect(reading.completed == (length >= whole), "cut at \(length)")
            #expect((reading.usage != nil) == (length >= whole), "cut at \(length)")
            #expect((reading.note == nil) == (length >= whole), "cut at \(length): \(reading.note ?? "")")
        }
        let cut = cohereStreamReader().run([body[..<(whole - 1)]]).reading
        #expect(cut.note == "malformed stream event")
        let beforeEnd = cohereStreamReader().run([body[..<body.text.utf8.distance(from: body.text.startIndex, to: endData.lowerBound)]])
        #expect(beforeEnd.reading.note == "stream ended before message-end")
        #expect(beforeEnd.reading.servedModel == "command-a-03-2025", "the answer had started")
        #expect(beforeEnd.reading.contentEvents == 15)
    }

    @Test(
        "message-end with an error ends the inference uncompleted, noted, usage kept",
        arguments: [
            (#"{"finish_reason":"ERROR","usage":{"billed_units":{"input_tokens":5,"output_tokens":2}}}"#, "ERROR"),
            (
                #"{"error":"internal server error","finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":5,"output_tokens":2}}}"#,
                "internal server error"
            ),
        ])
    func errorAtEnd(_ delta: String, _ message: String) {
        let stream = cohereStream([messageStart, contentDelta("a"), messageEnd(delta)])
        let run = cohereStreamReader().run(stream)
        #expect(!run.reading.completed)
        #expect(run.reading.note == "stream ended with an error: \(message)")
        #expect(run.reading.usage == TokenUsage(inputTokens: 5, outputTokens: 2))
        var meter = cohereStreamReader()
        _ = stream.withUnsafeBytes { meter.observe($0) }
        #expect(meter.reachedEnd, "message-end is the terminal event, error or not")
    }

    @Test("other finish reasons complete: MAX_TOKENS, STOP_SEQUENCE, TOOL_CALL", arguments: ["MAX_TOKENS", "STOP_SEQUENCE", "TOOL_CALL"])
    func finishReasons(_ reason: String) {
        let stream = cohereStream([
            messageStart, contentDelta("a"),
            messageEnd(#"{"finish_reason":"\#(reason)","usage":{"billed_units":{"input_tokens":5,"output_tokens":2}}}"#),
        ])
        let reading = cohereStreamReader().run(stream).reading
        #expect(reading.completed && reading.note == nil)
    }

    @Test("a malformed event in the middle is noted and the usage still read")
    func malformedEvent() {
        let stream = cohereStream([
            messageStart, contentDelta("a"), ("content-delta", #"{"type":"content-delta","index":0,"delta":{"#),
            messageEnd(#"{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":5,"output_tokens":2}}}"#),
        ])
        let run = cohereStreamReader().run(stream)
        #expect(run.reading.note == "malformed stream event")
        #expect(run.reading.usage == TokenUsage(inputTokens: 5, outputTokens: 2))
        #expect(run.reading.completed)
        expectSplitInvariant(stream, equals: run) { cohereStreamReader() }
    }

    @Test("unknown events, debug events and a trailing [DONE] are passed over quietly")
    func unknownEvents() {
        let end = messageEnd(#"{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":5,"output_tokens":2}}}"#)
        let plain = cohereStream([messageStart, contentDelta("a"), end])
        let stream =
            cohereStream([
                messageStart, ("debug", #"{"type":"debug","prompt":"<BOS_TOKEN>…"}"#),
                ("future-event", #"{"type":"future-event","delta":{"usage":{"billed_units":{"input_tokens":999}}}}"#),
                contentDelta("a"), ("citation-start", #"{"type":"citation-start","index":0,"delta":{"message":{"citations":{}}}}"#), end,
            ]) + Array(utf8: "data: [DONE]\n\n")
        let run = cohereStreamReader().run(stream)
        #expect(run.reading == cohereStreamReader().run(plain).reading)
        #expect(run.reading.note == nil && run.reading.completed)
        #expect(run.clientBytes == stream)
    }

    @Test("usage missing or null in message-end: completed, no usage, no note")
    func usageMissing() {
        for delta in [#"{"finish_reason":"COMPLETE"}"#, #"{"finish_reason":"COMPLETE","usage":null}"#] {
            let reading = cohereStreamReader().run(cohereStream([messageStart, contentDelta("a"), messageEnd(delta)])).reading
            #expect(reading.usage == nil && reading.rawUsage == nil)
            #expect(reading.completed && reading.note == nil)
            #expect(reading.servedModel == "command-a-03-2025")
        }
    }

    @Test("a body that is not an event stream never crashes and never completes", arguments: ["", "nope", "data: {", "\u{0}\r\r\n:"])
    func notAStream(_ text: String) {
        let reading = cohereStreamReader().run(Array(utf8: text)).reading
        #expect(!reading.completed && reading.usage == nil && reading.note != nil)
    }

    // MARK: - Plain bodies

    @Test("an error body reads as complete, without usage or model")
    func errorBody() {
        let body = Array(utf8: #"{"id":"5d5e5ab4-0f2b-4c3b-9b8e-2f1c7e0a6a11","message":"invalid request: model 'command-x' not found"}"#)
        let reading = cohereJSONReader().run(body).reading
        #expect(reading.completed)
        #expect(reading.usage == nil && reading.rawUsage == nil && reading.servedModel == nil)
        #expect(reading.note == nil)
    }

    @Test("a plain body cut short is noted, never complete")
    func plainBodyCut() {
        let recorded = RecordedCase.named("cohere-chat-json-basic")
        let reading = cohereJSONReader().run([recorded.body.dropLast()]).reading
        #expect(!reading.completed && reading.note != nil)
    }

    // MARK: - Requests

    @Test("the request: model, stream, max_tokens read; an alias replaces only the model; the alias is what was asked for")
    func request() throws {
        let format = APIName.cohereChat.wireFormat
        #expect(format.api == .cohereChat)
        let body = #"{"model":"fast","stream":true,"max_tokens":300,"messages":[{"role":"user","content":"model"}]}"#
        let aliased = try format.prepare(
            body: Array(utf8: body), options: RequestOptions(acceptsStreamUsageOption: true, upstreamModel: "command-a-03-2025", path: "/v2/chat")
        )
        #expect(aliased.model == "fast" && aliased.stream && aliased.maxOutputTokens == 300 && !aliased.injectedStreamUsage)
        #expect(aliased.rewrittenBody?.text == body.replacingOccurrences(of: #""fast""#, with: #""command-a-03-2025""#))
        let plain = try format.prepare(
            body: Array(utf8: #"{"model":"command-r","messages":[]}"#), options: RequestOptions(acceptsStreamUsageOption: true))
        #expect(!plain.stream, "Cohere streams only when asked")
    }
}

// MARK: - Helpers

/// A Cohere meter for a synthetic stream answering a request for command-a-03-2025.
private func cohereStreamReader() -> any ResponseReader {
    APIName.cohereChat.wireFormat.makeReader(for: PreparedRequest(model: "command-a-03-2025", stream: true), contentType: "text/event-stream")
}

/// A Cohere meter for a synthetic plain body.
private func cohereJSONReader() -> any ResponseReader {
    APIName.cohereChat.wireFormat.makeReader(for: PreparedRequest(model: "command-a-03-2025", stream: false), contentType: "application/json")
}

/// A stream of typed events, each an `event:` and a `data:` line and a blank line, as Cohere writes them.
private func cohereStream(_ events: [(type: String, data: String)]) -> [UInt8] {
    Array(utf8: events.map { "event: \($0.type)\ndata: \($0.data)\n\n" }.joined())
}

private let messageStart = (
    type: "message-start",
    data:
        #"{"id":"29f14a5a","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}"#
)

/// A text `content-delta` event.
private func contentDelta(_ text: String) -> (type: String, data: String) {
    ("content-delta", #"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"\#(text)"}}}}"#)
}

/// A `message-end` event with the given raw delta.
private func messageEnd(_ delta: String) -> (type: String, data: String) {
    ("message-end", #"{"type":"message-end","delta":\#(delta)}"#)
}
