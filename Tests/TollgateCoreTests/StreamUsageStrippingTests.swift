import Foundation
import Testing
import TollgateCore

/// When the proxy added the usage opt-in, the meter still reads the usage but takes it back out of the stream:
/// the client gets the bytes it would have got without the option, at any split of the upstream's stream.
@Suite("Stream usage stripping")
struct StreamUsageStrippingTests {
    /// The recorded streams whose request asked for usage: each stands for the upstream's answer to a request the
    /// proxy opted in.
    static let optedInStreams = RecordedCase.streams.filter { $0.api != .openAIResponses && $0.requestMembers["stream_options"] != nil }

    /// The stream without its usage: blocks carrying a usage object dropped, `,"usage":null` members removed.
    /// Built with plain string operations, independently of the code under test.
    static func withoutUsage(_ stream: [UInt8], eventSeparator: String = "\n\n") -> [UInt8] {
        let blocks = stream.text.components(separatedBy: eventSeparator).filter { !$0.contains(#""usage":{"#) }
        return Array(utf8: blocks.joined(separator: eventSeparator).replacingOccurrences(of: #","usage":null"#, with: ""))
    }

    @Test("the covered cases")
    func coverage() {
        #expect(Set(Self.optedInStreams.map(\.id)).isSuperset(of: ["openai-chat-stream-include-usage", "openai-completions-stream-usage"]))
    }

    @Test("recorded usage streams reach the client without usage, at every split", .tags(.exhaustive), arguments: optedInStreams)
    func recordedStreamAtEverySplit(_ recorded: RecordedCase) throws {
        // The client's request: the recorded one without its opt-in; the proxy puts it back.
        let clientRequest = recorded.requestBody(without: "stream_options")
        let request = try recorded.format.prepare(body: clientRequest, options: RequestOptions(acceptsStreamUsageOption: true))
        #expect(request.injectedStreamUsage)
        #expect(sameJSON(try #require(request.rewrittenBody), recorded.requestBody), "upstream gets the recorded request")

        let expectedClient = Self.withoutUsage(recorded.body)
        #expect(expectedClient.count < recorded.body.count)
        #expect(!expectedClient.text.contains(#""usage""#))

        let meter = recorded.meter(for: request)
        #expect(meter.rewrites)
        let whole = meter.run(recorded.body)
        #expect(whole.clientBytes.text == expectedClient.text)
        #expect(whole.clientBytes == expectedClient)
        #expect(TokenClasses(whole.reading.usage) == recorded.expected.classes)
        #expect(whole.reading.servedModel == recorded.expected.model)
        #expect(whole.reading.completed)

        // Stripping changes what the client gets, never what is read.
        let plain = recorded.meter(for: try recorded.prepare()).run(recorded.body)
        #expect(!recorded.meter(for: try recorded.prepare()).rewrites)
        #expect(whole.reading == plain.reading)

        expectSplitInvariant(recorded.body, equals: whole) { recorded.meter(for: request) }
    }

    @Test("a usage chunk that still has a choice keeps the choice and loses the usage (OpenRouter)")
    func usageWithChoice() {
        let stream = sseStream([
            chatChunk(content: "Hel", usage: "null"),
            chatChunk(content: "lo", usage: chatUsage(prompt: 10, completion: 2)),
            "[DONE]",
        ])
        let expected = sseStream([chatChunk(content: "Hel"), chatChunk(content: "lo"), "[DONE]"])
        let run = chatStreamReader(rewriting: true).run(stream)
        #expect(run.clientBytes.text == expected.text)
        #expect(TokenClasses(run.reading.usage) == TokenClasses(input: 10, output: 2))
        #expect(run.reading.contentEvents == 2)
        expectSplitInvariant(stream, equals: run) { chatStreamReader(rewriting: true) }
    }

    @Test("usage members anywhere in the chunk, with any spacing, are removed with one comma")
    func memberPositions() {
        let stream = sseStream([
            #"{"usage":null,"id":"a","choices":[{"index":0,"delta":{"content":"x"}}]}"#,
            #"{"id":"b", "usage" : null ,"choices":[{"index":0,"delta":{"content":"y"}}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"content":"z"}}], "usage": null}"#,
            #"{"usage":null}"#,
            #"{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3}}"#,
            "[DONE]",
        ])
        let expected = sseStream([
            #"{"id":"a","choices":[{"index":0,"delta":{"content":"x"}}]}"#,
            #"{"id":"b" ,"choices":[{"index":0,"delta":{"content":"y"}}]}"#,  // the comma before the member goes
            #"{"id":"c","choices":[{"index":0,"delta":{"content":"z"}}]}"#,
            #"{}"#,
            "[DONE]",
        ])
        let run = chatStreamReader(rewriting: true).run(stream)
        #expect(run.clientBytes.text == expected.text)
        #expect(TokenClasses(run.reading.usage) == TokenClasses(input: 4, output: 3))
        expectSplitInvariant(stream, equals: run) { chatStreamReader(rewriting: true) }
    }

    @Test("CRLF line ends and comments survive stripping byte for byte")
    func crlfAndComments() {
        let recorded = RecordedCase.named("openai-chat-stream-include-usage")
        let stream = Array(utf8: ": OPENROUTER PROCESSING\r\n\r\n" + recorded.body.text.replacingOccurrences(of: "\n", with: "\r\n"))
        let expected = Array(
            utf8: ": OPENROUTER PROCESSING\r\n\r\n" + Self.withoutUsage(recorded.body).text.replacingOccurrences(of: "\n", with: "\r\n")
        )
        let run = chatStreamReader(rewriting: true).run(stream)
        #expect(run.clientBytes.text == expected.text)
        #expect(TokenClasses(run.reading.usage) == recorded.expected.classes)
        #expect(run.reading.completed)
        expectSplitInvariant(stream, equals: run) { chatStreamReader(rewriting: true) }
    }

    @Test("a usage chunk without a choices member is dropped too")
    func usageWithoutChoices() {
        let stream = sseStream([
            chatChunk(content: "a"),
            #"{"id":"chatcmpl-1","object":"chat.completion.chunk","usage":{"prompt_tokens":9,"completion_tokens":1}}"#,
            "[DONE]",
        ])
        let run = chatStreamReader(rewriting: true).run(stream)
        #expect(run.clientBytes.text == sseStream([chatChunk(content: "a"), "[DONE]"]).text)
        #expect(TokenClasses(run.reading.usage) == TokenClasses(input: 9, output: 1))
        #expect(run.reading == chatStreamReader().run(stream).reading)
        #expect(run.reading.contentEvents == 1)
    }

    @Test("a stream without any usage passes through unchanged")
    func nothingToStrip() {
        let recorded = RecordedCase.named("openai-chat-stream-no-usage")
        let run = chatStreamReader(rewriting: true).run(recorded.body)
        #expect(run.clientBytes == recorded.body)
        #expect(run.reading.usage == nil)
        #expect(run.reading.completed)
    }

    @Test("a partial event is held back only until it is complete")
    func holdsPartialEvent() {
        let first = Array(utf8: "data: " + chatChunk(content: "a", usage: "null") + "\n\n")
        var meter = chatStreamReader(rewriting: true)
        let half = first.count / 2
        let out1 = first[..<half].withUnsafeBytes { meter.observe($0) }
        #expect(out1 == [], "nothing of an unfinished event goes out")
        let out2 = first[half...].withUnsafeBytes { meter.observe($0) }
        #expect(out2 == Array(utf8: "data: " + chatChunk(content: "a") + "\n\n"))
        let (_, tail) = meter.finish()
        #expect(tail == nil)
    }
}
