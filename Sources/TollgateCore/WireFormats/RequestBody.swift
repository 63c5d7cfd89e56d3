/// Where an API's request body puts the members that decide routing, price, admission and usage injection.
///
/// Every path is a list of object keys from the top of the body. A format lists only the members its API has.
public struct RequestLayout: Sendable {
    /// The requested model (`model`), when the body names it.
    public let model: [String]?
    /// Whether a stream is asked for (`stream`).
    public let stream: [String]?
    /// The streaming options object (`stream_options`), which the proxy may edit.
    public let streamOptions: [String]?
    /// Every member that limits output tokens: the largest one present bounds the answer.
    public let outputLimits: [[String]]
    /// Members that ask for several answers (`n`, `best_of`, `candidateCount`): the largest multiplies the output.
    public let choiceCounts: [[String]]
    /// The service tier asked for (`service_tier`), which changes the rates.
    public let serviceTier: [String]?
    /// Whether the answer is produced in the background (`background`).
    public let background: [String]?
    /// Whether the provider stores what the request creates (`store`).
    public let store: [String]?
    /// The stored response a request continues from (`previous_response_id`).
    public let previousResponse: [String]?
    /// Members that make the provider read stored content the body does not carry (`previous_response_id`,
    /// `cachedContent`): any value but `null`.
    public let references: [[String]]
    /// Members that reference stored content only when they hold an object (the Responses API's `prompt` template,
    /// where Completions' `prompt` is text).
    public let objectReferences: [[String]]
    /// The most input tokens one image of the prompt may cost on `model`: the provider's own formula at its largest.
    public var imageTokens: @Sendable (_ model: String?) -> Int
    /// Whether keys match whatever their ASCII case, as Go's `encoding/json` (Ollama's) reads them: `MODEL` is `model`,
    /// and `model` with `MODEL` is a duplicate.
    public var caseInsensitiveKeys = false {
        didSet { tallyKeys = JSONFieldScanner.TallyKeys(tallied, foldingCase: caseInsensitiveKeys) }
    }
    /// Whether integers may be written as strings (`"64"`), as protobuf's JSON mapping (Gemini's) reads them.
    public var quotedIntegers = false
    /// Keys that hold an image wherever they occur, for APIs whose parts have no `type` (Bedrock's `image` block).
    public let imageKeys: [String]
    /// Keys whose presence anywhere makes the prompt unbounded by the body (Bedrock's `document`, `video`).
    public let unboundedKeys: [String]

    /// Creates a layout.
    public init(
        model: [String]? = ["model"], stream: [String]? = ["stream"], streamOptions: [String]? = nil, outputLimits: [[String]] = [],
        choiceCounts: [[String]] = [], serviceTier: [String]? = nil, background: [String]? = nil, store: [String]? = nil,
        previousResponse: [String]? = nil, references: [[String]] = [], objectReferences: [[String]] = [], imageKeys: [String] = [],
        unboundedKeys: [String] = [], imageTokens: @escaping @Sendable (_ model: String?) -> Int
    ) {
        self.model = model
        self.stream = stream
        self.streamOptions = streamOptions
        self.outputLimits = outputLimits
        self.choiceCounts = choiceCounts
        self.serviceTier = serviceTier
        self.background = background
        self.store = store
        self.previousResponse = previousResponse
        self.references = references
        self.objectReferences = objectReferences
        self.imageTokens = imageTokens
        self.imageKeys = imageKeys
        self.unboundedKeys = unboundedKeys
        var seen: Set<[String]> = []
        let all =
            [model ?? [], stream ?? [], streamOptions ?? [], serviceTier ?? [], background ?? [], store ?? [], previousResponse ?? []]
            + outputLimits + choiceCounts + references + objectReferences
        paths = all.filter { !$0.isEmpty && seen.insert($0).inserted }
        keyPaths = JSONFieldScanner.KeyPaths(paths)
        tallied = RequestBody.tallied + imageKeys + unboundedKeys
        tallyKeys = JSONFieldScanner.TallyKeys(tallied)
    }

    /// The paths to scan, each once: model, stream, stream options, service tier, background, store, previous response,
    /// then the lists.
    fileprivate let paths: [[String]]
    /// ``paths`` encoded once for every request of the API.
    fileprivate let keyPaths: JSONFieldScanner.KeyPaths
    /// The keys tallied anywhere in a body: the shared ones, then ``imageKeys``, then ``unboundedKeys``.
    fileprivate let tallied: [String]
    /// ``tallied`` encoded once (in lowercase with ``caseInsensitiveKeys``).
    fileprivate var tallyKeys: JSONFieldScanner.TallyKeys
}

/// One reading of a request body, the same as the provider's: keys with their escapes decoded, numbers by value
/// (`1e3` is a thousand), and a body that names one of the members that matter twice refused, because parsers
/// disagree on which occurrence wins (the provider might read the other one).
///
/// The body is scanned once, without building it; parts of the prompt that cost more than their bytes (images,
/// documents, stored files) are tallied wherever they occur.
public struct RequestBody: Sendable {
    /// The body.
    public let bytes: [UInt8]
    /// The scan, for edits (``capture(of:)``).
    let scanner: JSONFieldScanner
    private let layout: RequestLayout

    /// The requested model.
    public let model: String?
    /// Whether a stream is asked for (`nil`: the body does not say).
    public let stream: Bool?
    /// The largest output limit present (negative values, such as Ollama's -1 "no limit", are not limits).
    public let maxOutputTokens: Int?
    /// How many answers are asked for (1 unless the body asks for more).
    public let choices: Int
    /// The service tier asked for.
    public let serviceTier: String?
    /// Whether the answer runs in the background.
    public let background: Bool
    /// Whether the provider is asked to store what the request creates (`nil`: the body does not say).
    public let store: Bool?
    /// The stored response the request continues from, when it names one as a string.
    public let previousResponseID: String?
    /// `include_usage` inside an object `stream_options`, placed within that object's text.
    let includeUsage: JSONFieldScanner.Capture?
    /// Images in the prompt, each billed by the provider's image formula rather than by its bytes.
    public let imageParts: Int
    /// Why the prompt cannot be bounded by the body (it references stored content, or carries a document or media
    /// whose length is unknown), if so.
    public let unboundedInput: String?

    /// Keys tallied anywhere in the body: part and tool types (0), media types (1, 2), the members that point at
    /// stored files (3–6) and Gemini's tools that add retrieved content to the prompt (7–).
    fileprivate static let tallied = [
        "type", "mimeType", "mime_type", "file_id", "fileUri", "file_uri", "file_url", "googleSearch", "google_search",
        "googleSearchRetrieval", "google_search_retrieval", "urlContext", "url_context", "fileSearch", "file_search",
        "codeExecution", "code_execution", "googleMaps", "google_maps", "enterpriseWebSearch", "enterprise_web_search",
    ]
    private static let imageTypes: Set<String> = ["image_url", "input_image", "image"]
    private static let documentTypes: Set<String> = ["document", "input_file", "file"]
    /// Parts that pull stored items into the prompt (the Responses API's `item_reference`).
    private static let referenceTypes: Set<String> = ["item_reference"]
    /// Tools (by `type` prefix) with which the provider adds retrieved content to the prompt.
    private static let retrievalTools = ["web_search", "web_fetch", "file_search", "mcp", "code_interpreter", "code_execution"]

    /// Reads `body` by `layout`; throws when it is not one JSON object, names a member that matters twice, or gives
    /// one of them a value of the wrong type.
    public init(_ body: [UInt8], layout: RequestLayout) throws(RequestError) {
        guard let start = body.firstIndex(where: { !JSONEdit.isWhitespace($0) }) else { throw .invalidJSON("the body is empty") }
        guard body[start] == UInt8(ascii: "{") else { throw .invalidJSON("expected a JSON object") }
        let paths = layout.paths
        var scanner = JSONFieldScanner(paths: layout.keyPaths, tallying: layout.tallyKeys)
        scanner.feed(body)
        scanner.finish()
        guard scanner.isComplete, !scanner.isMalformed else { throw .invalidJSON("the object is not well-formed or is cut short") }
        if let duplicate = scanner.duplicate { throw .duplicateMember(duplicate.joined(separator: ".")) }
        self.bytes = body
        self.scanner = scanner
        self.layout = layout
        func raw(_ path: [String]?) -> [UInt8]? {
            guard let path, let index = paths.firstIndex(of: path), let value = scanner.value(at: index) else { return nil }
            return value == Self.null ? nil : value
        }
        func name(_ path: [String]) -> String { path.joined(separator: ".") }

        if let value = raw(layout.model) {
            guard let model = decodeJSONString(value) else { throw .invalidField("model", "must be a string") }
            self.model = model
        } else {
            self.model = nil
        }
        func boolean(_ path: [String]?) throws(RequestError) -> Bool? {
            switch raw(path).map({ String(decoding: $0, as: UTF8.self) }) {
            case nil: return nil
            case "false": return false
            case "true": return true
            default: throw .invalidField(name(path ?? []), "must be a boolean")
            }
        }
        stream = try boolean(layout.stream)
        if let options = raw(layout.streamOptions) {
            guard options.first == UInt8(ascii: "{"), let inner = JSONFieldScanner.scanWhole(options, paths: Self.streamOptionPaths) else {
                throw .invalidField(name(layout.streamOptions ?? []), "must be an object")
            }
            if let duplicate = inner.duplicate { throw .duplicateMember(name((layout.streamOptions ?? []) + duplicate)) }
            includeUsage = inner.capture(at: 0)
        } else {
            includeUsage = nil
        }
        func wholeNumber(_ path: [String]) throws(RequestError) -> Int? {
            guard var value = raw(path) else { return nil }
            if layout.quotedIntegers, value.first == UInt8(ascii: "\""), let text = decodeJSONString(value) { value = Array(text.utf8) }
            guard let number = JSONNumber.wholeNumber(value) else { throw .invalidField(name(path), "must be a whole number") }
            return number
        }
        var limit: Int?
        for path in layout.outputLimits {
            if let number = try wholeNumber(path), number > 0 { limit = max(limit ?? 0, number) }
        }
        maxOutputTokens = limit
        var choices = 1
        for path in layout.choiceCounts {
            guard let number = try wholeNumber(path) else { continue }
            // No provider returns more than 128 answers to one request (OpenAI's `n` limit).
            guard number <= Self.maxChoices else { throw .invalidField(name(path), "must be at most \(Self.maxChoices)") }
            choices = max(choices, number)
        }
        self.choices = choices
        if let value = raw(layout.serviceTier) {
            guard let tier = decodeJSONString(value) else { throw .invalidField(name(layout.serviceTier ?? []), "must be a string") }
            serviceTier = tier
        } else {
            serviceTier = nil
        }
        background = try boolean(layout.background) ?? false
        store = try boolean(layout.store)
        previousResponseID = raw(layout.previousResponse).flatMap(decodeJSONString)

        let types = scanner.tally(at: 0)
        let mediaTypes = scanner.tally(at: 1).merging(scanner.tally(at: 2), uniquingKeysWith: +)
        let imageKeyRange = Self.tallied.count..<(Self.tallied.count + layout.imageKeys.count)
        let unboundedKeyRange = imageKeyRange.upperBound..<layout.tallied.count
        imageParts =
            types.filter { Self.imageTypes.contains($0.key) }.map(\.value).reduce(0, +)
            + mediaTypes.filter { $0.key.lowercased().hasPrefix("image/") }.map(\.value).reduce(0, +)
            + imageKeyRange.map { scanner.tally(at: $0).values.reduce(0, +) }.reduce(0, +)
        var unbounded: String?
        if let path = layout.references.first(where: { raw($0) != nil }) {
            unbounded = "it references stored content (\(name(path)))"
        } else if let path = layout.objectReferences.first(where: { raw($0)?.first == UInt8(ascii: "{") }) {
            unbounded = "it references a stored template (\(name(path)))"
        } else if let type = types.keys.first(where: { Self.referenceTypes.contains($0) }) {
            unbounded = "it references stored items (\(type))"
        } else if (3...6).contains(where: { !scanner.tally(at: $0).isEmpty }) {
            unbounded = "it references a stored file"
        } else if let tool = types.keys.first(where: { type in Self.retrievalTools.contains { type.hasPrefix($0) } }) {
            unbounded = "it lets the provider add retrieved content to the prompt (\(tool))"
        } else if let index = (7..<Self.tallied.count).first(where: { !scanner.tally(at: $0).isEmpty }) {
            unbounded = "it lets the provider add retrieved content to the prompt (\(Self.tallied[index]))"
        } else if types.keys.contains(where: { Self.documentTypes.contains($0) }) {
            unbounded = "it carries a document, whose pages are billed as text and images"
        } else if let index = unboundedKeyRange.first(where: { !scanner.tally(at: $0).isEmpty }) {
            unbounded = "it carries a \(layout.tallied[index]), whose length the body does not bound"
        } else if mediaTypes.keys.contains(where: { !$0.lowercased().hasPrefix("image/") }) {
            unbounded = "it carries audio, video or a document, whose length the body does not bound"
        }
        unboundedInput = unbounded
    }

    private static let null = Array("null".utf8)
    private static let streamOptionPaths = JSONFieldScanner.KeyPaths([["include_usage"]])
    /// The most answers one request may ask for.
    static let maxChoices = 128

    /// Where the member at `path` stands in the body (for an edit), if present.
    func capture(of path: [String]?) -> JSONFieldScanner.Capture? {
        guard let path, let index = layout.paths.firstIndex(of: path) else { return nil }
        return scanner.capture(at: index)
    }

    /// The request facts for `PreparedRequest`, with the given stream flag and body rewrite.
    public func prepared(stream: Bool, rewrittenBody: [UInt8]? = nil, injectedStreamUsage: Bool = false, model: String? = nil) -> PreparedRequest {
        let model = model ?? self.model
        var request = PreparedRequest(
            model: model, stream: stream, rewrittenBody: rewrittenBody, injectedStreamUsage: injectedStreamUsage,
            maxOutputTokens: maxOutputTokens)
        request.choices = choices
        request.serviceTier = serviceTier
        request.background = background
        request.store = store
        request.previousResponseID = previousResponseID
        request.imageInputTokens = imageParts * layout.imageTokens(model)
        request.unboundedInput = unboundedInput
        return request
    }
}
