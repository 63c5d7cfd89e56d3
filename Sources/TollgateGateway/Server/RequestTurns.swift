import NIOCore

/// How many requests one event loop sets up at a time: from the start of the responder's task to the moment it has
/// its answer (the request sent to the provider, or a response of its own).
///
/// Why: with NIO as Swift's global executor, a request's task goes back to its event loop's queue at each call of a
/// nonisolated async function (about 57 times per request). A burst of thousands of requests arriving together then
/// sets them all up at once, a step each in turn, every one holding its deepest frames (authentication, routing,
/// admission) at the same moment: about 70 MB for 5,000 requests, freed again once they are sent, but the process's
/// peak (bench/README.md). Taking turns, the requests of a burst are set up a few at a time, and the others wait as
/// they arrived (their head and body, with no task yet).
///
/// A turn is held only while the request is being worked on. It is given back when the task has its answer, when it
/// waits for the rest of the request body (a slow upload holds no turn), or, whatever it waits for (an idempotent
/// retry waiting for its first attempt, a concurrency slot, the database), once it has held it for ``lease``: requests
/// that wait cannot keep the others from starting, and a loop never starts fewer than ``limit`` requests per lease.
/// Under ordinary load (fewer than ``limit`` requests being set up at once on a loop) nothing ever waits.
///
/// Confined to its event loop: ``turnNow()`` and ``wait(_:)`` are called there; a ``Turn`` may be given back from
/// anywhere.
final class RequestTurns: @unchecked Sendable {
    /// Requests set up at a time on one event loop.
    static let limit = 32
    /// How long a request holds its turn at most.
    static let lease = TimeAmount.milliseconds(10)

    let loop: any EventLoop
    private let limit: Int
    private let lease: TimeAmount
    /// Turns held (of the current ``epoch``).
    private(set) var held = 0
    /// Requests waiting for a turn, in arrival order.
    private var waiting = CircularBuffer<(Turn) -> Void>()
    /// Raised when the lease of every turn held runs out: turns of an earlier epoch no longer count.
    private var epoch = 0
    private var leaseTimer: Scheduled<Void>?
    /// ``startWaiting()`` is running: a turn given back while it starts requests (one whose client has left gives it
    /// back at once) only frees its place, and the loop already running takes the next request, rather than nesting
    /// a call per request.
    private var starting = false

    init(loop: any EventLoop, limit: Int = RequestTurns.limit, lease: TimeAmount = RequestTurns.lease) {
        self.loop = loop
        self.limit = limit
        self.lease = lease
    }

    /// The number of requests waiting for a turn.
    var waitingCount: Int { waiting.count }

    /// A turn now, when one is free and no request waits before; else `nil` (then ``wait(_:)``). Taking the turn
    /// this way costs no closure.
    func turnNow() -> Turn? {
        loop.preconditionInEventLoop()
        guard held < limit && waiting.isEmpty else { return nil }
        return take()
    }

    /// Runs `work` with a turn once one is free (``turnNow()`` gave none).
    func wait(_ work: @escaping (Turn) -> Void) {
        loop.preconditionInEventLoop()
        waiting.append(work)
        if leaseTimer == nil {
            leaseTimer = loop.scheduleTask(in: lease) { [self] in leaseRanOut() }
        }
    }

    private func take() -> Turn {
        held += 1
        return Turn(turns: self, epoch: epoch)
    }

    /// A turn of `epoch` is given back (on the loop).
    fileprivate func giveBack(epoch: Int) {
        guard epoch == self.epoch else { return }
        held -= 1
        startWaiting()
    }

    private func startWaiting() {
        guard !starting else { return }
        starting = true
        defer { starting = false }
        while held < limit, let work = waiting.popFirst() { work(take()) }
        if waiting.isEmpty {
            leaseTimer?.cancel()
            leaseTimer = nil
        }
    }

    /// Requests are still waiting after a lease: the turns held no longer count, and as many requests start.
    private func leaseRanOut() {
        leaseTimer = nil
        epoch += 1
        held = 0
        startWaiting()
        if !waiting.isEmpty { leaseTimer = loop.scheduleTask(in: lease) { [self] in leaseRanOut() } }
    }

    /// One request's turn; giving it back again does nothing.
    final class Turn: @unchecked Sendable {
        private let turns: RequestTurns
        private let epoch: Int
        /// Set on the loop.
        private var given = false

        fileprivate init(turns: RequestTurns, epoch: Int) {
            self.turns = turns
            self.epoch = epoch
        }

        /// Gives the turn back, from any thread.
        func giveBack() {
            if turns.loop.inEventLoop {
                giveBackOnLoop()
            } else {
                turns.loop.execute { self.giveBackOnLoop() }
            }
        }

        private func giveBackOnLoop() {
            guard !given else { return }
            given = true
            turns.giveBack(epoch: epoch)
        }
    }
}
