/// Google Gemini's native API: `models/{model}:generateContent`, `:streamGenerateContent`, `:embedContent` and
/// `:batchEmbedContents` (under `/v1beta/` or `/v1/`; tuned models under `tunedModels/{model}`).
///
/// The model is named in the path, not in the body, and Gemini always reports usage (`usageMetadata`), so nothing
/// is added to a request: the body goes upstream as the client sent it. A model alias (``RequestOptions/upstreamModel``)
/// cannot apply, since changing the model would mean changing the path; it is ignored here. `countTokens` is not an
/// inference and never reaches a meter.
///
/// Responses: plain bodies and the JSON-array stream (`streamGenerateContent` without `alt=sse`) are read by
/// ``GeminiJSONBodyReader``, `alt=sse` streams by ``GeminiStreamReader``; usage is mapped by ``GeminiUsage``.
public struct GeminiFormat: WireFormat {
    /// Which of the four APIs.
    public let api: APIName

    /// Creates the format for one of the Gemini APIs.
    public init(api: APIName) { self.api = api }

    private static let requestPaths = JSONFieldScanner.KeyPaths([
        ["generationConfig", "maxOutputTokens"], ["generation_config", "max_output_tokens"],
        ["generationConfig", "max_output_tokens"], ["generation_config", "maxOutputTokens"],
    ])

    /// Reads the request: the model from the path, a stream exactly for `streamGenerateContent`, the output limit
    /// from `generationConfig.maxOutputTokens` (Gemini also accepts the snake_case spellings). Throws when the body
    /// is not one JSON object.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        guard let start = body.firstIndex(where: { !JSONEdit.isWhitespace($0) }) else { throw .invalidJSON("the body is empty") }
        guard body[start] == UInt8(ascii: "{") else { throw .invalidJSON("expected a JSON object") }
        guard let scanner = JSONFieldScanner.scanWhole(body, paths: Self.requestPaths) else {
            throw .invalidJSON("the object is not well-formed or is cut short")
        }
        let limit = (0..<4).lazy.compactMap { GeminiUsage.wholeNumber(scanner.value(at: $0)) }.first
        return PreparedRequest(model: Self.model(inPath: options.path), stream: api == .geminiStreamGenerateContent, maxOutputTokens: limit)
    }

    /// An SSE reader for `alt=sse` streams, the JSON meter for everything else (the array stream, plain bodies,
    /// errors). Embedding responses name no model: the path's stands for it.
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        if isEventStream(contentType) { return SSEBodyReader(reader: GeminiStreamReader(), rewrites: false) }
        let embeds = api == .geminiEmbedContent || api == .geminiBatchEmbedContents
        return GeminiJSONBodyReader(namedModel: embeds ? request.model : nil)
    }

    /// The model a Gemini path names, percent-decoded: `gemini-2.5-flash` for
    /// `/v1beta/models/gemini-2.5-flash:streamGenerateContent`, `my-model-x1` for `/v1beta/tunedModels/my-model-x1:generateContent`.
    /// The path's last segment is `{model}:{method}` under a `models` or `tunedModels` segment; `nil` for other paths.
    public static func model(inPath path: String) -> String? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count >= 2, segments[segments.count - 2] == "models" || segments[segments.count - 2] == "tunedModels",
            let last = segments.last
        else { return nil }
        // The method's colon may itself be escaped (`%3A`): decode first, then split at the last colon.
        let decoded = PercentDecoding.decoded(last)
        let model = decoded.lastIndex(of: ":").map { decoded[..<$0] } ?? decoded[...]
        return model.isEmpty ? nil : String(model)
    }
}
