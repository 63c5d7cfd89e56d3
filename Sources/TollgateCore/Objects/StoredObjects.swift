/// Objects a provider stores for the account Tollgate calls it with (files, batches, stored responses and
/// completions): Tollgate lets a customer reach only the objects it created through Tollgate.
///
/// Each family declares its object routes (``WireFamily/objects``): which method and path creates, lists, reads,
/// deletes or cancels which kind of object, and where the object's id is in the path. The gateway records the owner
/// of every object created through it and refuses the others with the provider's own not-found.
public struct ObjectRoutes: Sendable {
    /// The routes, first match wins.
    public var routes: [ObjectRoute]
    /// Inference APIs whose answers are stored objects of a kind (`POST /v1/responses` stores a response).
    public var createdByInference: [APIName: ObjectKind]
    /// Whether a list answer has `"object": "list"` (OpenAI's) besides `data`, `first_id`, `last_id`, `has_more`.
    public var listHasObjectMember: Bool

    /// Declares a family's object routes.
    public init(routes: [ObjectRoute] = [], createdByInference: [APIName: ObjectKind] = [:], listHasObjectMember: Bool = true) {
        self.routes = routes
        self.createdByInference = createdByInference
        self.listHasObjectMember = listHasObjectMember
    }

    /// No objects (most families).
    public static let none = ObjectRoutes()

    /// The object request `method path` is, if any.
    public func request(method: String, path: String) -> ObjectRequest? {
        let method = method.uppercased()
        for route in routes where route.methods.contains(method) && route.pattern.matches(path) {
            var id: String?
            var collectionPath = path
            if let fromEnd = route.idFromEnd {
                let segments = path.split(separator: "/", omittingEmptySubsequences: false)
                let index = segments.count - 1 - fromEnd
                guard index > 0 else { continue }
                id = String(segments[index])
                collectionPath = segments[..<index].joined(separator: "/")
            }
            return ObjectRequest(route: route, id: id, collectionPath: collectionPath)
        }
        return nil
    }
}

/// What kind of stored object.
public struct ObjectKind: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The name stored in the meter (`file`).
    public let rawValue: String
    /// Creates a kind.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The name.
    public var description: String { rawValue }

    /// An uploaded file (and a batch's output or error file, owned with its batch).
    public static let file = ObjectKind(rawValue: "file")
    /// A batch of requests (OpenAI's Batch API, Anthropic's Message Batches).
    public static let batch = ObjectKind(rawValue: "batch")
    /// A stored response (OpenAI Responses; background ones included).
    public static let response = ObjectKind(rawValue: "response")
    /// A stored chat completion (`store: true`).
    public static let chatCompletion = ObjectKind(rawValue: "chat_completion")
}

/// What a request does to an object.
public enum ObjectOperation: String, Sendable, Hashable {
    /// Creates one (its id is in the response).
    case create
    /// Lists the caller's.
    case list
    /// Reads one's metadata.
    case retrieve
    /// Changes one's metadata.
    case update
    /// Deletes one.
    case delete
    /// Cancels one (a batch, a background response).
    case cancel
    /// Reads what one holds: a file's content, a batch's results, a response's input items.
    case content
}

/// One object route of a family.
public struct ObjectRoute: Sendable {
    /// The methods, uppercase.
    public var methods: Set<String>
    /// Which paths.
    public var pattern: PathPattern
    /// The kind of object.
    public var kind: ObjectKind
    /// What the request does.
    public var operation: ObjectOperation
    /// The position of the object's id in the path, counted from the last segment (0); `nil` for collection routes.
    public var idFromEnd: Int?
    /// How the content read through this route is metered when it is a batch's results, if it can be.
    public var results: BatchResultLayout?
    /// What the provider answers for an id it does not know: the message of its 404 (`No such File object: ID`).
    public var notFoundMessage: @Sendable (String) -> String

    /// Declares a route.
    public init(
        _ methods: Set<String>, _ pattern: String, _ kind: ObjectKind, _ operation: ObjectOperation, idFromEnd: Int? = nil,
        results: BatchResultLayout? = nil, notFound: @escaping @Sendable (String) -> String
    ) {
        self.methods = methods
        self.pattern = PathPattern(pattern)
        self.kind = kind
        self.operation = operation
        self.idFromEnd = idFromEnd
        self.results = results
        self.notFoundMessage = notFound
    }
}

/// One request for an object route, with the id it names.
public struct ObjectRequest: Sendable {
    /// The route.
    public var route: ObjectRoute
    /// The object's id, for routes of one object.
    public var id: String?
    /// The path of the collection the object is in (`/v1/files` for `/v1/files/ID/content`): a list's own path, and
    /// where one object of the list is read from (`collectionPath/ID`).
    public var collectionPath: String

    /// The kind.
    public var kind: ObjectKind { route.kind }
    /// The operation.
    public var operation: ObjectOperation { route.operation }
}

/// Where one result line of a batch keeps what metering needs, and how its usage maps to the canonical classes.
public struct BatchResultLayout: Sendable {
    /// The key paths captured in every line: the custom id first, then whatever ``map`` reads.
    public let paths: JSONFieldScanner.KeyPaths
    /// The reading of one line (`nil`: the line bills nothing, an errored request) from its captured values, indexed
    /// as ``paths`` (0 is the custom id).
    public let map: @Sendable (_ values: (Int) -> [UInt8]?) -> UsageReading?

    /// Declares a layout.
    public init(paths: [[String]], map: @escaping @Sendable (_ values: (Int) -> [UInt8]?) -> UsageReading?) {
        self.paths = JSONFieldScanner.KeyPaths(paths)
        self.map = map
    }
}

/// One metered line of a batch's results.
public struct BatchResultLine: Sendable, Equatable {
    /// The caller's `custom_id`: unique within its batch, so a batch and a custom id name one request.
    public var customID: String
    /// The usage read from it.
    public var reading: UsageReading
}

/// Reads a batch's JSONL results as they stream past, line by line at any split, and keeps the lines that bill.
///
/// Each line is fed to a fresh field scanner as its bytes arrive, never held whole; the caller takes the finished
/// lines (``takeLines()``) after each piece, so memory stays bounded by one piece's lines.
public struct BatchResultReader: Sendable {
    private let layout: BatchResultLayout
    private var scanner: JSONFieldScanner
    private var started = false
    private var lines: [BatchResultLine] = []
    /// Lines that were not one whole JSON object, or had no custom id.
    public private(set) var malformedLines = 0

    /// A reader for results laid out as `layout` says.
    public init(layout: BatchResultLayout) {
        self.layout = layout
        self.scanner = JSONFieldScanner(paths: layout.paths)
    }

    /// Reads a piece of the body.
    public mutating func observe(_ piece: UnsafeRawBufferPointer) {
        var start = 0
        while start < piece.count {
            var end = start
            while end < piece.count, piece[end] != 0x0A { end += 1 }
            let bytes = UnsafeRawBufferPointer(rebasing: piece[start..<end])
            if !started { started = bytes.contains { !JSONEdit.isWhitespace($0) } }
            scanner.feed(bytes)
            guard end < piece.count else { break }
            endLine()
            start = end + 1
        }
    }

    /// Reads a piece of the body.
    public mutating func observe(_ piece: [UInt8]) {
        piece.withUnsafeBytes { observe($0) }
    }

    /// Ends the body (a last line without its newline is read now).
    public mutating func finish() { endLine() }

    /// The lines finished since the last call.
    public mutating func takeLines() -> [BatchResultLine] {
        defer { lines.removeAll(keepingCapacity: true) }
        return lines
    }

    private mutating func endLine() {
        defer {
            scanner = JSONFieldScanner(paths: layout.paths)
            started = false
        }
        guard started else { return }
        scanner.finish()
        guard scanner.isComplete, !scanner.isMalformed, let idBytes = scanner.value(at: 0), let customID = decodeJSONString(idBytes) else {
            malformedLines += 1
            return
        }
        let scanned = scanner
        guard let reading = layout.map({ scanned.value(at: $0) }) else { return }
        lines.append(BatchResultLine(customID: customID, reading: reading))
    }
}
