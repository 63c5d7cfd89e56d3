/// OpenAI speech to text: transcriptions and translations (`/v1/audio/transcriptions`, `/v1/audio/translations`), a
/// `multipart/form-data` request with the audio file.
///
/// Usage, by what the answer reports:
/// - `usage: {type: "tokens", input_tokens, output_tokens, input_token_details: {audio_tokens, text_tokens}}`
///   (gpt-4o-transcribe, gpt-4o-mini-transcribe): tokens, audio input at its own rate;
/// - `usage: {type: "duration", seconds: N}` (whisper-1), or a `verbose_json` answer's `duration`: seconds of audio,
///   priced per second (a fraction of a second counts as a whole one);
/// - nothing (`response_format` text, srt or vtt; a JSON answer without usage): an estimate, marked `estimated`: the
///   audio file's bytes at ``MediaRequest/typicalAudioBytesPerSecond`` seconds, priced per second (the catalog gives
///   the token models a per-second rate too: OpenAI's published per-minute estimate).
public struct OpenAITranscriptionFormat: WireFormat {
    /// ``APIName/openAITranscriptions`` or ``APIName/openAITranslations``.
    public let api: APIName

    /// Creates the format for transcriptions or translations.
    public init(api: APIName) { self.api = api }

    /// Reads `model` (required: a body without one is refused) and the size of the audio file.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        let form = try MultipartForm(body: body, contentType: options.contentType)
        guard let model = form.text("model"), !model.isEmpty else { throw .invalidForm("the 'model' field is missing or cannot be read") }
        var prepared = PreparedRequest(
            model: model, stream: form.text("stream") == "true", rewrittenBody: options.upstreamModel.flatMap { form.replacing("model", with: $0) })
        prepared.media = MediaRequest(kind: .transcription, fileBytes: form.fileBytes)
        return prepared
    }

    /// JSON answers (usage, duration), SSE streams (`transcript.text.done` carries usage), anything else estimated.
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        let estimate = TokenUsage(audioSeconds: MediaRequest.audioSecondsEstimate(bytes: request.media?.fileBytes ?? 0))
        if isEventStream(contentType) { return SSEBodyReader(reader: TranscriptionStreamReader(estimate: estimate), rewrites: false) }
        if let type = contentType?.lowercased(), type.hasPrefix("application/json") {
            return JSONBodyReader(layout: Self.layout(estimate: estimate))
        }
        return EstimatedBodyReader(
            estimate: estimate, note: "a \(contentType ?? "untyped") transcription reports no usage; estimated from the audio's size")
    }

    static func layout(estimate: TokenUsage) -> JSONBodyReader.Layout {
        // `duration` of verbose_json stands in the tier's slot: the layout has three.
        JSONBodyReader.Layout(model: ["error"], usage: ["usage"], serviceTier: ["duration"]) { error, usage, duration, reading in
            read(usage: usage, duration: duration, into: &reading)
            if reading.usage == nil, error == nil, reading.completed {
                reading.usage = estimate
                reading.estimated = true
                reading.note = "the transcription reports no usage; estimated from the audio's size"
            }
        }
    }

    private static let usagePaths = JSONFieldScanner.KeyPaths([
        ["type"], ["input_tokens"], ["output_tokens"], ["input_token_details", "audio_tokens"], ["seconds"],
    ])

    /// Fills a reading from a captured `usage` object (and a verbose answer's `duration`).
    static func read(usage: [UInt8]?, duration: [UInt8]?, into reading: inout UsageReading) {
        if let usage, usage.first == UInt8(ascii: "{"), let scanner = JSONFieldScanner.scanWhole(usage, paths: usagePaths) {
            reading.rawUsage = String(decoding: JSONEdit.compacted(usage), as: UTF8.self)
            if let input = scanner.tokenCount(at: 1), let output = scanner.tokenCount(at: 2) {
                reading.usage = TokenUsage(inputTokens: input, outputTokens: output, inputAudioTokens: min(input, scanner.tokenCount(at: 3) ?? 0))
                return
            }
            if let seconds = scanner.value(at: 4).flatMap(wholeSeconds) {
                reading.usage = TokenUsage(audioSeconds: seconds)
                return
            }
            reading.note = "usage object without token counts or seconds"
        }
        if let seconds = duration.flatMap(wholeSeconds) { reading.usage = TokenUsage(audioSeconds: seconds) }
    }

    /// A non-negative JSON number of seconds, a fraction rounded up (`8.47` → 9); `nil` for anything else.
    static func wholeSeconds(_ raw: [UInt8]) -> Int? {
        let text = String(decoding: raw, as: UTF8.self)
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts[0].count <= 9, !parts[0].isEmpty, parts[0].allSatisfy(\.isASCIIDigit),
            let whole = Int(parts[0])
        else { return nil }
        guard parts.count == 2 else { return whole }
        guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCIIDigit) else { return nil }
        return parts[1].contains(where: { $0 != "0" }) ? whole + 1 : whole
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// Reads a transcription stream: usage on `transcript.text.done`.
struct TranscriptionStreamReader: SSEUsageReader {
    private static let paths = JSONFieldScanner.KeyPaths([["type"], ["usage"]])
    let estimate: TokenUsage

    private(set) var reading = UsageReading()
    private(set) var reachedEnd = false

    init(estimate: TokenUsage) { self.estimate = estimate }

    mutating func read(_ event: SSEEvent, rewriting: Bool) -> SSEAction {
        guard event.hasData else { return .keep }
        guard let (scanner, type) = event.scanned(for: Self.paths, noting: &reading) else { return .keep }
        reading.contentEvents += 1
        if type == "transcript.text.done" {
            OpenAITranscriptionFormat.read(usage: scanner.value(at: 1), duration: nil, into: &reading)
            if reading.usage == nil {
                reading.usage = estimate
                reading.estimated = true
            }
            reachedEnd = true
            reading.completed = true
        }
        return .keep
    }
}

/// Meters an answer that carries no usage and no end marker (a text, srt or vtt transcription): the format's estimate,
/// marked estimated, once the body has ended.
struct EstimatedBodyReader: ResponseReader {
    let estimate: TokenUsage
    let note: String

    var rewrites: Bool { false }
    var reachedEnd: Bool { false }

    mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]? { nil }

    mutating func finish() -> (reading: UsageReading, tail: [UInt8]?) {
        var reading = UsageReading(usage: estimate, completed: true, note: note)
        reading.estimated = true
        return (reading, nil)
    }
}
