import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TollgateCore
import TollgateStore

/// A claimed `Idempotency-Key` travelling with its request: resolved with the request's event (replayable when it
/// completed, free again when it did not).
struct IdempotentRequest: Sendable {
    /// The customer's key and the event that claimed it.
    let key: IdempotencyKeyRef
    /// How long a completed response replays, from its completion.
    let windowMs: Int64
    /// The largest response kept for replay.
    let maxResponseBytes: Int
    /// The key sent to the provider in place of the client's: derived from the customer and the key, so that the
    /// provider never sees a customer's key and two customers' keys never meet there either.
    let upstreamKey: String

    /// How the key ends, given the request's outcome: a successful answer whose end the meter saw (sent to the
    /// client, or read by the drain after the client left) is kept for replay; anything else frees the key for a retry.
    /// A body in a coding the meter cannot read counts as whole when the client got it all.
    func resolution(_ outcome: ResponseOutcome, nowMs: Int64) -> IdempotencyResolution {
        let whole = outcome.reading.completed || (outcome.undecodable && !outcome.clientGone)
        guard (200..<300).contains(outcome.status), outcome.upstreamFailure == nil, whole, let captured = outcome.captured else {
            return .released
        }
        let response = captured.body.map { StoredResponse(status: outcome.status, headers: captured.headers, body: $0) }
        return .completed(response, bytes: captured.bytes, expiresMs: nowMs + windowMs)
    }
}

/// A response's bytes as the client receives them, kept up to a limit for replay.
struct ResponseCapture: Sendable {
    /// The headers the client got (without Tollgate's per-request ones and the framing, which a replay sets anew).
    let headers: [HeaderPair]
    let limit: Int
    /// The bytes so far; `nil` once they passed the limit.
    private(set) var body: [UInt8]? = []
    /// How many bytes went by, kept or not.
    private(set) var bytes = 0

    init(headers: HTTPFields, limit: Int) {
        self.headers = headers.compactMap { field in
            let name = field.name.canonicalName
            guard name != "content-length", name != "transfer-encoding", !name.hasPrefix("x-tollgate-") else { return nil }
            return HeaderPair(field.name.rawName, field.value)
        }
        self.limit = limit
    }

    mutating func append(_ buffer: ByteBuffer) {
        bytes += buffer.readableBytes
        guard body != nil else { return }
        guard bytes <= limit else {
            body = nil
            return
        }
        body?.append(contentsOf: buffer.readableBytesView)
    }
}

/// Idempotent retries (`Idempotency-Key`, as OpenAI's, Anthropic's and Stripe's clients send it): the first request
/// with a key claims it; a retry with the same key and the same request gets the first one's response replayed,
/// byte for byte, without going upstream and without a charge; a retry while the first is still running waits for it
/// (up to `idempotency.in_flight_wait_s`), then gets 409; the key with another request gets 422.
struct IdempotentRetries: Sendable {
    let meter: MeterStore
    let settings: IdempotencySettings
    /// This process's registration: a key held in flight by a process that died is taken over.
    let instance: String?

    /// The longest key accepted (Stripe's limit).
    static let maxKeyLength = 255
    /// The header.
    static let field = HTTPField.Name("idempotency-key")!
    /// Marks a replayed response (Stripe's header).
    static let replayedField = HTTPField.Name("idempotent-replayed")!
    /// Names the event a replayed response was first recorded under.
    static let replayOfField = HTTPField.Name("x-tollgate-replay-of")!

    /// What claiming found: go upstream, or answer with a stored response.
    enum Claim: Sendable {
        case proceed(IdempotentRequest)
        case replay(original: String, StoredResponse)
    }

    /// The client's key, or `nil` when it sent none; throws 400 for a key that is empty, too long or not printable.
    static func key(in headers: HTTPFields) throws(ErrorResponse) -> String? {
        guard headers.contains(field) else { return nil }  // the common case, without building a list
        let values = headers[values: field]
        guard let key = values.first else { return nil }
        guard values.count == 1, !key.isEmpty, key.utf8.count <= maxKeyLength, key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .badRequest(
                "The Idempotency-Key header must appear once and hold 1 to \(maxKeyLength) printable ASCII characters without spaces.",
                code: "invalid_idempotency_key")
        }
        return key
    }

    /// What binds a key to its request: SHA-256 of the method, path, query and body.
    ///
    /// A multipart body is hashed with its boundary left out: clients draw a new boundary for every attempt (the
    /// OpenAI SDK does on each of its retries), and a retry of the same upload must match.
    static func requestHash(method: String, path: String, query: String?, contentType: String?, body: ByteBuffer) -> String {
        var hash = SHA256()
        for part in [method, path, query ?? ""] {
            hash.update(data: Array(part.utf8))
            hash.update(data: [0])
        }
        body.withUnsafeReadableBytes { raw in
            guard let boundary = multipartBoundary(contentType), !boundary.isEmpty else { return hash.update(bufferPointer: raw) }
            var start = 0
            var index = 0
            while index + boundary.count <= raw.count {
                if raw[index] == boundary[0], boundary.indices.allSatisfy({ raw[index + $0] == boundary[$0] }) {
                    hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[start..<index]))
                    hash.update(data: [0])
                    index += boundary.count
                    start = index
                } else {
                    index += 1
                }
            }
            hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[start...]))
        }
        return Hex.lowercase(Array(hash.finalize()))
    }

    /// The boundary of a `multipart/…; boundary=…` content type, as bytes.
    static func multipartBoundary(_ contentType: String?) -> [UInt8]? {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            let value = pair[1].trimmingCharacters(in: .whitespaces)
            return Array((value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 ? String(value.dropFirst().dropLast()) : value).utf8)
        }
        return nil
    }

    /// Claims `key` for the request of `eventID`, waiting while an earlier request with it runs; throws the answer
    /// when the request must not go on (409 still running, 422 reused or not replayable, 503 meter unavailable).
    func claim(key: String, customer: String, requestHash: String, eventID: String) async throws(ErrorResponse) -> Claim {
        let windowMs = Int64(settings.windowSeconds * 1000)
        let deadline = ContinuousClock.now + .milliseconds(Int64(settings.inFlightWaitSeconds * 1000))
        var pause = Duration.milliseconds(10)
        while true {
            let found: IdempotencyClaim
            do {
                found = try await meter.claimIdempotencyKey(
                    customer: customer, key: key, requestHash: requestHash, eventID: eventID, instance: instance,
                    nowMs: Timestamps.nowMs(), windowMs: windowMs)
            } catch {
                throw ErrorResponse(
                    status: .serviceUnavailable, message: "The meter is unavailable; retry shortly.", type: "server_error",
                    code: "meter_unavailable")
            }
            switch found {
            case .claimed:
                return .proceed(
                    IdempotentRequest(
                        key: IdempotencyKeyRef(customer: customer, key: key, eventID: eventID), windowMs: windowMs,
                        maxResponseBytes: settings.maxResponseBytes, upstreamKey: Self.upstreamKey(customer: customer, key: key)))
            case .replay(let original, let response):
                return .replay(original: original, response)
            case .mismatch(let original):
                throw ErrorResponse(
                    status: .unprocessableContent,
                    message: "This Idempotency-Key was already used with a different request (event \(original)); "
                        + "a retry must repeat the same method, path and body. Use a new key for a new request.",
                    type: "invalid_request_error", code: "idempotency_key_reused")
            case .notStored(let original, let bytes):
                throw ErrorResponse(
                    status: .unprocessableContent,
                    message: "The request with this Idempotency-Key completed (event \(original)), but its response (\(bytes) bytes) "
                        + "was larger than idempotency.max_response_bytes (\(settings.maxResponseBytes)) and cannot be replayed; "
                        + "running it again would charge it twice. Use a new key to run it again.",
                    type: "invalid_request_error", code: "idempotent_response_not_stored")
            case .inFlight(let original):
                guard ContinuousClock.now + pause < deadline else {
                    var error = ErrorResponse(
                        status: .conflict,
                        message: "A request with this Idempotency-Key is still in progress (event \(original)); retry later to get its response.",
                        type: "invalid_request_error", code: "idempotency_key_in_use")
                    error.headers[.retryAfter] = "1"
                    throw error
                }
                do { try await Task.sleep(for: pause) } catch {
                    throw ErrorResponse(status: .conflict, message: "Cancelled.", type: "invalid_request_error", code: "idempotency_key_in_use")
                }
                pause = min(pause * 2, .milliseconds(250))
            }
        }
    }

    /// The provider's key for a customer's key: `tg-` and 32 hex digits of SHA-256 over both.
    static func upstreamKey(customer: String, key: String) -> String {
        let digest = SHA256.hash(data: Array("\(customer)\u{0}\(key)".utf8))
        return Hex.lowercase(Array(digest.prefix(16)), prefix: "tg-")
    }

    /// The replay of a stored response, under the replay's own event id.
    static func response(replaying stored: StoredResponse, original: String, eventID: String) -> Response {
        var headers = HTTPFields()
        headers.reserveCapacity(stored.headers.count + 3)
        for pair in stored.headers {
            if let name = HTTPField.Name(pair.name) { headers.append(HTTPField(name: name, value: pair.value)) }
        }
        headers[ProxyResponder.eventIDField] = eventID
        headers[replayedField] = "true"
        headers[replayOfField] = original
        return Response(
            status: HTTPResponse.Status(code: stored.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: stored.body)))
    }
}
