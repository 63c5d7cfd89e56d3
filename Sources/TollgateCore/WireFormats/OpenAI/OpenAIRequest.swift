/// Reads and minimally rewrites the JSON body of an OpenAI-style request.
///
/// Only the members metering needs are looked at (``RequestLayout/openAI``); the rest of the body is forwarded
/// byte for byte.
struct OpenAIRequest {
    let body: RequestBody

    var model: String? { body.model }
    var stream: Bool { body.stream ?? false }

    /// Reads `body` by `layout`; throws when it is not one JSON object, repeats a metered member or gives one the
    /// wrong type.
    init(body: [UInt8], layout: RequestLayout = .openAI) throws(RequestError) {
        self.body = try RequestBody(body, layout: layout)
    }

    /// The edit that sends `model` upstream in place of the requested model.
    func modelReplacement(_ model: String) -> JSONEdit.Replacement? {
        guard let capture = body.capture(of: ["model"]) else { return nil }
        return JSONEdit.Replacement(range: capture.start..<capture.end, bytes: encodeJSONString(model))
    }

    /// The edit that turns `stream_options.include_usage` on, or `nil` when the client already asked for it. The
    /// client's other stream options stay as they were written: only `include_usage`'s value is replaced, or the
    /// member inserted.
    func streamUsageOptIn() -> JSONEdit.Replacement? {
        if let capture = body.capture(of: ["stream_options"]), capture.bytes.first == UInt8(ascii: "{") {
            if let member = body.includeUsage {
                if member.bytes == Self.trueText { return nil }
                return JSONEdit.Replacement(range: (capture.start + member.start)..<(capture.start + member.end), bytes: Self.trueText)
            }
            guard let (offset, hasMembers) = JSONEdit.objectInsertionPoint(in: capture.bytes) else { return nil }
            let member = #""include_usage":true"# + (hasMembers ? "," : "")
            return JSONEdit.Replacement(range: (capture.start + offset)..<(capture.start + offset), bytes: Array(member.utf8))
        }
        if let capture = body.capture(of: ["stream_options"]) {
            // `stream_options: null`: replace the null.
            return JSONEdit.Replacement(range: capture.start..<capture.end, bytes: Array(#"{"include_usage":true}"#.utf8))
        }
        guard let (offset, hasMembers) = JSONEdit.objectInsertionPoint(in: body.bytes) else { return nil }
        let member = #""stream_options":{"include_usage":true}"# + (hasMembers ? "," : "")
        return JSONEdit.Replacement(range: offset..<offset, bytes: Array(member.utf8))
    }

    private static let trueText = Array("true".utf8)

    /// The request facts, with the body rewritten by `edits` (if any).
    func prepared(edits: [JSONEdit.Replacement] = [], injectedStreamUsage: Bool = false) -> PreparedRequest {
        body.prepared(
            stream: stream, rewrittenBody: edits.isEmpty ? nil : JSONEdit.apply(edits, to: body.bytes), injectedStreamUsage: injectedStreamUsage)
    }
}

extension OpenAIRequest {
    /// The preparation of an API whose body goes upstream as it is (only a model alias rewrites it): the Responses
    /// API, Anthropic Messages and Cohere, whose `model`, `stream` and output limits read the same way.
    static func prepareAsIs(body: [UInt8], options: RequestOptions, layout: RequestLayout) throws(RequestError) -> PreparedRequest {
        let request = try OpenAIRequest(body: body, layout: layout)
        return request.prepared(edits: options.upstreamModel.flatMap { request.modelReplacement($0) }.map { [$0] } ?? [])
    }
}

extension RequestLayout {
    /// OpenAI's Chat Completions, Completions, Embeddings and Responses bodies (and the compatible servers'): the
    /// output limits of each API (`max_tokens`, `max_completion_tokens`, `max_output_tokens`), `n` and `best_of`,
    /// `service_tier`, `background`, `store`, and the members that reference stored state.
    static let openAI = RequestLayout(
        streamOptions: ["stream_options"], outputLimits: [["max_tokens"], ["max_completion_tokens"], ["max_output_tokens"]],
        choiceCounts: [["n"], ["best_of"]], serviceTier: ["service_tier"], background: ["background"], store: ["store"],
        previousResponse: ["previous_response_id"], references: [["previous_response_id"], ["conversation"]], objectReferences: [["prompt"]],
        imageTokens: OpenAIImageTokens.bound(model:))
}

/// The most tokens one image costs on OpenAI's models, from OpenAI's published formulas at their largest.
///
/// Tile-based models (GPT-4o, GPT-4.1, GPT-5, o1, o3) scale an image to fit 2048×2048, then its short side to 768:
/// at most 2×4 tiles of 512 px, 85 + 170 per tile = 1,445 tokens (GPT-5 and o-series use smaller base and tile
/// figures). GPT-4o mini counts 2,833 + 5,667 per tile = 48,169. Patch-based models (GPT-4.1 mini/nano, o4-mini)
/// cap an image at 1,536 patches of 32 px times a model multiplier of at most 2.46: 3,779. The bound is the largest
/// formula the model may use.
enum OpenAIImageTokens {
    static func bound(model: String?) -> Int {
        guard let model = model?.lowercased() else { return 48_169 }
        if model.containsBytes(of: "4o-mini") { return 48_169 }
        return 3_779
    }
}
