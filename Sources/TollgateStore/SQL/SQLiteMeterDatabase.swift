import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// The meter in one SQLite file (WAL mode), through GRDB: the embedded default, for one host.
///
/// Writes go to SQLite's one writer; reads run concurrently on the pool's readers. Other processes (the `tollgate`
/// CLI, replicas on the same host) may open the same file: SQLite's locking keeps them consistent, and a busy
/// database is waited on for up to five seconds (not by ``writeIfIdle(_:)``, which never waits).
final class SQLiteMeterDatabase: MeterDatabase {
    let pool: DatabasePool
    /// One read-only connection of its own for the request path's synchronous lookups (keys, object owners).
    ///
    /// An async read of the pool holds its reader until its task resumes; with Swift concurrency on NIO's event loops,
    /// a synchronous pool read blocking those loops on the pool's readers could wait for ever for tasks that only
    /// those loops can resume. Lookups never hold this connection across a suspension, so waiting on it is brief.
    let lookups: DatabaseQueue
    /// Checkpoints the write-ahead log beside the writer rather than inside its commits.
    let checkpointer: WALCheckpointer
    let location: String
    var dialect: SQLDialect { .sqlite }
    /// Every commit syncs the file (`synchronous = FULL`): milliseconds, too long for ``writeIfIdle(_:)``.
    let synchronousFull: Bool
    /// Writes running or waiting for the writer connection (GRDB's queue runs one at a time), plus ``inlineClaim``
    /// while ``writeIfIdle(_:)`` holds it: it claims the connection only when there is no other write, and a write
    /// that comes after the claim waits for it to end before it queues, so that the claim never waits behind it.
    private let writers = Atomic<Int>(0)
    private static let inlineClaim = 1 << 40
    /// How long a write waits for another process's write lock (the CLI, a replica on the same file).
    static let busyTimeout: TimeInterval = 5

    /// Opens (creating if needed) the file at `path` and brings its schema up to date.
    init(path: String, synchronousFull: Bool) throws {
        let checkpointer = WALCheckpointer(path: path)
        self.checkpointer = checkpointer
        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.label = "tollgate.meter"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronousFull ? "FULL" : "NORMAL")")
            if !db.configuration.readonly { checkpointer.watch(db) }
        }
        location = path
        self.synchronousFull = synchronousFull
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator().migrate(pool)
        // Events a process killed before filing them left landed (``EventLanding``). Should that fail (a meter this
        // process may only read, a full disk), the meter opens all the same: each read tries again.
        if try pool.read({ try EventLanding.anyLanded(SQLiteConnection($0)) }) {
            _ = try? pool.writeWithoutTransaction { try Self.immediateTransaction($0) { try EventLanding.fileAll($0) } }
        }
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(5)
        readOnly.label = "tollgate.meter.lookups"
        lookups = try DatabaseQueue(path: path, configuration: readOnly)
    }

    /// GRDB's migrator over the meter's migrations (its `grdb_migrations` table records them, as it always has).
    static func migrator(upTo last: String? = nil) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in MeterSchema.migrations {
            migrator.registerMigration(migration.identifier) { db in try migration.migrate(SQLiteConnection(db)) }
            if migration.identifier == last { break }
        }
        return migrator
    }

    /// A read sees every event whose response ended: what is landed and not filed yet (``EventLanding``) is filed
    /// first. Should that fail (a meter this process may only read), the read goes on without those events.
    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        if let result = try pool.read({ db -> T? in try EventLanding.anyLanded(SQLiteConnection(db)) ? nil : body(SQLiteConnection(db)) }) {
            return result
        }
        _ = try? write { try EventLanding.fileAll($0) }
        return try pool.read { try body(SQLiteConnection($0)) }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        if let result = try await pool.read({ db -> T? in try EventLanding.anyLanded(SQLiteConnection(db)) ? nil : body(SQLiteConnection(db)) }) {
            return result
        }
        _ = try? await write { try EventLanding.fileAll($0) }
        return try await pool.read { try body(SQLiteConnection($0)) }
    }

    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        let mustWait = enterWrite()
        defer { writers.subtract(1, ordering: .releasing) }
        // The writer threads (events, admissions): a claim lasts one short transaction.
        if mustWait { while claimed { sched_yield() } }
        return try pool.writeWithoutTransaction { try Self.immediateTransaction($0, body) }
    }

    /// `body` in a write transaction (`BEGIN IMMEDIATE` … `COMMIT`, rolled back when it throws), whose two statements
    /// stay prepared on the connection: GRDB's own transaction prepared both for every one, about a tenth of a
    /// one-event transaction's time (a strict request alone on its event loop commits one).
    private static func immediateTransaction<T>(_ db: Database, _ body: (any SQLConnection) throws -> T) throws -> T {
        try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
        do {
            let result = try body(SQLiteConnection(db))
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            return result
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
            throw error
        }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        let mustWait = enterWrite()
        defer { writers.subtract(1, ordering: .releasing) }
        if mustWait { while claimed { try? await Task.sleep(for: .microseconds(100)) } }
        return try await pool.write { try body(SQLiteConnection($0)) }
    }

    /// Counts a write in (its caller takes it out when done) and says whether ``writeIfIdle(_:)`` holds the
    /// connection: the write must then wait for ``claimed`` to turn false before it queues.
    private func enterWrite() -> Bool { writers.add(1, ordering: .acquiring).newValue >= Self.inlineClaim }

    /// Whether ``writeIfIdle(_:)`` holds the writer connection.
    private var claimed: Bool { writers.load(ordering: .acquiring) >= Self.inlineClaim }

    /// Claims the writer connection only when no write of this process runs or waits (GRDB's queue is then free, so
    /// its `sync` runs at once, on this thread; writes that come later wait for the claim), and takes SQLite's write
    /// lock without waiting: another process holding it makes this a `nil`, not a wait of up to ``busyTimeout``.
    /// A log close to the size where a commit checkpoints it (copies and syncs) makes it a `nil` too.
    func writeIfIdle<T>(_ body: (any SQLConnection) throws -> T) throws -> T? {
        guard !synchronousFull, checkpointer.commitsWithoutCheckpoint,
            writers.compareExchange(expected: 0, desired: Self.inlineClaim, ordering: .acquiringAndReleasing).exchanged
        else { return nil }
        defer { writers.subtract(Self.inlineClaim, ordering: .releasing) }
        return try pool.writeWithoutTransaction { db -> T? in
            guard let handle = db.sqliteConnection else { return nil }  // closed
            sqlite3_busy_timeout(handle, 0)
            defer { sqlite3_busy_timeout(handle, CInt(Self.busyTimeout * 1000)) }
            do {
                return try Self.immediateTransaction(db, body)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                return nil  // rolled back: nothing of it was written
            }
        }
    }

    /// A lookup is one statement, which SQLite runs in a read transaction of its own: the connection is used as it
    /// is, without the transaction and the `query_only` toggles GRDB's `read` wraps around it (four more statements).
    func lookup<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try lookups.inDatabase { try body(SQLiteConnection($0)) }
    }

    func appliedMigrations() throws -> [String] {
        let applied = try pool.read { try Self.migrator().appliedIdentifiers($0) }
        return MeterSchema.migrations.map(\.identifier).filter(applied.contains)
    }

    func close() throws {
        try lookups.close()
        try pool.close()
        try checkpointer.close()
    }
}

/// A GRDB connection inside one of its reads or writes.
final class SQLiteConnection: SQLConnection {
    let db: Database
    var dialect: SQLDialect { .sqlite }

    init(_ db: Database) {
        self.db = db
    }

    func execute(sql: String, arguments: SQLArguments, cached: Bool) throws {
        let statement = try cached ? db.cachedStatement(sql: sql) : db.makeStatement(sql: sql)
        try step(statement, arguments) { _ in }
    }

    func rows(sql: String, arguments: SQLArguments, cached: Bool) throws -> [SQLRow] {
        let statement = try cached ? db.cachedStatement(sql: sql) : db.makeStatement(sql: sql)
        let columns = SQLColumns(statement.columnNames)
        var rows: [SQLRow] = []
        try step(statement, arguments) { handle in
            rows.append(SQLRow(columns: columns, values: (0..<CInt(columns.names.count)).map { Self.value(handle, column: $0) }))
        }
        return rows
    }

    /// Runs `statement` with `arguments` bound, calling `row` with each result row, through SQLite's own interface:
    /// GRDB's statement arguments are built through unspecialised generic code, which cost more than the statement.
    /// (The statement is GRDB's, prepared and cached by it; only its binding and stepping are done here.)
    private func step(_ statement: Statement, _ arguments: SQLArguments, row: (OpaquePointer) throws -> Void) throws {
        let handle = statement.sqliteStatement
        guard arguments.values.count == Int(sqlite3_bind_parameter_count(handle)) else {
            throw DatabaseError(
                resultCode: .SQLITE_MISUSE,
                message: "wrong number of statement arguments: \(arguments.values.count) for \(sqlite3_bind_parameter_count(handle))",
                sql: statement.sql)
        }
        // The texts are copied once, all into one buffer that outlives the statement's run, and bound in place: bound
        // one by one as transient, SQLite made a copy of each (an event row has a dozen and more).
        var texts: [UInt8] = []
        var textBytes = 0
        for case .text(let text) in arguments.values { textBytes += text.utf8.count }
        texts.reserveCapacity(textBytes)
        for case .text(let text) in arguments.values { texts.append(contentsOf: text.utf8) }
        try texts.withUnsafeBufferPointer { texts in
            // Every run resets the statement and clears its bindings as it ends (an error included): it is ready for the
            // next run, and holds no pointer into `texts` once they are freed.
            defer {
                sqlite3_reset(handle)
                sqlite3_clear_bindings(handle)
            }
            var textOffset = 0
            for (offset, value) in arguments.values.enumerated() {
                let index = CInt(offset + 1)
                let code: CInt
                switch value {
                case .null: code = sqlite3_bind_null(handle, index)
                case .integer(let integer): code = sqlite3_bind_int64(handle, index, integer)
                case .real(let real): code = sqlite3_bind_double(handle, index, real)
                case .text(let text):
                    let count = text.utf8.count
                    if count == 0 {
                        code = sqlite3_bind_text(handle, index, "", 0, Self.transient)
                    } else {
                        let start = UnsafeRawPointer(texts.baseAddress! + textOffset).assumingMemoryBound(to: CChar.self)
                        code = sqlite3_bind_text(handle, index, start, CInt(count), Self.static)
                    }
                    textOffset += count
                case .blob(let data):
                    code = data.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, CInt($0.count), Self.transient) }
                }
                guard code == SQLITE_OK else { throw failure(code, statement) }
            }
            while true {
                switch sqlite3_step(handle) {
                case SQLITE_DONE: return
                case SQLITE_ROW: try row(handle)
                case let code: throw failure(code, statement)
                }
            }
        }
    }

    private func failure(_ code: CInt, _ statement: Statement) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: statement.sql)
    }

    /// SQLite copies a value bound as transient (blobs: their Swift storage does not outlive the binding call).
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
    /// SQLite reads a value bound as static in place until the statement is reset and its bindings cleared.
    private static let `static`: sqlite3_destructor_type? = nil

    /// The value of a result row's column.
    private static func value(_ handle: OpaquePointer, column: CInt) -> SQLValue {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, column))
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(handle, column))
            guard let bytes = sqlite3_column_text(handle, column) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, column))
            guard let bytes = sqlite3_column_blob(handle, column), count > 0 else { return .blob(Data()) }
            return .blob(Data(bytes: bytes, count: count))
        default: return .null
        }
    }

    func cursor(sql: String, arguments: SQLArguments) throws -> SQLCursor {
        let statement = try db.makeStatement(sql: sql)
        let columns = SQLColumns(statement.columnNames)
        let rows = try Row.fetchCursor(statement, arguments: arguments.grdb)
        return SQLCursor { try rows.next().map { SQLRow(columns: columns, values: $0.sqlValues) } }
    }

    var changesCount: Int { db.changesCount }

    func executeSchema(_ sql: String) throws {
        try db.execute(sql: sql)
    }
}

extension SQLArguments {
    fileprivate var grdb: StatementArguments {
        // Through GRDB's initializer for optional existentials: the one for a sequence of `DatabaseValue` reads each
        // value through a key path built at run time, several times the cost of the statement's own binding.
        StatementArguments(
            values.map { value -> (any DatabaseValueConvertible)? in
                switch value {
                case .null: return nil
                case .integer(let integer): return integer
                case .real(let real): return real
                case .text(let text): return text
                case .blob(let data): return data
                }
            })
    }
}

extension Row {
    fileprivate var sqlValues: [SQLValue] {
        databaseValues.map { value in
            switch value.storage {
            case .null: return .null
            case .int64(let integer): return .integer(integer)
            case .double(let real): return .real(real)
            case .string(let text): return .text(text)
            case .blob(let data): return .blob(data)
            }
        }
    }
}

extension MeterStore {
    /// The SQLite pool under a meter in a file (nil on PostgreSQL), for tests of SQLite's own behaviour.
    var sqlitePool: DatabasePool? { (database as? SQLiteMeterDatabase)?.pool }
}
