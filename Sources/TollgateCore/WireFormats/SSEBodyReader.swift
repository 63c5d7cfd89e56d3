/// What a stream reader wants done with one event on its way to the client.
public enum SSEAction: Sendable, Equatable {
    /// Forward the event as it came.
    case keep
    /// Leave the event out (a usage chunk the client did not ask for).
    case drop
    /// Send these bytes in place of the event.
    case replace([UInt8])
}

/// Reads usage out of the events of one API's stream.
public protocol SSEUsageReader: Sendable {
    /// Interprets one event; when `rewriting`, also says what the client should get in its place.
    mutating func read(_ event: SSEEvent, rewriting: Bool) -> SSEAction
    /// What has been read so far.
    var reading: UsageReading { get }
    /// Whether the stream's terminal event has been seen.
    var reachedEnd: Bool { get }
}

/// Meters a server-sent-event stream with an API's ``SSEUsageReader``; the SSE framing lives here, once.
///
/// When not rewriting, every piece goes to the client untouched the moment it arrives. When rewriting (the proxy
/// added the usage opt-in), complete events go out as soon as their blank line arrives, with the added usage
/// taken out; a partial event waits only for the rest of itself.
public struct SSEBodyReader<Reader: SSEUsageReader>: ResponseReader {
    private var framer: SSEFramer
    private var reader: Reader
    /// Events over the framer's bound, which the reader never saw.
    private var oversizedEvents = 0
    /// Whether events are rewritten on their way to the client.
    public let rewrites: Bool
    /// Where the terminal event begins in what the client gets of the last piece, when that piece held it.
    public private(set) var terminalEventStart: Int?

    /// Creates a meter around a reader.
    public init(reader: Reader, rewrites: Bool, maxEventBytes: Int = MeterBounds.maxEventBytes) {
        self.framer = SSEFramer(maxEventBytes: maxEventBytes)
        self.reader = reader
        self.rewrites = rewrites
    }

    /// Whether the terminal event has been seen.
    public var reachedEnd: Bool { reader.reachedEnd }

    /// Reads the piece; returns the rewritten bytes when rewriting.
    public mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]? {
        var framer = SSEFramer(maxEventBytes: 0)
        swap(&framer, &self.framer)
        defer { swap(&framer, &self.framer) }
        // Once ended, a stream has no terminal event left to find.
        var ended = reader.reachedEnd
        terminalEventStart = nil
        /// Reads `event`, noting `start` (where it begins for the client) if it is the terminal one.
        func read(_ event: SSEEvent, rewriting: Bool, start: Int) -> SSEAction {
            let action = reader.read(event, rewriting: rewriting)
            if !ended, reader.reachedEnd {
                ended = true
                terminalEventStart = start
            }
            return action
        }
        guard rewrites else {
            framer.feed(
                piece,
                onEventEnding: { event, end in
                    if event.oversized {
                        oversizedEvents += 1
                    } else {
                        _ = read(event, rewriting: false, start: max(0, end - event.raw.count))
                    }
                })
            return nil
        }
        var output: [UInt8] = []
        output.reserveCapacity(piece.count)
        // An oversized event's bytes go to the client as they come, unread; the others are read and maybe rewritten.
        framer.feed(
            piece,
            onEvent: { event in
                if event.oversized {
                    oversizedEvents += 1
                } else {
                    let action = read(event, rewriting: true, start: output.count)
                    Self.emit(event, action, into: &output)
                }
            },
            onOversized: { bytes in output.append(contentsOf: bytes) })
        return output
    }

    /// Ends the stream: a last event without its blank line is read (and, when rewriting, sent) too.
    public mutating func finish() -> (reading: UsageReading, tail: [UInt8]?) {
        var output: [UInt8] = []
        let rewriting = rewrites
        var framer = SSEFramer(maxEventBytes: 0)
        swap(&framer, &self.framer)
        let limit = framer.maxEventBytes
        framer.finish { event in
            if event.oversized {
                oversizedEvents += 1
                return
            }
            let action = reader.read(event, rewriting: rewriting)
            if rewriting { Self.emit(event, action, into: &output) }
        }
        var reading = reader.reading
        if oversizedEvents > 0 { reading.noteOversized(oversizedEvents, limit: limit, what: "stream event") }
        return (reading, rewriting && !output.isEmpty ? output : nil)
    }

    private static func emit(_ event: SSEEvent, _ action: SSEAction, into output: inout [UInt8]) {
        switch action {
        case .keep: output.append(contentsOf: event.raw)
        case .drop: break
        case .replace(let bytes): output.append(contentsOf: bytes)
        }
    }
}

extension SSEEvent {
    /// The event's data scanned for `paths` and the event's type (its `event:` name, else the string at path
    /// `typeIndex`), or `nil` with `reading.note` set when the data is not one JSON value.
    func scanned(
        for paths: JSONFieldScanner.KeyPaths, typeAt typeIndex: Int = 0, noting reading: inout UsageReading
    )
        -> (scanner: JSONFieldScanner, type: String?)?
    {
        guard let scanner = JSONFieldScanner.scanWhole(data, paths: paths) else {
            reading.note = "malformed stream event"
            return nil
        }
        return (scanner, name ?? scanner.value(at: typeIndex).flatMap(decodeJSONString))
    }
}

extension UsageReading {
    /// Marks the reading estimated, with a note: `count` pieces of the response (stream events, lines) were over the
    /// meter's bound of `limit` bytes and were passed to the client unread.
    public mutating func noteOversized(_ count: Int, limit: Int, what: String) {
        estimated = true
        let text = "\(count) \(what)\(count == 1 ? "" : "s") over \(limit) bytes not read by the meter (usage estimated)"
        note = [note, text].compactMap { $0 }.joined(separator: "; ")
    }
}
