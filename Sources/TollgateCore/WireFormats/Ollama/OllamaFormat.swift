/// Ollama's native API, `POST /api/chat` and `POST /api/generate`: usage as top-level counts of the answer object
/// (`prompt_eval_count` in, `eval_count` out), and in streams on the last NDJSON line, the one with `done: true`.
///
/// Unlike OpenAI's, Ollama's `stream` defaults to true: a request that leaves it out (or sets it to null) gets an
/// `application/x-ndjson` stream, one JSON object per line; `"stream": false` gets one JSON object. Ollama always
/// reports its counts, so nothing is requested and nothing is rewritten.
public struct OllamaFormat: WireFormat {
    /// ``APIName/ollamaChat`` or ``APIName/ollamaGenerate``: both read the same way.
    public let api: APIName

    /// Creates the format for chat or generate.
    public init(api: APIName) { self.api = api }

    /// Reads the request (`model`, `stream`, `options.num_predict`); the body goes upstream unchanged unless a model
    /// alias applies.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        let request = try OpenAIRequest(body: body, layout: .ollama)
        // Only an explicit false turns streaming off; -1 (no limit) and -2 (fill the context) are not limits.
        let edit = options.upstreamModel.flatMap { request.modelReplacement($0) }
        return request.body.prepared(stream: request.body.stream ?? true, rewrittenBody: edit.map { JSONEdit.apply([$0], to: body) })
    }

    /// An NDJSON meter for `application/x-ndjson`, a whole-body meter for `application/json` (answers and errors);
    /// without a telling content type, the request's `stream` decides.
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        let type = contentType?.lowercased() ?? ""
        let streams = type.hasPrefix("application/x-ndjson") || type.hasPrefix("application/ndjson")
        if streams || (!type.hasPrefix("application/json") && request.stream) {
            return NDJSONBodyReader(reader: OllamaStreamReader(), framing: .lines)
        }
        return NDJSONBodyReader(reader: OllamaAnswerReader(), framing: .wholeBody)
    }
}

/// The members of an Ollama answer object (chat and generate alike) that metering reads, and their mapping.
enum OllamaAnswer {
    /// A top-level member of the answer object.
    enum Member: Int, CaseIterable {
        case model, done, error, totalDuration, loadDuration, promptEvalCount, promptEvalDuration, evalCount, evalDuration

        /// The member's key.
        var key: String {
            switch self {
            case .model: return "model"
            case .done: return "done"
            case .error: return "error"
            case .totalDuration: return "total_duration"
            case .loadDuration: return "load_duration"
            case .promptEvalCount: return "prompt_eval_count"
            case .promptEvalDuration: return "prompt_eval_duration"
            case .evalCount: return "eval_count"
            case .evalDuration: return "eval_duration"
            }
        }

        /// The members kept as the raw usage (Ollama has no usage object): the counts and the timings, in the order
        /// Ollama writes them.
        static let usage: [Member] = [.totalDuration, .loadDuration, .promptEvalCount, .promptEvalDuration, .evalCount, .evalDuration]
    }

    /// Every member's path, by ``Member`` raw value.
    static let paths = JSONFieldScanner.KeyPaths(Member.allCases.map { [$0.key] })

    /// Whether the object is Ollama's last one (`done: true`).
    static func isDone(_ answer: JSONFieldScanner) -> Bool {
        answer.value(at: Member.done.rawValue) == Array("true".utf8)
    }

    /// The object's `error` message, if it is an error object.
    static func error(_ answer: JSONFieldScanner) -> String? {
        guard let value = answer.value(at: Member.error.rawValue) else { return nil }
        return String((decodeJSONString(value) ?? String(decoding: value, as: UTF8.self)).prefix(200))
    }

    /// Fills the reading from one answer object: the served model from `model`, usage from the counts.
    ///
    /// `prompt_eval_count` is the input, `eval_count` the output (thinking included: Ollama counts every generated
    /// token there). Ollama leaves a count out when it has none (a prompt served whole from its cache has no
    /// `prompt_eval_count`): that class is unknown, read as 0 and noted; with neither count there is no usage. The
    /// raw usage is the object's counts and timings, values verbatim, on one line.
    static func read(_ answer: JSONFieldScanner, into reading: inout UsageReading) {
        if let model = answer.value(at: Member.model.rawValue).flatMap(decodeJSONString) { reading.servedModel = model }
        let input = answer.tokenCount(at: Member.promptEvalCount.rawValue)
        let output = answer.tokenCount(at: Member.evalCount.rawValue)
        guard input != nil || output != nil else { return }
        reading.usage = TokenUsage(inputTokens: input ?? 0, outputTokens: output ?? 0)
        let members = Member.usage.compactMap { member in
            answer.value(at: member.rawValue).map { "\"\(member.key)\":" + String(decoding: $0, as: UTF8.self) }
        }
        reading.rawUsage = "{" + members.joined(separator: ",") + "}"
        if input == nil { reading.note = "no prompt_eval_count: input tokens unknown" }
        if output == nil { reading.note = "no eval_count: output tokens unknown" }
    }
}

/// Reads a plain Ollama body: one answer object, or an error object (`{"error": "..."}`), which is complete and
/// carries no usage.
struct OllamaAnswerReader: JSONDocumentReader {
    /// The answer object's members metering reads.
    static var paths: JSONFieldScanner.KeyPaths { OllamaAnswer.paths }

    private(set) var reading = UsageReading()
    private(set) var reachedEnd = false

    mutating func read(_ document: JSONFieldScanner?) {
        guard let document else {
            reading.note = "response body is not complete JSON"
            return
        }
        reachedEnd = true
        reading.completed = true
        OllamaAnswer.read(document, into: &reading)
    }
}

/// Reads an Ollama NDJSON stream: the served model from every line, usage from the last (`done: true`), which ends
/// the stream. Every earlier line is a piece of the answer (a content event). A line that is not JSON is noted and
/// skipped; an `error` line (Ollama's way of failing mid-stream) ends the inference uncompleted.
struct OllamaStreamReader: JSONDocumentReader {
    /// Every line's members metering reads (each line is an answer object).
    static var paths: JSONFieldScanner.KeyPaths { OllamaAnswer.paths }

    private var seen = UsageReading()
    private var failed = false
    private(set) var reachedEnd = false

    /// What was read; a stream that has not (yet) reached its `done` line says so.
    var reading: UsageReading {
        var reading = seen
        if !reachedEnd, reading.note == nil { reading.note = "stream ended before the done object" }
        return reading
    }

    mutating func read(_ document: JSONFieldScanner?) {
        guard let line = document else {
            seen.note = "malformed stream line"
            return
        }
        if let message = OllamaAnswer.error(line) {
            reachedEnd = true
            failed = true
            seen.completed = false
            seen.note = "stream error: \(message)"
            return
        }
        OllamaAnswer.read(line, into: &seen)
        if OllamaAnswer.isDone(line) {
            reachedEnd = true
            seen.completed = !failed
        } else {
            seen.contentEvents += 1
        }
    }
}

extension RequestLayout {
    /// Ollama bodies: `options.num_predict`; images are base64 strings in a message's `images` list, bounded like
    /// OpenAI's. Keys are matched without regard to case, as Go's `encoding/json` does.
    static let ollama: RequestLayout = {
        var layout = RequestLayout(outputLimits: [["options", "num_predict"]], imageKeys: ["images"], imageTokens: { _ in 3_779 })
        layout.caseInsensitiveKeys = true
        return layout
    }()
}
