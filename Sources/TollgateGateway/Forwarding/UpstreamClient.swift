import AsyncHTTPClient
import NIOCore
import NIOPosix
import TollgateCore

/// The pooled HTTP client every upstream request goes through: keep-alive connections per host, TLS with full
/// certificate verification, no redirects followed, no decompression (bytes reach the client as the provider sent
/// them).
public struct UpstreamClient: Sendable {
    let http: HTTPClient

    public init(settings: ProxySettings) {
        let timeout = HTTPClient.Configuration.Timeout(
            connect: .milliseconds(Int64(settings.connectTimeoutSeconds * 1000)), read: .milliseconds(Int64(settings.readTimeoutSeconds * 1000)))
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: timeout,
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512),
            decompression: .disabled
        )
        configuration.httpVersion = .automatic
        // A provider that refuses the connection is answered 502 at once (the client's SDK retries 502s itself),
        // rather than after the whole connect timeout of the pool's own retries.
        configuration.connectionPool.retryConnectionEstablishment = false
        http = HTTPClient(eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup.singleton), configuration: configuration)
    }

    /// Sends a request; the response body streams as it arrives.
    func execute(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        // The deadline bounds the whole exchange; silence is bounded by the read timeout above.
        try await http.execute(request, timeout: .hours(6))
    }

    public func shutdown() async {
        try? await http.shutdown()
    }
}
