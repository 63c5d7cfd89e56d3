import Hummingbird
import Logging
import NIOCore
import Synchronization
import TollgateCore

/// Streams one upstream response to the client through the metering tap, and records its event.
///
/// - Bytes go out as they arrive. With strict durability, everything from the end of the inference on (the terminal
///   stream event, or the piece in which the meter sees the end of the JSON document, and all after it) waits until
///   the event is committed. Before that point a non-stream body also keeps its last byte back, in case the meter
///   never recognises an end (a body that is not JSON): a client cannot complete a body that is one byte short.
/// - A client that goes away does not end metering: the upstream is read on (for up to `drainSeconds`) so the real
///   usage is recorded; the event gets status 499.
/// - If the response is dropped before its body is ever written (the client left while the upstream was thinking),
///   ``RelayGuard`` drains and records it all the same.
struct ResponseRelay: Sendable {
    let context: InferenceContext
    let status: Int
    let body: UpstreamBody
    let tap: MeteringTap
    /// Whether the client receives an event stream (events need no byte held back before the end).
    let clientGetsEventStream: Bool
    let recorder: EventRecorder
    let upstreamStarted: ContinuousClock.Instant
    let drainSeconds: Double
    let logger: Logger
    /// Who owns the object the inference creates (a stored response), recorded once the response ends.
    var objectOwnership: ObjectOwnership? = nil
    /// The bytes kept for an idempotent request's retries (what the client receives, drained bytes included).
    var capture: ResponseCapture? = nil
    /// The request's place under the concurrency limits, held until the relay (a drain included) is over.
    let slot: ConcurrencyLimiter.Slot

    /// Relays the body to `writer` and records the event; throws when the client's response must end abruptly (its
    /// event could not be committed, or the provider broke the response off). `@concurrent`: the writer is
    /// Hummingbird's, whose calls run on the generic executor.
    @concurrent func run(writer: inout any ResponseBodyWriter) async throws {
        var progress = begin()
        var iterator = body.makeAsyncIterator()
        do {
            while let piece = try await iterator.next() {
                guard let outgoing = relay(piece, &progress) else { break }
                if outgoing.readableBytes > 0 {
                    do {
                        try await writer.write(outgoing)
                    } catch {
                        clientLeft(&progress)
                        break
                    }
                }
            }
        } catch {
            upstreamFailed(error, &progress)
        }
        if progress.outcome.clientGone {
            progress = await Self.drain(iterator: UnsafeTransfer(iterator), relay: self, progress: progress)
        }
        switch try await conclude(progress) {
        case .clientGone:
            return
        case .brokeOff:
            throw UpstreamBrokeOff()
        case .complete(let rest):
            if rest.readableBytes > 0 { try? await writer.write(rest) }
            try? await writer.finish(nil)
        }
    }

    // MARK: The steps of a relay, whichever way it is driven (``run(writer:)``, or ``LoopRelay`` on the event loop)

    /// A relay's state before the first piece.
    func begin() -> RelayProgress {
        RelayProgress(outcome: ResponseOutcome(status: status, upstreamStarted: upstreamStarted), tap: tap, capture: capture)
    }

    /// Passes `piece` through the tap: returns the bytes for the client now (none, while strict durability holds them
    /// back), or `nil` when the body can no longer be relayed (it cannot be decoded for the client).
    func relay(_ piece: ByteBuffer, _ progress: inout RelayProgress) -> ByteBuffer? {
        guard var outgoing = progress.tap.pass(piece) else {
            progress.outcome.upstreamFailure = "the compressed body could not be decoded for the client"
            progress.upstreamBroke = true
            return nil
        }
        if progress.outcome.ttfb == nil, outgoing.readableBytes > 0 { progress.outcome.ttfb = .now - context.started }
        progress.capture?.append(outgoing)
        if recorder.strict {
            if progress.tap.reader.reachedEnd {
                // The events before the terminal one go out now (a stream read in one piece does not wait whole).
                let lead = progress.held.readableBytes == 0 ? min(progress.tap.terminalEventStart ?? 0, outgoing.readableBytes) : 0
                let sent = outgoing.readSlice(length: lead) ?? ByteBuffer()
                progress.held.writeBuffer(&outgoing)
                return sent
            }
            if !clientGetsEventStream {
                progress.held.writeBuffer(&outgoing)
                outgoing = progress.held.readSlice(length: progress.held.readableBytes - 1) ?? ByteBuffer()
                progress.held.discardReadBytes()
            }
        }
        return outgoing
    }

    /// The client went away: the rest of the body is only read for its usage (``drained(_:_:)``).
    func clientLeft(_ progress: inout RelayProgress) {
        progress.outcome.clientGone = true
        logger.debug("client went away mid-response", metadata: ["event_id": "\(context.id)"])
    }

    /// Reads a piece of the body after the client left: for the tap and the capture only.
    func drained(_ piece: ByteBuffer, _ progress: inout RelayProgress) {
        if let outgoing = progress.tap.pass(piece) { progress.capture?.append(outgoing) }
    }

    /// The upstream body failed before its end.
    func upstreamFailed(_ error: any Error, _ progress: inout RelayProgress) {
        if progress.outcome.clientGone {
            progress.outcome.upstreamFailure = "upstream body failed after the client left: \(error)"
        } else {
            progress.outcome.upstreamFailure = "upstream body failed: \(error)"
            progress.upstreamBroke = true
        }
    }

    /// Reading stopped at the drain's deadline, ``drainSeconds`` after the client left.
    func drainStopped(_ progress: inout RelayProgress) {
        progress.outcome.upstreamFailure = "stopped reading the upstream \(drainSeconds) s after the client left"
    }

    /// Ends the relay: records the event (throws if it could not be committed) and says how the client's response ends.
    func conclude(_ progress: RelayProgress) async throws -> RelayEnding {
        var progress = progress
        var outcome = progress.outcome
        outcome.upstreamEnded = .now
        let (reading, tail) = progress.tap.finish()
        if let tail { progress.capture?.append(tail) }
        outcome.captured = progress.capture
        outcome.reading = reading
        outcome.undecodable = progress.tap.couldNotDecode
        // A body the reader could not decode never shows its end to it; the reading's note already says so.
        if !reading.completed, outcome.upstreamFailure == nil, !outcome.clientGone, !progress.tap.couldNotDecode,
            (200..<300).contains(status)
        {
            outcome.upstreamFailure = "upstream ended the response before its end"
        }
        if let ownership = objectOwnership, (200..<300).contains(status),
            let id = (progress.tap.reader as? ObjectIDCapture)?.capturedID
        {
            await ownership.record(id: id, createdMs: Int64(context.arrival.timeIntervalSince1970 * 1000), logger: logger)
        }
        try await recorder.record(context, outcome)
        guard !outcome.clientGone else { return .clientGone }
        // The provider broke the response off before its end: break the client's off too, so its SDK reports an
        // error instead of taking a truncated answer for a complete one. (After the terminal event, a broken
        // connection loses nothing: the client gets its complete response.)
        if progress.upstreamBroke && !reading.completed { return .brokeOff }
        if var tail { progress.held.writeBuffer(&tail) }
        return .complete(progress.held)
    }

    /// Reads the rest of the upstream body into the tap (and the capture), for at most ``drainSeconds``.
    private static func drain(
        iterator: UnsafeTransfer<UpstreamBody.AsyncIterator>, relay: ResponseRelay, progress: RelayProgress
    ) async -> RelayProgress {
        enum Finished: Sendable {
            case drained(RelayProgress)
            case deadline
        }
        return await withTaskGroup(of: Finished.self) { group in
            group.addTask {
                var iterator = iterator.value
                var progress = progress
                do {
                    while let piece = try await iterator.next() { relay.drained(piece, &progress) }
                } catch is CancellationError {
                    relay.drainStopped(&progress)
                } catch {
                    relay.upstreamFailed(error, &progress)
                }
                return .drained(progress)
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int(relay.drainSeconds * 1000)))
                return .deadline
            }
            var result = progress
            while let finished = await group.next() {
                group.cancelAll()
                if case .drained(let drained) = finished {
                    result = drained
                    break
                }
            }
            return result
        }
    }
}

/// What a relay has read and holds: its driver's state between pieces.
struct RelayProgress: @unchecked Sendable {
    // @unchecked: the tap, as ``MeteringTap``; a relay's progress is used by one driver at a time.
    var outcome: ResponseOutcome
    var tap: MeteringTap
    var capture: ResponseCapture?
    /// Bytes held back until the event is committed (strict durability).
    var held = ByteBuffer()
    /// The provider's body ended abruptly (or could not be decoded) while the client was there.
    var upstreamBroke = false
}

/// How a client's response ends once its event is recorded.
enum RelayEnding {
    /// Complete: the bytes held back go out, then the end.
    case complete(ByteBuffer)
    /// Abruptly, as the provider's did.
    case brokeOff
    /// The client is no longer there.
    case clientGone
}

/// Ends a client response abruptly because the upstream's ended that way.
struct UpstreamBrokeOff: Error {}

/// Moves a value that is not `Sendable` to another task that becomes its only user.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// Makes sure an inference is metered even when its response body is never written (the client left before the
/// response began): if the guard is released unused, it drains the upstream and records the event.
final class RelayGuard: Sendable {
    let relay: ResponseRelay
    private let used = Mutex(false)

    init(_ relay: ResponseRelay) { self.relay = relay }

    @concurrent func run(writer: inout any ResponseBodyWriter) async throws {
        claim()
        try await relay.run(writer: &writer)
    }

    /// The relay is driven elsewhere (``LoopRelay``): the guard has nothing left to do.
    func claim() { used.withLock { $0 = true } }

    deinit {
        guard !used.withLock({ $0 }) else { return }
        let relay = self.relay
        Task {
            var writer: any ResponseBodyWriter = DiscardingWriter()
            relay.logger.debug("client left before the response began", metadata: ["event_id": "\(relay.context.id)"])
            try? await relay.run(writer: &writer)
        }
    }
}

/// A body writer for a client that is no longer there: every write fails, which the relay reads as "client gone".
struct DiscardingWriter: ResponseBodyWriter {
    struct Gone: Error {}
    mutating func write(_ buffer: ByteBuffer) async throws { throw Gone() }
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
