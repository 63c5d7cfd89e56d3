/// What metering reads from one Gemini response object: a plain `generateContent` or embedding body, one element
/// of the JSON-array stream, or the data of one `alt=sse` event (each a whole `GenerateContentResponse`).
struct GeminiChunk: Sendable {
    /// The members read, by key path from the top of the object.
    enum Member: Int, CaseIterable {
        case modelVersion, usageMetadata, error, candidates, blockReason

        var path: [String] {
            switch self {
            case .modelVersion: return ["modelVersion"]
            case .usageMetadata: return ["usageMetadata"]
            case .error: return ["error"]
            case .candidates: return ["candidates"]
            case .blockReason: return ["promptFeedback", "blockReason"]
            }
        }
    }

    /// What a response object is, which decides the members read.
    enum Kind: Sendable {
        /// A whole response body. Its candidates are not read: a long answer or a generated image would be held
        /// for nothing, since a body's end is the end of its JSON.
        case body
        /// One chunk of a stream. Its candidates are read too (held while the chunk passes, as an SSE event is), and
        /// the prompt's block reason: they say whether the chunk carries content and whether it ends the answer.
        case streamChunk

        /// The key paths a scanner of this kind of object captures.
        var paths: JSONFieldScanner.KeyPaths {
            switch self {
            case .body: return GeminiChunk.bodyPaths
            case .streamChunk: return GeminiChunk.chunkPaths
            }
        }
    }

    // A body's paths are the first members' in the same order, so that a member's raw value indexes both sets.
    private static let bodyPaths = JSONFieldScanner.KeyPaths([Member.modelVersion, .usageMetadata, .error].map(\.path))
    private static let chunkPaths = JSONFieldScanner.KeyPaths(Member.allCases.map(\.path))
    private static let candidatePaths = JSONFieldScanner.KeyPaths([["finishReason"], ["content", "parts"], ["index"]])
    /// Candidate indexes beyond this are not tracked (Gemini allows at most 8 candidates): hostile input cannot grow
    /// the reader's state.
    static let maxTrackedCandidates = 64
    private static let errorPaths = JSONFieldScanner.KeyPaths([["code"], ["status"], ["message"]])

    /// What the object is.
    let kind: Kind
    /// The model that served the response (`modelVersion`).
    var modelVersion: String?
    /// The `usageMetadata` value's JSON text, `null` included.
    var usage: [UInt8]?
    /// The `error` object in a few words (`429 RESOURCE_EXHAUSTED: Quota exceeded`), when the object is an error.
    var error: String?
    /// Whether a candidate carries content parts (text, thoughts, a function call, an image).
    var carriesContent = false
    /// Whether the prompt was blocked (`promptFeedback.blockReason`): the answer ends with no candidate.
    var blocked = false
    /// The candidates the chunk carries (their `index`, 0 when absent).
    var candidates: Set<Int> = []
    /// The candidates the chunk finishes (those with a `finishReason`).
    var finishedCandidates: Set<Int> = []

    /// Reads the members a scanner over `kind.paths` captured.
    init(_ scanner: JSONFieldScanner, kind: Kind) {
        self.kind = kind
        modelVersion = scanner.value(at: Member.modelVersion.rawValue).flatMap(decodeJSONString)
        usage = scanner.value(at: Member.usageMetadata.rawValue)
        if let error = scanner.value(at: Member.error.rawValue), error.first == UInt8(ascii: "{") {
            self.error = Self.summary(ofError: error)
        }
        guard case .streamChunk = kind else { return }
        if let reason = scanner.value(at: Member.blockReason.rawValue).flatMap(decodeJSONString), !reason.isEmpty {
            blocked = true
        }
        guard let entries = scanner.value(at: Member.candidates.rawValue).flatMap(JSONArraySplitter.elements(of:)) else { return }
        for candidate in entries {
            guard let fields = JSONFieldScanner.scanWhole(Array(candidate), paths: Self.candidatePaths) else { continue }
            let index = GeminiUsage.wholeNumber(fields.value(at: 2)) ?? 0
            guard index < Self.maxTrackedCandidates else { continue }
            candidates.insert(index)
            if let reason = fields.value(at: 0).flatMap(decodeJSONString), !reason.isEmpty { finishedCandidates.insert(index) }
            if let parts = fields.value(at: 1), Self.isNonEmptyArray(parts) { carriesContent = true }
        }
    }

    /// `code status: message` of a Gemini error object, the message cut to 200 characters.
    private static func summary(ofError object: [UInt8]) -> String {
        var scanner = JSONFieldScanner(paths: errorPaths)
        scanner.feed(object)
        scanner.finish()
        let code = GeminiUsage.wholeNumber(scanner.value(at: 0)).map(String.init)
        let status = scanner.value(at: 1).flatMap(decodeJSONString)
        let heading = [code, status].compactMap { $0 }.joined(separator: " ")
        let message = scanner.value(at: 2).flatMap(decodeJSONString).map { String($0.prefix(200)) }
        switch (heading.isEmpty, message) {
        case (true, nil): return "unknown error"
        case (true, let message?): return message
        case (false, nil): return heading
        case (false, let message?): return "\(heading): \(message)"
        }
    }

    /// Whether JSON text is an array with at least one element.
    private static func isNonEmptyArray(_ value: [UInt8]) -> Bool {
        guard value.first == UInt8(ascii: "[") else { return false }
        return value.dropFirst().first { !JSONEdit.isWhitespace($0) } != UInt8(ascii: "]")
    }
}

/// Reads a Gemini response chunk by chunk (one chunk for a plain body) into a ``UsageReading``.
///
/// The served model is the last `modelVersion`; the usage is the last `usageMetadata` that carries counts (stream
/// chunks carry running totals: a later object replaces an earlier one, never adds to it, and a chunk without one
/// changes nothing). An error object ends the answer and is noted.
struct GeminiResponseReader: Sendable {
    /// What has been read.
    private(set) var reading = UsageReading()
    /// Whether the answer is over: every candidate seen has its `finishReason` (with `candidateCount: 2` one may
    /// finish while the other still streams), or the prompt was blocked.
    var answerEnded: Bool { blocked || (!candidates.isEmpty && finished.isSuperset(of: candidates)) }
    /// Candidates seen, and those finished.
    private var candidates: Set<Int> = []
    private var finished: Set<Int> = []
    /// Whether the prompt was blocked.
    private var blocked = false
    /// Whether an error object was read.
    private(set) var failed = false

    /// Creates a reader at the start of a response.
    init() {}

    /// Takes one chunk (or the whole body).
    mutating func read(_ chunk: GeminiChunk) {
        let inStream = chunk.kind == .streamChunk
        if let model = chunk.modelVersion { reading.servedModel = model }
        GeminiUsage.read(usage: chunk.usage, into: &reading)
        if inStream, chunk.carriesContent { reading.contentEvents += 1 }
        candidates.formUnion(chunk.candidates)
        finished.formUnion(chunk.finishedCandidates)
        if chunk.blocked { blocked = true }
        if let error = chunk.error {
            failed = true
            reading.note = inStream ? "stream error: \(error)" : "error response: \(error)"
        }
    }

    /// Records something an operator should see on the event.
    mutating func note(_ text: String) {
        reading.note = text
    }
}
