import Foundation
import Testing
import TollgateCore

/// OpenAI's media APIs: images (JSON and multipart), speech, transcription, moderation — request reading, usage
/// reading (at every split point), per-image / per-second / per-character rates, the catalog's list prices, and
/// admission's worst case.
@Suite("Media formats")
struct MediaFormatTests {
    static let boundary = "----tollgate-test-boundary"
    static let formType = "multipart/form-data; boundary=\(boundary)"

    /// A multipart body of text fields and one file part of `fileBytes` bytes.
    static func form(_ fields: [(String, String)], file: (name: String, bytes: Int)? = nil) -> [UInt8] {
        var body: [UInt8] = []
        for (name, value) in fields {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        if let file {
            body += Array(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(file.name)\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    .utf8)
            body += (0..<file.bytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            body += Array("\r\n".utf8)
        }
        body += Array("--\(boundary)--\r\n".utf8)
        return body
    }

    static func prepare(_ api: APIName, _ body: [UInt8], contentType: String? = nil, alias: String? = nil) throws -> PreparedRequest {
        try api.wireFormat.prepare(
            body: body, options: RequestOptions(acceptsStreamUsageOption: true, upstreamModel: alias, contentType: contentType))
    }

    /// The reading of `body` fed in the given pieces.
    static func read(_ api: APIName, _ request: PreparedRequest, contentType: String, pieces: [ArraySlice<UInt8>]) -> UsageReading {
        var reader = api.wireFormat.makeReader(for: request, contentType: contentType)
        for piece in pieces {
            let replaced = Array(piece).withUnsafeBytes { reader.observe($0) }
            #expect(replaced == nil)
        }
        return reader.finish().reading
    }

    /// The same reading whatever the split: whole, byte by byte, and at every two-piece cut.
    static func readAtEverySplit(_ api: APIName, _ request: PreparedRequest, contentType: String, body: [UInt8]) -> UsageReading {
        let whole = read(api, request, contentType: contentType, pieces: [body[...]])
        #expect(read(api, request, contentType: contentType, pieces: body.bytewise) == whole)
        for cut in 0...body.count {
            #expect(read(api, request, contentType: contentType, pieces: body.pieces(cutAt: [cut])) == whole, "cut at \(cut)")
        }
        return whole
    }

    static func money(_ text: String) -> Money { Money(text)! }

    // MARK: Images

    @Test("images: model, n, size and quality from the JSON body; a request without a model is refused")
    func imagesRequest() throws {
        let request = try Self.prepare(
            .openAIImages, Array(utf8: #"{"prompt":"a fox","model":"dall-e-3","n":1,"size":"1792x1024","quality":"hd"}"#))
        #expect(request.model == "dall-e-3")
        #expect(request.media == MediaRequest(kind: .images, images: 1, imageVariant: "hd/1792x1024"))
        let auto = try Self.prepare(.openAIImages, Array(utf8: #"{"prompt":"a fox","model":"dall-e-2","n":3,"size":"auto"}"#))
        #expect(auto.media?.images == 3 && auto.media?.imageVariant == nil)
        #expect(throws: RequestError.self, "OpenAI picks the model of a request without one from its other parameters") {
            try Self.prepare(.openAIImages, Array(utf8: #"{"prompt":"a fox","n":3,"quality":"high"}"#))
        }
        #expect(throws: RequestError.invalidField("n", "must be a whole number from 1 to 10")) {
            try Self.prepare(.openAIImages, Array(utf8: #"{"prompt":"x","model":"dall-e-2","n":11}"#))
        }
        #expect(throws: RequestError.invalidField("model", "must be a string")) {
            try Self.prepare(.openAIImages, Array(utf8: #"{"prompt":"x","model":7}"#))
        }
    }

    @Test("image edits: fields read from the multipart form in place; a model alias replaces only its value")
    func imageEditsRequest() throws {
        let body = Self.form([("prompt", "add a hat"), ("model", "gpt-image-1"), ("n", "2"), ("size", "1024x1536")], file: ("image", 5000))
        let request = try Self.prepare(.openAIImageEdits, body, contentType: Self.formType)
        #expect(request.model == "gpt-image-1")
        #expect(request.media == MediaRequest(kind: .images, images: 2, imageVariant: "1024x1536", fileBytes: 5000))
        #expect(request.rewrittenBody == nil)
        let aliased = try Self.prepare(.openAIImageEdits, body, contentType: Self.formType, alias: "gpt-image-1-2025-04-15")
        let expected = Self.form(
            [("prompt", "add a hat"), ("model", "gpt-image-1-2025-04-15"), ("n", "2"), ("size", "1024x1536")], file: ("image", 5000))
        #expect(aliased.rewrittenBody == expected)
        #expect(aliased.model == "gpt-image-1")
    }

    @Test("a multipart body that cannot be read is refused with a clear reason")
    func unreadableForms() throws {
        let body = Self.form([("model", "whisper-1")], file: ("file", 100))
        #expect(throws: RequestError.invalidForm("expected Content-Type multipart/form-data, not 'application/json'")) {
            try Self.prepare(.openAITranscriptions, body, contentType: "application/json")
        }
        #expect(throws: RequestError.invalidForm("the Content-Type names no boundary")) {
            try Self.prepare(.openAITranscriptions, body, contentType: "multipart/form-data")
        }
        #expect(throws: RequestError.invalidForm("the body ends before its closing boundary")) {
            try Self.prepare(.openAITranscriptions, Array(body.prefix(body.count - 40)), contentType: Self.formType)
        }
        #expect(throws: RequestError.invalidForm("the 'model' field is missing or cannot be read")) {
            try Self.prepare(.openAITranscriptions, Self.form([("language", "en")], file: ("file", 100)), contentType: Self.formType)
        }
        let quoted = "multipart/form-data; charset=utf-8; boundary=\"\(Self.boundary)\""
        #expect(try Self.prepare(.openAITranscriptions, body, contentType: quoted).model == "whisper-1")
    }

    @Test("DALL·E answers: the images in `data` are counted (never captured), at every split")
    func dallEAnswer() throws {
        let request = try Self.prepare(.openAIImages, Array(utf8: #"{"prompt":"x","model":"dall-e-2","n":3,"size":"512x512"}"#))
        let image = String(repeating: "QUJD", count: 50)
        let body = Array(
            utf8:
                #"{"created":1,"data":[{"b64_json":"\#(image)","revised_prompt":"a [data] {x}"},{"b64_json":"\#(image)"},{"url":"https://x/y.png"}]}"#
        )
        let reading = Self.readAtEverySplit(.openAIImages, request, contentType: "application/json", body: body)
        #expect(reading.usage == TokenUsage(images: 3, imageVariant: "512x512"))
        #expect(reading.completed && !reading.estimated)
        let error = Array(utf8: #"{"error":{"message":"bad size","type":"invalid_request_error","param":"size","code":null}}"#)
        let failed = Self.read(.openAIImages, request, contentType: "application/json", pieces: [error[...]])
        #expect(failed.usage == nil && failed.completed)
    }

    @Test("gpt-image-1 answers: tokens, image input and output apart")
    func gptImageAnswer() throws {
        let request = try Self.prepare(.openAIImages, Array(utf8: #"{"prompt":"x","model":"gpt-image-1"}"#))
        let body = Array(
            utf8:
                #"{"created":1,"data":[{"b64_json":"QUJD"}],"usage":{"input_tokens":50,"input_tokens_details":{"image_tokens":40,"text_tokens":10},"output_tokens":4160,"total_tokens":4210}}"#
        )
        let reading = Self.readAtEverySplit(.openAIImages, request, contentType: "application/json", body: body)
        #expect(reading.usage == TokenUsage(inputTokens: 50, outputTokens: 4160, inputImageTokens: 40, outputImageTokens: 4160))
        // $5 text, $10 image input, $40 output per million.
        let price = ModelPrice(
            rates: TokenRates([.input: .perMillionTokens("5")!, .inputImage: .perMillionTokens("10")!, .output: .perMillionTokens("40")!]))
        #expect(price.cost(of: reading.usage!).total == Self.money("0.16685"))
    }

    @Test("a cut image answer is billed the images asked for, estimated")
    func cutImageAnswer() throws {
        let request = try Self.prepare(.openAIImages, Array(utf8: #"{"prompt":"x","model":"dall-e-3","quality":"hd"}"#))
        let reading = Self.read(.openAIImages, request, contentType: "application/json", pieces: [Array(utf8: #"{"created":1,"data":[{"b64_"#)[...]])
        #expect(reading.usage == TokenUsage(images: 1, imageVariant: "hd") && reading.estimated && !reading.completed)
    }

    // MARK: Per-image rates

    static let dallE3: ModelPrice = {
        var price = ModelPrice(rates: TokenRates([.image: money("0.040")]))
        price.imageRates = [
            "1024x1792": money("0.080"), "1792x1024": money("0.080"), "hd": money("0.080"), "hd/1024x1024": money("0.080"),
            "hd/1024x1792": money("0.120"), "hd/1792x1024": money("0.120"),
        ]
        return price
    }()

    @Test(
        "an image is priced by its quality and size, then its size, then its quality, then the model's image rate",
        arguments: [
            ("hd/1792x1024", "0.12"), ("standard/1792x1024", "0.08"), ("1024x1792", "0.08"), ("hd", "0.08"), ("standard/1024x1024", "0.04"),
            ("standard", "0.04"), ("512x512", "0.04"),
        ] as [(String, String)])
    func imageVariants(_ variant: String, _ rate: String) {
        let cost = Self.dallE3.cost(of: TokenUsage(images: 2, imageVariant: variant))
        #expect(cost.total == Self.money(rate).times(2))
        #expect(cost.lines.map(\.priceClass) == [.image])
        #expect(Self.dallE3.cost(of: TokenUsage(images: 1)).total == Self.money("0.04"))
    }

    @Test("worst case: n images at the size asked, else at the model's most expensive; no tokens for a per-image model")
    func imageWorstCase() {
        let unspecified = MediaRequest(kind: .images, images: 1)
        let worst = unspecified.worstCase(price: Self.dallE3, promptTokens: 100, defaultMaxOutputTokens: 4096)
        #expect(worst == TokenUsage(images: 1, imageVariant: "hd/1024x1792"))
        #expect(Self.dallE3.cost(of: worst).total == Self.money("0.12"))
        let asked = MediaRequest(kind: .images, images: 3, imageVariant: "1792x1024")
        #expect(Self.dallE3.cost(of: asked.worstCase(price: Self.dallE3, promptTokens: 10, defaultMaxOutputTokens: 4096)).total == Self.money("0.24"))
        let gptImage = ModelPrice(rates: TokenRates([.input: .perMillionTokens("5")!, .output: .perMillionTokens("40")!]), maxOutputTokens: 6240)
        let tokens = MediaRequest(kind: .images, images: 2).worstCase(price: gptImage, promptTokens: 30, defaultMaxOutputTokens: 4096)
        #expect(tokens.inputTokens == 30 && tokens.outputTokens == 12480 && tokens.outputImageTokens == 12480)
        #expect(gptImage.cost(of: tokens).total == Self.money("0.49935"))
    }

    // MARK: Speech

    @Test("speech: the characters of `input` (Unicode scalars) are the usage of the audio answer; errors carry none")
    func speech() throws {
        let request = try Self.prepare(.openAISpeech, Array(utf8: #"{"model":"tts-1","voice":"alloy","input":"Grüße, \"world\"! 👋"}"#))
        #expect(request.media == MediaRequest(kind: .speech, inputCharacters: 17))
        let audio = (0..<2000).map { UInt8(truncatingIfNeeded: $0) }
        let reading = Self.read(.openAISpeech, request, contentType: "audio/mpeg", pieces: audio.pieces(cutAt: [7, 1000]))
        #expect(reading.usage == TokenUsage(inputCharacters: 17) && reading.completed)
        let price = ModelPrice(rates: TokenRates([.inputCharacter: Self.money("0.000015")]))
        #expect(price.cost(of: reading.usage!).total == Self.money("0.000255"))
        let error = Array(utf8: #"{"error":{"message":"bad voice","type":"invalid_request_error","param":"voice","code":null}}"#)
        #expect(Self.read(.openAISpeech, request, contentType: "application/json", pieces: [error[...]]).usage == nil)
        #expect(throws: RequestError.invalidField("model", "a speech request must name its model")) {
            try Self.prepare(.openAISpeech, Array(utf8: #"{"voice":"alloy","input":"x"}"#))
        }
    }

    // MARK: Transcription

    @Test("transcription: token usage (audio input apart) and duration usage, at every split")
    func transcriptionUsage() throws {
        let request = try Self.prepare(
            .openAITranscriptions, Self.form([("model", "gpt-4o-transcribe")], file: ("file", 40_000)), contentType: Self.formType)
        #expect(request.media == MediaRequest(kind: .transcription, fileBytes: 40_000))
        let tokens = Array(
            utf8:
                #"{"text":"Hello.","usage":{"type":"tokens","input_tokens":34,"input_token_details":{"text_tokens":4,"audio_tokens":30},"output_tokens":12,"total_tokens":46}}"#
        )
        let reading = Self.readAtEverySplit(.openAITranscriptions, request, contentType: "application/json", body: tokens)
        #expect(reading.usage == TokenUsage(inputTokens: 34, outputTokens: 12, inputAudioTokens: 30) && !reading.estimated)
        let duration = Array(utf8: #"{"text":"Hello.","usage":{"type":"duration","seconds":9}}"#)
        #expect(
            Self.readAtEverySplit(.openAITranscriptions, request, contentType: "application/json", body: duration).usage
                == TokenUsage(audioSeconds: 9))
        let verbose = Array(utf8: #"{"task":"transcribe","language":"english","duration":8.47,"text":"Hello.","segments":[]}"#)
        #expect(Self.read(.openAITranslations, request, contentType: "application/json", pieces: [verbose[...]]).usage == TokenUsage(audioSeconds: 9))
    }

    @Test("transcription answered as text, srt or vtt: the duration estimated from the file's bytes, marked estimated")
    func transcriptionEstimate() throws {
        let request = try Self.prepare(
            .openAITranscriptions, Self.form([("model", "whisper-1"), ("response_format", "srt")], file: ("file", 40_000)),
            contentType: Self.formType)
        let reading = Self.read(.openAITranscriptions, request, contentType: "text/plain; charset=utf-8", pieces: [Array(utf8: "1\nHello.\n")[...]])
        // 40,000 bytes at 16,000 bytes a second: 3 seconds.
        #expect(reading.usage == TokenUsage(audioSeconds: 3) && reading.estimated)
        #expect(ModelPrice(rates: TokenRates([.audioSecond: Self.money("0.0001")])).cost(of: reading.usage!).total == Self.money("0.0003"))
        let error = Array(utf8: #"{"error":{"message":"bad file","type":"invalid_request_error","param":null,"code":null}}"#)
        #expect(Self.read(.openAITranscriptions, request, contentType: "application/json", pieces: [error[...]]).usage == nil)
    }

    @Test("transcription worst case: the file's bytes at 6 kbit/s, audio tokens for a per-token model")
    func transcriptionWorstCase() {
        let media = MediaRequest(kind: .transcription, fileBytes: 75_000)
        let whisper = ModelPrice(rates: TokenRates([.audioSecond: Self.money("0.0001")]))
        #expect(media.worstCase(price: whisper, promptTokens: 20_000, defaultMaxOutputTokens: 4096) == TokenUsage(audioSeconds: 100))
        let tokens = ModelPrice(
            rates: TokenRates([.input: .perMillionTokens("2.5")!, .inputAudio: .perMillionTokens("6")!, .output: .perMillionTokens("10")!]),
            maxOutputTokens: 2000)
        let worst = media.worstCase(price: tokens, promptTokens: 100, defaultMaxOutputTokens: 4096)
        #expect(worst == TokenUsage(inputTokens: 2100, outputTokens: 2000, inputAudioTokens: 2000, audioSeconds: 100))
    }

    // MARK: Moderation

    @Test("moderation: a complete answer is zero usage (priced, free); an error is no usage")
    func moderation() throws {
        let request = try Self.prepare(.openAIModerations, Array(utf8: #"{"input":"hello"}"#))
        #expect(request.model == "omni-moderation-latest" && request.media?.kind == .moderation)
        let body = Array(utf8: #"{"id":"modr-1","model":"omni-moderation-2024-09-26","results":[{"flagged":false,"categories":{"hate":false}}]}"#)
        let reading = Self.readAtEverySplit(.openAIModerations, request, contentType: "application/json", body: body)
        #expect(reading.usage == .zero && reading.servedModel == "omni-moderation-2024-09-26")
        let error = Array(utf8: #"{"error":{"message":"x","type":"invalid_request_error","param":null,"code":null}}"#)
        #expect(Self.read(.openAIModerations, request, contentType: "application/json", pieces: [error[...]]).usage == nil)
    }

    // MARK: Routes and catalog

    @Test(
        "media paths route to their APIs under any prefix",
        arguments: [
            ("/v1/images/generations", APIName.openAIImages), ("/v1/images/edits", .openAIImageEdits), ("/v1/audio/speech", .openAISpeech),
            ("/v1/audio/transcriptions", .openAITranscriptions), ("/openai/v1/audio/translations", .openAITranslations),
            ("/v1/moderations", .openAIModerations), ("/v1/chat/completions", .openAIChat), ("/v1/completions", .openAICompletions),
        ])
    func routes(_ path: String, _ api: APIName) {
        #expect(RouteRule.openAICompatible.first { $0.pattern.matches(path) }?.api == api)
    }

    static let catalog: [String: ModelPrice] = {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../providers/openai.yaml")
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        return (try? ProviderSpec.parse(yaml: text, file: "providers/openai.yaml"))?.prices ?? [:]
    }()

    @Test(
        "the built-in catalog's list prices",
        arguments: [
            ("dall-e-2", TokenUsage(images: 3, imageVariant: "512x512"), "0.054"),
            ("dall-e-2", TokenUsage(images: 1), "0.02"),
            ("dall-e-3", TokenUsage(images: 1, imageVariant: "hd/1792x1024"), "0.12"),
            ("dall-e-3", TokenUsage(images: 1, imageVariant: "standard/1024x1792"), "0.08"),
            ("gpt-image-1", TokenUsage(inputTokens: 1000, outputTokens: 1_000_000, inputImageTokens: 500, outputImageTokens: 1_000_000), "40.0075"),
            ("tts-1", TokenUsage(inputCharacters: 1_000_000), "15"),
            ("tts-1-hd", TokenUsage(inputCharacters: 1000), "0.03"),
            ("gpt-4o-mini-tts", TokenUsage(inputCharacters: 1000), "0.015"),
            ("whisper-1", TokenUsage(audioSeconds: 60), "0.006"),
            ("gpt-4o-transcribe", TokenUsage(inputTokens: 1_000_000, outputTokens: 1_000_000, inputAudioTokens: 1_000_000), "16"),
            ("gpt-4o-mini-transcribe", TokenUsage(audioSeconds: 60), "0.003"),
            ("omni-moderation-latest", TokenUsage.zero, "0"),
            ("text-moderation-007", TokenUsage.zero, "0"),
        ] as [(String, TokenUsage, String)])
    func catalogPrices(_ model: String, _ usage: TokenUsage, _ cost: String) throws {
        let price = try #require(PriceTable(models: Self.catalog).price(for: model)?.price, "\(model) is priced")
        #expect(price.cost(of: usage).total == Self.money(cost))
    }
}
