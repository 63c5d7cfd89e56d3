/// Reads usage out of the JSON documents of one API's responses: each line of an NDJSON stream, or a whole body.
///
/// The reader never sees bytes: the meter scans each document for the reader's ``paths`` as it arrives and hands
/// over the scan, so a document of any length costs only the captured values.
public protocol JSONDocumentReader: Sendable {
    /// The key paths whose values the reader needs from every document.
    static var paths: JSONFieldScanner.KeyPaths { get }
    /// Interprets one document: its scan, or `nil` when it is not one whole, well-formed JSON value.
    mutating func read(_ document: JSONFieldScanner?)
    /// What has been read so far.
    var reading: UsageReading { get }
    /// Whether the response's terminal document has been seen.
    var reachedEnd: Bool { get }
}

/// Meters a body made of JSON documents with an API's ``JSONDocumentReader``: newline-delimited JSON
/// (`application/x-ndjson`, Ollama's streams) or one whole JSON body, framed here once.
///
/// NDJSON lines are split at LF (a CR before it is whitespace to the scanner) at any byte of any piece; blank lines
/// are skipped; a last line without its newline is read at the finish. Each line is fed to a fresh field scanner as
/// its bytes arrive, never held, so memory stays bounded whatever the length of a line. The client always gets the
/// bytes unchanged.
public struct NDJSONBodyReader<Reader: JSONDocumentReader>: ResponseReader {
    /// How the body divides into documents.
    public enum Framing: Sendable, Equatable {
        /// One document per line (NDJSON).
        case lines
        /// The whole body is one document (a plain JSON answer); line ends are whitespace inside it.
        case wholeBody
    }

    private let framing: Framing
    private var reader: Reader
    private var scanner = JSONFieldScanner(paths: Reader.paths)
    /// Whether the current document has a byte other than whitespace (a line of only whitespace is no document).
    private var documentStarted = false

    /// Creates a meter that hands the documents of the body, framed as `framing` says, to `reader`.
    public init(reader: Reader, framing: Framing) {
        self.reader = reader
        self.framing = framing
    }

    /// Never rewrites.
    public var rewrites: Bool { false }

    /// Whether the terminal document has been seen; a whole body ends with its top-level value.
    public var reachedEnd: Bool { reader.reachedEnd || (framing == .wholeBody && scanner.isComplete) }

    /// Scans the piece, handing every line it completes to the reader; the client gets the piece unchanged.
    public mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]? {
        guard framing == .lines else {
            scan(piece)
            return nil
        }
        var start = 0
        while start < piece.count {
            var end = start
            while end < piece.count, piece[end] != 0x0A { end += 1 }
            scan(UnsafeRawBufferPointer(rebasing: piece[start..<end]))
            guard end < piece.count else { break }
            endDocument()
            start = end + 1
        }
        return nil
    }

    /// Ends the body: a last line without its newline, or the whole body, is read now.
    public mutating func finish() -> (reading: UsageReading, tail: [UInt8]?) {
        endDocument()
        return (reader.reading, nil)
    }

    private mutating func scan(_ bytes: UnsafeRawBufferPointer) {
        if !documentStarted { documentStarted = bytes.contains { !JSONEdit.isWhitespace($0) } }
        scanner.feed(bytes)
    }

    /// Hands the current document to the reader (an empty body counts as a broken whole body, a blank line as
    /// nothing) and starts the next one.
    private mutating func endDocument() {
        defer {
            scanner = JSONFieldScanner(paths: Reader.paths)
            documentStarted = false
        }
        guard documentStarted || framing == .wholeBody else { return }
        scanner.finish()
        reader.read(scanner.isComplete && !scanner.isMalformed ? scanner : nil)
    }
}
