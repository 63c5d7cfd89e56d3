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

    /// Reads the request (``RequestLayout/gemini``): the model from the path, a stream exactly for
    /// `streamGenerateContent`, the output limit and candidate count from `generationConfig`. Throws when the body is
    /// not one JSON object.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        let request = try RequestBody(body, layout: .gemini)
        return request.prepared(stream: api == .geminiStreamGenerateContent, model: Self.model(inPath: options.path))
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

extension RequestLayout {
    /// Gemini bodies: `generationConfig.maxOutputTokens` and `candidateCount` (Gemini also accepts the snake_case
    /// spellings, and the largest of any spelling is taken; integers may be quoted, as protobuf's JSON mapping
    /// allows), `cachedContent` (stored context).
    ///
    /// Images: Gemini counts 258 tokens per 768×768 tile (an image of up to 3,072×3,072 px is 16 tiles, 4,128
    /// tokens), and Gemini 3 at most 1,120 per image at high media resolution; 4,128 bounds both.
    static let gemini: RequestLayout = {
        let configs = ["generationConfig", "generation_config"]
        var layout = RequestLayout(
            model: nil, stream: nil,
            outputLimits: configs.flatMap { [[$0, "maxOutputTokens"], [$0, "max_output_tokens"]] },
            choiceCounts: configs.flatMap { [[$0, "candidateCount"], [$0, "candidate_count"]] },
            references: [["cachedContent"], ["cached_content"]], imageTokens: { _ in 4_128 })
        layout.quotedIntegers = true
        return layout
    }()
}
