/// Reads and minimally rewrites the JSON body of an OpenAI-style request.
///
/// Only the members metering needs are looked at (`model`, `stream`, `stream_options`, the output limits); the
/// rest of the body is forwarded byte for byte.
struct OpenAIRequest {
    private static let paths = JSONFieldScanner.KeyPaths([
        ["model"], ["stream"], ["stream_options"], ["max_tokens"], ["max_completion_tokens"], ["max_output_tokens"],
    ])

    let body: [UInt8]
    let scanner: JSONFieldScanner
    let model: String?
    let stream: Bool
    let maxOutputTokens: Int?

    /// Scans `body`; throws when it is not one JSON object or a metered member has the wrong type.
    init(body: [UInt8]) throws(RequestError) {
        guard let start = body.firstIndex(where: { !JSONEdit.isWhitespace($0) }) else {
            throw .invalidJSON("the body is empty")
        }
        guard body[start] == UInt8(ascii: "{") else { throw .invalidJSON("expected a JSON object") }
        var scanner = JSONFieldScanner(paths: Self.paths)
        scanner.feed(body)
        scanner.finish()
        guard scanner.isComplete, !scanner.isMalformed else {
            throw .invalidJSON("the object is not well-formed or is cut short")
        }
        if let raw = scanner.value(at: 0) {
            guard let model = decodeJSONString(raw) else { throw .invalidField("model", "must be a string") }
            self.model = model
        } else {
            self.model = nil
        }
        switch scanner.value(at: 1).map({ String(decoding: $0, as: UTF8.self) }) {
        case nil, "null", "false": stream = false
        case "true": stream = true
        default: throw .invalidField("stream", "must be a boolean")
        }
        maxOutputTokens = [3, 4, 5].lazy.compactMap { scanner.value(at: $0).flatMap { Int(String(decoding: $0, as: UTF8.self)) } }.first
        self.body = body
        self.scanner = scanner
    }

    /// The edit that sends `model` upstream in place of the requested model.
    func modelReplacement(_ model: String) -> JSONEdit.Replacement? {
        guard let capture = scanner.capture(at: 0) else { return nil }
        return JSONEdit.Replacement(range: capture.start..<capture.end, bytes: encodeJSONString(model))
    }

    /// The edit that turns `stream_options.include_usage` on, or `nil` when the client already asked for it.
    func streamUsageOptIn() -> JSONEdit.Replacement? {
        if let capture = scanner.capture(at: 2), let options = JSONObject(capture.bytes) {
            if options.bool("include_usage") == true { return nil }
            var members = options.members
            members["include_usage"] = true
            let text = JSONObject(members: members).serialized
            return JSONEdit.Replacement(range: capture.start..<capture.end, bytes: Array(text.utf8))
        }
        if let capture = scanner.capture(at: 2) {
            // `stream_options: null`: replace the null.
            return JSONEdit.Replacement(range: capture.start..<capture.end, bytes: Array(#"{"include_usage":true}"#.utf8))
        }
        guard let (offset, hasMembers) = JSONEdit.objectInsertionPoint(in: body) else { return nil }
        let member = #""stream_options":{"include_usage":true}"# + (hasMembers ? "," : "")
        return JSONEdit.Replacement(range: offset..<offset, bytes: Array(member.utf8))
    }
}

extension OpenAIRequest {
    /// The preparation of an API whose body goes upstream as it is (only a model alias rewrites it): the Responses
    /// API and Anthropic Messages, whose `model`, `stream` and `max_tokens` members read the same way.
    static func prepareAsIs(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        let request = try OpenAIRequest(body: body)
        let edit = options.upstreamModel.flatMap { request.modelReplacement($0) }
        return PreparedRequest(
            model: request.model, stream: request.stream, rewrittenBody: edit.map { JSONEdit.apply([$0], to: body) },
            maxOutputTokens: request.maxOutputTokens
        )
    }
}
