import HTTPTypes
import NIOCore
import Testing
import TollgateCore
import TollgateStore

@testable import TollgateGateway

/// The parts of idempotent retries that need no server: which keys are accepted, what binds a key to its request,
/// the key the provider gets, and which outcomes are kept for replay.
@Suite("Idempotent retries")
struct IdempotentRetriesTests {
    private func hash(_ body: String, contentType: String? = "application/json", path: String = "/v1/chat/completions") -> String {
        IdempotentRetries.requestHash(method: "POST", path: path, query: nil, contentType: contentType, body: ByteBuffer(string: body))
    }

    @Test("a key must appear once and be 1 to 255 printable ASCII characters")
    func keys() throws {
        #expect(try IdempotentRetries.key(in: [:]) == nil)
        #expect(try IdempotentRetries.key(in: [IdempotentRetries.field: "order-1"]) == "order-1")
        for bad in ["", "a b", String(repeating: "x", count: 256), "caf\u{e9}"] {
            #expect(throws: ErrorResponse.self) { try IdempotentRetries.key(in: [IdempotentRetries.field: bad]) }
        }
        var twice = HTTPFields()
        twice.append(HTTPField(name: IdempotentRetries.field, value: "a"))
        twice.append(HTTPField(name: IdempotentRetries.field, value: "b"))
        #expect(throws: ErrorResponse.self) { try IdempotentRetries.key(in: twice) }
    }

    @Test("the hash binds method, path and body; a multipart body's boundary does not count")
    func requestHash() {
        #expect(hash(#"{"a":1}"#) == hash(#"{"a":1}"#))
        #expect(hash(#"{"a":1}"#) != hash(#"{"a": 1}"#))
        #expect(hash(#"{"a":1}"#) != hash(#"{"a":1}"#, path: "/v1/embeddings"))
        func form(_ boundary: String, _ value: String) -> String {
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n\(value)\r\n--\(boundary)--\r\n"
        }
        let first = hash(form("aaa111", "batch"), contentType: "multipart/form-data; boundary=aaa111")
        #expect(first == hash(form("bbb222", "batch"), contentType: "multipart/form-data; boundary=\"bbb222\""))
        #expect(first != hash(form("bbb222", "fine-tune"), contentType: "multipart/form-data; boundary=bbb222"))
    }

    @Test("the provider's key is derived from customer and key, and differs per customer")
    func upstreamKey() {
        let acme = IdempotentRetries.upstreamKey(customer: "acme", key: "k1")
        #expect(acme.hasPrefix("tg-") && acme.count == 35 && !acme.contains("k1"))
        #expect(acme == IdempotentRetries.upstreamKey(customer: "acme", key: "k1"))
        #expect(acme != IdempotentRetries.upstreamKey(customer: "globex", key: "k1"))
    }

    @Test("only a successful answer whose end the meter saw is kept; the capture stops keeping bytes past its limit")
    func resolution() {
        let request = IdempotentRequest(
            key: IdempotencyKeyRef(customer: "acme", key: "k1", eventID: "evt_1"), windowMs: 1_000, maxResponseBytes: 4, upstreamKey: "tg-x")
        var capture = ResponseCapture(headers: [.contentType: "application/json", .contentLength: "4"], limit: 4)
        capture.append(ByteBuffer(string: "{}"))
        var outcome = ResponseOutcome(status: 200)
        outcome.captured = capture
        #expect(request.resolution(outcome, nowMs: 5) == .released, "an answer whose end was not seen is not kept")
        outcome.reading.completed = true
        #expect(
            request.resolution(outcome, nowMs: 5)
                == .completed(
                    StoredResponse(status: 200, headers: [HeaderPair("Content-Type", "application/json")], body: Array("{}".utf8)), bytes: 2,
                    expiresMs: 1_005))
        capture.append(ByteBuffer(string: "abc"))
        outcome.captured = capture
        #expect(request.resolution(outcome, nowMs: 5) == .completed(nil, bytes: 5, expiresMs: 1_005))
        outcome.upstreamFailure = "cut"
        #expect(request.resolution(outcome, nowMs: 5) == .released)
        outcome.upstreamFailure = nil
        outcome.status = 500
        #expect(request.resolution(outcome, nowMs: 5) == .released)
    }
}
