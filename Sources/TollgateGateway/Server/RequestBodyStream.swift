import NIOCore
import Synchronization

/// A request body as the proxy listener receives it: the connection appends the pieces (on its event loop) while the
/// responder, started as soon as the head arrived, reads them. A body that arrived with its head (the common case) is
/// taken whole at the first read, without waiting.
///
/// Bounded: beyond ``highWater`` bytes waiting to be read, the connection stops reading the socket until the reader
/// has taken them (``onDrained``), so a client cannot make the proxy hold more than that of a body nobody reads yet.
final class RequestBodyStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    /// The bytes waiting to be read beyond which the connection stops reading the socket.
    static let highWater = 1 << 20

    private struct State {
        var buffered = ByteBuffer()
        var finished = false
        var failure: (any Error)?
        var waiter: CheckedContinuation<ByteBuffer?, any Error>?
        /// The connection stopped reading and waits for ``RequestBodyStream/onDrained``.
        var paused = false
        /// Given back the first time the reader has to wait for more of the body (see ``giveBackWhenWaiting(_:)``).
        var turn: RequestTurns.Turn?
    }

    private let state = Mutex(State())
    /// Called (from the reader's task) when a paused connection may read again.
    private let onDrained: @Sendable () -> Void

    init(onDrained: @escaping @Sendable () -> Void) { self.onDrained = onDrained }

    /// Gives `turn` (the request's turn to be set up: ``RequestTurns``) back the first time the reader has to wait for
    /// more of the body.
    func giveBackWhenWaiting(_ turn: RequestTurns.Turn) {
        state.withLock { $0.turn = turn }
    }

    /// Appends a piece; returns `true` when the connection should stop reading until ``onDrained``.
    func append(_ piece: ByteBuffer) -> Bool {
        let (waiter, pause): (CheckedContinuation<ByteBuffer?, any Error>?, Bool) = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, false)
            }
            var piece = piece
            state.buffered.writeBuffer(&piece)
            state.paused = state.buffered.readableBytes > Self.highWater
            return (nil, state.paused)
        }
        waiter?.resume(returning: piece)
        return pause
    }

    /// The body ended.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<ByteBuffer?, any Error>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The body cannot end (the client went away mid-body).
    func fail(_ error: any Error) {
        let waiter = state.withLock { state -> CheckedContinuation<ByteBuffer?, any Error>? in
            guard !state.finished else { return nil }
            state.failure = error
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(throwing: error)
    }

    private enum Next {
        case piece(ByteBuffer, resume: Bool)
        case end
        case failed(any Error)
        case wait
    }

    /// What the reader gets now: everything buffered, the end, the failure, or nothing yet.
    private static func take(_ state: inout State) -> Next {
        if state.buffered.readableBytes > 0 {
            let piece = state.buffered
            state.buffered = ByteBuffer()
            defer { state.paused = false }
            return .piece(piece, resume: state.paused)
        }
        if let failure = state.failure { return .failed(failure) }
        return state.finished ? .end : .wait
    }

    fileprivate func next() async throws -> ByteBuffer? {
        switch state.withLock({ Self.take(&$0) }) {
        case .piece(let piece, let resume):
            if resume { onDrained() }
            return piece
        case .end: return nil
        case .failed(let error): throw error
        case .wait:
            let turn = state.withLock { state in
                defer { state.turn = nil }
                return state.turn
            }
            turn?.giveBack()
            return try await withCheckedThrowingContinuation { continuation in
                let next = state.withLock { state in
                    let next = Self.take(&state)
                    if case .wait = next { state.waiter = continuation }
                    return next
                }
                switch next {
                case .piece(let piece, let resume):
                    if resume { onDrained() }
                    continuation.resume(returning: piece)
                case .end: continuation.resume(returning: nil)
                case .failed(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        }
    }

    /// The whole body, at most `limit` bytes (beyond: ``RequestBodyTooLarge``). A body that arrived with its head is
    /// taken without waiting. NIO's `collect(upTo:)` does the same but runs on the generic executor: a switch through
    /// the event loop's queue at each call (docs/ARCHITECTURE.md, Threads).
    func collect(upTo limit: Int) async throws -> ByteBuffer {
        var whole: ByteBuffer?
        while var piece = try await next() {
            guard (whole?.readableBytes ?? 0) + piece.readableBytes <= limit else { throw RequestBodyTooLarge(limit: limit) }
            if whole == nil { whole = piece } else { whole!.writeBuffer(&piece) }
        }
        return whole ?? ByteBuffer()
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let stream: RequestBodyStream
        mutating func next() async throws -> ByteBuffer? { try await stream.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

/// The client closed its connection before the end of its request body.
struct RequestBodyIncomplete: Error, CustomStringConvertible {
    var description: String { "the client closed the connection before the end of the request body" }
}

/// A request body longer than its route accepts.
struct RequestBodyTooLarge: Error, CustomStringConvertible {
    let limit: Int
    var description: String { "the request body exceeds \(limit) bytes" }
}
