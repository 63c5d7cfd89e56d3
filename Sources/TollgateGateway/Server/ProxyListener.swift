import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import TollgateCore

/// The proxy listener: it accepts connections and serves each with NIO's HTTP/1.1 codec and a ``ProxyConnection``, on
/// the connection's event loop. No task is kept per connection (Hummingbird's server kept one for each, waiting for
/// the connection to close): the response head and body go from the responder to the socket on the event loop, the
/// head leaving with the first body bytes in one write when they are ready together.
///
/// At most `maxConnections` connections are open; more wait in the accept queue (`backlog`: a connection flood waits
/// there rather than in SYN retries), as the listener stops accepting meanwhile. Graceful shutdown (the service
/// group's): the listener stops accepting, every connection closes once its response in progress has ended (those
/// idle at once), and ``run()`` returns when all have. Cancelled (the grace period is over), it closes them at once.
public struct ProxyListener: Service {
    let host: String
    let port: Int
    let backlog: Int32
    let maxConnections: Int
    let responder: ProxyResponder
    let headerReadTimeout: TimeAmount?
    let idleTimeout: TimeAmount?
    let onListening: @concurrent @Sendable (Int) async -> Void
    let logger: Logger

    /// A listener on `host:port` for `responder`'s requests. `headerReadTimeout` bounds the wait for a new
    /// connection's first request head, `idleTimeout` a connection with no request in progress (`nil`: none);
    /// `onListening` gets the bound port (useful with port 0).
    public init(
        host: String, port: Int, backlog: Int32 = 4096, maxConnections: Int, responder: ProxyResponder, headerReadTimeout: TimeAmount?,
        idleTimeout: TimeAmount?, logger: Logger, onListening: @escaping @concurrent @Sendable (Int) async -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.backlog = backlog
        self.maxConnections = maxConnections
        self.responder = responder
        self.headerReadTimeout = headerReadTimeout
        self.idleTimeout = idleTimeout
        self.onListening = onListening
        self.logger = logger
    }

    public func run() async throws {
        let quiescing = ServerQuiescingHelper(group: MultiThreadedEventLoopGroup.singleton)
        let open = OpenConnections()
        let cap = MaximumAvailableConnections(maxConnections, logger: logger)
        let turns = LoopTurns()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AvailableConnectionsChannelHandler(delegate: cap))
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelInitializer { [self] channel in
                open.add(channel)
                return channel.eventLoop.makeCompletedFuture { try setUp(channel, turns: turns.of(channel.eventLoop)) }
            }
            .bind(host: host, port: port).get()
        await onListening(server.localAddress?.port ?? port)
        let closed = server.eventLoop.makePromise(of: Void.self)
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await closed.futureResult.get()
            } onGracefulShutdown: {
                quiescing.initiateShutdown(promise: closed)
            }
        } onCancel: {
            quiescing.initiateShutdown(promise: nil)
            open.closeAll()
            closed.succeed()
        }
    }

    /// A new connection's pipeline.
    private func setUp(_ channel: any Channel, turns: RequestTurns) throws {
        // The limits Hummingbird's HTTP/1.1 server has always applied here.
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = 80 * 1024
        limits.maxHeaderListSize = 80 * 1024
        limits.maxHeaderFieldCount = 1000
        let pipeline = channel.pipeline.syncOperations
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: true, withOutboundHeaderValidation: false,
            withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
        if let headerReadTimeout { try pipeline.addHandler(HeaderReadTimeoutHandler(timeout: headerReadTimeout)) }
        try pipeline.addHandler(ProxyConnection(responder: responder, turns: turns, idleTimeout: idleTimeout, logger: logger))
    }
}

/// The ``RequestTurns`` of each event loop.
private final class LoopTurns: Sendable {
    private let turns = Mutex<[ObjectIdentifier: RequestTurns]>([:])

    func of(_ loop: any EventLoop) -> RequestTurns {
        turns.withLock { turns in
            if let existing = turns[ObjectIdentifier(loop)] { return existing }
            let made = RequestTurns(loop: loop)
            turns[ObjectIdentifier(loop)] = made
            return made
        }
    }
}

/// The listener's open connections, to close them all when its grace period is over.
private final class OpenConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = channels.withLock { $0.removeValue(forKey: id) } }
    }

    func closeAll() {
        for channel in channels.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }
}

/// One client connection of the proxy listener, on its event loop. Each request starts the responder as soon as its
/// head is read (authentication does not wait for the body, which streams in through a ``RequestBodyStream``); the
/// response is written back here through a ``ProxyResponseWriter``.
///
/// Requests on a connection are served one after the other: a request that arrives while the one before it is still
/// being answered (a pipelining client) waits here, and the socket is not read meanwhile. A client that waits for
/// each response, as clients do, is read without interruption: no change of the socket's read interest per request,
/// as NIO's pipelining handler makes (two `epoll_ctl` calls).
///
/// It reads and writes NIO's HTTP/1 parts itself, turning them into HTTPTypes' (``request(_:)``): no handler of its
/// own in the pipeline for that.
final class ProxyConnection: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: ProxyResponder
    /// Its event loop's turns to set requests up.
    private let turns: RequestTurns
    private let idleTimeout: TimeAmount?
    private let logger: Logger
    private var context: ChannelHandlerContext?

    /// The body of the request being read; `nil` between requests and once the body has ended.
    private var body: RequestBodyStream?
    /// The request's head has been read and its end not yet.
    private var requestOpen = false
    /// A response is being produced: from its request's head until its end is written.
    private var responding = false
    /// The number of the request being answered on this connection (a response's writes carry the number of its
    /// request: a late call of one that has ended must not touch the next).
    private var exchange = 0
    /// The connection closes once the current response has ended (the client asked, or the response broke off).
    private var closeAfterResponse = false
    /// The client sends nothing more: the connection closes once the responses to what it sent have ended.
    private var inputClosed = false
    /// Reading stopped while a request body waits for its reader, or a pipelined request waits; a read asked for
    /// meanwhile.
    private var readsPaused = false
    private var readPending = false
    /// The parts of requests that arrived while the response before them was in progress, in order.
    private var pipelined: [HTTPRequestPart] = []
    /// The response head was written and waits for the first body bytes, to leave in one write with them.
    private var headWaiting = false
    /// Flushes a head still waiting ``headFlushDelay`` after the event-loop turn that wrote it.
    private var headFlush: Scheduled<Void>?
    /// Since when the connection has had no request in progress (`nil`: one is).
    private var idleSince: NIODeadline?
    private var idleTimer: Scheduled<Void>?

    init(responder: ProxyResponder, turns: RequestTurns, idleTimeout: TimeAmount?, logger: Logger) {
        self.responder = responder
        self.turns = turns
        self.idleTimeout = idleTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { becameIdle(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        headLeaves()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        becameIdle(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        idleTimer = nil
        body?.fail(RequestBodyIncomplete())
        body = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part: HTTPRequestPart
        switch unwrapInboundIn(data) {
        case .head(let head):
            do {
                part = .head(try Self.request(head))
            } catch {
                return errorCaught(context: context, error: error)
            }
        case .body(let piece): part = .body(piece)
        case .end(let trailers): part = .end(trailers.map { HTTPFields($0, splitCookie: false) })
        }
        // After a request's end, while its response is in progress, what comes is the next request's: it waits
        // (unless the connection closes after this response: then it is never served).
        guard pipelined.isEmpty, !awaitingResponseEnd else {
            if !closeAfterResponse { pipelined.append(part) }
            readsPaused = true
            return
        }
        serve(part, context: context)
    }

    /// A request's head in HTTPTypes' terms, as NIOHTTPTypesHTTP1 converts it, except that an origin-form target
    /// (`/v1/chat/completions?…`, every proxied request's) is kept as it is: that converter parses every target as a
    /// URL (`URLComponents`, about a percent of a request's CPU) only to find no scheme in it, and then keeps it too.
    static func request(_ head: HTTPRequestHead) throws -> HTTPRequest {
        guard head.uri.utf8.first == UInt8(ascii: "/") else { return try HTTPRequest(head, secure: false, splitCookie: false) }
        return HTTPRequest(
            method: try HTTPRequest.Method(head.method), scheme: "http", authority: head.headers["Host"].first, path: head.uri,
            headerFields: HTTPFields(head.headers, splitCookie: false))
    }

    /// The request has been read whole and its response is still in progress: what arrives now is a later request's.
    private var awaitingResponseEnd: Bool { responding && !requestOpen }

    private func serve(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            requestOpen = true
            responding = true
            exchange += 1
            idleSince = nil
            if let connection = head.headerFields.value(of: .connection), connection.lowercased().containsBytes(of: "close") {
                closeAfterResponse = true
            }
            let loop = context.eventLoop
            let connection = NIOLoopBound(self, eventLoop: loop)
            let stream = RequestBodyStream { loop.execute { connection.value.resumeReads() } }
            body = stream
            respond(
                to: Request(head: head, body: RequestBody(asyncSequence: stream)), body: stream,
                writer: ProxyResponseWriter(connection: connection, exchange: exchange))
        case .body(let piece):
            // Without a body stream the response has ended already: the rest of the body is read and dropped.
            if let body, body.append(piece) { readsPaused = true }
        case .end:
            requestOpen = false
            body?.finish()
            body = nil
            if !responding { becameIdle(context) }
        }
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            readPending = true
            return
        }
        context.read()
    }

    private func resumeReads() {
        guard pipelined.isEmpty else { return }
        readsPaused = false
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The client sends nothing more (it closed, or half-closed after its requests): the connection closes now,
            // or once the responses to what it sent have ended. A body cut short fails for its reader. Without this, a
            // closed client's connection stayed open, and counted against `proxy.max_connections`, until the idle
            // timeout.
            if requestOpen {
                body?.fail(RequestBodyIncomplete())
                body = nil
            }
            inputClosed = true
            if !responding && pipelined.isEmpty { context.close(promise: nil) }
            return
        }
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        // Graceful shutdown: a connection closes now, or once the response in progress has ended (pipelined requests
        // waiting are not served; the rest of a body answered already is not waited for).
        pipelined.removeAll()
        if responding {
            closeAfterResponse = true
        } else {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("proxy connection failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// Runs the responder for `request` and writes its response, once the request has its turn to be set up.
    private func respond(to request: Request, body: RequestBodyStream, writer: ProxyResponseWriter) {
        if let turn = turns.turnNow() {
            begin(request, body: body, writer: writer, turn: turn)
        } else {
            turns.wait { [self] turn in begin(request, body: body, writer: writer, turn: turn) }
        }
    }

    /// Starts the responder's task for `request`, which has its `turn`.
    private func begin(_ request: Request, body: RequestBodyStream, writer: ProxyResponseWriter, turn: RequestTurns.Turn) {
        // A client that left while its request waited for its turn: nothing was sent upstream, nothing is.
        guard context?.channel.isActive == true else { return turn.giveBack() }
        body.giveBackWhenWaiting(turn)
        let responder = self.responder
        let logger = self.logger
        Task { await writer.answer(request, body: body, responder: responder, logger: logger, turn: turn) }
    }

    // MARK: Writing the response (on the event loop, called by ProxyResponseWriter)

    /// Whether `exchange` is the response in progress.
    private func current(_ exchange: Int) -> Bool { responding && exchange == self.exchange }

    func writeHead(_ head: HTTPResponse, exchange: Int) throws -> EventLoopFuture<Void>? {
        guard current(exchange), let context, context.channel.isActive else { throw ProxyResponseWriter.ClientGone() }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(head))), promise: nil)
        // The head leaves with the first body bytes, in one write. Only when they do not follow within
        // ``headFlushDelay`` (a provider still thinking) does it go out on its own: a client waits no longer for the
        // status of a slow answer than that, and the head of an answer held for its commit (strict metering) is not
        // sent in a write of its own just before the rest. The timer is set only when the turn of the event loop
        // that wrote the head ends without the body: a relayed answer's head and body mostly come in one read from
        // the provider, and a timer set and cancelled for each response was a percent of the CPU.
        headWaiting = true
        context.eventLoop.assumeIsolated().execute { [self] in
            guard headWaiting, headFlush == nil, let context = self.context else { return }
            headFlush = context.eventLoop.assumeIsolated().scheduleTask(in: Self.headFlushDelay) { [self] in
                headFlush = nil
                guard headWaiting else { return }
                headWaiting = false
                self.context?.flush()
            }
        }
        return nil
    }

    /// How long a response head waits for its first body bytes before it is sent alone.
    static let headFlushDelay = TimeAmount.milliseconds(2)

    private func headLeaves() {
        headWaiting = false
        headFlush?.cancel()
        headFlush = nil
    }

    func writeBody(_ piece: ByteBuffer, exchange: Int) throws -> EventLoopFuture<Void>? {
        guard current(exchange), let context, context.channel.isActive else { throw ProxyResponseWriter.ClientGone() }
        headLeaves()
        guard context.channel.isWritable else {
            // The client reads slower than the provider answers: wait until this piece has left.
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(piece))), promise: promise)
            return promise.futureResult
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(piece))), promise: nil)
        return nil
    }

    func endResponse(_ trailers: HTTPFields?, exchange: Int) -> EventLoopFuture<Void>? {
        guard current(exchange) else { return nil }
        responding = false
        headLeaves()
        if requestOpen {
            // Answered before its body was read to the end (refused, or over the limit): the rest is read and
            // dropped, so that the connection can serve the next request.
            body = nil
            resumeReads()
        }
        guard let context, context.channel.isActive else { return nil }
        if closeAfterResponse {
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(trailers.map(HTTPHeaders.init))), promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { [self] _ in self.context?.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(trailers.map(HTTPHeaders.init))), promise: nil)
            if !requestOpen { becameIdle(context) }
            servePipelined(context)
            if inputClosed, !responding { context.close(promise: nil) }
        }
        return nil
    }

    /// Serves the requests that waited for the response just ended, until one of them is answered in turn; reads
    /// resume once none is left.
    private func servePipelined(_ context: ChannelHandlerContext) {
        guard !pipelined.isEmpty else { return }
        var index = 0
        while index < pipelined.count, !awaitingResponseEnd {
            serve(pipelined[index], context: context)
            index += 1
        }
        pipelined.removeFirst(index)
        resumeReads()
    }

    /// Ends the connection without ending the response: the client sees a broken response, not a complete one.
    func abortResponse(exchange: Int) -> EventLoopFuture<Void>? {
        guard current(exchange) else { return nil }
        responding = false
        headLeaves()
        context?.close(promise: nil)
        return nil
    }

    // MARK: Idle connections

    private func becameIdle(_ context: ChannelHandlerContext) {
        guard let idleTimeout else { return }
        idleSince = .now()
        if idleTimer == nil { armIdleTimer(context, in: idleTimeout) }
    }

    /// One timer per connection, re-armed lazily: a busy keep-alive connection schedules nothing per request.
    private func armIdleTimer(_ context: ChannelHandlerContext, in delay: TimeAmount) {
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            idleTimer = nil
            guard let since = idleSince, let idleTimeout, let context = self.context else { return }
            let remaining = since + idleTimeout - .now()
            if remaining <= .zero {
                context.close(promise: nil)
            } else {
                armIdleTimer(context, in: remaining)
            }
        }
    }
}

@available(*, unavailable)
extension ProxyConnection: Sendable {}

/// The response body writer of the proxy listener: each write goes to the connection on its event loop (directly
/// when the responder's task runs there, as it does unless the runtime moved it), and waits only when the client's
/// socket is full.
struct ProxyResponseWriter: ResponseBodyWriter {
    /// The client went away: the write could not be made.
    struct ClientGone: Error {}

    let connection: NIOLoopBound<ProxyConnection>
    /// The number of the request this writer answers on its connection.
    let exchange: Int

    /// Runs `action` on the connection's event loop, then waits for the future it returns, if any.
    func perform(_ action: @escaping @Sendable (ProxyConnection) throws -> EventLoopFuture<Void>?) async throws {
        let loop = connection.eventLoop
        if loop.inEventLoop {
            if let wait = try action(connection.value) { try await wait.get() }
        } else {
            try await loop.flatSubmit { [connection] in
                do {
                    return try action(connection.value) ?? loop.makeSucceededVoidFuture()
                } catch {
                    return loop.makeFailedFuture(error)
                }
            }.get()
        }
    }

    /// Answers `request` with `responder`'s response. An inference's answer is relayed once the provider's head has
    /// arrived, on the event loop that reads it (``LoopRelay``) when that is the connection's own, as it is unless the
    /// runtime moved the task; otherwise by a task of its own (see ``ProxyAnswer``). The request's `turn` to be set up
    /// (``RequestTurns``) is given back once the responder has its answer.
    func answer(_ request: Request, body: RequestBodyStream, responder: ProxyResponder, logger: Logger, turn: RequestTurns.Turn) async {
        let answer = await responder.answer(request, body: body)
        turn.giveBack()
        switch answer {
        case .response(let response):
            await send(response, logger: logger)
        case .forward(let forward):
            forward { [self] forwarded in
                if let relay = forwarded.relay, connection.eventLoop.inEventLoop,
                    LoopRelay.start(relay, head: Self.head(of: forwarded.response), connection: connection, exchange: exchange)
                {
                    return
                }
                Task { await send(forwarded.response, logger: logger) }
            }
        }
    }

    /// The head of `response` as it goes out.
    private static func head(of response: Response) -> HTTPResponse {
        var head = response.head
        head.headerFields[.date] = HTTPDate.now()
        return head
    }

    /// Writes `response`: its head, then its body.
    private func send(_ response: Response, logger: Logger) async {
        let ready = Self.head(of: response)
        do {
            try await perform { [exchange] in try $0.writeHead(ready, exchange: exchange) }
            try await response.body.write(self)
            // A body that returned without ending the response (none should) still ends it.
            try await perform { [exchange] in $0.endResponse(nil, exchange: exchange) }
        } catch {
            logger.debug("response broken off", metadata: ["error": "\(error)"])
            try? await perform { [exchange] in $0.abortResponse(exchange: exchange) }
        }
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        try await perform { [exchange] in try $0.writeBody(buffer, exchange: exchange) }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await perform { [exchange] in $0.endResponse(trailingHeaders, exchange: exchange) }
    }
}

/// The `Date` header's value (RFC 9110 IMF-fixdate), made once a second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> String {
        var now = time(nil)
        let second = Int(now)
        if let text = cache.withLock({ $0.second == second ? $0.text : nil }) { return text }
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let text =
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
        cache.withLock { $0 = (second, text) }
        return text
    }
}
