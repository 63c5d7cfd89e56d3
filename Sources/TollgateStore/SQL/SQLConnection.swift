/// Which SQL the meter speaks to: the store's queries are written once, in the SQL both accept (upserts with
/// `ON CONFLICT`, `?` placeholders, integer milliseconds, money as decimal text); the few differences are the
/// dialect's (placeholders and column types for PostgreSQL, see ``PostgresDialect``).
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres
}

/// A connection inside one read or write transaction of the meter, whichever database holds it.
///
/// Valid only inside the closure it is given to: the store's functions take it as `db` and run their statements
/// synchronously, so that a transaction's reads and writes see each other and commit (or roll back) together.
public protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    /// Runs one statement (or, without arguments, a script of several).
    func execute(sql: String, arguments: SQLArguments, cached: Bool) throws
    /// Runs a query and returns its rows.
    func rows(sql: String, arguments: SQLArguments, cached: Bool) throws -> [SQLRow]
    /// Runs a query and returns its rows one at a time.
    func cursor(sql: String, arguments: SQLArguments) throws -> SQLCursor
    /// The rows changed by the last INSERT, UPDATE or DELETE (an upsert that did nothing changed none).
    var changesCount: Int { get }
    /// Runs schema statements written in SQLite's column types (INTEGER, REAL, BLOB, AUTOINCREMENT), translated to
    /// the database's own.
    func executeSchema(_ sql: String) throws
}

extension SQLConnection {
    public func execute(sql: String, arguments: SQLArguments = []) throws {
        try execute(sql: sql, arguments: arguments, cached: false)
    }

    /// A statement run often (prepared once per connection, where the database keeps prepared statements).
    public func cachedStatement(sql: String) throws -> SQLStatement {
        SQLStatement(connection: self, sql: sql)
    }
}

/// A statement to run with different arguments, prepared once per connection.
public struct SQLStatement {
    public let connection: any SQLConnection
    public let sql: String

    public func execute(arguments: SQLArguments = []) throws {
        try connection.execute(sql: sql, arguments: arguments, cached: true)
    }
}

/// The database behind a meter: SQLite in one file (``SQLiteMeterDatabase``), or PostgreSQL shared by replicas
/// (``PostgresMeterDatabase``).
///
/// Writes are serialised (one write transaction at a time across every process on the meter, as SQLite does), so
/// that the store's checks and updates of balances, limits and reservations cannot interleave. Reads see a
/// consistent snapshot.
public protocol MeterDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// Where the meter is, for messages (a PostgreSQL URL without its password).
    var location: String { get }

    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T
    /// A short read on the request path (a key, an object's owner), never waiting behind long reports.
    func lookup<T>(_ body: (any SQLConnection) throws -> T) throws -> T
    /// A write transaction on the caller's thread, only if it cannot wait: nothing else is writing or waiting to
    /// write, no other process holds the write lock, and the commit does not wait for the disk. Returns `nil` (having
    /// done nothing) otherwise, and always on a database where a write is a round trip to a server. An event loop may
    /// call it: it never waits for another writer, and spends its own transaction's time only.
    func writeIfIdle<T>(_ body: (any SQLConnection) throws -> T) throws -> T?
    /// The migrations applied to this meter, oldest first.
    func appliedMigrations() throws -> [String]
    /// Closes every connection; the meter cannot be used afterwards.
    func close() throws
}

extension MeterDatabase {
    public func writeIfIdle<T>(_ body: (any SQLConnection) throws -> T) throws -> T? { nil }
}
