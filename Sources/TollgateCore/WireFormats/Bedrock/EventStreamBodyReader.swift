/// Reads usage out of the `event` messages of one API's event stream.
protocol EventStreamUsageReader: Sendable {
    /// Interprets one message whose `:message-type` is `event`.
    mutating func read(event: EventStreamMessage)
    /// What has been read so far.
    var reading: UsageReading { get }
    /// Whether the stream's terminal event has been seen.
    var reachedEnd: Bool { get }
}

/// Meters an `application/vnd.amazon.eventstream` body with an API's ``EventStreamUsageReader``; the binary framing
/// and the stream's failures live here, once.
///
/// The client always gets the bytes as they came. Events go to the reader; an `exception` or `error` message ends
/// the inference without completing it, noted with its type and message. A fault in the framing (a bad checksum,
/// an implausible length, a truncated frame) stops decoding: the usage read from the frames before it is kept and
/// the fault becomes the reading's note.
struct EventStreamBodyReader<Reader: EventStreamUsageReader>: ResponseReader {
    private var decoder = EventStreamDecoder()
    private var reader: Reader
    /// The note of an `exception` or `error` message, once one has arrived.
    private var streamFailure: String?
    /// The note of a message of an unknown type (skipped; the stream goes on).
    private var unknownMessage: String?

    /// Creates a meter around a reader.
    init(reader: Reader) {
        self.reader = reader
    }

    /// Never rewrites: the client gets the provider's frames byte for byte.
    var rewrites: Bool { false }

    /// Whether the terminal event, or an exception that ends the stream, has been seen.
    var reachedEnd: Bool { reader.reachedEnd || streamFailure != nil }

    /// Decodes the frames the piece completes.
    mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]? {
        guard decoder.failure == nil else { return nil }
        // The decoder calls back into the reader: take it out of `self` for the call (no copy).
        var decoder = EventStreamDecoder()
        swap(&decoder, &self.decoder)
        defer { swap(&decoder, &self.decoder) }
        try? decoder.feed(piece) { read($0) }
        return nil
    }

    /// Ends the body: a frame left incomplete is a truncated frame.
    mutating func finish() -> (reading: UsageReading, tail: [UInt8]?) {
        try? decoder.finish()
        var reading = reader.reading
        if let streamFailure {
            reading.completed = false
            reading.note = streamFailure
        } else if reading.note == nil {
            reading.note = unknownMessage
        }
        if let fault = decoder.failure {
            // A fault after the terminal event leaves a complete inference complete; the note says what followed.
            if !reachedEnd { reading.completed = false }
            reading.note = [fault.description, reading.note].compactMap { $0 }.joined(separator: "; ")
        }
        return (reading, nil)
    }

    private mutating func read(_ message: EventStreamMessage) {
        switch message.messageType {
        case "event":
            if streamFailure == nil { reader.read(event: message) }
        case "exception", "error":
            streamFailure = streamFailure ?? message.failureNote
        default:
            unknownMessage = "event stream message of unknown type '\(message.messageType ?? "none")' skipped"
        }
    }
}

extension EventStreamMessage {
    private static let messagePaths = JSONFieldScanner.KeyPaths([["message"]])

    /// The note of an exception (`:exception-type` and the payload's `message`) or an error (`:error-code` and
    /// `:error-message`, the generic AWS event-stream error).
    var failureNote: String {
        let type = exceptionType ?? stringHeader(":error-code") ?? "unknown"
        let text =
            stringHeader(":error-message")
            ?? JSONFieldScanner.scanWhole(payload, paths: Self.messagePaths)?.value(at: 0).flatMap(decodeJSONString)
        return "stream \(messageType ?? "exception"): \(type)" + (text.map { ": \($0.prefix(200))" } ?? "")
    }
}
