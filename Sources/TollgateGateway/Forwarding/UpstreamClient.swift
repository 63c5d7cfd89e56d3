import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import TollgateCore

/// The client every upstream request goes through: HTTP/1.1 keep-alive connections pooled per provider origin, each
/// on the event loop that opened it, and taken by requests on that loop only (a proxied request and its upstream
/// connection share a thread); TLS with full certificate verification against the system's trust roots; no
/// redirects followed, no decompression (bytes reach the client as the provider sent them).
///
/// There is no cap on connections per provider (as with nginx's `proxy_pass`): each in-flight request holds one, so
/// 5,000 concurrent streams open 5,000 connections; the proxy's own caps (`proxy.max_connections`, per-key and
/// per-customer concurrency) bound them. Idle connections close after ``idleTimeout``.
public final class UpstreamClient: Sendable {
    /// How long a connection stays open with nothing to do.
    let idleTimeout: TimeAmount
    /// The most idle connections kept per origin; more close once their response ends.
    static let maxIdlePerOrigin = 1024

    private let group: MultiThreadedEventLoopGroup
    private let connectTimeout: TimeAmount
    /// The longest silence of a provider mid-exchange (0: none).
    let readTimeout: TimeAmount
    private let tls: Result<NIOSSLContext, any Error>
    private let idle = Mutex<[UpstreamOrigin: [Pooled]]>([:])

    /// An idle connection: its channel and its handler (used on the channel's event loop only).
    private struct Pooled: Sendable {
        let channel: any Channel
        let connection: NIOLoopBound<UpstreamConnection>
    }

    /// Creates the client with the proxy's connect and read timeouts.
    public convenience init(settings: ProxySettings) {
        self.init(
            connectTimeout: .milliseconds(Int64(settings.connectTimeoutSeconds * 1000)),
            readTimeout: .milliseconds(Int64(settings.readTimeoutSeconds * 1000)))
    }

    /// Creates the client; `tls` replaces the default client TLS configuration (a test's own trust root).
    init(
        connectTimeout: TimeAmount, readTimeout: TimeAmount, idleTimeout: TimeAmount = .seconds(60),
        tls: TLSConfiguration = .makeClientConfiguration()
    ) {
        group = .singleton
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.idleTimeout = idleTimeout
        var configuration = tls
        configuration.applicationProtocols = ["http/1.1"]
        self.tls = Result { try NIOSSLContext(configuration: configuration) }
    }

    /// Sends a request; the response's head comes back as soon as it arrives, its body streams after.
    func execute(_ request: UpstreamRequest) async throws -> UpstreamResponse {
        try await start(request).get()
    }

    /// Sends a request without a task waiting for it: the future completes with the response's head, on the event
    /// loop of the connection (the caller's, when it runs on one), and the body streams after.
    ///
    /// A pooled connection found closed before anything was written on it is replaced by a new one. A request that
    /// was written is never sent twice: if the connection closes before an answer, the provider may have taken it (and
    /// billed it), so the failure is the caller's to record.
    func start(_ request: UpstreamRequest) -> EventLoopFuture<UpstreamResponse> {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        let origin: UpstreamOrigin
        let target: String
        do {
            (origin, target) = try UpstreamOrigin.split(request.url)
        } catch {
            return loop.makeFailedFuture(error)
        }
        var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: target, headers: request.headers)
        head.headers.replaceOrAdd(name: "host", value: origin.authority)
        head.headers.remove(name: "transfer-encoding")
        // A sized body always (a bodiless POST, PUT or PATCH says `content-length: 0` rather than an empty chunked body).
        switch (request.body, request.method) {
        case (let body?, _): head.headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        case (nil, .GET), (nil, .HEAD), (nil, .DELETE), (nil, .OPTIONS), (nil, .TRACE): head.headers.remove(name: "content-length")
        case (nil, _): head.headers.replaceOrAdd(name: "content-length", value: "0")
        }
        return exchange(head, body: request.body, origin: origin, on: loop, fresh: false)
    }

    /// Writes the request on an idle connection to `origin` (unless `fresh`) or a new one. A connection found closed
    /// before the request was written on it (a reused one the provider closed while it was idle, or, rarely, a new one
    /// the provider closed at once) is replaced by a new one, once: nothing was sent on it.
    private func exchange(
        _ head: HTTPRequestHead, body: ByteBuffer?, origin: UpstreamOrigin, on loop: any EventLoop, fresh: Bool, retried: Bool = false
    ) -> EventLoopFuture<UpstreamResponse> {
        let current = MultiThreadedEventLoopGroup.currentEventLoop
        let reused = fresh ? nil : takeIdle(origin, on: current)
        if let reused, let current, reused.channel.eventLoop === current {
            // The usual case: a kept-alive connection of this event loop, written to at once, with no future in between
            // (a stale one is known before anything is written: it is the only way ``UpstreamError/stale`` comes).
            guard reused.connection.value.isReady else {
                return exchange(head, body: body, origin: origin, on: loop, fresh: true, retried: true)
            }
            let promise = current.makePromise(of: UpstreamResponse.self)
            reused.connection.value.send(head, body: body, promise: promise)
            return promise.futureResult
        }
        let pooled = reused.map { loop.makeSucceededFuture($0) } ?? connect(origin, on: current ?? loop)
        return pooled.flatMap { pooled in
            let promise = pooled.channel.eventLoop.makePromise(of: UpstreamResponse.self)
            if pooled.channel.eventLoop.inEventLoop {
                pooled.connection.value.send(head, body: body, promise: promise)
            } else {
                pooled.channel.eventLoop.execute { pooled.connection.value.send(head, body: body, promise: promise) }
            }
            guard !retried else { return promise.futureResult }
            return promise.futureResult.flatMapError { error in
                guard case UpstreamError.stale = error else { return loop.makeFailedFuture(error) }
                return self.exchange(head, body: body, origin: origin, on: loop, fresh: true, retried: true)
            }
        }
    }

    /// The most recently pooled idle connection to `origin` on `loop` (`nil`: on any loop). (An idle connection of
    /// another loop is not taken: each exchange on it would hop between the two threads, and it would go back to the
    /// pool to be taken across again, request after request.)
    private func takeIdle(_ origin: UpstreamOrigin, on loop: (any EventLoop)?) -> Pooled? {
        idle.withLock { idle in
            // Removed in place (a copy of the list taken out and put back would be copied again on every request).
            guard let index = Self.idleIndex(in: idle[origin] ?? [], on: loop) else { return nil }
            return idle[origin]?.remove(at: index)
        }
    }

    private static func idleIndex(in connections: [Pooled], on loop: (any EventLoop)?) -> Int? {
        guard let loop else { return connections.indices.last }
        return connections.lastIndex { $0.channel.eventLoop === loop }
    }

    /// A new connection to `origin`, on `loop`.
    private func connect(_ origin: UpstreamOrigin, on loop: any EventLoop) -> EventLoopFuture<Pooled> {
        let tls: NIOSSLContext?
        if origin.tls {
            do {
                tls = try self.tls.get()
            } catch {
                return loop.makeFailedFuture(UpstreamError.unreachable("TLS is not available: \(error)"))
            }
        } else {
            tls = nil
        }
        // The handler, kept when it is made: a connection whose TLS handshake fails at once has left the pipeline by
        // the time the connect returns, and its exchange must still report why.
        let made = NIOLoopBoundBox.makeEmptyBox(valueType: UpstreamConnection.self, eventLoop: loop)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        let isAddress = origin.host.utf8.contains(UInt8(ascii: ":")) || origin.host.allSatisfy({ $0.isNumber || $0 == "." })
                        let name = isAddress ? nil : origin.host
                        try pipeline.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: name))
                    }
                    // NIO's check of every outgoing header byte (1.4 % of the event loops' samples) is left out: the
                    // client's headers are `HTTPFields`, whose values are legalised and names validated, and what Tollgate
                    // adds is computed or comes from a config whose keys, credentials, header names and base URLs were
                    // refused at load if they hold control characters (``ConfigLoader``).
                    try pipeline.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                    let connection = UpstreamConnection(origin: origin, pool: self)
                    made.value = connection
                    try pipeline.addHandler(connection)
                }
            }
        return bootstrap.connect(host: origin.host, port: origin.port).flatMapErrorThrowing { error in
            throw Self.connectFailure(error, origin: origin)
        }.flatMapThrowing { channel in
            guard let connection = made.value else { throw UpstreamError.unreachable("the connection was not set up") }
            return Pooled(channel: channel, connection: NIOLoopBound(connection, eventLoop: loop))
        }
    }

    /// Why a connection could not be made, in words.
    private static func connectFailure(_ error: any Error, origin: UpstreamOrigin) -> UpstreamError {
        switch error {
        case ChannelError.connectTimeout:
            return .connectTimeout
        case let error as NIOConnectionError:
            // Each address tried and why it failed, in words (the error's own description is a debug dump).
            let reasons = Set(error.connectionErrors.map { "\($0.error)" }).sorted()
            let dns = error.dnsAError ?? error.dnsAAAAError
            let why = !reasons.isEmpty ? reasons.joined(separator: "; ") : dns.map { "the name does not resolve (\($0))" } ?? "no address"
            return .unreachable("cannot connect to \(origin.authority): \(why)")
        default:
            return .unreachable("cannot connect to \(origin.authority): \(error)")
        }
    }

    /// A connection whose response has ended, ready for the next request (called on its event loop).
    func release(_ connection: UpstreamConnection, channel: any Channel) {
        let pooled = Pooled(channel: channel, connection: NIOLoopBound(connection, eventLoop: channel.eventLoop))
        let kept = idle.withLock { idle in
            guard idle[connection.origin, default: []].count < Self.maxIdlePerOrigin else { return false }
            idle[connection.origin, default: []].append(pooled)
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    /// A connection that closed: no longer offered.
    func remove(channel: any Channel, origin: UpstreamOrigin) {
        idle.withLock { idle in
            idle[origin]?.removeAll { $0.channel === channel }
        }
    }

    /// Closes the idle connections (those in use close when their responses end).
    public func shutdown() async {
        let all = idle.withLock { idle in
            defer { idle.removeAll() }
            return idle.values.flatMap { $0 }
        }
        for pooled in all { try? await pooled.channel.close() }
    }
}
