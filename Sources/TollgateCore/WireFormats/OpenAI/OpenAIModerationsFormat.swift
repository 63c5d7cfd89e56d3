/// OpenAI Moderations (`/v1/moderations`): free. Each call is still one event, with zero usage and the model that
/// served it, so that it is priced (at zero) rather than reported as unpriced. `model` is optional in the request.
public struct OpenAIModerationsFormat: WireFormat {
    /// Always ``APIName/openAIModerations``.
    public var api: APIName { .openAIModerations }

    /// The model OpenAI uses when a request names none.
    public static let defaultModel = "omni-moderation-latest"

    /// Creates the format.
    public init() {}

    private static let requestPaths = JSONFieldScanner.KeyPaths([["model"]])

    /// Reads `model`; the body goes upstream as it is unless a model alias applies.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        let scanner = try OpenAIMediaRequest.scan(body, paths: Self.requestPaths)
        let model = try OpenAIMediaRequest.string(scanner, at: 0, field: "model")
        var prepared = PreparedRequest(
            model: model ?? Self.defaultModel, stream: false,
            rewrittenBody: options.upstreamModel.flatMap { OpenAIMediaRequest.replacingModel(scanner, in: body, with: $0) })
        prepared.media = MediaRequest(kind: .moderation)
        return prepared
    }

    /// The served model from the answer; a complete answer with an `id` (`modr-…`) is zero usage, not a missing one.
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        JSONBodyReader(layout: Self.layout)
    }

    // The `results` array is never captured (it grows with the inputs): the answer's `id` says it succeeded.
    static let layout = JSONBodyReader.Layout(model: ["model"], usage: ["id"], serviceTier: ["error"]) { model, id, error, reading in
        if let model, let name = decodeJSONString(model) { reading.servedModel = name }
        if id?.first == UInt8(ascii: "\""), error == nil { reading.usage = .zero }
    }
}
