import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import TollgateCore

/// The HTTP side every API sink shares: one POST with the sink's bearer key and timeout, and the reading of its
/// answer into what the exporter needs (accepted, retry — with the wait a 429 or 503 asked for — or refused).
struct SinkHTTP: Sendable {
    /// The client sinks go through: lives as long as the process; redirects are not followed.
    static let sharedClient = HTTPClient(
        eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
        configuration: HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(60)), decompression: .disabled))

    let settings: SinkSettings
    var client: HTTPClient = SinkHTTP.sharedClient

    /// POSTs `body` to the sink's `base_url` + `path`. A transport failure (refused, dropped, timed out) is a thrown
    /// description, to be retried: the sink may or may not have processed the request, and the idempotency key makes
    /// the retry safe either way.
    func post(path: String, contentType: String, body: [UInt8], headers extra: [(String, String)] = []) async throws(SinkTransportError) -> HTTPReply
    {
        var request = HTTPClientRequest(url: (settings.baseURL ?? "") + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "User-Agent", value: "tollgate")
        if let key = settings.apiKey, !key.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeoutSeconds * 1000)))
            let reply = try await response.body.collect(upTo: 1 << 20)
            return HTTPReply(status: Int(response.status.code), headers: response.headers, body: String(buffer: reply))
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw SinkTransportError(description: "no answer from \(settings.baseURL ?? "") within \(settings.timeoutSeconds) s")
        } catch {
            throw SinkTransportError(description: "\(settings.baseURL ?? "") could not be reached or dropped the connection (\(error))")
        }
    }

    /// `application/x-www-form-urlencoded` text of ordered fields (Stripe's bodies).
    static func formEncoded(_ fields: [(String, String)]) -> [UInt8] {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let text = fields.map { name, value in
            "\(name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
        return Array(text.utf8)
    }

    /// JSON bytes of a value built from dictionaries, arrays, strings, numbers and booleans, keys sorted.
    static func json(_ value: Any) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("null".utf8))
    }
}

/// An answer that arrived, to a sink's request or an alert's delivery.
struct HTTPReply: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: String

    /// The `Retry-After` seconds of a 429 or 503.
    var retryAfterSeconds: Int? {
        guard status == 429 || status == 503 else { return nil }
        return headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// `HTTP 422: <start of the reply>`, on one line.
    var summary: String { summary(excerpt: 300) }

    /// `HTTP 422: <the reply's first characters, at most excerpt>`, on one line.
    func summary(excerpt: Int) -> String {
        let text = body.prefix(excerpt).map { $0.isNewline ? " " : String($0) }.joined().trimmingCharacters(in: .whitespaces)
        return text.isEmpty ? "HTTP \(status)" : "HTTP \(status): \(text)"
    }

    /// The usual reading: 2xx sent; 408, 409 (a request still in flight), 425, 429 and 5xx retried; other 4xx refused.
    var outcome: SendOutcome {
        switch status {
        case 200..<300: .sent
        case 408, 409, 425, 429, 500...: .retry(summary, retryAfterSeconds: retryAfterSeconds)
        default: .rejected(summary)
        }
    }
}

/// A request that got no answer.
struct SinkTransportError: Error, CustomStringConvertible {
    let description: String
}
