import Foundation
import Testing
import TollgateCore

/// `prepare` adds `stream_options.include_usage` to streaming chat and completions requests that lack it, and
/// otherwise leaves the request byte for byte as the client sent it.
@Suite("Stream usage opt-in")
struct StreamUsageOptInTests {
    static let added = #""stream_options":{"include_usage":true}"#

    private func prepare(
        _ body: String, api: APIName = .openAIChat, accepts: Bool = true
    ) throws -> PreparedRequest {
        try api.wireFormat.prepare(body: Array(utf8: body), options: RequestOptions(acceptsStreamUsageOption: accepts))
    }

    /// Expects `rewritten` to be `original` with exactly the added member (and one comma next to it) inserted.
    private func expectOnlyOptInAdded(_ rewritten: [UInt8]?, to original: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let text = try #require(rewritten, sourceLocation: sourceLocation).text
        let parts = text.components(separatedBy: Self.added)
        try #require(parts.count == 2, "the member is added once: \(text)", sourceLocation: sourceLocation)
        var before = parts[0]
        var after = parts[1]
        if after.hasPrefix(",") { after.removeFirst() } else if before.hasSuffix(",") { before.removeLast() }
        #expect(before + after == original, "everything else is unchanged", sourceLocation: sourceLocation)
        #expect(parseJSONObject(Array(utf8: text)) != nil, "still JSON: \(text)", sourceLocation: sourceLocation)
    }

    @Test(
        "a stream without stream_options gets the opt-in and nothing else",
        arguments: [
            #"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
            #"{"stream":true}"#,
            "{\n  \"model\": \"gpt-4o-mini\",\n  \"stream\": true,\n  \"messages\": []\n}\n",
            #"  {"messages":[{"role":"user","content":"{\"stream_options\":1}"}],"stream":true,"model":"m"}"#,
        ]
    )
    func addsWhenMissing(_ body: String) throws {
        let request = try prepare(body)
        #expect(request.stream)
        #expect(request.injectedStreamUsage)
        try expectOnlyOptInAdded(request.rewrittenBody, to: body)
        let rewritten = try #require(request.rewrittenBody)
        let options = try #require(parseJSONObject(rewritten)?["stream_options"] as? [String: Any])
        #expect(options["include_usage"] as? Bool == true)
    }

    @Test("completions streams get it too")
    func completions() throws {
        let body = #"{"model":"babbage-002","prompt":"x","stream":true}"#
        let request = try prepare(body, api: .openAICompletions)
        #expect(request.injectedStreamUsage)
        try expectOnlyOptInAdded(request.rewrittenBody, to: body)
    }

    @Test(
        "the recorded streaming requests, stripped of their opt-in, get exactly it back",
        arguments: RecordedCase.streams.filter { [.openAIChat, .openAICompletions].contains($0.api) })
    func recordedRequests(_ recorded: RecordedCase) throws {
        let body = recorded.requestBody(without: "stream_options")
        let request = try recorded.format.prepare(body: body, options: RequestOptions(acceptsStreamUsageOption: true))
        #expect(request.injectedStreamUsage)
        try expectOnlyOptInAdded(request.rewrittenBody, to: body.text)
        #expect(request.model == recorded.requestMembers["model"]?.value as? String)
    }

    @Test("include_usage false is turned on, other stream options kept")
    func turnsOnFalse() throws {
        let prefix = #"{"model":"m","stream":true,"stream_options":"#
        let body = prefix + #"{"include_usage":false,"include_obfuscation":false},"n":1}"#
        let request = try prepare(body)
        #expect(request.injectedStreamUsage)
        let rewritten = try #require(request.rewrittenBody).text
        #expect(rewritten.hasPrefix(prefix))
        #expect(rewritten.hasSuffix(#","n":1}"#))
        let options = try #require(parseJSONObject(Array(utf8: rewritten))?["stream_options"] as? [String: Any])
        #expect(options["include_usage"] as? Bool == true)
        #expect(options["include_obfuscation"] as? Bool == false)
        #expect(options.count == 2)
    }

    @Test(
        "only include_usage's value is written: the client's other stream options keep their bytes",
        arguments: [
            (#"{ "include_obfuscation" : false ,"include_usage": false }"#, #"{ "include_obfuscation" : false ,"include_usage": true }"#),
            (#"{"include_usage":null,"x":[1, 2]}"#, #"{"include_usage":true,"x":[1, 2]}"#),
            (#"{"x":{"include_usage":false},"include_usage":"yes"}"#, #"{"x":{"include_usage":false},"include_usage":true}"#),
            (#"{ "x" : 1 }"#, #"{"include_usage":true, "x" : 1 }"#),
            (#"{ }"#, #"{"include_usage":true }"#),
        ])
    func exactEdit(options: String, expected: String) throws {
        let request = try prepare(#"{"model":"m","stream":true,"stream_options":\#(options),"n":1}"#)
        #expect(request.injectedStreamUsage)
        #expect(try #require(request.rewrittenBody).text == #"{"model":"m","stream":true,"stream_options":\#(expected),"n":1}"#)
    }

    @Test("stream_options without include_usage, or null, gets it", arguments: [#"{}"#, #"{"include_obfuscation":true}"#, "null"])
    func completesOptions(_ options: String) throws {
        let body = #"{"model":"m","stream":true,"stream_options":\#(options)}"#
        let request = try prepare(body)
        #expect(request.injectedStreamUsage)
        let rewritten = try #require(request.rewrittenBody)
        let parsed = try #require(parseJSONObject(rewritten)?["stream_options"] as? [String: Any])
        #expect(parsed["include_usage"] as? Bool == true)
        #expect(rewritten.text.hasPrefix(#"{"model":"m","stream":true,"stream_options":"#))
    }

    @Test(
        "a stream that already asks for usage is left alone",
        arguments: [
            #"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#,
            #"{"model":"m","stream":true,"stream_options": { "include_usage" : true , "x": 1 } }"#,
        ]
    )
    func alreadyOn(_ body: String) throws {
        let request = try prepare(body)
        #expect(request.stream)
        #expect(request.rewrittenBody == nil)
        #expect(!request.injectedStreamUsage)
    }

    @Test(
        "non-stream requests are untouched",
        arguments: [
            #"{"model":"m","messages":[]}"#,
            #"{"model":"m","stream":false}"#,
            #"{"model":"m","stream":null}"#,
            #"{"model":"m","stream":false,"stream_options":{"include_usage":false}}"#,
        ]
    )
    func nonStream(_ body: String) throws {
        for api in [APIName.openAIChat, .openAICompletions, .openAIEmbeddings, .openAIResponses] {
            let request = try prepare(body, api: api)
            #expect(!request.stream)
            #expect(request.rewrittenBody == nil)
            #expect(!request.injectedStreamUsage)
        }
    }

    @Test("embeddings never get it, even when stream is set")
    func embeddings() throws {
        let request = try prepare(#"{"model":"text-embedding-3-small","input":"x","stream":true}"#, api: .openAIEmbeddings)
        #expect(request.rewrittenBody == nil)
        #expect(!request.injectedStreamUsage)
    }

    @Test("Responses streams report usage unasked: never rewritten")
    func responses() throws {
        let request = try prepare(#"{"model":"gpt-5.5","input":"x","stream":true}"#, api: .openAIResponses)
        #expect(request.stream)
        #expect(request.rewrittenBody == nil)
        #expect(!request.injectedStreamUsage)
    }

    @Test("a provider that refuses the option never gets it", arguments: [APIName.openAIChat, .openAICompletions])
    func refused(_ api: APIName) throws {
        for body in [#"{"model":"m","stream":true}"#, #"{"model":"m","stream":true,"stream_options":{"include_usage":false}}"#] {
            let request = try prepare(body, api: api, accepts: false)
            #expect(request.stream)
            #expect(request.rewrittenBody == nil)
            #expect(!request.injectedStreamUsage)
        }
    }

    @Test("the meter for an injected request rewrites; for any other request it does not")
    func meterFollowsInjection() throws {
        let format = APIName.openAIChat.wireFormat
        let injected = try prepare(#"{"model":"m","stream":true}"#)
        let asked = try prepare(#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#)
        #expect(format.makeReader(for: injected, contentType: "text/event-stream; charset=utf-8").rewrites)
        #expect(!format.makeReader(for: asked, contentType: "text/event-stream").rewrites)
        // An error answer to a stream request is plain JSON: nothing to take out.
        #expect(!format.makeReader(for: injected, contentType: "application/json").rewrites)
    }

    @Test("request facts: model, stream flag and output limit")
    func requestFacts() throws {
        let request = try prepare(#"{"model":"gpt-\u00e9","stream":true,"max_completion_tokens":100,"stream_options":{"include_usage":true}}"#)
        #expect(request.model == "gpt-é")
        #expect(request.maxOutputTokens == 100)
        #expect(try prepare(#"{"model":"m","max_tokens":7}"#).maxOutputTokens == 7)
        #expect(try prepare(#"{"model":"m","max_output_tokens":9}"#, api: .openAIResponses).maxOutputTokens == 9)
        #expect(try prepare(#"{"input":"x"}"#, api: .openAIEmbeddings).model == nil)
    }

    @Test(
        "bodies that cannot be forwarded are refused",
        arguments: ["", "   ", "[]", #"{"model":"m""#, #"{"model":"m"} x"#, "nope", #"{"model":1}"#, #"{"model":"m","stream":"yes"}"#]
    )
    func refusesBadBodies(_ body: String) {
        #expect(throws: RequestError.self) { try prepare(body) }
    }
}
