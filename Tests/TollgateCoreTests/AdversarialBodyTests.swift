import Foundation
import Testing
import TollgateCore

/// Cut, malformed, empty and non-JSON bodies never crash a meter: it reads what it can, says the response did not
/// complete, and notes what it saw.
@Suite("Adversarial bodies")
struct AdversarialBodyTests {
    static let usageStream = RecordedCase.named("openai-chat-stream-include-usage")

    /// Offset just past the first occurrence of `needle` in `haystack`.
    private func offset(after needle: String, in haystack: [UInt8]) throws -> Int {
        let range = try #require(haystack.text.range(of: needle))
        return haystack.text.utf8.distance(from: haystack.text.startIndex, to: range.upperBound)
    }

    @Test("a stream cut anywhere: completed only with [DONE], usage only once its chunk is whole")
    func streamCutAnywhere() throws {
        let body = Self.usageStream.body
        let usageEnd = try offset(after: #""obfuscation":"t9"}"#, in: body)
        let doneEnd = try offset(after: "data: [DONE]", in: body)
        for length in 0...body.count {
            let reading = chatStreamReader().run([body[..<length]]).reading
            #expect(reading.completed == (length >= doneEnd), "cut at \(length)")
            #expect((reading.usage != nil) == (length >= usageEnd), "cut at \(length)")
        }
    }

    @Test("a stream cut in the middle of an event")
    func streamCutMidEvent() throws {
        let body = Self.usageStream.body
        let cut = try offset(after: #""usage":{"prompt_tokens":12,"#, in: body)
        let run = chatStreamReader().run([body[..<cut]])
        #expect(!run.reading.completed)
        #expect(run.reading.usage == nil)
        #expect(run.reading.note != nil, "the broken last event is noted")
        #expect(run.reading.servedModel == "gpt-5-nano-2025-08-07", "what came before is still read")
        #expect(run.clientBytes == Array(body[..<cut]))
        // Rewriting: the unfinished event is still handed to the client at the end, not lost.
        let rewritten = chatStreamReader(rewriting: true).run([body[..<cut]])
        #expect(!rewritten.reading.completed)
        #expect(rewritten.clientBytes.text.hasSuffix(#""usage":{"prompt_tokens":12,"#))
    }

    @Test("a malformed event in the middle is noted and later usage still read")
    func malformedEvent() {
        let stream = sseStream([
            chatChunk(content: "a", usage: "null"),
            #"{"id":"chatcmpl-1","choices":[{"delta":{"content":"b"}}],"usage":nul"#,
            "{not json at all",
            chatChunk(content: "c", usage: "null"),
            chatChunk(content: nil, usage: chatUsage(prompt: 20, completion: 7, cached: 4), choicesEmpty: true),
            "[DONE]",
        ])
        let run = chatStreamReader().run(stream)
        #expect(run.reading.note != nil)
        #expect(TokenClasses(run.reading.usage) == TokenClasses(input: 16, cacheRead: 4, output: 7))
        #expect(run.reading.completed)
        #expect(run.clientBytes == stream)
        expectSplitInvariant(stream, equals: run) { chatStreamReader() }
    }

    @Test("usage null everywhere: no usage")
    func usageNullEverywhere() {
        let stream = sseStream([chatChunk(content: "a", usage: "null"), chatChunk(content: "b", usage: "null"), "[DONE]"])
        let reading = chatStreamReader().run(stream).reading
        #expect(reading.usage == nil)
        #expect(reading.rawUsage == nil)
        #expect(reading.completed)
        #expect(reading.note == nil)
        #expect(reading.servedModel == "gpt-4o-mini-2024-07-18")
        #expect(reading.contentEvents == 2)
    }

    @Test("the last usage wins; running totals are never added")
    func lastUsageWins() {
        let stream = sseStream([
            chatChunk(content: "a", usage: chatUsage(prompt: 5, completion: 1)),
            chatChunk(content: "b", usage: "null"),
            chatChunk(content: nil, usage: chatUsage(prompt: 5, completion: 9), choicesEmpty: true),
            "[DONE]",
        ])
        #expect(TokenClasses(chatStreamReader().run(stream).reading.usage) == TokenClasses(input: 5, output: 9))
    }

    @Test("a usage object without token counts is noted, not read as zero")
    func usageWithoutCounts() {
        let stream = sseStream([chatChunk(content: nil, usage: #"{"cost":0.1}"#, choicesEmpty: true), "[DONE]"])
        let reading = chatStreamReader().run(stream).reading
        #expect(reading.usage == nil)
        #expect(reading.note != nil)
    }

    @Test(
        "comment lines and CR, CRLF line ends read as the plain stream",
        arguments: [("\n", "\n"), ("\r\n", "\r\n"), ("\r", "\r"), ("\r\n", "\n")]
    )
    func commentsAndLineEnds(lineEnd: String, commentEnd: String) {
        let original = Self.usageStream.body.text
        let events = original.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        // Comments inside events, keep-alive comment blocks between them, the chosen line end everywhere.
        let stream = Array(utf8: events.map { ": keep-alive\(commentEnd)\(commentEnd): ping\(commentEnd)\($0)\(lineEnd)\(lineEnd)" }.joined())
        let plain = chatStreamReader().run(Self.usageStream.body)
        let run = chatStreamReader().run(stream)
        #expect(run.reading == plain.reading)
        #expect(TokenClasses(run.reading.usage) == Self.usageStream.expected.classes)
        #expect(run.clientBytes == stream)
        expectSplitInvariant(stream, equals: run) { chatStreamReader() }
    }

    @Test("a last event without its blank line is still read")
    func missingFinalBlankLine() {
        let stream = Array(
            utf8: "data: " + chatChunk(content: nil, usage: chatUsage(prompt: 3, completion: 2), choicesEmpty: true) + "\n\ndata: [DONE]")
        let reading = chatStreamReader().run(stream).reading
        #expect(reading.completed)
        #expect(TokenClasses(reading.usage) == TokenClasses(input: 3, output: 2))
    }

    @Test("an empty body", arguments: [false, true])
    func emptyBody(stream: Bool) {
        let run = (stream ? chatStreamReader(rewriting: true) : chatJSONReader()).run([UInt8]())
        #expect(!run.reading.completed)
        #expect(run.reading.usage == nil)
        #expect(run.reading.servedModel == nil)
        #expect(run.clientBytes.isEmpty)
        if !stream { #expect(run.reading.note != nil) }
    }

    @Test("a JSON body cut short is never complete", arguments: RecordedCase.all.filter { !$0.stream })
    func jsonCutShort(_ recorded: RecordedCase) throws {
        let body = recorded.body
        let end = try #require(body.lastIndex(of: UInt8(ascii: "}"))) + 1
        let request = try recorded.prepare()
        for length in 0..<body.count {
            let reading = recorded.meter(for: request).run([body[..<length]]).reading
            #expect(reading.completed == (length >= end), "cut at \(length)")
            if length < end { #expect(reading.note != nil, "cut at \(length)") }
        }
    }

    @Test(
        "a body that is not JSON at all",
        arguments: [
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n",
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
            "Unauthorized",
            "Internal Server Error\n",
            "nope",
            "truth",
            "1x",
            "--5",
            #"{"usage":{"prompt_tokens":1,"completion_tokens":1}} trailing"#,
            #"{"usage":{"prompt_tokens":1,"completion_tokens":1}}{"model":"x"}"#,
            #"{"model":"x"}"y""#,
            "}",
            "\u{0}\u{1}\u{2}",
        ]
    )
    func notJSON(_ text: String) {
        let reading = chatJSONReader().run(Array(utf8: text)).reading
        #expect(!reading.completed)
        #expect(reading.note != nil)
        let streamed = chatStreamReader().run(Array(utf8: text)).reading
        #expect(!streamed.completed)
        #expect(streamed.usage == nil)
    }

    @Test("bare JSON scalars are complete bodies without usage", arguments: ["null", "true", "42", "-1.5e3", #""text""#, "[]"])
    func scalars(_ text: String) {
        let reading = chatJSONReader().run(Array(utf8: text)).reading
        #expect(reading.completed)
        #expect(reading.usage == nil)
    }

    @Test("an error answer to a stream request is read as plain JSON")
    func errorAnswerToStream() throws {
        let recorded = RecordedCase.named("openai-chat-error-400")
        let request = try APIName.openAIChat.wireFormat.prepare(
            body: Array(utf8: #"{"model":"gpt-5-nano","stream":true}"#), options: RequestOptions(acceptsStreamUsageOption: true)
        )
        #expect(request.injectedStreamUsage)
        let run = APIName.openAIChat.wireFormat.makeReader(for: request, contentType: recorded.contentType).run(recorded.body)
        #expect(run.clientBytes == recorded.body)
        #expect(run.reading.completed)
        #expect(run.reading.usage == nil)
    }

    @Test("a Responses stream cut before its terminal event, and one that failed")
    func responsesTerminals() throws {
        let recorded = RecordedCase.named("openai-responses-stream-basic")
        let meter = { recorded.meter(for: PreparedRequest(model: "gpt-5.5", stream: true)) }
        let cut = try offset(after: "event: response.completed", in: recorded.body)
        let reading = meter().run([recorded.body[..<cut]]).reading
        #expect(!reading.completed)
        #expect(reading.usage == nil)
        #expect(reading.servedModel == "gpt-5.5-2026-04-23")

        let failed = Array(utf8: recorded.body.text.replacingOccurrences(of: "response.completed", with: "response.failed"))
        let failedReading = meter().run(failed).reading
        #expect(!failedReading.completed)
        #expect(failedReading.note == "response.failed")
        #expect(TokenClasses(failedReading.usage) == recorded.expected.classes, "a failed response still bills what it used")

        let incomplete = Array(utf8: recorded.body.text.replacingOccurrences(of: "response.completed", with: "response.incomplete"))
        let incompleteReading = meter().run(incomplete).reading
        #expect(incompleteReading.completed)
        #expect(incompleteReading.note == "response.incomplete")
        #expect(TokenClasses(incompleteReading.usage) == recorded.expected.classes)
    }
}
