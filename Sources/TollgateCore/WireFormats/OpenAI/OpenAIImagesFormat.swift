/// OpenAI Images: generations (a JSON body) and edits (a `multipart/form-data` body).
///
/// gpt-image-1 reports token usage (`usage: {input_tokens, output_tokens, input_tokens_details: {text_tokens,
/// image_tokens}}`): billed per token, image input and output tokens at their own rates. DALL·E 2 and 3 report none:
/// the images in the answer's `data` array are counted and billed per image at the size and quality the request asked
/// (`n`, `size`, `quality`; see ``MediaRequest``). A request without `model` is refused (OpenAI picks
/// its model from the other parameters; Tollgate prices by model).
public struct OpenAIImagesFormat: WireFormat {
    /// ``APIName/openAIImages`` or ``APIName/openAIImageEdits``.
    public let api: APIName

    /// Creates the format for generations or edits.
    public init(api: APIName) { self.api = api }

    private static let requestPaths = JSONFieldScanner.KeyPaths([["model"], ["n"], ["size"], ["quality"], ["stream"]])

    /// Reads `model`, `n`, `size`, `quality` (and `stream`) from the JSON or form body; the body goes upstream as it
    /// is unless a model alias applies.
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        var fields: (model: String?, n: String?, size: String?, quality: String?, stream: String?)
        var rewritten: [UInt8]?
        var fileBytes = 0
        if api == .openAIImageEdits {
            let form = try MultipartForm(body: body, contentType: options.contentType)
            if form.has("model"), form.text("model") == nil { throw .invalidForm("the 'model' field cannot be read") }
            fields = (form.text("model"), form.text("n"), form.text("size"), form.text("quality"), form.text("stream"))
            if let alias = options.upstreamModel { rewritten = form.replacing("model", with: alias) }
            fileBytes = form.fileBytes
        } else {
            let scanner = try OpenAIMediaRequest.scan(body, paths: Self.requestPaths)
            let model = try OpenAIMediaRequest.string(scanner, at: 0, field: "model")
            fields = (
                model, scanner.value(at: 1).map { String(decoding: $0, as: UTF8.self) }, try OpenAIMediaRequest.string(scanner, at: 2, field: "size"),
                try OpenAIMediaRequest.string(scanner, at: 3, field: "quality"), scanner.value(at: 4).map { String(decoding: $0, as: UTF8.self) }
            )
            if let alias = options.upstreamModel { rewritten = OpenAIMediaRequest.replacingModel(scanner, in: body, with: alias) }
        }
        // OpenAI picks the model of a request that names none from its other parameters (dall-e-2, unless one only
        // gpt-image-1 takes is used): Tollgate prices by model, so it asks for one.
        guard let model = fields.model else {
            throw .invalidField("model", "is required: Tollgate prices an image by its model (for example dall-e-3 or gpt-image-1)")
        }
        var count = 1
        if let text = fields.n, text != "null" {
            guard let n = Int(text), (1...10).contains(n) else { throw .invalidField("n", "must be a whole number from 1 to 10") }
            count = n
        }
        var prepared = PreparedRequest(model: model, stream: fields.stream == "true", rewrittenBody: rewritten)
        prepared.media = MediaRequest(
            kind: .images, images: count, imageVariant: MediaRequest.imageVariant(quality: fields.quality, size: fields.size), fileBytes: fileBytes)
        return prepared
    }

    /// Streams (gpt-image-1 with `stream: true`): usage on the `*.completed` event; otherwise the JSON answer.
    public func makeReader(for request: PreparedRequest, contentType: String?) -> any ResponseReader {
        if isEventStream(contentType) { return SSEBodyReader(reader: OpenAIImagesStreamReader(), rewrites: false) }
        return OpenAIImagesBodyReader(request: request.media)
    }

    /// The canonical classes of an Images `usage` object: text and image input tokens, image output tokens.
    static func usage(_ raw: [UInt8]) -> TokenUsage? {
        guard
            let scanner = JSONFieldScanner.scanWhole(
                raw,
                paths: JSONFieldScanner.KeyPaths([
                    ["input_tokens"], ["output_tokens"], ["input_tokens_details", "image_tokens"], ["output_tokens_details", "text_tokens"],
                ]))
        else { return nil }
        guard let input = scanner.tokenCount(at: 0), let output = scanner.tokenCount(at: 1) else { return nil }
        let textOutput = min(output, scanner.tokenCount(at: 3) ?? 0)
        return TokenUsage(
            inputTokens: input, outputTokens: output, inputImageTokens: min(input, scanner.tokenCount(at: 2) ?? 0),
            outputImageTokens: output - textOutput)
    }
}

/// Meters an Images answer: its `usage` when it has one (gpt-image-1), else the number of images in `data`.
struct OpenAIImagesBodyReader: ResponseReader {
    private static let paths = JSONFieldScanner.KeyPaths([["model"], ["usage"]])
    private var scanner = JSONFieldScanner(paths: Self.paths)
    private var counter = TopLevelArrayCounter(key: "data")
    private let request: MediaRequest?

    init(request: MediaRequest?) { self.request = request }

    var rewrites: Bool { false }
    var reachedEnd: Bool { scanner.isComplete }

    mutating func observe(_ piece: UnsafeRawBufferPointer) -> [UInt8]? {
        scanner.feed(piece)
        counter.feed(piece)
        return nil
    }

    mutating func finish() -> (reading: UsageReading, tail: [UInt8]?) {
        scanner.finish()
        var reading = UsageReading(completed: scanner.isComplete && !scanner.isMalformed)
        if let model = scanner.value(at: 0), let name = decodeJSONString(model) { reading.servedModel = name }
        if let usage = scanner.value(at: 1), usage.first == UInt8(ascii: "{") {
            reading.rawUsage = String(decoding: JSONEdit.compacted(usage), as: UTF8.self)
            reading.usage = OpenAIImagesFormat.usage(usage)
            if reading.usage == nil { reading.note = "usage object without token counts" }
        }
        if reading.usage == nil, reading.completed, counter.sawArray {
            reading.usage = TokenUsage(images: counter.count, imageVariant: request?.imageVariant)
            reading.contentEvents = counter.count
        }
        if !reading.completed {
            reading.note = reading.note ?? "response body is not complete JSON"
            // A cut answer (or a client gone early) without token usage: the images asked for (or seen, if more),
            // an estimate.
            if reading.usage == nil, let request {
                reading.usage = TokenUsage(images: max(counter.count, request.images), imageVariant: request.imageVariant)
                reading.estimated = true
            }
        }
        return (reading, nil)
    }
}

/// Reads an image stream (gpt-image-1, `stream: true`): usage on `image_generation.completed` / `image_edit.completed`.
struct OpenAIImagesStreamReader: SSEUsageReader {
    private static let paths = JSONFieldScanner.KeyPaths([["type"], ["usage"]])

    private(set) var reading = UsageReading()
    private(set) var reachedEnd = false

    mutating func read(_ event: SSEEvent, rewriting: Bool) -> SSEAction {
        guard event.hasData else { return .keep }
        guard let (scanner, type) = event.scanned(for: Self.paths, noting: &reading) else { return .keep }
        if let usage = scanner.value(at: 1), usage.first == UInt8(ascii: "{"), let canonical = OpenAIImagesFormat.usage(usage) {
            reading.usage = canonical
            reading.rawUsage = String(decoding: JSONEdit.compacted(usage), as: UTF8.self)
        }
        reading.contentEvents += 1
        if let type, type.hasSuffix(".completed") {
            reachedEnd = true
            reading.completed = true
        }
        return .keep
    }
}

/// Counts the elements of one top-level array member (`{"data": [{…}, {…}]}`) of a JSON body fed in pieces, keeping
/// no more state than a bracket depth: the elements' contents (megabytes of base64) are skipped byte by byte.
struct TopLevelArrayCounter: Sendable {
    private let key: [UInt8]
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var keyBytes: [UInt8]? = nil
    private var lastKey: [UInt8] = []
    private var inTargetArray = false
    private var expectingElement = false
    /// Whether the array was found.
    private(set) var sawArray = false
    /// Elements counted so far.
    private(set) var count = 0

    init(key: String) { self.key = Array(key.utf8) }

    mutating func feed(_ buffer: UnsafeRawBufferPointer) {
        for byte in buffer { step(byte) }
    }

    private mutating func step(_ byte: UInt8) {
        if inString {
            if escaped {
                escaped = false
            } else if byte == 0x5C {
                escaped = true
            } else if byte == 0x22 {
                inString = false
                if let collected = keyBytes {
                    lastKey = collected
                    keyBytes = nil
                }
            } else if keyBytes != nil, keyBytes!.count <= key.count {
                keyBytes!.append(byte)
            }
            return
        }
        switch byte {
        case 0x22:
            if inTargetArray, depth == 2, expectingElement {
                count += 1
                expectingElement = false
            }
            inString = true
            // A string directly inside the top-level object is a key when it follows `{` or `,`; values are never
            // compared against the key, so collecting both is harmless: only a key before `[` matters.
            keyBytes = depth == 1 ? [] : nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            if inTargetArray, depth == 2, expectingElement {
                count += 1
                expectingElement = false
            }
            if byte == UInt8(ascii: "["), depth == 1, lastKey == key {
                inTargetArray = true
                sawArray = true
                expectingElement = true
            }
            depth += 1
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            depth -= 1
            if depth == 1, inTargetArray {
                inTargetArray = false
                lastKey = []
            }
        case UInt8(ascii: ","):
            if inTargetArray, depth == 2 { expectingElement = true }
            if depth == 1 { lastKey = [] }
        case 0x20, 0x0A, 0x0D, 0x09, UInt8(ascii: ":"):
            break
        default:
            if inTargetArray, depth == 2, expectingElement {
                count += 1
                expectingElement = false
            }
        }
    }
}
