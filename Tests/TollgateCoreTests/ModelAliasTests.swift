import Foundation
import Testing
import TollgateCore

/// A model alias (`RequestOptions.upstreamModel`) replaces the top-level `model` value and nothing else.
@Suite("Model alias")
struct ModelAliasTests {
    private func prepare(_ body: String, api: APIName = .openAIChat, upstream: String, accepts: Bool = true) throws -> PreparedRequest {
        try api.wireFormat.prepare(
            body: Array(utf8: body), options: RequestOptions(acceptsStreamUsageOption: accepts, upstreamModel: upstream)
        )
    }

    /// APIs whose body is a JSON object (the multipart ones are tested in MediaFormatTests).
    static let jsonAPIs = APIName.allCases.filter {
        !$0.modelInPath && ![.openAIImageEdits, .openAITranscriptions, .openAITranslations].contains($0)
    }

    @Test("only the model value changes", arguments: jsonAPIs)
    func replacesOnlyTheValue(_ api: APIName) throws {
        let body = #"{"messages":[{"role":"user","content":"model"}],"metadata":{"model":"keep"},"model" : "fast","n":1}"#
        let request = try prepare(body, api: api, upstream: "gpt-4o-2024-08-06")
        let expected = body.replacingOccurrences(of: #""model" : "fast""#, with: #""model" : "gpt-4o-2024-08-06""#)
        #expect(try #require(request.rewrittenBody).text == expected)
        #expect(request.model == "fast", "the request keeps the model the client asked for")
    }

    @Test("the upstream name is written as a JSON string", arguments: ["org/model-v1", #"we"ird\name"#, "modèle"])
    func encodesName(_ upstream: String) throws {
        let request = try prepare(#"{"model":"a","input":"x"}"#, upstream: upstream)
        let rewritten = try #require(request.rewrittenBody)
        #expect(parseJSONObject(rewritten)?["model"] as? String == upstream)
        #expect(rewritten.text.hasPrefix(#"{"model":""#))
        #expect(rewritten.text.hasSuffix(#"","input":"x"}"#))
    }

    @Test(
        "alias and usage opt-in together",
        arguments: [
            #"{"model":"fast","stream":true,"messages":[]}"#,
            #"{"stream":true,"messages":[],"model":"fast"}"#,
        ])
    func withOptIn(_ body: String) throws {
        let request = try prepare(body, upstream: "gpt-4o")
        #expect(request.injectedStreamUsage)
        let rewritten = try #require(request.rewrittenBody)
        let expected = body.replacingOccurrences(of: #""fast""#, with: #""gpt-4o""#)
            .replacingOccurrences(of: "{\"", with: #"{"stream_options":{"include_usage":true},""#, options: .anchored)
        #expect(rewritten.text == expected)
    }

    @Test("a body without a model gets none")
    func noModel() throws {
        let request = try prepare(#"{"input":"x"}"#, api: .openAIEmbeddings, upstream: "text-embedding-3-small")
        #expect(request.rewrittenBody == nil)
        #expect(request.model == nil)
    }

    @Test("without an alias the body is not copied")
    func noAlias() throws {
        let request = try APIName.openAIChat.wireFormat.prepare(
            body: Array(utf8: #"{"model":"m"}"#), options: RequestOptions(acceptsStreamUsageOption: true)
        )
        #expect(request.rewrittenBody == nil)
    }
}
