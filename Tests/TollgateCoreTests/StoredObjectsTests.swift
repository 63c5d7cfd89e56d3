import Foundation
import Testing

@testable import TollgateCore

/// Object routes of the families, and batch results read line by line at any split.
@Suite("Stored objects")
struct StoredObjectsTests {
    @Test(
        "OpenAI object routes: kind, operation, id and collection",
        arguments: [
            ("POST", "/v1/files", "file", "create", nil, "/v1/files"),
            ("GET", "/v1/files", "file", "list", nil, "/v1/files"),
            ("GET", "/v1/files/file-1", "file", "retrieve", "file-1", "/v1/files"),
            ("DELETE", "/v1/files/file-1", "file", "delete", "file-1", "/v1/files"),
            ("GET", "/v1/files/file-1/content", "file", "content", "file-1", "/v1/files"),
            ("POST", "/v1/batches/batch_1/cancel", "batch", "cancel", "batch_1", "/v1/batches"),
            ("GET", "/openai/v1/batches/batch_1", "batch", "retrieve", "batch_1", "/openai/v1/batches"),
            ("GET", "/v1/responses/resp_1/input_items", "response", "content", "resp_1", "/v1/responses"),
            ("GET", "/v1/chat/completions", "chat_completion", "list", nil, "/v1/chat/completions"),
            ("POST", "/v1/chat/completions/chatcmpl-1", "chat_completion", "update", "chatcmpl-1", "/v1/chat/completions"),
        ] as [(String, String, String, String, String?, String)])
    func openAIRoutes(method: String, path: String, kind: String, operation: String, id: String?, collection: String) throws {
        let request = try #require(WireFamily.openai.objects.request(method: method, path: path))
        #expect(request.kind.rawValue == kind)
        #expect(request.operation.rawValue == operation)
        #expect(request.id == id)
        #expect(request.collectionPath == collection)
    }

    @Test("not object routes: inferences, other paths, other methods")
    func notObjects() {
        let objects = WireFamily.openai.objects
        #expect(objects.request(method: "POST", path: "/v1/chat/completions") == nil)
        #expect(objects.request(method: "POST", path: "/v1/responses") == nil)
        #expect(objects.request(method: "PUT", path: "/v1/files/file-1") == nil)
        #expect(objects.request(method: "GET", path: "/v1/vector_stores") == nil)
        #expect(WireFamily.anthropic.objects.request(method: "POST", path: "/v1/messages") == nil)
        let results = WireFamily.anthropic.objects.request(method: "GET", path: "/v1/messages/batches/msgbatch_1/results")
        #expect(results?.id == "msgbatch_1")
        #expect(results?.route.results != nil)
    }

    static let openAIResults = Array(
        (#"{"id":"batch_req_1","custom_id":"a","response":{"status_code":200,"request_id":"r1","body":{"id":"c1","model":"gpt-4o-mini-2024-07-18","usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":2}}}},"error":null}"#
            + "\n"
            + #"{"id":"batch_req_2","custom_id":"b","response":null,"error":{"code":"bad","message":"no"}}"# + "\r\n\n"
            + #"{"id":"batch_req_3","custom_id":"c","response":{"status_code":200,"body":{"model":"gpt-4o","usage":{"input_tokens":7,"output_tokens":3}}}}"#)
            .utf8)

    static let anthropicResults = Array(
        (#"{"custom_id":"x","result":{"type":"succeeded","message":{"id":"msg_1","model":"claude-sonnet-4-5","usage":{"input_tokens":12,"cache_read_input_tokens":5,"output_tokens":9}}}}"#
            + "\n" + #"{"custom_id":"y","result":{"type":"errored","error":{"type":"error"}}}"# + "\n"
            + #"{"custom_id":"z","result":{"type":"canceled"}}"# + "\n").utf8)

    static func read(_ body: [UInt8], layout: BatchResultLayout, split: Int) -> [BatchResultLine] {
        var reader = BatchResultReader(layout: layout)
        reader.observe(Array(body[..<split]))
        var lines = reader.takeLines()
        reader.observe(Array(body[split...]))
        reader.finish()
        lines += reader.takeLines()
        return lines
    }

    @Test("OpenAI batch output: each line's usage, errored lines bill nothing, the same at every split point")
    func openAILines() {
        let whole = Self.read(Self.openAIResults, layout: .openAIBatch, split: 0)
        #expect(whole.map(\.customID) == ["a", "c"])
        #expect(whole[0].reading.usage?.inputTokens == 8)
        #expect(whole[0].reading.usage?.cacheReadTokens == 2)
        #expect(whole[0].reading.usage?.outputTokens == 4)
        #expect(whole[0].reading.servedModel == "gpt-4o-mini-2024-07-18")
        #expect(whole[1].reading.usage?.inputTokens == 7)
        for split in 0...Self.openAIResults.count {
            #expect(Self.read(Self.openAIResults, layout: .openAIBatch, split: split) == whole, "split at \(split)")
        }
    }

    @Test("Anthropic results: succeeded lines only, the same at every split point")
    func anthropicLines() {
        let whole = Self.read(Self.anthropicResults, layout: .anthropicBatch, split: 0)
        #expect(whole.map(\.customID) == ["x"])
        #expect(whole[0].reading.usage?.inputTokens == 12)
        #expect(whole[0].reading.usage?.cacheReadTokens == 5)
        #expect(whole[0].reading.usage?.outputTokens == 9)
        for split in 0...Self.anthropicResults.count {
            #expect(Self.read(Self.anthropicResults, layout: .anthropicBatch, split: split) == whole, "split at \(split)")
        }
    }

    @Test("a line that is not JSON or has no custom id is counted, not billed")
    func malformed() {
        var reader = BatchResultReader(layout: .openAIBatch)
        reader.observe(Array("{\"custom_id\":\n{\"response\":{}}\nnot json\n".utf8))
        reader.finish()
        #expect(reader.takeLines().isEmpty)
        #expect(reader.malformedLines == 3)
    }
}
