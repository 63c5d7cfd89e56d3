import Foundation
import Hummingbird

/// The provider's stored objects, shared by every caller of the simulator (one provider account, as behind a proxy):
/// OpenAI files (multipart upload, content), batches (run from an uploaded JSONL file; `in_progress` on the first
/// retrieval, `completed` with an output file of real result lines from the second on), stored and background
/// responses (`queued` when created, `in_progress` on the first retrieval, `completed` after), and Anthropic Message
/// Batches (`in_progress`, then `ended` with a `results_url` from the first retrieval on; results as JSONL).
final class StoredObjects: @unchecked Sendable {
    // @unchecked: every member is only touched while holding `lock`.
    private let lock = NSLock()
    private var files: [String: StoredFile] = [:]
    private var batches: [String: Batch] = [:]
    private var messageBatches: [String: MessageBatch] = [:]
    private var responses: [String: StoredResponse] = [:]
    private var counter = 0

    struct StoredFile {
        var id: String
        var filename: String
        var purpose: String
        var bytes: [UInt8]
        var json: JSON {
            [
                "id": .string(id), "object": "file", "bytes": .int(bytes.count), "created_at": .int(ModelCatalog.created),
                "filename": .string(filename), "purpose": .string(purpose), "status": "processed", "expires_at": nil, "status_details": nil,
            ]
        }
    }

    struct Batch {
        var id: String
        var endpoint: String
        var inputFileID: String
        var window: String
        var metadata: JSON
        var retrievals = 0
        var cancelled = false
        var outputFileID: String?
        var total = 0
        var completed = 0
        var failed = 0
    }

    struct MessageBatch {
        var id: String
        var requests: [JSON]
        var retrievals = 0
        var cancelled = false
    }

    struct StoredResponse {
        var final: JSON
        var background: Bool
        var retrievals = 0
    }

    /// Whether the path is one of the stored-object routes.
    static func handles(_ path: String) -> Bool {
        path == "/v1/files" || path.hasPrefix("/v1/files/") || path == "/v1/batches" || path.hasPrefix("/v1/batches/")
            || path.hasPrefix("/v1/responses/") || path == "/v1/messages/batches" || path.hasPrefix("/v1/messages/batches/")
    }

    private func nextID(_ prefix: String, _ seed: String) -> String {
        lock.withLock {
            counter += 1
            return prefix + StableID.hash([prefix, seed, String(counter)])
        }
    }

    /// Answers a stored-object request.
    func respond(_ exchange: Exchange) throws(APIError) -> Response {
        let segments = exchange.path.split(separator: "/").map(String.init)
        switch (exchange.method, segments.count, segments.dropFirst().first) {
        case (.post, 2, "files"): return try uploadFile(exchange)
        case (.get, 2, "files"): return list(lock.withLock { files.values.sorted { $0.id < $1.id }.map(\.json) }, exchange)
        case (.get, 3, "files"): return HTTPReply.json(try file(segments[2]).json, for: exchange)
        case (.delete, 3, "files"):
            let id = segments[2]
            _ = try file(id)
            _ = lock.withLock { files.removeValue(forKey: id) }
            return HTTPReply.json(["id": .string(id), "object": "file", "deleted": true], for: exchange)
        case (.get, 4, "files") where segments[3] == "content":
            let stored = try file(segments[2])
            return HTTPReply.bytes(stored.bytes, contentType: "application/octet-stream", status: .ok, for: exchange)
        case (.post, 2, "batches"): return try createBatch(exchange)
        case (.get, 2, "batches"):
            let all = lock.withLock { batches.values.sorted { $0.id < $1.id } }
            return list(all.map { json($0) }, exchange)
        case (.get, 3, "batches"): return HTTPReply.json(try advanceBatch(segments[2], cancel: false), for: exchange)
        case (.post, 4, "batches") where segments[3] == "cancel": return HTTPReply.json(try advanceBatch(segments[2], cancel: true), for: exchange)
        case (.get, 3, "responses"): return HTTPReply.json(try retrieveResponse(segments[2]), for: exchange)
        case (.delete, 3, "responses"):
            let id = segments[2]
            guard lock.withLock({ responses.removeValue(forKey: id) }) != nil else { throw Self.responseNotFound(id) }
            return HTTPReply.json(["id": .string(id), "object": "response", "deleted": true], for: exchange)
        case (.post, 3, "messages") where segments[2] == "batches": return try createMessageBatch(exchange)
        case (.get, 4, "messages") where segments[2] == "batches":
            return HTTPReply.json(try advanceMessageBatch(segments[3], cancel: false, exchange: exchange), for: exchange)
        case (.post, 5, "messages") where segments[2] == "batches" && segments[4] == "cancel":
            return HTTPReply.json(try advanceMessageBatch(segments[3], cancel: true, exchange: exchange), for: exchange)
        case (.get, 5, "messages") where segments[2] == "batches" && segments[4] == "results":
            return try messageBatchResults(segments[3], exchange: exchange)
        default:
            throw APIError.invalidURL(exchange)
        }
    }

    private func list(_ data: [JSON], _ exchange: Exchange) -> Response {
        HTTPReply.json(
            ["object": "list", "data": .array(data), "first_id": data.first?["id"] ?? nil, "last_id": data.last?["id"] ?? nil, "has_more": false],
            for: exchange)
    }

    private func file(_ id: String) throws(APIError) -> StoredFile {
        guard let stored = lock.withLock({ files[id] }) else {
            throw APIError(status: 404, message: "No such File object: \(id)", type: "invalid_request_error", param: "id")
        }
        return stored
    }

    private func store(_ file: StoredFile) { lock.withLock { files[file.id] = file } }

    // MARK: Files

    /// POST /v1/files: a multipart form with `purpose` and `file`.
    private func uploadFile(_ exchange: Exchange) throws(APIError) -> Response {
        let type = exchange.headers[.contentType] ?? ""
        guard let range = type.range(of: "boundary=") else { throw APIError.missing("file") }
        let boundary = String(type[range.upperBound...]).trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        let parts = Multipart.parts(Array(exchange.body.readableBytesView), boundary: boundary)
        guard let filePart = parts.first(where: { $0.name == "file" }) else { throw APIError.missing("file") }
        guard let purpose = parts.first(where: { $0.name == "purpose" }).map({ String(decoding: $0.body, as: UTF8.self) }) else {
            throw APIError.missing("purpose")
        }
        let id = nextID("file-", filePart.filename ?? "upload")
        let stored = StoredFile(id: id, filename: filePart.filename ?? "upload", purpose: purpose, bytes: filePart.body)
        store(stored)
        return HTTPReply.json(stored.json, for: exchange)
    }

    // MARK: Batches

    private func createBatch(_ exchange: Exchange) throws(APIError) -> Response {
        let body = try exchange.jsonObject()
        guard let input = body["input_file_id"]?.stringValue else { throw APIError.missing("input_file_id") }
        guard let endpoint = body["endpoint"]?.stringValue else { throw APIError.missing("endpoint") }
        _ = try file(input)
        let batch = Batch(
            id: nextID("batch_", input), endpoint: endpoint, inputFileID: input, window: body["completion_window"]?.stringValue ?? "24h",
            metadata: body["metadata"] ?? nil)
        lock.withLock { batches[batch.id] = batch }
        return HTTPReply.json(json(batch, status: "validating"), for: exchange)
    }

    /// The batch after one more retrieval (or a cancel): `in_progress`, then `completed` with its output file.
    private func advanceBatch(_ id: String, cancel: Bool) throws(APIError) -> JSON {
        guard var batch = lock.withLock({ batches[id] }) else {
            throw APIError(status: 404, message: "No batch found with id '\(id)'.", type: "invalid_request_error", param: "batch_id")
        }
        if cancel, batch.outputFileID == nil { batch.cancelled = true }
        batch.retrievals += 1
        if batch.retrievals >= 2, !batch.cancelled, batch.outputFileID == nil { try run(&batch) }
        lock.withLock { batches[id] = batch }
        return json(batch)
    }

    /// Runs every request line of the input file and stores the output file.
    private func run(_ batch: inout Batch) throws(APIError) {
        let input = try file(batch.inputFileID)
        var output: [UInt8] = []
        for line in input.bytes.split(separator: UInt8(ascii: "\n")) where !line.allSatisfy({ $0 == 32 || $0 == 13 }) {
            let request = Array(line).withUnsafeBytes { JSONParser.parse($0) }
            guard let request, let customID = request["custom_id"]?.stringValue else { continue }
            batch.total += 1
            let url = request["url"]?.stringValue ?? batch.endpoint
            let seed = [batch.id, customID]
            var result: JSON
            do throws(APIError) {
                let body = request["body"] ?? [:]
                let answer = url.hasSuffix("/responses") ? try Responses.response(body: body) : try ChatCompletions.completion(body: body)
                result = [
                    "id": .string("batch_req_" + StableID.hash(seed)), "custom_id": .string(customID),
                    "response": ["status_code": 200, "request_id": .string(StableID.hash(["req"] + seed)), "body": answer], "error": nil,
                ]
                batch.completed += 1
            } catch {
                result = [
                    "id": .string("batch_req_" + StableID.hash(seed)), "custom_id": .string(customID), "response": nil,
                    "error": ["code": "invalid_request", "message": .string(error.message)],
                ]
                batch.failed += 1
            }
            output += Array((result.encoded + "\n").utf8)
        }
        let outputFile = StoredFile(id: nextID("file-", batch.id), filename: "\(batch.id)_output.jsonl", purpose: "batch_output", bytes: output)
        store(outputFile)
        batch.outputFileID = outputFile.id
    }

    private func json(_ batch: Batch, status: String? = nil) -> JSON {
        let state = status ?? (batch.cancelled ? "cancelled" : batch.outputFileID != nil ? "completed" : "in_progress")
        let created = ModelCatalog.created
        return [
            "id": .string(batch.id), "object": "batch", "endpoint": .string(batch.endpoint), "errors": nil,
            "input_file_id": .string(batch.inputFileID), "completion_window": .string(batch.window), "status": .string(state),
            "output_file_id": batch.outputFileID.map(JSON.string) ?? nil, "error_file_id": nil, "created_at": .int(created),
            "in_progress_at": state == "validating" ? nil : .int(created), "expires_at": .int(created + 86_400),
            "finalizing_at": nil, "completed_at": state == "completed" ? .int(created) : nil, "failed_at": nil, "expired_at": nil,
            "cancelling_at": nil, "cancelled_at": state == "cancelled" ? .int(created) : nil,
            "request_counts": ["total": .int(batch.total), "completed": .int(batch.completed), "failed": .int(batch.failed)],
            "metadata": batch.metadata,
        ]
    }

    // MARK: Responses

    /// Stores a response created by POST /v1/responses; a background one answers `queued`, without usage.
    func created(response final: JSON, background: Bool) -> JSON {
        guard let id = final["id"]?.stringValue else { return final }
        lock.withLock { responses[id] = StoredResponse(final: final, background: background) }
        guard background else { return final }
        return Self.pending(final, status: "queued")
    }

    private func retrieveResponse(_ id: String) throws(APIError) -> JSON {
        guard var stored = lock.withLock({ responses[id] }) else { throw Self.responseNotFound(id) }
        stored.retrievals += 1
        lock.withLock { responses[id] = stored }
        if stored.background && stored.retrievals < 2 { return Self.pending(stored.final, status: "in_progress") }
        return stored.final
    }

    /// A response not finished yet: its status, no output, no usage.
    private static func pending(_ final: JSON, status: String) -> JSON {
        guard case .object(let members) = final else { return final }
        return .object(
            members.map { key, value in
                switch key {
                case "status": return (key, .string(status))
                case "background": return (key, true)
                case "output": return (key, [])
                case "usage", "completed_at": return (key, nil)
                default: return (key, value)
                }
            })
    }

    private static func responseNotFound(_ id: String) -> APIError {
        APIError(status: 404, message: "Response with id '\(id)' not found.", type: "invalid_request_error", param: nil)
    }

    // MARK: Anthropic Message Batches

    private func createMessageBatch(_ exchange: Exchange) throws(APIError) -> Response {
        let body = try exchange.jsonObject()
        guard let requests = body["requests"]?.arrayValue, !requests.isEmpty else {
            throw APIError.anthropic(status: 400, type: "invalid_request_error", message: "requests: Field required")
        }
        let batch = MessageBatch(id: nextID("msgbatch_01", String(requests.count)), requests: requests)
        lock.withLock { messageBatches[batch.id] = batch }
        return HTTPReply.json(json(batch, exchange: exchange), for: exchange)
    }

    private func messageBatch(_ id: String) throws(APIError) -> MessageBatch {
        guard let batch = lock.withLock({ messageBatches[id] }) else {
            throw APIError.anthropic(status: 404, type: "not_found_error", message: "Message batch \(id) not found.")
        }
        return batch
    }

    private func advanceMessageBatch(_ id: String, cancel: Bool, exchange: Exchange) throws(APIError) -> JSON {
        var batch = try messageBatch(id)
        if cancel, batch.retrievals == 0 { batch.cancelled = true }
        batch.retrievals += 1
        lock.withLock { messageBatches[id] = batch }
        return json(batch, exchange: exchange)
    }

    private func json(_ batch: MessageBatch, exchange: Exchange) -> JSON {
        let ended = batch.retrievals >= 1
        let count = batch.requests.count
        let origin = exchange.authority.map { "http://\($0)" } ?? ""
        return [
            "id": .string(batch.id), "type": "message_batch",
            "processing_status": batch.cancelled ? (ended ? "ended" : "canceling") : (ended ? "ended" : "in_progress"),
            "request_counts": [
                "processing": .int(ended ? 0 : count), "succeeded": .int(ended && !batch.cancelled ? count : 0), "errored": 0,
                "canceled": .int(ended && batch.cancelled ? count : 0), "expired": 0,
            ],
            "ended_at": ended ? "2025-01-01T00:10:00Z" : nil, "created_at": "2025-01-01T00:00:00Z", "expires_at": "2025-01-02T00:00:00Z",
            "archived_at": nil, "cancel_initiated_at": batch.cancelled ? "2025-01-01T00:05:00Z" : nil,
            "results_url": ended ? .string("\(origin)/v1/messages/batches/\(batch.id)/results") : nil,
        ]
    }

    /// The results, one JSON line per request, in the order of the requests.
    private func messageBatchResults(_ id: String, exchange: Exchange) throws(APIError) -> Response {
        let batch = try messageBatch(id)
        guard batch.retrievals >= 1 else {
            throw APIError.anthropic(status: 404, type: "not_found_error", message: "Message batch \(id) has not ended.")
        }
        var output: [UInt8] = []
        for request in batch.requests {
            let customID = request["custom_id"]?.stringValue ?? ""
            let result: JSON
            if batch.cancelled {
                result = ["type": "canceled"]
            } else {
                do throws(APIError) {
                    result = ["type": "succeeded", "message": try AnthropicMessages.message(params: request["params"] ?? [:])]
                } catch {
                    result = [
                        "type": "errored",
                        "error": ["type": "error", "error": ["type": "invalid_request_error", "message": .string(error.message)]],
                    ]
                }
            }
            output += Array((JSON.object([("custom_id", .string(customID)), ("result", result)]).encoded + "\n").utf8)
        }
        return HTTPReply.bytes(output, contentType: "application/binary", status: .ok, for: exchange)
    }
}

/// A `multipart/form-data` body split into its parts.
enum Multipart {
    struct Part {
        var name: String?
        var filename: String?
        var body: [UInt8]
    }

    static func parts(_ body: [UInt8], boundary: String) -> [Part] {
        let delimiter = Array("--\(boundary)".utf8)
        var parts: [Part] = []
        var positions: [Int] = []
        var index = 0
        while index + delimiter.count <= body.count {
            if body[index] == delimiter[0], Array(body[index..<index + delimiter.count]) == delimiter {
                positions.append(index)
                index += delimiter.count
            } else {
                index += 1
            }
        }
        for (start, end) in zip(positions, positions.dropFirst()) {
            var part = Array(body[(start + delimiter.count)..<end])
            if part.starts(with: [13, 10]) { part.removeFirst(2) }
            if part.suffix(2) == [13, 10] { part.removeLast(2) }
            guard let headerEnd = find([13, 10, 13, 10], in: part) else { continue }
            let headers = String(decoding: part[..<headerEnd], as: UTF8.self)
            let content = Array(part[(headerEnd + 4)...])
            parts.append(Part(name: value("name", in: headers), filename: value("filename", in: headers), body: content))
        }
        return parts
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where Array(haystack[index..<index + needle.count]) == needle { return index }
        return nil
    }

    private static func value(_ name: String, in headers: String) -> String? {
        guard let range = headers.range(of: "\(name)=\"") else { return nil }
        let rest = headers[range.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }
}
