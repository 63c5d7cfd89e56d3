/// One server-sent event as it crossed the wire.
public struct SSEEvent: Sendable, Equatable {
    /// The `event:` field, if any.
    public var name: String?
    /// The `data:` lines joined with newlines (without the field name and its one optional space).
    public var data: [UInt8]
    /// Whether at least one `data:` line was present.
    public var hasData: Bool
    /// Every byte of the event block, terminating blank line included: what a rewrite replaces.
    public var raw: [UInt8]
    /// Whether the event grew past the framer's bound (``SSEFramer/maxEventBytes``): its bytes were handed on as they
    /// came (`onOversized`) and not kept, so it has no name, data nor raw bytes.
    public var oversized = false
}

/// Splits a byte stream into server-sent events, incrementally: a stream split at any byte yields the same events.
///
/// Follows the WHATWG framing: lines end in CRLF, LF or CR (a CRLF split across two pieces counts once), an event
/// ends at a blank line, lines starting with `:` are comments (kept in ``SSEEvent/raw``, never in the data).
///
/// An event is kept whole only up to ``maxEventBytes``: past that the framer stops buffering it, hands its bytes on
/// as they arrive (`onOversized`, in stream order with the events) and delivers an ``SSEEvent/oversized`` event at
/// its end, so that memory stays bounded whatever a server sends.
public struct SSEFramer: Sendable {
    /// The most bytes of one event kept in memory (``MeterBounds/maxEventBytes`` unless set).
    public var maxEventBytes: Int
    private var oversized = false
    private var lineHasBytes = false
    private var line: [UInt8] = []
    private var raw: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var name: String?
    private var lastWasCR = false
    /// Offset, in the piece being fed, just past the line being ended (0 at ``finish(onEvent:)``).
    private var lineEnd = 0

    /// Creates a framer at the start of a stream.
    public init(maxEventBytes: Int = MeterBounds.maxEventBytes) { self.maxEventBytes = maxEventBytes }

    /// Bytes of an event that has begun but not ended yet.
    public var pendingRaw: [UInt8] { raw }

    /// Feeds the next piece of the stream; `onEvent` is called for each event the piece completes.
    public mutating func feed(
        _ buffer: UnsafeRawBufferPointer, onEvent: (SSEEvent) -> Void, onOversized: (UnsafeRawBufferPointer) -> Void = { _ in }
    ) {
        feed(buffer, onEventEnding: { event, _ in onEvent(event) }, onOversized: onOversized)
    }

    /// The same, `onEventEnding` also told where in `buffer` the event ends: its first byte is at that offset less
    /// its ``SSEEvent/raw`` count (before the piece when that is negative: the event began in an earlier piece).
    public mutating func feed(
        _ buffer: UnsafeRawBufferPointer, onEventEnding onEvent: (SSEEvent, _ end: Int) -> Void,
        onOversized: (UnsafeRawBufferPointer) -> Void = { _ in }
    ) {
        defer { lineEnd = 0 }
        // Lines are found with a tight scan and copied in runs, not byte by byte.
        let count = buffer.count
        var segmentStart = 0
        var index = 0
        while index < count {
            if lastWasCR {
                lastWasCR = false
                if buffer[index] == 0x0A {
                    index += 1
                    continue
                }
            }
            var end = index
            while end < count, buffer[end] != 0x0A, buffer[end] != 0x0D { end += 1 }
            if oversized {
                lineHasBytes = lineHasBytes || end > index
            } else {
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index..<end]))
            }
            guard end < count else { break }
            lastWasCR = buffer[end] == 0x0D
            index = end + 1
            let segment = UnsafeRawBufferPointer(rebasing: buffer[segmentStart..<index])
            segmentStart = index
            lineEnd = index
            if oversized {
                onOversized(segment)
                endOversizedLine(onEvent: onEvent)
            } else {
                raw.append(contentsOf: segment)
                endLine(onEvent: onEvent)
                if raw.count > maxEventBytes { overflow(onOversized) }
            }
        }
        let rest = UnsafeRawBufferPointer(rebasing: buffer[segmentStart..<count])
        if oversized {
            if !rest.isEmpty { onOversized(rest) }
        } else {
            raw.append(contentsOf: rest)
            if raw.count > maxEventBytes { overflow(onOversized) }
        }
    }

    /// The event in progress outgrew the bound: what was kept of it goes on, and the rest of it will not be kept.
    private mutating func overflow(_ onOversized: (UnsafeRawBufferPointer) -> Void) {
        raw.withUnsafeBytes { onOversized($0) }
        lineHasBytes = !line.isEmpty
        oversized = true
        line = []
        raw = []
        data = []
        hasData = false
        name = nil
    }

    private mutating func endOversizedLine(onEvent: (SSEEvent, Int) -> Void) {
        defer { lineHasBytes = false }
        guard !lineHasBytes else { return }
        oversized = false
        onEvent(SSEEvent(name: nil, data: [], hasData: false, raw: [], oversized: true), lineEnd)
    }

    /// Feeds bytes from an array.
    public mutating func feed(_ bytes: [UInt8], onEvent: (SSEEvent) -> Void) {
        bytes.withUnsafeBytes { feed($0, onEvent: onEvent) }
    }

    /// Ends the stream: an event whose blank line never came is delivered all the same, since a metering
    /// reader must not lose a final `data:` line that a server wrote without the closing blank line.
    public mutating func finish(onEvent: (SSEEvent) -> Void) {
        if oversized {
            oversized = false
            lineHasBytes = false
            onEvent(SSEEvent(name: nil, data: [], hasData: false, raw: [], oversized: true))
            return
        }
        let deliver = { (event: SSEEvent, _: Int) in onEvent(event) }
        if !line.isEmpty { endLine(onEvent: deliver) }
        if !raw.isEmpty { dispatch(onEvent: deliver) }
    }

    private mutating func endLine(onEvent: (SSEEvent, Int) -> Void) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            if hasData || name != nil || !raw.isEmpty { dispatch(onEvent: onEvent) }
            return
        }
        if line.first == UInt8(ascii: ":") { return }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        let field = line[..<colon]
        var value = colon < line.endIndex ? line[(colon + 1)...] : []
        if value.first == 0x20 { value = value.dropFirst() }
        if field.elementsEqual("data".utf8) {
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        } else if field.elementsEqual("event".utf8) {
            name = String(decoding: value, as: UTF8.self)
        }
    }

    private mutating func dispatch(onEvent: (SSEEvent, Int) -> Void) {
        onEvent(SSEEvent(name: name, data: data, hasData: hasData, raw: raw), lineEnd)
        raw.removeAll(keepingCapacity: true)
        data.removeAll(keepingCapacity: true)
        hasData = false
        name = nil
    }
}
