import Hummingbird
import Logging
import NIOCore
import Synchronization
import TollgateCore

/// Streams one upstream response to the client through the metering tap, and records its event.
///
/// - Bytes go out as they arrive. With strict durability, everything from the end of the inference on (the piece in
///   which the meter sees the terminal stream event or the end of the JSON document, and all after it) waits until
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
    /// event could not be committed, or the provider broke the response off).
    func run(writer: inout any ResponseBodyWriter) async throws {
        var outcome = ResponseOutcome(status: status, upstreamStarted: upstreamStarted)
        var tap = self.tap
        var capture = self.capture
        var held = ByteBuffer()
        var iterator = body.makeAsyncIterator()
        var upstreamBroke = false
        do {
            while let piece = try await iterator.next() {
                guard var outgoing = tap.pass(piece) else {
                    outcome.upstreamFailure = "the compressed body could not be decoded for the client"
                    upstreamBroke = true
                    break
                }
                if outcome.ttfb == nil, outgoing.readableBytes > 0 { outcome.ttfb = .now - context.started }
                capture?.append(outgoing)
                if recorder.strict {
                    if tap.reader.reachedEnd {
                        held.writeBuffer(&outgoing)
                        continue
                    }
                    if !clientGetsEventStream {
                        held.writeBuffer(&outgoing)
                        outgoing = held.readSlice(length: held.readableBytes - 1) ?? ByteBuffer()
                        held.discardReadBytes()
                    }
                }
                if outgoing.readableBytes > 0 { await write(outgoing, to: &writer, outcome: &outcome) }
                if outcome.clientGone { break }
            }
        } catch {
            outcome.upstreamFailure = "upstream body failed: \(error)"
            upstreamBroke = true
        }
        if outcome.clientGone {
            let drained = await Self.drain(iterator: UnsafeTransfer(iterator), tap: tap, capture: capture, seconds: drainSeconds)
            tap = drained.tap
            capture = drained.capture
            if let failure = drained.failure { outcome.upstreamFailure = failure }
        }
        outcome.upstreamEnded = .now
        let (reading, tail) = tap.finish()
        if let tail { capture?.append(tail) }
        outcome.captured = capture
        outcome.reading = reading
        outcome.undecodable = tap.couldNotDecode
        // A body the reader could not decode never shows its end to it; the reading's note already says so.
        if !reading.completed, outcome.upstreamFailure == nil, !outcome.clientGone, !tap.couldNotDecode, (200..<300).contains(status) {
            outcome.upstreamFailure = "upstream ended the response before its end"
        }
        if let ownership = objectOwnership, (200..<300).contains(status), let id = (tap.reader as? ObjectIDCapture)?.capturedID {
            await ownership.record(id: id, createdMs: Int64(context.arrival.timeIntervalSince1970 * 1000), logger: logger)
        }
        try await recorder.record(context, outcome)
        guard !outcome.clientGone else { return }
        // The provider broke the response off before its end: break the client's off too, so its SDK reports an
        // error instead of taking a truncated answer for a complete one. (After the terminal event, a broken
        // connection loses nothing: the client gets its complete response.)
        if upstreamBroke && !reading.completed { throw UpstreamBrokeOff() }
        if var tail { held.writeBuffer(&tail) }
        if held.readableBytes > 0 { try? await writer.write(held) }
        try? await writer.finish(nil)
    }

    private func write(_ buffer: ByteBuffer, to writer: inout any ResponseBodyWriter, outcome: inout ResponseOutcome) async {
        do {
            try await writer.write(buffer)
        } catch {
            outcome.clientGone = true
            logger.debug("client went away mid-response", metadata: ["event_id": "\(context.id)"])
        }
    }

    /// Reads the rest of the upstream body into the tap (and the capture), for at most `seconds`.
    private static func drain(
        iterator: UnsafeTransfer<UpstreamBody.AsyncIterator>, tap: MeteringTap, capture: ResponseCapture?, seconds: Double
    ) async -> (tap: MeteringTap, capture: ResponseCapture?, failure: String?) {
        enum Finished: Sendable {
            case drained(MeteringTap, ResponseCapture?, String?)
            case deadline
        }
        return await withTaskGroup(of: Finished.self) { group in
            group.addTask {
                var iterator = iterator.value
                var tap = tap
                var capture = capture
                do {
                    while let piece = try await iterator.next() {
                        if let outgoing = tap.pass(piece) { capture?.append(outgoing) }
                    }
                    return .drained(tap, capture, nil)
                } catch is CancellationError {
                    return .drained(tap, capture, "stopped reading the upstream \(seconds) s after the client left")
                } catch {
                    return .drained(tap, capture, "upstream body failed after the client left: \(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                return .deadline
            }
            var result: (MeteringTap, ResponseCapture?, String?) = (tap, capture, nil)
            while let finished = await group.next() {
                switch finished {
                case .drained(let drainedTap, let drainedCapture, let failure):
                    result = (drainedTap, drainedCapture, failure)
                    group.cancelAll()
                case .deadline:
                    group.cancelAll()
                }
                if case .drained = finished { break }
            }
            return result
        }
    }
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
    private let relay: ResponseRelay
    private let used = Mutex(false)

    init(_ relay: ResponseRelay) { self.relay = relay }

    func run(writer: inout any ResponseBodyWriter) async throws {
        used.withLock { $0 = true }
        try await relay.run(writer: &writer)
    }

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
