import NIOCore
import NIOHTTP1

/// One keep-alive HTTP/1.1 connection to a provider, serving one exchange at a time, on its event loop.
///
/// An exchange writes the request, answers the head as an ``UpstreamResponse`` and hands the body to its reader piece
/// by piece: the body's async sequence, or an ``UpstreamBodySink`` on this event loop that took its place (see
/// ``UpstreamBody/attach(_:)``). Reads go on only while the reader keeps up (the channel's reads are held back when
/// the body's buffer is full, or the sink asks to wait). After a complete keep-alive response the connection goes back
/// to its ``UpstreamClient``'s pool; a reader that stops before the end, an error or a timeout closes it.
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private enum State {
        case idle
        case awaitingHead(EventLoopPromise<UpstreamResponse>)
        case streaming(BodyReader, keepAlive: Bool)
        case closed
    }

    /// Who reads the body of the exchange in progress.
    private enum BodyReader {
        /// Nobody yet (``UpstreamBody``): what is read meanwhile waits in `pending`, and reads stop.
        case unclaimed
        /// The body's async sequence, made when its iterator claimed the body.
        case sequence(UpstreamBody.Producer.Source)
        case sink(any UpstreamBodySink)
    }

    private var state = State.idle
    /// The pieces of the body read before it was claimed, and whether its end was read too (the exchange then ends
    /// once it is claimed: the connection stays out of the pool until then).
    private var pending: [ByteBuffer] = []
    private var pendingEnded = false
    private var context: ChannelHandlerContext?
    /// Counts exchanges, so that a late signal from an earlier exchange's body reader is told apart.
    private var exchange = 0
    /// Whether the body's reader wants more; while it does not, the channel's reads wait in `readPending`.
    private var demand = true
    private var readPending = false
    /// The two timers stay armed across exchanges: each, when it fires, measures from its timestamp and arms itself
    /// again for what is left, so that a request on a kept-alive connection schedules and cancels nothing (two
    /// scheduled tasks per request cost about 18 allocations and two timer-heap updates).
    private var idleClose: Scheduled<Void>?
    /// Since when the connection has been idle in the pool (its last exchange's end).
    private var idleSince = NIODeadline.now()
    /// The provider's silence is measured from the last read (or the request, or the reader asking for more): time in
    /// the pool and time the reader holds reads back do not count.
    private var lastRead = NIODeadline.now()
    private var readTimer: Scheduled<Void>?
    /// The first error the channel reported, for the failure of the exchange it ends.
    private var failure: (any Error)?
    private let pool: UpstreamClient
    let origin: UpstreamOrigin

    init(origin: UpstreamOrigin, pool: UpstreamClient) {
        self.origin = origin
        self.pool = pool
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Whether ``send(_:body:promise:)`` would write the request now (the connection is idle and open).
    var isReady: Bool {
        guard case .idle = state, let context else { return false }
        return context.channel.isActive
    }

    /// Starts an exchange: writes the request; `promise` gets the response head, or the failure.
    func send(_ head: HTTPRequestHead, body: ByteBuffer?, promise: EventLoopPromise<UpstreamResponse>) {
        guard isReady, let context else {
            // Closed before anything was written: by the provider while idle in the pool (stale), or, on a new
            // connection, by a failed TLS handshake.
            promise.fail(exchange > 0 || failure == nil ? UpstreamError.stale : exchangeFailure(answered: false))
            return
        }
        exchange += 1
        state = .awaitingHead(promise)
        lastRead = .now()
        armReadTimer(context)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body, body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard case .awaitingHead(let promise) = state else { return close(context) }
            state = .streaming(.unclaimed, keepAlive: head.isKeepAlive)
            pending.removeAll()
            pendingEnded = false
            demand = true
            let connection = NIOLoopBound(self, eventLoop: context.eventLoop)
            promise.succeed(
                UpstreamResponse(
                    status: head.status, headers: head.headers, body: UpstreamBody(connection: connection, exchange: exchange)))
        case .body(let piece):
            switch state {
            case .streaming(.unclaimed, _):
                pending.append(piece)
                demand = false
            case .streaming(.sequence(let source), _):
                if source.yield(piece) == .stopProducing { demand = false }
            case .streaming(.sink(let sink), _):
                if !sink.received(piece) { demand = false }
            case .idle, .awaitingHead, .closed:
                return
            }
        case .end:
            guard case .streaming(let reader, let keepAlive) = state else { return }
            if case .unclaimed = reader {
                // Held, out of the pool and open (even after `Connection: close`), until a reader claims the body or
                // drops it (``unclaimedBodyDropped(exchange:)``): the reader gets all of it, then its end.
                pendingEnded = true
                demand = false
                return
            }
            endExchange(context, reader: reader, keepAlive: keepAlive)
        }
    }

    /// The response has ended: the connection goes back to the pool (or closes), then `reader` learns of the end.
    private func endExchange(_ context: ChannelHandlerContext, reader: BodyReader, keepAlive: Bool) {
        // The state first: finishing may tell the reader's end at once (``terminated(exchange:)``).
        state = keepAlive ? .idle : .closed
        if keepAlive {
            demand = true
            if readPending {
                readPending = false
                context.read()
            }
            idleSince = .now()
            armIdleTimer(context)
            // Back in the pool before the reader learns of the end: a caller on another thread that sends its next
            // request as soon as this body has ended finds the connection idle, rather than opening another.
            pool.release(self, channel: context.channel)
        }
        switch reader {
        case .unclaimed: break
        case .sequence(let source): source.finish()
        case .sink(let sink): sink.ended(nil)
        }
        if !keepAlive { close(context) }
    }

    func read(context: ChannelHandlerContext) {
        if demand {
            context.read()
        } else {
            readPending = true
        }
    }

    /// Arms the read timer for `lastRead` + the read timeout, unless it is armed already (for an earlier time: it then
    /// arms itself again when it fires).
    private func armReadTimer(_ context: ChannelHandlerContext) {
        guard pool.readTimeout > .zero, readTimer == nil else { return }
        readTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: lastRead + pool.readTimeout) { [weak self] in
            self?.readTimerFired()
        }
    }

    private func readTimerFired() {
        readTimer = nil
        guard let context else { return }
        switch state {
        case .awaitingHead, .streaming:
            if demand, NIODeadline.now() - lastRead >= pool.readTimeout {
                failure = UpstreamError.readTimeout
                return close(context)
            }
            // Reads held back for the reader are not the provider's silence.
            if !demand { lastRead = .now() }
            armReadTimer(context)
        case .idle, .closed:
            // Nothing awaited: the next exchange arms it.
            break
        }
    }

    /// Arms the idle timer for `idleSince` + the idle timeout, unless it is armed already.
    private func armIdleTimer(_ context: ChannelHandlerContext) {
        guard idleClose == nil else { return }
        idleClose = context.eventLoop.assumeIsolated().scheduleTask(deadline: idleSince + pool.idleTimeout) { [weak self] in
            self?.idleTimerFired()
        }
    }

    /// Closes the connection if it has been idle for the idle timeout; if it was used since, waits for the rest.
    private func idleTimerFired() {
        idleClose = nil
        // In an exchange: its end arms the timer again.
        guard case .idle = state, let context else { return }
        if NIODeadline.now() - idleSince >= pool.idleTimeout { return close(context) }
        armIdleTimer(context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if failure == nil { failure = error }
        close(context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleClose?.cancel()
        readTimer?.cancel()
        let ended = state
        state = .closed
        switch ended {
        case .awaitingHead(let promise):
            promise.fail(exchangeFailure(answered: false))
        case .streaming(.sequence(let source), _):
            source.finish(exchangeFailure(answered: true))
        case .streaming(.sink(let sink), _):
            sink.ended(exchangeFailure(answered: true))
        case .streaming(.unclaimed, _), .idle, .closed:
            // An unclaimed body's reader learns of it when it claims the body (``sequence(exchange:)``).
            break
        }
        pool.remove(channel: context.channel, origin: origin)
        context.fireChannelInactive()
    }

    private func exchangeFailure(answered: Bool) -> any Error {
        switch failure {
        case nil: return UpstreamError.closed(answered: answered)
        case let error as UpstreamError: return error
        case let error?: return answered ? UpstreamError.closed(answered: true) : UpstreamError.unreachable("\(error)")
        }
    }

    private func close(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        context.close(promise: nil)
    }

    /// The body's reader caught up: reads go on.
    func resume(exchange: Int) {
        guard exchange == self.exchange, case .streaming = state else { return }
        demand = true
        lastRead = .now()
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    /// The body's reader is gone. Before the response's end, the rest of it can only be read off by closing.
    fileprivate func terminated(exchange: Int) {
        guard exchange == self.exchange, case .streaming(.sequence, _) = state else { return }
        stop(exchange: exchange)
    }

    /// The exchange's body was dropped with nobody reading it: once all of it was read, the connection is reusable;
    /// before, the rest can only be read off by closing.
    func unclaimedBodyDropped(exchange: Int) {
        guard exchange == self.exchange, case .streaming(.unclaimed, let keepAlive) = state, let context else { return }
        pending.removeAll()
        if pendingEnded {
            pendingEnded = false
            endExchange(context, reader: .unclaimed, keepAlive: keepAlive)
        } else {
            stop(exchange: exchange)
        }
    }

    /// Ends the exchange before the response's end: the connection closes (its reader is not told).
    func stop(exchange: Int) {
        guard exchange == self.exchange, case .streaming = state, let context else { return }
        state = .closed
        close(context)
    }

    /// Whether the exchange's body, claimed by nobody yet, has been read to its end (it waits for its reader).
    func holdsWholeBody(exchange: Int) -> Bool {
        switch state {
        case .streaming(.unclaimed, _), .closed: return exchange == self.exchange && pendingEnded
        case .idle, .awaitingHead, .streaming: return false
        }
    }

    /// Whether a sink can read the exchange's body: nobody reads it yet, and none of it has been read.
    func canAttach(exchange: Int) -> Bool {
        guard exchange == self.exchange, case .streaming(.unclaimed, _) = state else { return false }
        return pending.isEmpty && !pendingEnded
    }

    /// Makes `sink` the body's reader (after ``canAttach(exchange:)``, on the event loop).
    func attach(_ sink: any UpstreamBodySink, exchange: Int) {
        guard case .streaming(.unclaimed, let keepAlive) = state else { return }
        state = .streaming(.sink(sink), keepAlive: keepAlive)
    }

    /// Makes the body's async sequence, for the iterator that claimed it: what was read meanwhile goes in first, then
    /// the end, or the failure if the connection closed before the end.
    func sequence(exchange: Int, on eventLoop: any EventLoop) -> UpstreamBody.Producer {
        let made = UpstreamBody.Producer.makeSequence(
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: 16), finishOnDeinit: false,
            delegate: Demand(connection: NIOLoopBound(self, eventLoop: eventLoop), exchange: exchange))
        guard exchange == self.exchange else {
            made.source.finish(UpstreamError.closed(answered: true))
            return made.sequence
        }
        let pieces = pending
        pending.removeAll()
        let full = !pieces.isEmpty && made.source.yield(contentsOf: pieces) == .stopProducing
        switch state {
        case .streaming(.unclaimed, let keepAlive):
            if pendingEnded, let context {
                endExchange(context, reader: .sequence(made.source), keepAlive: keepAlive)
            } else {
                state = .streaming(.sequence(made.source), keepAlive: keepAlive)
                if !full { resume(exchange: exchange) }
            }
        case .closed where pendingEnded:
            made.source.finish()
        default:
            made.source.finish(exchangeFailure(answered: true))
        }
        pendingEnded = false
        return made.sequence
    }

    /// Signals from a body's reader, carried to the connection's event loop.
    struct Demand: NIOAsyncSequenceProducerDelegate {
        let connection: NIOLoopBound<UpstreamConnection>
        let exchange: Int

        func produceMore() { connection.execute { [exchange] in $0.resume(exchange: exchange) } }

        func didTerminate() { connection.execute { [exchange] in $0.terminated(exchange: exchange) } }
    }
}
