import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Checkpoints the meter's write-ahead log on a connection and a queue of its own, so that no commit waits for it.
///
/// SQLite's default checkpoints inside the commit that takes the log past 1,000 pages: that commit copies the pages
/// back into the database file and syncs it, milliseconds during which the writer, and every strict request waiting
/// for its event, waits. At one commit in about 150 it was the whole p99 of strict metering. Here the writer's WAL
/// hook only asks for a checkpoint past ``threshold`` pages, and a PASSIVE checkpoint runs beside the writer: it
/// neither blocks the writer nor waits for readers (it copies what no reader still needs; the next one copies the
/// rest, and the writer starts the log over once all of it has been copied).
///
/// Should the checkpoints fall far behind (a failing connection, a reader holding an old snapshot for long), the
/// writer checkpoints itself past ``inlineThreshold`` pages, as SQLite's default would: the log stays bounded.
final class WALCheckpointer: Sendable {
    /// The log's size in pages (of 4 KB) past which a checkpoint is asked for: SQLite's default.
    static let threshold: CInt = 1000
    /// The log's size past which the writer checkpoints inside its commit, as a safety net.
    static let inlineThreshold: CInt = 10 * threshold
    /// New pages in the log between two checkpoints asked for, past ``threshold``. A checkpoint rarely copies the
    /// whole log under load (commits go on beside it), so the log stays past the threshold for a while: asked at every
    /// commit, checkpoints ran one per commit or two, each with its two syncs (measured at one connection: 65–73 µs
    /// of CPU per request on the checkpoint thread, against 9–15 now). Every 256 pages (1 MB) they copy
    /// more at a time and still in small syncs; checkpoints only every 1,000 pages made the syncs long enough to stall
    /// the writer's appends (strict p99 +50 %). bench/README.md has the figures.
    static let step: CInt = 256

    private let path: String
    private let queue = DispatchQueue(label: "tollgate.meter.checkpoint")
    /// The checkpoints' connection, opened at the first checkpoint (used on `queue` only); none once closed.
    private let connection = Mutex<(queue: DatabaseQueue?, closed: Bool)>((nil, false))
    /// A checkpoint has been asked for and has not started yet.
    private let requested = Atomic<Bool>(false)
    /// Checkpoints made, and the last one's failure (for tests and diagnostics).
    private let outcome = Mutex<(count: Int, failure: (any Error)?)>((0, nil))

    init(path: String) { self.path = path }

    /// Takes over checkpointing for `db` (a writer connection): from now on its commits ask this checkpointer.
    func watch(_ db: Database) {
        // The hook's context outlives this checkpointer if need be (a commit still in flight when the meter is
        // released): a box with a weak reference, one per writer connection.
        let context = Unmanaged.passRetained(Hook(self)).toOpaque()
        sqlite3_wal_hook(
            db.sqliteConnection,
            { context, db, _, pages in
                let checkpointer = context.flatMap { Unmanaged<Hook>.fromOpaque($0).takeUnretainedValue().checkpointer }
                checkpointer?.logPages.store(pages, ordering: .relaxed)
                if pages >= WALCheckpointer.inlineThreshold {
                    sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                } else {
                    checkpointer?.logGrew(to: pages)
                }
                return SQLITE_OK
            }, context)
    }

    private final class Hook: Sendable {
        weak let checkpointer: WALCheckpointer?
        init(_ checkpointer: WALCheckpointer) { self.checkpointer = checkpointer }
    }

    /// The log's size in pages after the last commit.
    private let logPages = Atomic<CInt>(0)

    /// Whether a commit now is far enough from ``inlineThreshold`` not to be the one that checkpoints (copies and
    /// syncs, milliseconds): no transaction of the request path adds ``step`` pages (an event with its settlement
    /// writes about a dozen). Under steady load the log does reach ``inlineThreshold``: the checkpoints beside the
    /// writer never find it without a commit in flight, which starting it over needs.
    var commitsWithoutCheckpoint: Bool { logPages.load(ordering: .relaxed) < Self.inlineThreshold - Self.step }

    /// The log's size when a checkpoint was last asked for (0 once the log started over).
    private let askedAt = Atomic<CInt>(0)

    /// A commit took the log to `pages`: past ``threshold``, asks for a checkpoint once per ``step`` new pages.
    /// Returns whether it asked.
    @discardableResult
    func logGrew(to pages: CInt) -> Bool {
        let asked = askedAt.load(ordering: .relaxed)
        if pages < WALCheckpointer.threshold {
            if asked != 0 { askedAt.store(0, ordering: .relaxed) }
            return false
        }
        guard pages < asked || pages >= asked + WALCheckpointer.step else { return false }
        askedAt.store(pages, ordering: .relaxed)
        request()
        return true
    }

    /// Asks for a checkpoint; one asked for while another waits to start is the same one.
    func request() {
        guard requested.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        queue.async { [self] in
            requested.store(false, ordering: .releasing)
            checkpoint()
        }
    }

    private func checkpoint() {
        do {
            try connection.withLock { connection in
                guard !connection.closed else { return }
                if connection.queue == nil {
                    var configuration = Configuration()
                    configuration.busyMode = .timeout(5)
                    configuration.label = "tollgate.meter.checkpoint"
                    connection.queue = try DatabaseQueue(path: path, configuration: configuration)
                }
                _ = try connection.queue?.inDatabase { try $0.checkpoint(.passive) }
            }
            outcome.withLock { $0.count += 1 }
        } catch {
            outcome.withLock { $0.failure = error }
        }
    }

    /// The checkpoints made so far, and the last failure.
    var checkpoints: (count: Int, failure: (any Error)?) { outcome.withLock { $0 } }

    /// Holds checkpoints back until ``resumeForTests()``.
    func pauseForTests() { queue.suspend() }
    func resumeForTests() { queue.resume() }

    /// Waits for a checkpoint in progress, then closes the connection.
    func close() throws {
        try queue.sync {
            try connection.withLock { connection in
                connection.closed = true
                try connection.queue?.close()
                connection.queue = nil
            }
        }
    }
}
