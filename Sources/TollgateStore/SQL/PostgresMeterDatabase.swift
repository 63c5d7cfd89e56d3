import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import TollgateCore

/// Where and how to reach a PostgreSQL meter.
public struct PostgresMeterOptions: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// The schema the meter's tables live in (`search_path`); nil: the server's default (`public`).
    public var schema: String?
    public var tls: TLSMode
    /// Connections this process keeps open to the server.
    public var poolSize: Int
    /// How long opening a connection may take before the meter counts as unreachable.
    public var connectTimeoutSeconds: Int64

    /// `sslmode`, as libpq names it.
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP (loopback, a private network, a sidecar proxy).
        case disable
        /// TLS when the server offers it, unverified.
        case prefer
        /// TLS, the certificate not verified.
        case require
        /// TLS, the certificate verified against the system's roots (or `rootCertificate`) and the host name.
        case verifyFull = "verify-full"
    }
    /// A PEM file of the certificate authorities to trust (`sslrootcert`), for `verify-full`.
    public var rootCertificate: String?

    /// Reads `postgres://user[:password]@host[:port]/database?sslmode=…&schema=…&pool=…&sslrootcert=…`.
    /// `postgresql://` is accepted too. A password in the URL is used only when `password` is nil.
    public init(url: String, password: String? = nil, poolSize: Int? = nil) throws(MeterError) {
        guard let components = URLComponents(string: url), components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw MeterError.rejected("the meter URL must be postgres://user@host:port/database (or a file path for SQLite)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw MeterError.rejected("the meter URL \(MeterSettings.redactedURL(url)) names no host")
        }
        self.host = host
        port = components.port ?? 5432
        user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        self.password = password ?? components.password.flatMap { $0.removingPercentEncoding }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : path
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        schema = query["schema"].flatMap { $0.isEmpty ? nil : $0 }
        if let schema, !schema.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
            throw MeterError.rejected("the meter's schema must be letters, digits and _: \(schema)")
        }
        let mode = query["sslmode"] ?? "prefer"
        guard let tls = TLSMode(rawValue: mode == "allow" ? "prefer" : mode == "verify-ca" ? "verify-full" : mode) else {
            throw MeterError.rejected("the meter URL's sslmode must be disable, prefer, require or verify-full, not \(mode)")
        }
        self.tls = tls
        rootCertificate = query["sslrootcert"]
        let size = poolSize ?? query["pool"].flatMap(Int.init) ?? 8
        guard (1...200).contains(size) else { throw MeterError.rejected("the meter's pool size must be 1 to 200, not \(size)") }
        self.poolSize = size
        connectTimeoutSeconds = query["connect_timeout"].flatMap(Int64.init) ?? 5
    }

    var location: String {
        "postgres://\(user)@\(host):\(port)/\(database)" + (schema.map { "?schema=\($0)" } ?? "")
    }
}

/// The meter in PostgreSQL, shared by replicas on several hosts, through postgres-nio.
///
/// The store's functions are synchronous inside a transaction (as with SQLite); here each runs on one of this
/// process's meter threads, one per pooled connection, each statement a round trip to the server. Write
/// transactions take one transaction-scoped advisory lock first, so that writes are serialised across every
/// replica exactly as SQLite serialises them: the checks of balances, caps and reservations and their updates
/// cannot interleave, and the overshoot bounds proven for SQLite hold for the fleet. Reads run in a
/// repeatable-read snapshot, concurrently with writes.
///
/// A lost connection is opened again on next use; while the server cannot be reached every read and write fails
/// (and the proxy refuses inference with 503), and it resumes by itself when the server is back.
final class PostgresMeterDatabase: MeterDatabase {
    let options: PostgresMeterOptions
    var dialect: SQLDialect { .postgres }
    var location: String { options.location }

    private let group: MultiThreadedEventLoopGroup
    private let threads: NIOThreadPool
    private let sessions: NIOLockedValueBox<[PostgresSession]>
    private let available: DispatchSemaphore
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let isShutDown = NIOLockedValueBox(false)

    /// The advisory lock every write transaction takes (any fixed number; "tollgate" in ASCII).
    static let writeLock: Int64 = 0x746F_6C6C_6761_7465
    /// The advisory lock held while migrating, so that replicas starting together migrate once.
    static let migrationLock: Int64 = 0x746F_6C6C_6D69_6772

    /// Opens the meter, migrated by `migrations` (all of them but in tests of an upgrade).
    init(options: PostgresMeterOptions, migrations: [MeterMigration] = MeterSchema.migrations) throws {
        self.options = options
        var logger = Logger(label: "tollgate.meter.postgres")
        logger.logLevel = .critical
        self.logger = logger
        var configuration = PostgresConnection.Configuration(
            host: options.host, port: options.port, username: options.user, password: options.password, database: options.database,
            tls: try Self.tls(options))
        configuration.options.connectTimeout = .seconds(options.connectTimeoutSeconds)
        if let schema = options.schema { configuration.options.additionalStartupParameters = [("search_path", schema)] }
        self.configuration = configuration
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        threads = NIOThreadPool(numberOfThreads: options.poolSize)
        threads.start()
        sessions = NIOLockedValueBox((0..<options.poolSize).map { _ in PostgresSession(configuration, group, logger) })
        available = DispatchSemaphore(value: options.poolSize)
        do {
            try migrate(migrations)
        } catch {
            try? close()
            throw error
        }
    }

    private static func tls(_ options: PostgresMeterOptions) throws -> PostgresConnection.Configuration.TLS {
        switch options.tls {
        case .disable: return .disable
        case .prefer, .require:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            let context = try NIOSSLContext(configuration: tls)
            return options.tls == .prefer ? .prefer(context) : .require(context)
        case .verifyFull:
            var tls = TLSConfiguration.makeClientConfiguration()
            if let file = options.rootCertificate { tls.trustRoots = .file(file) }
            return .require(try NIOSSLContext(configuration: tls))
        }
    }

    // MARK: Transactions

    func read<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try withSession { try $0.transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body) }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await onMeterThread { try self.read(body) }
    }

    func write<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try withSession { session in
            try session.transaction("BEGIN") { db in
                try db.execute(sql: "SELECT pg_advisory_xact_lock(\(Self.writeLock))")
                return try body(db)
            }
        }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLConnection) throws -> T) async throws -> T {
        try await onMeterThread { try self.write(body) }
    }

    func lookup<T>(_ body: (any SQLConnection) throws -> T) throws -> T {
        try withSession { session in try body(try session.connection()) }
    }

    /// Runs `body` on one of the meter's threads (the caller's thread is not blocked on the server).
    private func onMeterThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await threads.runIfActive(body)
    }

    /// Runs `body` with a session of the pool to itself, waiting for one to be free.
    private func withSession<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        available.wait()
        let session = sessions.withLockedValue { $0.removeLast() }
        defer {
            sessions.withLockedValue { $0.append(session) }
            available.signal()
        }
        return try body(session)
    }

    // MARK: Schema

    private func migrate(_ migrations: [MeterMigration]) throws {
        try withSession { session in
            let db = try session.connection()
            // Under the lock: replicas starting together would race on creating the schema, then on migrating.
            try db.execute(sql: "SELECT pg_advisory_lock(\(Self.migrationLock))")
            defer { try? db.execute(sql: "SELECT pg_advisory_unlock(\(Self.migrationLock))") }
            if let schema = options.schema { try db.execute(sql: "CREATE SCHEMA IF NOT EXISTS \(schema)") }
            try db.execute(
                sql: "CREATE TABLE IF NOT EXISTS tollgate_migrations (identifier TEXT PRIMARY KEY, applied_ms BIGINT NOT NULL)")
            let applied = Set(try String.fetchAll(db, sql: "SELECT identifier FROM tollgate_migrations"))
            for migration in migrations where !applied.contains(migration.identifier) {
                try session.transaction("BEGIN") { db in
                    try migration.migrate(db)
                    try db.execute(
                        sql: "INSERT INTO tollgate_migrations (identifier, applied_ms) VALUES (?, ?)",
                        arguments: [migration.identifier, Timestamps.nowMs()])
                }
            }
        }
    }

    func appliedMigrations() throws -> [String] {
        let applied = Set(try read { try String.fetchAll($0, sql: "SELECT identifier FROM tollgate_migrations") })
        return MeterSchema.migrations.map(\.identifier).filter(applied.contains)
    }

    func close() throws {
        shutdown()
    }

    deinit {
        shutdown()
    }

    /// Closes every connection (postgres-nio requires it before they go) and stops the meter's threads, without
    /// waiting for them: the caller may itself be on an event loop.
    private func shutdown() {
        guard
            !isShutDown.withLockedValue({ done in
                defer { done = true }; return done
            })
        else { return }
        for session in sessions.withLockedValue({ $0 }) { session.close() }
        threads.shutdownGracefully { _ in }
        group.shutdownGracefully(queue: .global()) { _ in }
    }
}

/// One pooled connection to the server, used by one transaction at a time; opened when first needed and again
/// after it was lost.
final class PostgresSession: @unchecked Sendable {
    private let configuration: PostgresConnection.Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private var current: PostgresSQLConnection?
    private var opened = 0

    init(_ configuration: PostgresConnection.Configuration, _ group: any EventLoopGroup, _ logger: Logger) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    /// The open connection, or a new one when there is none or the server or the network closed it.
    func connection() throws -> PostgresSQLConnection {
        if let current, !current.connection.isClosed { return current }
        current = nil
        opened += 1
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection.connect(on: group.next(), configuration: configuration, id: opened, logger: logger).blockingResult()
        } catch {
            throw PostgresSQLConnection.describe(error, doing: "connect to the meter at \(configuration.host ?? "?"):\(configuration.port ?? 0)")
        }
        let sql = PostgresSQLConnection(connection, logger: logger)
        current = sql
        return sql
    }

    /// Runs `body` in a transaction begun with `begin`, committing when it returns and rolling back when it throws.
    func transaction<T>(_ begin: String, _ body: (any SQLConnection) throws -> T) throws -> T {
        let db = try connection()
        try db.execute(sql: begin)
        db.inTransaction = true
        db.cursorsOpened = 0
        defer { db.inTransaction = false }
        do {
            let result = try body(db)
            try db.execute(sql: "COMMIT")
            return result
        } catch {
            if !db.connection.isClosed { try? db.execute(sql: "ROLLBACK") }
            throw error
        }
    }

    func close() {
        try? current?.connection.close().blockingResult()
        current = nil
    }
}

/// A PostgreSQL connection as the store uses it: statements run one at a time, waiting for each answer.
final class PostgresSQLConnection: SQLConnection {
    let connection: PostgresConnection
    private let logger: Logger
    private(set) var changesCount = 0
    var dialect: SQLDialect { .postgres }

    init(_ connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    func execute(sql: String, arguments: SQLArguments, cached: Bool) throws {
        if arguments.isEmpty, sql.contains(";") {
            for statement in PostgresDialect.statements(sql) { _ = try run(statement, arguments) }
        } else {
            _ = try run(sql, arguments)
        }
    }

    func rows(sql: String, arguments: SQLArguments, cached: Bool) throws -> [SQLRow] {
        let result = try run(sql, arguments)
        guard let first = result.rows.first else { return [] }
        let columns = SQLColumns(first.map(\.columnName))
        return try result.rows.map { row in SQLRow(columns: columns, values: try row.map(Self.value)) }
    }

    /// Whether a transaction is open (cursors need one).
    var inTransaction = false
    /// Cursors declared in the open transaction (each gets its own name; the transaction's end closes them).
    var cursorsOpened = 0
    /// Rows a cursor fetches per round trip.
    static let cursorBatch = 1_000

    /// A server-side cursor read 1,000 rows at a time, so that a walk over millions of events holds only a batch
    /// (outside a transaction, as for a lookup, the rows are read at once).
    func cursor(sql: String, arguments: SQLArguments) throws -> SQLCursor {
        guard inTransaction else {
            var rows = try self.rows(sql: sql, arguments: arguments, cached: false).makeIterator()
            return SQLCursor { rows.next() }
        }
        cursorsOpened += 1
        let name = "tollgate_cursor_\(cursorsOpened)"
        _ = try run("DECLARE \(name) NO SCROLL CURSOR FOR \(sql)", arguments)
        let fetch = "FETCH FORWARD \(Self.cursorBatch) FROM \(name)"
        var batch: [SQLRow] = []
        var index = 0
        var exhausted = false
        return SQLCursor { [self] in
            if index == batch.count {
                guard !exhausted else { return nil }
                batch = try rows(sql: fetch, arguments: [], cached: false)
                index = 0
                exhausted = batch.count < Self.cursorBatch
                guard !batch.isEmpty else { return nil }
            }
            index += 1
            return batch[index - 1]
        }
    }

    func executeSchema(_ sql: String) throws {
        for statement in PostgresDialect.schema(sql) { _ = try run(statement, []) }
    }

    private func run(_ sql: String, _ arguments: SQLArguments) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: arguments.values.count)
        for value in arguments.values {
            switch value {
            case .null: binds.appendNull()
            case .integer(let integer): binds.append(integer)
            case .real(let real): binds.append(real)
            case .text(let text): binds.append(text)
            case .blob(let data): binds.append(ByteBuffer(data: data))
            }
        }
        let query = PostgresQuery(unsafeSQL: PostgresDialect.query(sql), binds: binds)
        do {
            let result = try connection.query(query, logger: logger).blockingResult(unlessClosed: connection.closeFuture)
            changesCount = result.metadata.rows ?? 0
            return result
        } catch {
            throw Self.describe(error, doing: "run \(sql.prefix(80))")
        }
    }

    private static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid: return .integer(try cell.decode(Int64.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bytea: return .blob(try cell.decode(Data.self))
        case .numeric: return .text("\(try cell.decode(Decimal.self))")
        default: return .text(try cell.decode(String.self))
        }
    }

    /// The server's own message (postgres-nio hides it from `description`), with the SQL state.
    static func describe(_ error: any Error, doing what: String) -> PostgresMeterError {
        guard let error = error as? PSQLError else { return PostgresMeterError(message: "cannot \(what): \(error)", sqlState: nil) }
        if let info = error.serverInfo {
            let state = info[.sqlState]
            return PostgresMeterError(
                message: "cannot \(what): \(info[.message] ?? "\(error.code)")" + (state.map { " (SQLSTATE \($0))" } ?? ""), sqlState: state)
        }
        let cause = error.underlying.map { ": \($0)" } ?? ""
        return PostgresMeterError(message: "cannot \(what): \(error.code)\(cause)", sqlState: nil)
    }
}

/// A statement or connection that failed, with the server's message.
struct PostgresMeterError: Error, CustomStringConvertible {
    let message: String
    /// The server's SQLSTATE code (`23505` a unique violation, `57P01` shut down by an administrator …).
    let sqlState: String?
    var description: String { message }
}

extension EventLoopFuture where Value: Sendable {
    /// Blocks the calling thread until the future completes.
    ///
    /// NIO's `wait()` refuses to run on any event loop thread, and with NIO as Swift's global executor every task of
    /// `serve` and the CLI runs on one. Blocking one here is safe: the meter's connections live on an event loop group
    /// of their own, so the thread waiting is never the one that completes the future (a synchronous SQLite read
    /// blocks its caller the same way).
    ///
    /// With `closed` (the connection's close future), a connection that goes away first ends the wait with an error:
    /// a query sent just as the server shut the connection (a restart, a failover) may otherwise never be answered.
    func blockingResult(unlessClosed closed: EventLoopFuture<Void>? = nil) throws -> Value {
        let done = DispatchSemaphore(value: 0)
        let outcome = NIOLockedValueBox<Result<Value, any Error>?>(nil)
        let settle: @Sendable (Result<Value, any Error>) -> Void = { result in
            let first = outcome.withLockedValue { current in
                guard current == nil else { return false }
                current = result
                return true
            }
            if first { done.signal() }
        }
        whenComplete(settle)
        closed?.whenComplete { _ in settle(.failure(ConnectionClosed())) }
        done.wait()
        return try outcome.withLockedValue { $0! }.get()
    }
}

/// The connection to the meter closed while a statement waited for its answer.
struct ConnectionClosed: Error, CustomStringConvertible {
    var description: String { "the connection to the meter closed before the statement was answered" }
}
