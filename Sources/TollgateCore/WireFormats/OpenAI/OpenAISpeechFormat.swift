/// OpenAI text to speech (`/v1/audio/speech`): a JSON request, the audio itself as the answer, no usage anywhere in
/// it. The request's `input` is what is billed: its characters (Unicode scalars), priced per character
/// (`input_character`; tts-1 $15 and tts-1-hd $30 per million). gpt-4o-mini-tts is billed by OpenAI per token, which
/// the answer does not report: the built-in catalog prices its characters at OpenAI's published estimate
/// ($0.015 a minute, tts-1's rate), see docs/PROVIDERS.md.
public struct OpenAISpeechFormat: WireFormat {
    /// Always ``APIName/openAISpeech``.
    public var api: APIName { .openAISpeech }

    /// Creates the format.
    public init() {}

    private static let requestPaths = JSONFieldScanner.KeyPaths([["model"], ["input"], ["stream_format"]])

    /// Reads `model` (required) and counts the characters of `input`.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        let scanner = try OpenAIMediaRequest.scan(body, paths: Self.requestPaths)
        guard let model = try OpenAIMediaRequest.string(scanner, at: 0, field: "model") else {
            throw .invalidField("model", "a speech request must name its model")
        }
        let input = try OpenAIMediaRequest.string(scanner, at: 1, field: "input") ?? ""
        let streamFormat = try OpenAIMediaRequest.string(scanner, at: 2, field: "stream_format")
        var prepared = PreparedRequest(
            model: model, stream: streamFormat == "sse",
            rewrittenBody: options.upstreamModel.flatMap { OpenAIMediaRequest.replacingModel(scanner, in: body, with: $0) })
        prepared.media = MediaRequest(kind: .speech, inputCharacters: input.unicodeScalars.count)
        return prepared
    }

    /// An error answer (JSON) carries no usage; audio (or an SSE audio stream) is billed by the request's characters.
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        if let type = contentType?.lowercased(), type.hasPrefix("application/json") {
            return JSONBodyReader(layout: OpenAIChatFormat.plainLayout)
        }
        return RequestBilledBodyReader(usage: TokenUsage(inputCharacters: request.media?.inputCharacters ?? 0))
    }
}

/// Meters an answer whose body holds no usage (audio bytes): the usage was settled by the request, and the reading
/// is complete when the body ends.
struct RequestBilledBodyReader: ResponseReader {
    let usage: TokenUsage
    private var bytes = 0

    init(usage: TokenUsage) { self.usage = usage }

    var rewrites: Bool { false }
    var reachedEnd: Bool { false }

    mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]? {
        bytes += piece.count
        return nil
    }

    mutating func finish() -> (reading: UsageReading, tail: [UInt8]?) {
        (UsageReading(usage: usage, completed: true, note: bytes == 0 ? "empty answer" : nil), nil)
    }
}
