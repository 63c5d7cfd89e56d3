/// Meters a Gemini body that is not an event stream: a plain response (`generateContent`, embeddings, an error),
/// or the JSON-array stream `streamGenerateContent` sends without `alt=sse` (`[{…},\n{…}]`, one response object
/// per chunk).
///
/// The array is split into its chunks as it passes (``JSONArraySplitter``), and each chunk is scanned as it
/// arrives: nothing is held but the members read from the chunk in progress. A chunk counts once it is whole.
///
/// - An array stream reaches its end at its closing `]` (or at an error chunk, after which Gemini sends nothing
///   more), and is complete at the `]` unless a chunk was an error.
/// - A body that is not an array is one response object, complete when its JSON is; an error body is complete too,
///   and noted.
///
/// Embedding responses name no model (no `modelVersion`): their served model is the one the path named, given as
/// `namedModel`, as for the other APIs whose responses name none. (The proxy would fall back to the requested model
/// all the same; saying it here keeps every successful reading's served model filled in.) An error body gets none.
struct GeminiJSONBodyReader: ResponseReader {
    private var splitter = JSONArraySplitter()
    /// The scanner of the chunk (or body) in progress.
    private var chunk: JSONFieldScanner?
    private var response = GeminiResponseReader()
    private var arrayClosed = false
    private let namedModel: String?

    /// Creates a meter at the start of a body; `namedModel` is the served model when a successful body names none.
    init(namedModel: String? = nil) {
        self.namedModel = namedModel
    }

    /// The elements of an array are stream chunks; any other document is one whole body.
    private var chunkKind: GeminiChunk.Kind { splitter.shape == .array ? .streamChunk : .body }

    /// Never rewrites.
    var rewrites: Bool { false }

    /// The array's `]`, an error chunk, or the end of a body's JSON.
    var reachedEnd: Bool {
        switch splitter.shape {
        case .array: return arrayClosed || response.failed
        case .value: return chunk?.isComplete ?? false
        case .unknown: return false
        }
    }

    /// Splits and scans the piece; the client gets it unchanged.
    mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]? {
        var index = 0
        while let event = splitter.next(in: piece, from: &index) {
            switch event {
            case .elementBytes(let range):
                if chunk == nil { chunk = JSONFieldScanner(paths: chunkKind.paths) }
                chunk?.feed(UnsafeRawBufferPointer(rebasing: piece[range]))
            case .elementEnd:
                endChunk()
            case .arrayEnd:
                arrayClosed = true
            case .malformed(let why):
                response.note("malformed JSON array stream: \(why)")
            }
        }
        return nil
    }

    /// Reads the chunk that just closed.
    private mutating func endChunk() {
        guard var scanner = chunk else { return }
        chunk = nil
        scanner.finish()
        guard scanner.isComplete, !scanner.isMalformed else {
            response.note("malformed stream chunk")
            return
        }
        response.read(GeminiChunk(scanner, kind: chunkKind))
    }

    /// Reads a body's one object, or says where an array stream stopped.
    mutating func finish() -> (reading: UsageReading, tail: [UInt8]?) {
        switch splitter.shape {
        case .unknown:
            var reading = response.reading
            reading.note = "response body is empty"
            return (reading, nil)
        case .value:
            var scanner = chunk ?? JSONFieldScanner(paths: chunkKind.paths)
            scanner.finish()
            // As for other plain bodies, what a cut body showed is kept; it is only not complete.
            response.read(GeminiChunk(scanner, kind: chunkKind))
            var reading = response.reading
            if reading.servedModel == nil, !response.failed { reading.servedModel = namedModel }
            reading.completed = scanner.isComplete && !scanner.isMalformed
            if !reading.completed { reading.note = reading.note ?? "response body is not complete JSON" }
            return (reading, nil)
        case .array:
            var reading = response.reading
            reading.completed = arrayClosed && !response.failed
            if !arrayClosed, reading.note == nil { reading.note = "stream ended before the array's closing ]" }
            return (reading, nil)
        }
    }
}
