import Testing
import TollgateCore

/// Anthropic Messages: the recorded responses read as their case.json expects, whole and split at any byte; stream
/// usage is merged field by field (last value wins, never added); cut, broken and failed streams are read as far as
/// they go and noted.
@Suite("Anthropic Messages")
struct AnthropicMessagesTests {
    static let recorded = RecordedCase.all.filter { $0.api == .anthropicMessages }

    // MARK: - Recorded responses

    @Test("all anthropic-* cases were copied with their bodies")
    func fixtureSet() {
        #expect(Self.recorded.count == 10)
        #expect(Self.recorded.filter(\.stream).count == 9)
        #expect(Self.recorded.allSatisfy { !$0.body.isEmpty && $0.id.hasPrefix("anthropic-") && $0.status == 200 })
    }

    @Test("usage, served model and tier match expected", arguments: Self.recorded)
    func readsExpectedUsage(_ recorded: RecordedCase) throws {
        let request = try recorded.prepare()
        #expect(request.stream == recorded.stream)
        #expect(request.rewrittenBody == nil, "nothing is added to an Anthropic request")
        #expect(request.model == recorded.requestMembers["model"]?.value as? String)
        #expect(request.maxOutputTokens == recorded.requestMembers["max_tokens"]?.value as? Int)
        let meter = recorded.meter(for: request)
        #expect(!meter.rewrites)
        let run = meter.run(recorded.body)
        let reading = run.reading
        #expect(reading.servedModel == recorded.expected.model)
        #expect(TokenClasses(reading.usage) == recorded.expected.classes)
        #expect(reading.usage?.cacheWrite1hTokens == 0)
        #expect(reading.usage?.webSearchRequests == 0 && reading.usage?.webFetchRequests == 0)
        #expect(reading.serviceTier == "standard")
        #expect(reading.completed)
        #expect(reading.note == nil)
        #expect(run.clientBytes == recorded.body)
    }

    @Test("the raw usage is the last usage object, verbatim; content events are counted", arguments: Self.recorded)
    func rawUsageAndContentEvents(_ recorded: RecordedCase) throws {
        let reading = recorded.meter(for: try recorded.prepare()).run(recorded.body).reading
        let raw = try #require(reading.rawUsage)
        let compactBody = String(decoding: JSONEdit.compacted(recorded.body), as: UTF8.self)
        #expect(compactBody.contains(raw))
        let object = try #require(parseJSONObject(Array(utf8: raw)))
        #expect(object["output_tokens"] as? Int == recorded.expected.classes.output)
        if recorded.stream {
            let lastDelta = try #require(recorded.body.text.split(separator: "\n").last { $0.hasPrefix(#"data: {"type":"message_delta""#) })
            let deltaUsage = try #require(parseJSONObject(Array(utf8: String(lastDelta.dropFirst(6))))?["usage"] as? [String: Any])
            #expect(sameJSON(Array(utf8: raw), serializeJSON(deltaUsage)), "the raw usage is the last message_delta's")
            #expect(reading.contentEvents == recorded.body.text.components(separatedBy: "event: content_block_delta\n").count - 1)
        } else {
            #expect(reading.contentEvents == 0)
        }
    }

    @Test("CRLF and CR line ends and comment lines read as the recorded stream", arguments: ["\r\n", "\r"])
    func lineEnds(_ lineEnd: String) {
        let recorded = RecordedCase.named("anthropic-stream-tools-2")
        let stream = Array(utf8: ": keep-alive\n\n" + recorded.body.text.replacingOccurrences(of: "\n", with: lineEnd))
        let plain = anthropicStreamReader().run(recorded.body)
        let run = anthropicStreamReader().run(stream)
        #expect(run.reading == plain.reading)
        #expect(run.clientBytes == stream)
        expectSplitInvariant(stream, equals: run) { anthropicStreamReader() }
    }

    // MARK: - Mapping

    @Test("a plain body: every class, the 1-hour writes, thinking, server tools, tier")
    func plainBodyClasses() {
        let body = Array(
            utf8: #"{"id":"msg_1","type":"message","model":"claude-sonnet-4-6","content":[{"type":"text","text":"usage"}],"#
                + #""usage":{"input_tokens":12,"cache_creation_input_tokens":300,"cache_read_input_tokens":4000,"#
                + #""cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"output_tokens":90,"#
                + #""output_tokens_details":{"thinking_tokens":60},"server_tool_use":{"web_search_requests":3,"web_fetch_requests":1},"#
                + #""service_tier":"priority"}}"#)
        let run = anthropicJSONReader().run(body)
        #expect(
            run.reading.usage
                == TokenUsage(
                    inputTokens: 12, cacheReadTokens: 4000, cacheWriteTokens: 300, cacheWrite1hTokens: 200, outputTokens: 90,
                    reasoningTokens: 60, webSearchRequests: 3, webFetchRequests: 1
                ))
        #expect(run.reading.servedModel == "claude-sonnet-4-6")
        #expect(run.reading.serviceTier == "priority")
        #expect(run.reading.completed && run.reading.note == nil)
        expectSplitInvariant(body, equals: run) { anthropicJSONReader() }
    }

    @Test(
        "cache writes: the total, else the breakdown's sum; the 1-hour part never above the total",
        arguments: [
            (#"{"input_tokens":1,"cache_creation_input_tokens":50,"output_tokens":2}"#, 50, 0),
            (#"{"input_tokens":1,"cache_creation":{"ephemeral_5m_input_tokens":5,"ephemeral_1h_input_tokens":7},"output_tokens":2}"#, 12, 7),
            (#"{"input_tokens":1,"cache_creation_input_tokens":3,"cache_creation":{"ephemeral_1h_input_tokens":9},"output_tokens":2}"#, 3, 3),
            (#"{"input_tokens":1,"cache_creation_input_tokens":null,"cache_creation":null,"output_tokens":2}"#, 0, 0),
        ])
    func cacheWrites(_ usage: String, total: Int, oneHour: Int) throws {
        let canonical = try #require(AnthropicUsage.canonical(Array(utf8: usage)))
        #expect(canonical.cacheWriteTokens == total)
        #expect(canonical.cacheWrite1hTokens == oneHour)
        #expect(canonical.inputTokens == 1 && canonical.outputTokens == 2)
    }

    @Test("only whole numbers count", arguments: [#"{"output_tokens":"5"}"#, #"{"output_tokens":5.0}"#, #"{"output_tokens":-5}"#, "{}"])
    func noCounts(_ usage: String) {
        #expect(AnthropicUsage.canonical(Array(utf8: usage)) == nil)
    }

    // MARK: - Stream merging

    @Test("an older API version: message_delta carries output_tokens only; the input side stays from message_start")
    func deltaWithOutputOnly() {
        let stream = anthropicStream([
            messageStart(
                #"{"input_tokens":25,"cache_creation_input_tokens":40,"cache_read_input_tokens":1000,"#
                    + #""cache_creation":{"ephemeral_5m_input_tokens":10,"ephemeral_1h_input_tokens":30},"output_tokens":1,"service_tier":"priority"}"#
            ),
            textDelta("Hi"),
            ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#),
            messageStop,
        ])
        let run = anthropicStreamReader().run(stream)
        #expect(
            run.reading.usage
                == TokenUsage(inputTokens: 25, cacheReadTokens: 1000, cacheWriteTokens: 40, cacheWrite1hTokens: 30, outputTokens: 15))
        #expect(run.reading.serviceTier == "priority")
        #expect(run.reading.rawUsage == #"{"output_tokens":15}"#)
        #expect(run.reading.completed && run.reading.note == nil)
        #expect(run.reading.contentEvents == 1)
        expectSplitInvariant(stream, equals: run) { anthropicStreamReader() }
    }

    @Test("null input-side fields in message_delta keep message_start's values")
    func nullFieldsKeepEarlier() {
        let stream = anthropicStream([
            messageStart(#"{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":7,"output_tokens":1}"#),
            (
                "message_delta",
                #"{"type":"message_delta","delta":{},"usage":{"input_tokens":null,"cache_creation_input_tokens":null,"#
                    + #""cache_read_input_tokens":null,"output_tokens":9,"server_tool_use":null}}"#
            ),
            messageStop,
        ])
        #expect(anthropicStreamReader().run(stream).reading.usage == TokenUsage(inputTokens: 25, cacheReadTokens: 7, outputTokens: 9))
    }

    @Test("several message_delta events (server tools): the last value of each field, never a sum")
    func severalDeltas() {
        let stream = anthropicStream([
            messageStart(#"{"input_tokens":100,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}"#),
            textDelta("Searching"),
            (
                "message_delta",
                #"{"type":"message_delta","delta":{},"usage":{"input_tokens":2100,"cache_read_input_tokens":0,"#
                    + #""output_tokens":50,"server_tool_use":{"web_search_requests":1}}}"#
            ),
            textDelta("Found it"),
            (
                "message_delta",
                #"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":5300,"#
                    + #""cache_read_input_tokens":2000,"output_tokens":180,"output_tokens_details":{"thinking_tokens":70},"#
                    + #""server_tool_use":{"web_search_requests":2,"web_fetch_requests":1}}}"#
            ),
            messageStop,
        ])
        let run = anthropicStreamReader().run(stream)
        #expect(
            run.reading.usage
                == TokenUsage(
                    inputTokens: 5300, cacheReadTokens: 2000, outputTokens: 180, reasoningTokens: 70, webSearchRequests: 2,
                    webFetchRequests: 1
                ))
        #expect(run.reading.rawUsage?.hasPrefix(#"{"input_tokens":5300,"#) == true)
        #expect(run.reading.contentEvents == 2)
        expectSplitInvariant(stream, equals: run) { anthropicStreamReader() }
    }

    @Test("the event name is optional: the data's type is read when it is missing")
    func withoutEventNames() {
        let recorded = RecordedCase.named("anthropic-stream-prompt")
        let lines = recorded.body.text.split(separator: "\n", omittingEmptySubsequences: false)
        let stream = Array(utf8: lines.filter { !$0.hasPrefix("event:") }.joined(separator: "\n"))
        let run = anthropicStreamReader().run(stream)
        #expect(run.reading == anthropicStreamReader().run(recorded.body).reading)
        #expect(TokenClasses(run.reading.usage) == recorded.expected.classes)
    }

    // MARK: - Adversarial streams

    @Test("a stream cut anywhere: completed only with message_stop, output from message_start until message_delta is whole")
    func streamCutAnywhere() throws {
        let recorded = RecordedCase.named("anthropic-stream-tools-2")
        let body = recorded.body
        // An event's data is whole once its line is (a last line without its line end is read at the finish).
        let startEnd = try lineEnd(after: #"data: {"type":"message_start""#, in: body)
        let deltaEnd = try lineEnd(after: #"data: {"type":"message_delta""#, in: body)
        let stopEnd = try #require(body.lastIndex(of: UInt8(ascii: "}"))) + 1
        for length in 0...body.count {
            let reading = anthropicStreamReader().run([body[..<length]]).reading
            #expect(reading.completed == (length >= stopEnd), "cut at \(length)")
            #expect((reading.note == nil) == (length >= stopEnd), "cut at \(length): \(reading.note ?? "")")
            #expect((reading.usage != nil) == (length >= startEnd), "cut at \(length)")
            if length >= startEnd {
                #expect(reading.usage?.inputTokens == 678, "cut at \(length)")
                #expect(reading.usage?.outputTokens == (length >= deltaEnd ? 82 : 1), "cut at \(length)")
                #expect(reading.servedModel == recorded.expected.model)
            }
        }
    }

    @Test("a stream cut before message_stop is noted, with the usage seen so far")
    func cutBeforeStop() throws {
        let recorded = RecordedCase.named("anthropic-stream-thinking")
        let cut = try offset(after: "event: message_stop\n", in: recorded.body)
        let run = anthropicStreamReader().run([recorded.body[..<cut]])
        #expect(!run.reading.completed)
        #expect(run.reading.note == "stream ended before message_stop")
        #expect(TokenClasses(run.reading.usage) == recorded.expected.classes)
        #expect(run.clientBytes == Array(recorded.body[..<cut]))

        var meter = anthropicStreamReader()
        _ = recorded.body[..<cut].withUnsafeBytes { meter.observe($0) }
        #expect(!meter.reachedEnd)
        _ = recorded.body[cut...].withUnsafeBytes { meter.observe($0) }
        #expect(meter.reachedEnd)
    }

    @Test("a malformed event in the middle is noted and later usage still read")
    func malformedEvent() {
        let stream = anthropicStream([
            messageStart(#"{"input_tokens":8,"output_tokens":1}"#),
            ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"#),
            ("message_delta", "{not json"),
            ("message_delta", #"{"type":"message_delta","delta":{},"usage":{"output_tokens":6}}"#),
            messageStop,
        ])
        let run = anthropicStreamReader().run(stream)
        #expect(run.reading.note == "malformed stream event")
        #expect(run.reading.usage == TokenUsage(inputTokens: 8, outputTokens: 6))
        #expect(run.reading.completed)
        #expect(run.clientBytes == stream)
        expectSplitInvariant(stream, equals: run) { anthropicStreamReader() }
    }

    @Test("unknown event types and pings are ignored, usage objects in them included")
    func unknownEvents() {
        let plain = anthropicStream([
            messageStart(#"{"input_tokens":8,"output_tokens":1}"#), textDelta("a"),
            ("message_delta", #"{"type":"message_delta","delta":{},"usage":{"output_tokens":6}}"#), messageStop,
        ])
        let stream = anthropicStream([
            ("ping", #"{"type": "ping"}"#),
            messageStart(#"{"input_tokens":8,"output_tokens":1}"#),
            ("future_event", #"{"type":"future_event","usage":{"input_tokens":999,"output_tokens":999},"message":{"model":"x"}}"#),
            textDelta("a"),
            ("content_block_start", #"{"type":"content_block_start","index":1,"content_block":{"type":"future_block"}}"#),
            ("message_delta", #"{"type":"message_delta","delta":{},"usage":{"output_tokens":6}}"#),
            ("ping", #"{"type": "ping"}"#),
            messageStop,
        ])
        let run = anthropicStreamReader().run(stream)
        #expect(run.reading == anthropicStreamReader().run(plain).reading)
        #expect(run.reading.note == nil)
        #expect(run.clientBytes == stream)
        expectSplitInvariant(stream, equals: run) { anthropicStreamReader() }
    }

    @Test("usage null or missing everywhere: no usage, no raw usage, no note")
    func usageNullOrMissing() {
        let stream = anthropicStream([
            (
                "message_start",
                #"{"type":"message_start","message":{"model":"claude-haiku-4-5-20251001","content":[],"usage":null}}"#
            ),
            textDelta("a"),
            ("message_delta", #"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#),
            ("message_delta", #"{"type":"message_delta","delta":{},"usage":null}"#),
            messageStop,
        ])
        let reading = anthropicStreamReader().run(stream).reading
        #expect(reading.usage == nil)
        #expect(reading.rawUsage == nil)
        #expect(reading.completed)
        #expect(reading.note == nil)
        #expect(reading.servedModel == "claude-haiku-4-5-20251001")
        #expect(reading.contentEvents == 1)
    }

    @Test("a usage object without counts is noted and does not replace the raw usage")
    func usageWithoutCounts() {
        let stream = anthropicStream([
            messageStart(#"{"input_tokens":8,"output_tokens":1}"#),
            ("message_delta", #"{"type":"message_delta","delta":{},"usage":{"iterations":[{"input_tokens":8}]}}"#),
            messageStop,
        ])
        let reading = anthropicStreamReader().run(stream).reading
        #expect(reading.note == "usage object without token counts")
        #expect(reading.usage == TokenUsage(inputTokens: 8, outputTokens: 1))
        #expect(reading.rawUsage == #"{"input_tokens":8,"output_tokens":1}"#)
    }

    @Test("an error event mid-stream ends the inference uncompleted, noted, with the usage seen before it")
    func errorEvent() {
        let stream = anthropicStream([
            messageStart(#"{"input_tokens":30,"cache_read_input_tokens":5,"output_tokens":1}"#),
            textDelta("Once upon"),
            ("error", #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
        ])
        let run = anthropicStreamReader().run(stream)
        #expect(!run.reading.completed)
        #expect(run.reading.note == "stream error event: overloaded_error: Overloaded")
        #expect(run.reading.usage == TokenUsage(inputTokens: 30, cacheReadTokens: 5, outputTokens: 1))
        #expect(run.reading.contentEvents == 1)
        #expect(run.clientBytes == stream)
        var meter = anthropicStreamReader()
        _ = stream.withUnsafeBytes { meter.observe($0) }
        #expect(meter.reachedEnd, "the error is the stream's terminal event")
        expectSplitInvariant(stream, equals: run) { anthropicStreamReader() }

        // Alone, with no message before it; and a message_stop after an error does not make it complete.
        let alone = anthropicStreamReader().run(anthropicStream([("error", #"{"type":"error","error":{"type":"api_error"}}"#)])).reading
        #expect(alone.note == "stream error event: api_error")
        #expect(!alone.completed && alone.usage == nil)
        let stopped = anthropicStreamReader().run(stream + anthropicStream([messageStop])).reading
        #expect(!stopped.completed)
    }

    @Test("a body that is not an event stream never crashes and never completes", arguments: ["", "nope", "data: {", "\u{0}\r\r\n:"])
    func notAStream(_ text: String) {
        let reading = anthropicStreamReader().run(Array(utf8: text)).reading
        #expect(!reading.completed)
        #expect(reading.usage == nil)
        #expect(reading.note != nil)
    }

    // MARK: - Plain bodies

    @Test("an error body reads as complete, without usage or model")
    func errorBody() {
        let body = Array(utf8: #"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}"#)
        let reading = anthropicJSONReader().run(body).reading
        #expect(reading.completed)
        #expect(reading.usage == nil && reading.rawUsage == nil && reading.servedModel == nil)
        #expect(reading.note == nil)
    }

    @Test("a plain body cut short is noted, never complete")
    func plainBodyCut() {
        let recorded = RecordedCase.named("anthropic-messages-json-basic")
        let reading = anthropicJSONReader().run([recorded.body.dropLast()]).reading
        #expect(!reading.completed)
        #expect(reading.note != nil)
    }

    // MARK: - Requests

    @Test("the request: model, stream, max_tokens read; an alias replaces only the model")
    func request() throws {
        let format = APIName.anthropicMessages.wireFormat
        #expect(format.api == .anthropicMessages)
        let body = #"{"model":"fast","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"model"}]}"#
        let plain = try format.prepare(body: Array(utf8: body), options: RequestOptions(acceptsStreamUsageOption: true))
        #expect(plain.model == "fast" && plain.stream && plain.maxOutputTokens == 1024)
        #expect(plain.rewrittenBody == nil && !plain.injectedStreamUsage)
        let aliased = try format.prepare(
            body: Array(utf8: body), options: RequestOptions(acceptsStreamUsageOption: true, upstreamModel: "claude-haiku-4-5")
        )
        #expect(aliased.rewrittenBody?.text == body.replacingOccurrences(of: #""fast""#, with: #""claude-haiku-4-5""#))
        #expect(!aliased.injectedStreamUsage)
        #expect(throws: RequestError.invalidField("stream", "must be a boolean")) {
            try format.prepare(body: Array(utf8: #"{"model":"m","stream":"yes"}"#), options: RequestOptions(acceptsStreamUsageOption: true))
        }
    }
}

// MARK: - Helpers

/// An Anthropic meter for a synthetic stream.
private func anthropicStreamReader() -> any ResponseReader {
    APIName.anthropicMessages.wireFormat.makeReader(
        for: PreparedRequest(model: "claude-sonnet-4-5", stream: true), contentType: "text/event-stream; charset=utf-8"
    )
}

/// An Anthropic meter for a synthetic plain JSON body.
private func anthropicJSONReader() -> any ResponseReader {
    APIName.anthropicMessages.wireFormat.makeReader(for: PreparedRequest(model: "claude-sonnet-4-5", stream: false), contentType: "application/json")
}

/// A stream of named events, each `event:` and `data:` line followed by a blank line, as Anthropic writes them.
private func anthropicStream(_ events: [(name: String, data: String)]) -> [UInt8] {
    Array(utf8: events.map { "event: \($0.name)\ndata: \($0.data)\n\n" }.joined())
}

/// A `message_start` event whose message has the given raw usage.
private func messageStart(_ usage: String) -> (name: String, data: String) {
    (
        "message_start",
        #"{"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_1","type":"message","#
            + #""role":"assistant","content":[],"stop_reason":null,"usage":\#(usage)}}"#
    )
}

/// A text `content_block_delta` event.
private func textDelta(_ text: String) -> (name: String, data: String) {
    ("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\#(text)"}}"#)
}

private let messageStop = (name: "message_stop", data: #"{"type":"message_stop"}"#)

/// Offset just past the first occurrence of `needle` in `haystack`.
private func offset(after needle: String, in haystack: [UInt8]) throws -> Int {
    let range = try #require(haystack.text.range(of: needle))
    return haystack.text.utf8.distance(from: haystack.text.startIndex, to: range.upperBound)
}

/// Offset of the line end that closes the first line containing `needle`.
private func lineEnd(after needle: String, in haystack: [UInt8]) throws -> Int {
    let start = try offset(after: needle, in: haystack)
    return try #require(haystack[start...].firstIndex(of: 0x0A))
}
