import Testing
import TollgateCore

/// The OpenAI-compatible family's departures from OpenAI's usage report: Groq's `x_groq.usage` (counted once),
/// DeepSeek's cache hit and miss, xAI's reasoning outside the completion, OpenRouter's cost (information, never
/// billed).
@Suite("OpenAI-compatible quirks")
struct OpenAICompatibleQuirksTests {
    /// The hand-made OpenAI-family responses (Groq stream, xAI reasoning, OpenRouter stream with cost).
    static let fixtures = RecordedCase.handmadeCases.filter { $0.api == .openAIChat }

    @Test("the hand-made Groq, xAI and OpenRouter responses are all there")
    func fixtureSet() {
        #expect(Self.fixtures.map(\.id) == ["groq-chat-stream-x-groq", "openrouter-chat-stream-cost", "xai-chat-json-reasoning"])
    }

    @Test("usage and served model match expected; the raw usage is the provider's own", arguments: Self.fixtures)
    func readsExpectedUsage(_ fixture: RecordedCase) throws {
        let request = try fixture.prepare()
        #expect(!request.injectedStreamUsage, "these clients asked for usage themselves")
        try expectReadsAsExpected(fixture)
    }

    // MARK: - Groq

    @Test("Groq with include_usage: x_groq.usage and the usage chunk carry the same totals, counted once")
    func groqCountedOnce() throws {
        let fixture = RecordedCase.handmade("groq-chat-stream-x-groq")
        let reading = fixture.meter(for: try fixture.prepare()).run(fixture.body).reading
        #expect(reading.usage == TokenUsage(inputTokens: 48, outputTokens: 8))
        let raw = try #require(reading.rawUsage)
        #expect(raw.contains(#""queue_time":0.100731848"#), "Groq's timings stay in the raw usage, unbilled")
    }

    @Test("Groq when the proxy added include_usage: the usage chunk is taken out, x_groq stays, counted once")
    func groqInjectedUsage() throws {
        let fixture = RecordedCase.handmade("groq-chat-stream-x-groq")
        let request = try fixture.format.prepare(
            body: fixture.requestBody(without: "stream_options"), options: RequestOptions(acceptsStreamUsageOption: true))
        #expect(request.injectedStreamUsage)
        let run = fixture.meter(for: request).run(fixture.body)
        #expect(run.reading.usage == TokenUsage(inputTokens: 48, outputTokens: 8))
        #expect(!run.clientBytes.text.contains(#""choices":[],"usage""#), "the client did not ask for the usage chunk")
        #expect(run.clientBytes.text.contains(#""x_groq":{"id":"req_01jr8hj0hzeq9b86xqb5dn7wqs","usage""#), "Groq's own member is left alone")
        #expect(run.reading.completed && run.reading.note == nil)
    }

    @Test("Groq without include_usage (a provider entry that never sends it): x_groq.usage is the usage")
    func groqUsageOnlyInXGroq() throws {
        let fixture = RecordedCase.handmade("groq-chat-stream-x-groq")
        let chunks = fixture.body.text.components(separatedBy: "\n\n").filter { !$0.contains(#""choices":[],"usage""#) }
        let stream = Array(utf8: chunks.joined(separator: "\n\n"))
        let request = try fixture.format.prepare(
            body: fixture.requestBody(without: "stream_options"), options: RequestOptions(acceptsStreamUsageOption: false))
        let reading = fixture.meter(for: request).run(stream).reading
        #expect(reading.completed)
        #expect(reading.usage == TokenUsage(inputTokens: 48, outputTokens: 8))
        #expect(reading.rawUsage?.hasPrefix(#"{"queue_time":"#) == true)
    }

    // MARK: - DeepSeek

    @Test("DeepSeek: input is the cache miss, cache read the hit, plain and streamed")
    func deepSeekCacheHitMiss() {
        let usage =
            #"{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":64},"#
            + #""prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36,"completion_tokens_details":{"reasoning_tokens":12}}"#
        let expected = TokenUsage(inputTokens: 36, cacheReadTokens: 64, outputTokens: 20, reasoningTokens: 12)
        #expect(OpenAIUsage.canonical(Array(utf8: usage)) == expected)
        let stream = sseStream([
            chatChunk(content: "a", model: "deepseek-chat"), chatChunk(content: nil, usage: usage, choicesEmpty: true, model: "deepseek-chat"),
            "[DONE]",
        ])
        let reading = chatStreamReader().run(stream).reading
        #expect(reading.usage == expected)
        #expect(reading.servedModel == "deepseek-chat")
        // Without the split, the OpenAI reading applies.
        let withoutSplit = #"{"prompt_tokens":100,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":64}}"#
        #expect(OpenAIUsage.canonical(Array(utf8: withoutSplit)) == TokenUsage(inputTokens: 36, cacheReadTokens: 64, outputTokens: 20))
    }

    // MARK: - xAI

    @Test("xAI: reasoning outside the completion (total = prompt + completion + reasoning) is added to the output")
    func xaiReasoningOutside() throws {
        let fixture = RecordedCase.handmade("xai-chat-json-reasoning")
        let reading = fixture.meter(for: try fixture.prepare()).run(fixture.body).reading
        #expect(reading.usage == TokenUsage(inputTokens: 26, cacheReadTokens: 6, outputTokens: 103, reasoningTokens: 94))
        #expect(reading.rawUsage?.contains(#""cost_in_usd_ticks":7145000"#) == true, "xAI's cost stays information")
    }

    @Test(
        "reasoning inside the completion, or no total to tell, is not added again",
        arguments: [
            (#"{"prompt_tokens":32,"completion_tokens":103,"total_tokens":135,"completion_tokens_details":{"reasoning_tokens":94}}"#, 103),
            (#"{"prompt_tokens":32,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":94}}"#, 9),
            (#"{"prompt_tokens":32,"completion_tokens":9,"total_tokens":41,"completion_tokens_details":{"reasoning_tokens":0}}"#, 9),
        ])
    func reasoningInside(_ usage: String, _ output: Int) throws {
        let canonical = try #require(OpenAIUsage.canonical(Array(utf8: usage)))
        #expect(canonical.outputTokens == output)
    }

    @Test("xAI streamed: the usage chunk before the last one counts; the reasoning is added")
    func xaiStream() {
        let usage =
            #"{"prompt_tokens":32,"completion_tokens":9,"total_tokens":135,"prompt_tokens_details":{"cached_tokens":6},"#
            + #""completion_tokens_details":{"reasoning_tokens":94},"num_sources_used":0}"#
        let stream = sseStream([
            chatChunk(content: "303", model: "grok-3-mini"), chatChunk(content: "", usage: usage, model: "grok-3-mini"),
            chatChunk(content: nil, choicesEmpty: true, model: "grok-3-mini"), "[DONE]",
        ])
        let reading = chatStreamReader().run(stream).reading
        #expect(reading.usage == TokenUsage(inputTokens: 26, cacheReadTokens: 6, outputTokens: 103, reasoningTokens: 94))
    }

    // MARK: - OpenRouter

    @Test("OpenRouter: usage.cost (credits) is kept in the raw usage and never billed")
    func openRouterCost() throws {
        let fixture = RecordedCase.handmade("openrouter-chat-stream-cost")
        let reading = fixture.meter(for: try fixture.prepare()).run(fixture.body).reading
        #expect(reading.usage == TokenUsage(inputTokens: 14, outputTokens: 9))
        let raw = try #require(reading.rawUsage.flatMap { parseJSONObject(Array(utf8: $0)) })
        #expect(raw["cost"] as? Double == 0.0000075)
        #expect(raw["cost_details"] != nil && raw["is_byok"] as? Bool == false)
        let recorded = RecordedCase.named("openrouter-chat-json-cache-fields")
        let plain = recorded.meter(for: try recorded.prepare()).run(recorded.body).reading
        #expect(plain.rawUsage?.contains(#""cost":0.002103"#) == true)
        #expect(TokenClasses(plain.usage) == recorded.expected.classes)
    }

    @Test("OpenRouter's comment lines and usage chunk with a choice: content counted, usage read, nothing noted")
    func openRouterStreamShape() throws {
        let fixture = RecordedCase.handmade("openrouter-chat-stream-cost")
        let reading = fixture.meter(for: try fixture.prepare()).run(fixture.body).reading
        #expect(reading.contentEvents == 11, "nine pieces, the finishing chunk and the usage chunk, which has a choice")
        #expect(reading.completed && reading.note == nil)
    }
}
