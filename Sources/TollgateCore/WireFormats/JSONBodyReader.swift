/// Meters a plain (non-streaming) JSON body: scans it as it passes and maps its usage object at the end.
///
/// The body is never held whole: only the members at ``paths`` are kept, so a 50 MB embeddings answer costs the
/// same few bytes of state as a short chat answer.
public struct JSONBodyReader: ResponseReader {
    /// Where a format's plain body keeps the served model, the usage object and the service tier.
    public struct Layout: Sendable {
        let paths: JSONFieldScanner.KeyPaths
        let map: @Sendable (_ model: [UInt8]?, _ usage: [UInt8]?, _ tier: [UInt8]?, _ reading: inout UsageReading) -> Void

        /// A layout with the three members at the given key paths and a mapping of what they hold.
        public init(
            model: [String], usage: [String], serviceTier: [String],
            map: @escaping @Sendable (_ model: [UInt8]?, _ usage: [UInt8]?, _ tier: [UInt8]?, _ reading: inout UsageReading) -> Void
        ) {
            self.paths = JSONFieldScanner.KeyPaths([model, usage, serviceTier])
            self.map = map
        }
    }

    private var scanner: JSONFieldScanner
    private let layout: Layout

    /// Creates a meter for a body laid out as `layout` says.
    public init(layout: Layout) {
        self.layout = layout
        self.scanner = JSONFieldScanner(paths: layout.paths)
    }

    /// Never rewrites.
    public var rewrites: Bool { false }
    /// A plain body has no terminal event; its end is the end of the body.
    public var reachedEnd: Bool { scanner.isComplete }

    /// Scans the piece; the client gets it unchanged.
    public mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]? {
        scanner.feed(piece)
        return nil
    }

    /// Maps what was captured.
    public mutating func finish() -> (reading: UsageReading, tail: [UInt8]?) {
        scanner.finish()
        var reading = UsageReading(completed: scanner.isComplete && !scanner.isMalformed)
        layout.map(scanner.value(at: 0), scanner.value(at: 1), scanner.value(at: 2), &reading)
        if !reading.completed { reading.note = reading.note ?? "response body is not complete JSON" }
        return (reading, nil)
    }
}
