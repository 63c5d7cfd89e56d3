import Testing
import TollgateCore

/// Every recorded provider response (Fixtures/recorded) reads as the served model and token classes its
/// case.json expects, under the fixture README's canonical usage rules.
@Suite("Recorded responses")
struct RecordedUsageTests {
    @Test("every recorded case was copied with its body")
    func fixtureSet() {
        let cases = RecordedCase.all
        #expect(cases.count == 48)
        #expect(cases.filter { $0.api.family == .openai }.count == 23)
        #expect(cases.filter { $0.api == .anthropicMessages }.count == 10)
        #expect(cases.filter { $0.api.family == .gemini }.count == 11)
        #expect(cases.filter { $0.api.family == .bedrock }.count == 3)
        #expect(cases.filter { $0.api == .cohereChat }.count == 1)
        #expect(cases.allSatisfy { !$0.body.isEmpty })
        #expect(RecordedCase.streams.count == 24)
    }

    @Test("usage and served model match expected", arguments: RecordedCase.all)
    func readsExpectedUsage(_ recorded: RecordedCase) throws {
        let request = try recorded.prepare()
        #expect(request.stream == recorded.stream)
        let run = recorded.meter(for: request).run(recorded.body)
        let reading = run.reading

        if (200..<300).contains(recorded.status) {
            // A successful response names the model that served it.
            #expect(reading.servedModel == recorded.expected.model)
        } else {
            // Error bodies name no model; the README's expected.model is then the requested one.
            #expect(reading.servedModel == nil)
            #expect(request.model == recorded.expected.model)
        }
        #expect(TokenClasses(reading.usage) == recorded.expected.classes)
        // In these recordings every response that reports usage reports some tokens, so "no usage" and
        // "all zero" coincide: a nil usage must mean the response really carried none.
        #expect((reading.usage == nil) == (recorded.expected.classes == .zero))
        #expect((reading.usage == nil) == (reading.rawUsage == nil))
        #expect(reading.completed, "every recording is a whole body or a stream that reached its terminal event")
        #expect(reading.note == nil)
        // Nothing these recorded clients asked for is taken out: they get the body byte for byte.
        #expect(run.clientBytes == recorded.body)
    }

    @Test("streams count content events; plain bodies none", arguments: RecordedCase.all)
    func contentEvents(_ recorded: RecordedCase) throws {
        let reading = recorded.meter(for: try recorded.prepare()).run(recorded.body).reading
        if recorded.stream {
            #expect(reading.contentEvents > 0)
        } else {
            #expect(reading.contentEvents == 0)
        }
    }

    @Test(
        "the raw usage kept for re-rating is the provider's own usage object, on one line",
        arguments: RecordedCase.all.filter { $0.expected.classes != .zero })
    func rawUsageIsVerbatim(_ recorded: RecordedCase) throws {
        let reading = recorded.meter(for: try recorded.prepare()).run(recorded.body).reading
        let raw = try #require(reading.rawUsage)
        #expect(!raw.contains("\n"))
        let compactBody = String(decoding: JSONEdit.compacted(Array(recorded.body.text.utf8)), as: UTF8.self)
        #expect(compactBody.contains(raw))
        #expect(parseJSONObject(Array(utf8: raw)) != nil)
    }
}
