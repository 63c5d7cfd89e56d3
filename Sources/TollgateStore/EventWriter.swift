import CoreMetrics
import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import TollgateCore

/// The one writer of events: callers hand events over, a thread of its own writes them in batched transactions
/// (group commit), so a thousand concurrent requests cost a handful of fsyncs, not a thousand.
///
/// ``record(_:)`` returns once the event is committed (strict durability); ``submit(_:)`` returns at once and the
/// event is committed with the next batch, after gathering for up to ``relaxedWindow`` (relaxed). ``run()`` runs the
/// writer's thread and returns after ``close()`` once everything handed over has been written.
///
/// The thread writes synchronously (SQLite on the caller's thread, PostgreSQL on a session of its own): no task, no
/// dispatch queue and no hop between threads per batch, and nothing of it runs on the event loops that serve
/// requests, except an event recorded while no other request is in flight (``record(_:alone:)``). It sleeps on a
/// semaphore while there is nothing to write.
public final class EventWriter: Sendable {
    private struct Pending {
        var write: MeterWrite
        var waiter: CheckedContinuation<Void, any Error>?
        /// The event loop the waiter's task ran on when it handed the event over: it is resumed there, where its
        /// connection is (resumed from the writer's thread, it would go to whichever loop comes next).
        var loop: (any EventLoop)?
        var event: UsageEvent { write.event }
    }

    private struct State {
        var pending: [Pending] = []
        /// The thread waits on ``wakeUp`` for events (or the close): a hand-over signals it.
        var sleeping = false
        /// The thread lets events that nobody waits for gather (``relaxedWindow``): only a hand-over with a waiter, a
        /// full batch or the close signals it.
        var gathering = false
        var closed = false
        var running = false
        var finished = false
        /// Why the last write failed, until a write succeeds again.
        var failure: String?
        /// Retries of kept events since ``close()``: bounded, so that a meter that never recovers cannot hold a shutdown.
        var retriesAfterClose = 0
    }

    /// The most events kept in memory while the meter cannot write (a month of a busy replica's backlog is far less:
    /// requests are refused while the meter fails, unless `meter.on_failure: serve`).
    static let maxRetained = 200_000
    /// How long the writer waits before trying the events it kept again.
    static let retryInterval: TimeInterval = 1
    /// How long events that nobody waits for (relaxed durability) gather, from when the writer finds the first of them,
    /// before they are written: a steady trickle is committed at most about 200 times a second instead of once per
    /// event (at one connection the writer's commits had cost a third of the CPU of each request). An event with a
    /// waiter, a full batch or the close ends it at once; under load full batches are written without it.
    static let relaxedWindow = DispatchTimeInterval.milliseconds(5)

    private let meter: MeterStore
    private let maxBatch: Int
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeUp = DispatchSemaphore(value: 0)
    /// Awaited with each batch just before its transaction; `nil` outside tests (one check per batch, not per event).
    /// Tests hold commits back with it, to see what a client is sent while its event is not in the meter yet.
    private let beforeCommit: (@Sendable ([UsageEvent]) async -> Void)?
    private let batchSizes = Recorder(label: MetricName.meterBatchSize)
    private let commitTimes = Timer(label: MetricName.meterCommit)
    private let eventsWritten = Counter(label: MetricName.meterEventsWritten)
    private let writeFailures = Counter(label: MetricName.meterWriteFailures)
    /// Events committed on their caller's thread (``commitIfIdle(_:)``), for tests.
    let inlineCommits = Atomic<Int>(0)

    /// Creates a writer for `meter`, writing at most `maxBatch` events per transaction.
    public convenience init(meter: MeterStore, maxBatch: Int = 512, logger: Logger = Logger(label: "tollgate.meter")) {
        self.init(meter: meter, maxBatch: maxBatch, logger: logger, beforeCommit: nil)
    }

    /// Creates a writer that awaits `beforeCommit` with each batch before writing it (a test's hold on commits).
    init(meter: MeterStore, maxBatch: Int, logger: Logger, beforeCommit: (@Sendable ([UsageEvent]) async -> Void)?) {
        self.meter = meter
        self.maxBatch = maxBatch
        self.logger = logger
        self.beforeCommit = beforeCommit
    }

    /// Why the meter cannot write, or `nil` while its last write succeeded: inference requests are refused meanwhile
    /// (fail closed), and `/readyz` says so.
    public var failure: String? { state.withLock { $0.failure } }

    /// Events handed over and not written yet (kept ones included, while the meter cannot write).
    public var queueDepth: Int { state.withLock { $0.pending.count } }

    /// Hands an event over and waits until it is committed (with the settlement of its reservation, if any).
    public func record(_ event: UsageEvent, settling reservationID: String? = nil) async throws {
        try await record(MeterWrite(event, settling: reservationID))
    }

    /// Hands an event over, with what it settles, and waits until it is committed.
    ///
    /// `alone`: no other request is in flight in this process, so no other event could share the commit. The event is
    /// then committed at once on the caller's thread if the meter's writer connection is idle (``commitIfIdle(_:)``);
    /// under load, events are left to the writer's thread, whose batches commit many at a time.
    public func record(_ write: MeterWrite, alone: Bool = false) async throws {
        if alone, commitIfIdle(write) { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue(Pending(write: write, waiter: continuation, loop: MultiThreadedEventLoopGroup.currentEventLoop))
        }
    }

    /// Commits an event on the caller's thread if the meter's writer connection is idle, and says whether it did.
    ///
    /// An event with a waiter is otherwise handed to the writer's thread and resumed from it: at one connection those
    /// two wake-ups cost about as much as the commit (bench/README.md). The caller is then an event loop, so this
    /// never waits: a meter busy with another write (or waited for by one), another process's write lock, commits
    /// that sync to disk, PostgreSQL, a meter that failed its last write, a closed writer or a test's hold on commits
    /// all leave the event to the writer's thread, as does any error here (the thread's retries and failure handling
    /// take it from there; a transaction that failed wrote nothing).
    ///
    /// An event that settles and resolves nothing is landed rather than filed (``EventLanding``): its commit writes one
    /// page instead of about seven, and this writer's thread files it right after, nobody waiting.
    private func commitIfIdle(_ write: MeterWrite) -> Bool {
        guard beforeCommit == nil, state.withLock({ $0.failure == nil && !$0.closed }) else { return false }
        let started = ContinuousClock.now
        do {
            if EventLanding.mayLand(write) {
                guard let landed = try meter.landIfIdle(write) else { return false }
                committed(1, since: started, firing: [])
                enqueue(Pending(write: landed, waiter: nil, loop: nil))
            } else {
                guard let fired = try meter.insertIfIdle([write]) else { return false }
                committed(1, since: started, firing: fired)
            }
        } catch {
            logger.debug("event not committed inline: handed to the writer", metadata: ["event_id": "\(write.event.id)", "error": "\(error)"])
            return false
        }
        inlineCommits.add(1, ordering: .relaxed)
        return true
    }

    /// Hands an event over without waiting for the commit.
    public func submit(_ event: UsageEvent, settling reservationID: String? = nil) {
        submit(MeterWrite(event, settling: reservationID))
    }

    /// Hands an event over, with what it settles, without waiting for the commit.
    public func submit(_ write: MeterWrite) {
        enqueue(Pending(write: write, waiter: nil, loop: nil))
    }

    /// Stops taking events; ``run()`` returns once the backlog is written.
    public func close() {
        let sleeping = state.withLock { state in
            state.closed = true
            defer {
                state.sleeping = false
                state.gathering = false
            }
            return state.sleeping || state.gathering
        }
        if sleeping { wakeUp.signal() }
    }

    /// Runs the writer's thread until it is closed and everything handed over is written (or given up on, once
    /// closed, after the meter failed a few more times). Call it once, in a task that lives as long as the server.
    ///
    /// Cancelling the task does not stop the thread: events are not lost to a cancellation; ``close()`` ends it.
    public func run() async {
        state.withLock { $0.running = true }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                // Named for `top -H` and profiles (a thread otherwise inherits the name of the event loop that made it).
                // Foundation's `Thread.current.name` did not always reach the system thread (in some runs the writer
                // showed as `NIO-SGLTN-1-#2`, its CPU counted as the event loop's), so on Linux the name is also
                // written where the kernel keeps it.
                Thread.current.name = "tollgate-meter"
                if let comm = fopen("/proc/thread-self/comm", "w") {
                    fputs("tollgate-meter", comm)
                    fclose(comm)
                }
                while let batch = nextBatch() { write(batch) }
                state.withLock {
                    $0.running = false
                    $0.finished = true
                }
                done.resume()
            }
            thread.start()
        }
    }

    private func enqueue(_ item: Pending) {
        let result: (accepted: Bool, sleeping: Bool) = state.withLock { state in
            // Taken while the thread can still write it: before close, or after close while the backlog drains.
            guard !state.finished, !state.closed || state.running else { return (false, false) }
            state.pending.append(item)
            let gatheringEnds = state.gathering && (item.waiter != nil || state.pending.count >= maxBatch)
            defer {
                state.sleeping = false
                if gatheringEnds { state.gathering = false }
            }
            return (true, state.sleeping || gatheringEnds)
        }
        if !result.accepted {
            // After the writer has ended the event is still written directly: losing it would break the meter's promise.
            Task { [meter] in
                do {
                    _ = try await meter.insert([item.write])
                    item.waiter?.resume()
                } catch {
                    item.waiter?.resume(throwing: error)
                }
            }
            return
        }
        if result.sleeping { wakeUp.signal() }
    }

    /// The next batch to write, waiting for one; `nil` once closed with nothing left (or nothing more to try).
    private func nextBatch() -> [Pending]? {
        var gathered = false
        while true {
            // After a failed write, the events kept are tried again at a measured pace, not in a tight loop; once closed,
            // a few more times only.
            let (failing, givingUp): (Bool, [Pending]) = state.withLock { state in
                guard state.failure != nil, !state.pending.isEmpty else { return (false, []) }
                guard state.closed else { return (true, []) }
                state.retriesAfterClose += 1
                guard state.retriesAfterClose > 5 else { return (true, []) }
                defer { state.pending.removeAll() }
                return (false, state.pending)
            }
            if !givingUp.isEmpty {
                for item in givingUp {
                    Self.logGivenUp(item, logger)
                    item.waiter?.resume(throwing: MeterError.closed)
                }
                return nil
            }
            if failing { Thread.sleep(forTimeInterval: Self.retryInterval) }
            enum Next {
                case batch([Pending])
                case sleep, gather, done
            }
            let next: Next = state.withLock { state in
                if state.pending.isEmpty {
                    if state.closed { return .done }
                    state.sleeping = true
                    return .sleep
                }
                if !gathered, !failing, !state.closed, state.pending.count < maxBatch, !state.pending.contains(where: { $0.waiter != nil }) {
                    state.gathering = true
                    return .gather
                }
                let count = min(maxBatch, state.pending.count)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return .batch(batch)
            }
            switch next {
            case .batch(let batch): return batch
            case .done: return nil
            case .sleep:
                wakeUp.wait()
                // Woken by a signal left over from a gathering cut short, no hand-over cleared this: a later event must
                // not take the thread for asleep and cut its next gathering short.
                state.withLock { $0.sleeping = false }
            case .gather:
                _ = wakeUp.wait(timeout: .now() + Self.relaxedWindow)
                state.withLock { $0.gathering = false }
                gathered = true
            }
        }
    }

    private func write(_ batch: [Pending]) {
        if let beforeCommit {
            // A test's hold: the thread waits for it as a commit would.
            let passed = DispatchSemaphore(value: 0)
            let events = batch.map(\.event)
            Task {
                await beforeCommit(events)
                passed.signal()
            }
            passed.wait()
        }
        var lastError: (any Error)?
        for attempt in 0..<3 {
            do {
                let started = ContinuousClock.now
                let fired = try meter.insertNow(batch.map(\.write), yielding: Self.yields(batch))
                committed(batch.count, since: started, firing: fired, landedBefore: batch.count { $0.write.landed })
                Self.resumeWaiters(of: batch)
                recovered()
                return
            } catch {
                lastError = error
                writeFailures.increment()
                logger.error("meter write failed", metadata: ["attempt": "\(attempt + 1)", "events": "\(batch.count)", "error": "\(error)"])
                if batch.count > 1 { break }  // one event at a time below: a bad row must not take the others with it
                Thread.sleep(forTimeInterval: 0.05 * Double(attempt + 1))
            }
        }
        guard batch.count > 1 else { return failed(batch[0], lastError ?? MeterError.closed) }
        // The batch as a whole failed: each event on its own, so that only the ones that cannot be written wait.
        for item in batch {
            do {
                _ = try meter.insertNow([item.write])
                if !item.write.landed { eventsWritten.increment() }
                Self.resumeWaiters(of: [item])
                recovered()
            } catch {
                writeFailures.increment()
                failed(item, error)
            }
        }
    }

    /// Whether a batch gives way to request handling between its rows (``MeterStore/insertNow(_:yielding:)``): a
    /// small batch nobody waits for. Written straight through, such a transaction (a relaxed trickle gathered for
    /// ``relaxedWindow``) held a core for half a millisecond, and a client or provider connection woken on that core
    /// waited for it while the other one idled (the scheduler lets a running thread finish its slice): the slowest
    /// percent of requests at one connection. A batch with a waiter commits at once; a large one means the writer is
    /// behind, and yielding at every row under full load let it fall further behind.
    private static func yields(_ batch: [Pending]) -> Bool {
        batch.count < yieldingBatchLimit && batch.allSatisfy { $0.waiter == nil }
    }

    /// The size from which a batch is written without giving way.
    static let yieldingBatchLimit = 64

    /// Counts a committed batch of `count` events and logs the alerts it fired. `landedBefore` of them were counted
    /// when they landed (``EventLanding``): filing them is not a second commit of theirs (a transaction that only
    /// files landed events is not counted: each counted commit has its batch size).
    private func committed(_ count: Int, since started: ContinuousClock.Instant, firing fired: [AlertRecord], landedBefore: Int = 0) {
        if count > landedBefore {
            commitTimes.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            batchSizes.record(count - landedBefore)
            eventsWritten.increment(by: count - landedBefore)
        }
        for alert in fired {
            logger.warning(
                "limit threshold crossed",
                metadata: [
                    "alert_id": "\(alert.id)", "limit_id": "\(alert.limitID)", "scope": "\(alert.scope.rawValue) \(alert.scopeID)",
                    "threshold": "\(alert.threshold)%", "used": "\(alert.used)",
                    "amount": "\(alert.amount) \(alert.currency ?? alert.metric.rawValue)",
                ])
        }
    }

    /// Resumes the waiters of a committed batch, each on its own event loop.
    private static func resumeWaiters(of batch: [Pending]) {
        LoopResumption.run(batch.compactMap { item in item.waiter.map { waiter in LoopResumption(loop: item.loop) { waiter.resume() } } })
    }

    /// A write succeeded: the meter is writable again.
    private func recovered() {
        let was = state.withLock { state in
            defer { state.failure = nil }
            return state.failure
        }
        if was != nil { logger.notice("meter writable again") }
    }

    /// An event could not be written: its waiter learns it at once (a strict response is cut short rather than
    /// completed without its event), and the event is kept, to be written once the meter can (its id makes a repeat
    /// harmless). Beyond ``maxRetained`` kept events, it is lost, loudly.
    private func failed(_ item: Pending, _ error: any Error) {
        item.waiter?.resume(throwing: error)
        let kept = state.withLock { state in
            // SQLite's message, without the statement it was running.
            let reason = "\(error)".components(separatedBy: " - while executing").first ?? "\(error)"
            state.failure = "the meter cannot write events: \(reason)"
            guard state.pending.count < Self.maxRetained else { return false }
            state.pending.append(Pending(write: item.write, waiter: nil, loop: nil))
            return true
        }
        if !kept { Self.logGivenUp(item, logger) }
    }

    /// An event the writer gives up on: lost, unless it was landed (``EventLanding``), and then kept in the meter, to
    /// be filed by the next read or open that can write.
    private static func logGivenUp(_ item: Pending, _ logger: Logger) {
        let metadata: Logger.Metadata = ["event_id": "\(item.event.id)", "customer": "\(item.event.customer)"]
        if item.write.landed {
            logger.error("landed event not filed: it stays in events_landing until a read or open files it", metadata: metadata)
        } else {
            logger.critical("event not recorded", metadata: metadata)
        }
    }
}
