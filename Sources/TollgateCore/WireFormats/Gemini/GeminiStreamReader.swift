/// Reads a Gemini `alt=sse` stream: every event's data is a whole `GenerateContentResponse` chunk, and no terminator
/// follows the last one.
///
/// The stream's end is therefore read from its chunks: it has reached its end when a chunk ended the answer (a
/// candidate's `finishReason`, or a blocked prompt's `promptFeedback.blockReason`; Gemini sends that chunk last, with
/// the final usage) or was an error. It is complete when it reached its end without an error and its last event
/// was whole: a body cut inside an event after the finishing chunk is not complete.
struct GeminiStreamReader: SSEUsageReader {
    private var response = GeminiResponseReader()
    private var lastChunkWhole = true

    /// Creates a reader at the start of a stream.
    init() {}

    /// A chunk that ended the answer, or an error chunk.
    var reachedEnd: Bool { response.answerEnded || response.failed }

    /// What was read; a stream that has not (yet) reached its end says so.
    var reading: UsageReading {
        var reading = response.reading
        reading.completed = response.answerEnded && !response.failed && lastChunkWhole
        if !reading.completed, reading.note == nil { reading.note = "stream ended without a finishReason" }
        return reading
    }

    /// Reads one event's chunk; the event goes to the client unchanged.
    mutating func read(_ event: SSEEvent, rewriting: Bool) -> SSEAction {
        guard event.hasData else { return .keep }
        guard let scanner = JSONFieldScanner.scanWhole(event.data, paths: GeminiChunk.Kind.streamChunk.paths) else {
            lastChunkWhole = false
            response.note("malformed stream chunk")
            return .keep
        }
        lastChunkWhole = true
        response.read(GeminiChunk(scanner, kind: .streamChunk))
        return .keep
    }
}
