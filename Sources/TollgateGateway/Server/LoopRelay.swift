import HTTPTypes
import NIOCore

/// Relays a provider's answer to a client of the proxy listener on the event loop that both connections share, with
/// no task per response: each piece the upstream connection reads goes through the ``ResponseRelay``'s steps and on
/// to the client's connection in the same call. Only the end (recording the event, and with strict durability waiting
/// for its commit) runs in a task, a short one.
///
/// It does what ``ResponseRelay/run(writer:)`` does, driven by the upstream connection instead of a loop over its
/// body: back-pressure (the upstream connection waits while the client's socket is full), draining for up to
/// `drainSeconds` once the client has gone (the event gets status 499), the bytes strict durability holds back sent
/// after the commit, and a response the provider broke off broken off in turn.
final class LoopRelay: UpstreamBodySink {
    /// The relay's guard, claimed: it holds the relay, which is used from it rather than copied (here, and into the
    /// task that ends the response).
    private let relayGuard: RelayGuard
    private var relay: ResponseRelay { _read { yield relayGuard.relay } }
    private var progress: RelayProgress
    private let connection: NIOLoopBound<ProxyConnection>
    /// The number of the request this relay answers on its connection.
    private let exchange: Int
    private var control: UpstreamBodyControl?
    /// Writes to the client waiting for room in its socket; the upstream connection reads on once there are none.
    private var writesWaiting = 0
    private var drainDeadline: Scheduled<Void>?
    /// The body has ended (or reading it has stopped): what is left is the event and the response's end.
    private var concluded = false

    private init(_ relayGuard: RelayGuard, connection: NIOLoopBound<ProxyConnection>, exchange: Int) {
        self.relayGuard = relayGuard
        progress = relayGuard.relay.begin()
        self.connection = connection
        self.exchange = exchange
    }

    /// Starts relaying `relayGuard`'s response with `head` on `connection`, if the provider's body can be read on the
    /// connection's event loop (the caller runs there); `false` otherwise, the guard left as it was.
    static func start(
        _ relayGuard: RelayGuard, head: HTTPResponse, connection: NIOLoopBound<ProxyConnection>, exchange: Int
    ) -> Bool {
        let sink = LoopRelay(relayGuard, connection: connection, exchange: exchange)
        guard let control = relayGuard.relay.body.attach(sink) else { return false }
        relayGuard.claim()
        sink.control = control
        do {
            _ = try connection.value.writeHead(head, exchange: exchange)
        } catch {
            sink.clientLeft()
        }
        return true
    }

    func received(_ piece: ByteBuffer) -> Bool {
        guard !concluded else { return false }
        if progress.outcome.clientGone {
            relay.drained(piece, &progress)
            return true
        }
        guard let outgoing = relay.relay(piece, &progress) else {
            control?.stop()
            conclude()
            return false
        }
        guard outgoing.readableBytes > 0 else { return writesWaiting == 0 }
        let wait: EventLoopFuture<Void>?
        do {
            wait = try connection.value.writeBody(outgoing, exchange: exchange)
        } catch {
            clientLeft()
            return true
        }
        guard let wait else { return writesWaiting == 0 }
        writesWaiting += 1
        wait.assumeIsolated().whenComplete { [self] result in
            writesWaiting -= 1
            if case .failure = result { clientLeft() }
            if writesWaiting == 0 || progress.outcome.clientGone { control?.resume() }
        }
        return false
    }

    func ended(_ failure: (any Error)?) {
        guard !concluded else { return }
        if let failure { relay.upstreamFailed(failure, &progress) }
        conclude()
    }

    /// The client went away: the body is read on for its usage, until its end or the drain's deadline.
    private func clientLeft() {
        guard !progress.outcome.clientGone, !concluded else { return }
        relay.clientLeft(&progress)
        control?.resume()
        drainDeadline = connection.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(relay.drainSeconds * 1000))) {
            [self] in
            drainDeadline = nil
            guard !concluded else { return }
            relay.drainStopped(&progress)
            control?.stop()
            conclude()
        }
    }

    /// Records the event, then ends the client's response as the relay says. The recording runs in a task (a short
    /// one, from the body's end): with strict durability it waits for the commit, and the meter's transactions stay
    /// large when events reach it with the event loop's other work rather than one by one as each body ends (handed
    /// over inline, they made strict throughput at 32 connections 7–13 % lower; see bench/README.md).
    private func conclude() {
        concluded = true
        drainDeadline?.cancel()
        drainDeadline = nil
        control = nil
        let (relayGuard, progress, connection, exchange) = (relayGuard, progress, connection, exchange)
        Task {
            let ending: Result<RelayEnding, any Error>
            do {
                ending = .success(try await relayGuard.relay.conclude(progress))
            } catch {
                ending = .failure(error)
            }
            connection.execute { connection in
                switch ending {
                case .success(.complete(let rest)):
                    if rest.readableBytes > 0 { _ = try? connection.writeBody(rest, exchange: exchange) }
                    _ = connection.endResponse(nil, exchange: exchange)
                case .success(.clientGone):
                    _ = connection.endResponse(nil, exchange: exchange)
                case .success(.brokeOff), .failure:
                    relayGuard.relay.logger.debug("response broken off", metadata: ["event_id": "\(relayGuard.relay.context.id)"])
                    _ = connection.abortResponse(exchange: exchange)
                }
            }
        }
    }
}

@available(*, unavailable)
extension LoopRelay: Sendable {}
