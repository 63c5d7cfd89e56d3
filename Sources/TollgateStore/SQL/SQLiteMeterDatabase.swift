import Foundation
import GRDB

/// The meter in one SQLite file (WAL mode), through GRDB: the embedded default, for one host.
///
/// Writes go to SQLite's one writer; reads run concurrently on the pool's readers. Other processes (the `tollgate`
/// CLI, replicas on the same host) may open the same file: SQLite's locking keeps them consistent, and a busy
/// database is waited on for up to five seconds.
final class SQLiteMeterDatabase: MeterDatabase {
    let pool: DatabasePool
    /// One read-only connection of its own for the request path's synchronous lookups (keys, object owners).
    ///
    /// An async read of the pool holds its reader until its task resumes; with Swift concurrency on NIO's event loops,
    /// a synchronous pool read blocking those loops on the pool's readers could wait for ever for tasks that only
    /// those loops can resume. Lookups never hold this connection across a suspension, so waiting on it is brief.
    let lookups: DatabaseQueue
    let location: String
    var dialect: SQLDialect { .sqlite }

    /// Opens (creating if needed) the file at `path` and brings its schema up to date.
    init(path: String, synchronousFull: Bool) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.label = "tollgate.meter"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronousFull ? "FULL" : "NORMAL")")
        }
        location = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator().migrate(pool)
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

    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try pool.read { try body(SQLiteConnection($0)) }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await pool.read { try body(SQLiteConnection($0)) }
    }

    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try pool.write { try body(SQLiteConnection($0)) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await pool.write { try body(SQLiteConnection($0)) }
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
        if cached {
            try db.cachedStatement(sql: sql).execute(arguments: arguments.grdb)
        } else {
            try db.execute(sql: sql, arguments: arguments.grdb)
        }
    }

    func rows(sql: String, arguments: SQLArguments, cached: Bool) throws -> [SQLRow] {
        let statement = try cached ? db.cachedStatement(sql: sql) : db.makeStatement(sql: sql)
        let columns = SQLColumns(statement.columnNames)
        return try Row.fetchAll(statement, arguments: arguments.grdb).map { SQLRow(columns: columns, values: $0.sqlValues) }
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
