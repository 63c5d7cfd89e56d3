/// The names of a result's columns, shared by all its rows.
public final class SQLColumns: Sendable {
    public let names: [String]
    private let indexes: [String: Int]

    public init(_ names: [String]) {
        self.names = names
        var indexes: [String: Int] = [:]
        // The first column of a name wins, as in SQLite; names compare without case, as SQL's do.
        for (index, name) in names.enumerated().reversed() { indexes[Self.folded(name)] = index }
        self.indexes = indexes
    }

    func index(of name: String) -> Int? { indexes[name] ?? indexes[Self.folded(name)] }

    /// `name` in lowercase (most names are already: they are kept as they are, without a copy).
    private static func folded(_ name: String) -> String {
        name.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") } ? name.lowercased() : name
    }
}

/// One row of a result, read by column name or position into Swift values.
///
/// Reading a column into a non-optional type when it holds NULL or a value of another kind is a programming error
/// (the schema says what each column holds) and stops the process with the column's name, as GRDB does.
public struct SQLRow: Sendable {
    public let columns: SQLColumns
    public let values: [SQLValue]

    public init(columns: SQLColumns, values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    /// The value of the column named `name`, or NULL when there is no such column.
    public func value(named name: String) -> SQLValue {
        columns.index(of: name).map { values[$0] } ?? .null
    }

    public subscript<Value: SQLValueConvertible>(_ name: String) -> Value {
        Self.convert(value(named: name), column: name)
    }

    public subscript<Value: SQLValueConvertible>(_ index: Int) -> Value {
        Self.convert(values[index], column: columns.names[index])
    }

    private static func convert<Value: SQLValueConvertible>(_ value: SQLValue, column: String) -> Value {
        guard let converted = Value.fromSQLValue(value) else {
            fatalError("the meter's column \(column) holds \(value), which is not a \(Value.self)")
        }
        return converted
    }
}

/// Rows read one at a time (a report over many events): valid only inside the read or write that made it.
public struct SQLCursor {
    private let nextRow: () throws -> SQLRow?

    public init(_ next: @escaping () throws -> SQLRow?) {
        nextRow = next
    }

    public func next() throws -> SQLRow? { try nextRow() }
}

// MARK: - Fetching

extension SQLRow {
    public static func fetchAll(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> [SQLRow] {
        try db.rows(sql: sql, arguments: arguments, cached: false)
    }

    public static func fetchOne(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> SQLRow? {
        try db.rows(sql: sql, arguments: arguments, cached: false).first
    }

    public static func fetchCursor(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> SQLCursor {
        try db.cursor(sql: sql, arguments: arguments)
    }

    public static func fetchAll(_ statement: SQLStatement, arguments: SQLArguments = []) throws -> [SQLRow] {
        try statement.connection.rows(sql: statement.sql, arguments: arguments, cached: true)
    }

    public static func fetchOne(_ statement: SQLStatement, arguments: SQLArguments = []) throws -> SQLRow? {
        try statement.connection.rows(sql: statement.sql, arguments: arguments, cached: true).first
    }
}

extension SQLValueConvertible {
    /// The first column of the first row; nil when there is no row or it holds NULL.
    public static func fetchOne(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> Self? {
        try firstValue(of: SQLRow.fetchOne(db, sql: sql, arguments: arguments))
    }

    public static func fetchOne(_ statement: SQLStatement, arguments: SQLArguments = []) throws -> Self? {
        try firstValue(of: SQLRow.fetchOne(statement, arguments: arguments))
    }

    /// The first column of every row.
    public static func fetchAll(_ db: any SQLConnection, sql: String, arguments: SQLArguments = []) throws -> [Self] {
        try SQLRow.fetchAll(db, sql: sql, arguments: arguments).map { $0[0] }
    }

    public static func fetchAll(_ statement: SQLStatement, arguments: SQLArguments = []) throws -> [Self] {
        try SQLRow.fetchAll(statement, arguments: arguments).map { $0[0] }
    }

    private static func firstValue(of row: SQLRow?) -> Self? {
        guard let row, let value = row.values.first else { return nil }
        if case .null = value { return nil }
        return row[0] as Self
    }
}

extension SQLRow: CustomStringConvertible {
    /// The row as `[name:value name:value]`, text quoted.
    public var description: String {
        let fields = zip(columns.names, values).map { name, value -> String in
            switch value {
            case .null: return "\(name):NULL"
            case .integer(let integer): return "\(name):\(integer)"
            case .real(let real): return "\(name):\(real)"
            case .text(let text): return "\(name):\"\(text)\""
            case .blob(let data): return "\(name):Data(\(data.count) bytes)"
            }
        }
        return "[" + fields.joined(separator: " ") + "]"
    }
}
