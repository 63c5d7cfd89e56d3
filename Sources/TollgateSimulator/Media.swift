import Foundation
import Hummingbird

/// OpenAI's media endpoints: images (generations, edits), text to speech, transcriptions and translations, and
/// moderations, in their real wire formats. Every answer is derived from the request, so the suite can predict it:
/// - images: `n` images as base64 PNG (or URLs for DALL·E with `response_format: url`); gpt-image-1 adds its token
///   `usage` (text tokens of the prompt, ``imageInputTokens`` per uploaded image, output tokens by size and quality
///   from OpenAI's table);
/// - speech: ``speechBytesPerCharacter`` bytes of MP3-looking audio per input character, `audio/mpeg`;
/// - transcription: the audio's duration is its bytes / ``audioBytesPerSecond``; whisper-1 reports
///   `usage: {type: duration, seconds}`, the gpt-4o models `usage: {type: tokens, …}` (``audioTokensPerSecond``);
///   `text`, `srt` and `vtt` answers carry no usage;
/// - moderation: no usage, results that flag nothing.
enum Media {
    /// Image input tokens gpt-image-1 reports per uploaded image.
    static let imageInputTokens = 323
    /// Bytes of audio in the speech answer per input character.
    static let speechBytesPerCharacter = 40
    /// Bytes of an upload per second of audio (128 kbit/s MP3).
    static let audioBytesPerSecond = 16_000
    /// Audio tokens per second the gpt-4o transcribe models report.
    static let audioTokensPerSecond = 10

    /// A 1×1 transparent PNG.
    static let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

    /// gpt-image-1's output tokens per image, by quality and size (OpenAI's pricing table).
    static let gptImageOutputTokens: [String: [String: Int]] = [
        "low": ["1024x1024": 272, "1024x1536": 408, "1536x1024": 400],
        "medium": ["1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568],
        "high": ["1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208],
    ]

    static let sizes: [String: Set<String>] = [
        "dall-e-2": ["256x256", "512x512", "1024x1024"],
        "dall-e-3": ["1024x1024", "1792x1024", "1024x1792"],
        "gpt-image-1": ["1024x1024", "1536x1024", "1024x1536", "auto"],
    ]

    // MARK: Images

    /// POST /v1/images/generations.
    static func generateImages(_ exchange: Exchange) throws(APIError) -> Response {
        let body = try exchange.jsonObject()
        guard let prompt = body["prompt"]?.stringValue else { throw APIError.missing("prompt") }
        return try images(
            exchange, model: body["model"]?.stringValue ?? "dall-e-2", prompt: prompt, n: body["n"]?.intValue ?? 1,
            size: body["size"]?.stringValue, quality: body["quality"]?.stringValue, responseFormat: body["response_format"]?.stringValue,
            uploads: 0)
    }

    /// POST /v1/images/edits (multipart/form-data).
    static func editImages(_ exchange: Exchange) throws(APIError) -> Response {
        let form = try FormData(exchange)
        guard let prompt = form.text("prompt") else { throw APIError.missing("prompt") }
        let uploads = form.files.filter { $0.name == "image" || $0.name == "image[]" }.count
        guard uploads > 0 else { throw APIError.missing("image") }
        return try images(
            exchange, model: form.text("model") ?? "dall-e-2", prompt: prompt, n: form.text("n").flatMap { Int($0) } ?? 1,
            size: form.text("size"), quality: form.text("quality"), responseFormat: form.text("response_format"), uploads: uploads)
    }

    private static func images(
        _ exchange: Exchange, model: String, prompt: String, n: Int, size: String?, quality: String?, responseFormat: String?, uploads: Int
    ) throws(APIError) -> Response {
        guard let allowed = sizes[model] else {
            throw APIError(status: 400, message: "Invalid model \(model).", type: "invalid_request_error", param: "model")
        }
        guard (1...10).contains(n), model != "dall-e-3" || n == 1 else {
            throw APIError(status: 400, message: "Invalid 'n': \(n).", type: "invalid_request_error", param: "n")
        }
        if let size, !allowed.contains(size) {
            throw APIError(status: 400, message: "Invalid size '\(size)' for \(model).", type: "invalid_request_error", param: "size")
        }
        let created = 1_700_000_000 + Int(StableID.value([prompt]) % 100_000_000)
        let asURL = model != "gpt-image-1" && responseFormat != "b64_json"
        let data: [JSON] = (0..<n).map { index in
            var item: [(String, JSON)] = []
            if asURL {
                item.append(("url", .string("https://sim.invalid/images/\(StableID.hash([prompt, String(index)])).png")))
            } else {
                item.append(("b64_json", .string(png)))
            }
            if model == "dall-e-3" { item.append(("revised_prompt", .string(prompt))) }
            return .object(item)
        }
        var reply: [(String, JSON)] = [("created", .int(created)), ("data", .array(data))]
        if model == "gpt-image-1" {
            let chosenSize = size == nil || size == "auto" ? "1024x1024" : size!
            let chosenQuality = quality == nil || quality == "auto" ? "medium" : quality!
            let perImage = gptImageOutputTokens[chosenQuality]?[chosenSize] ?? 1056
            let text = Tokenizer.count(prompt)
            let image = uploads * imageInputTokens
            let output = perImage * n
            reply += [
                ("background", "opaque"), ("output_format", "png"), ("quality", .string(chosenQuality)), ("size", .string(chosenSize)),
                (
                    "usage",
                    [
                        "input_tokens": .int(text + image), "input_tokens_details": ["image_tokens": .int(image), "text_tokens": .int(text)],
                        "output_tokens": .int(output), "total_tokens": .int(text + image + output),
                    ]
                ),
            ]
        }
        return HTTPReply.json(.object(reply), for: exchange)
    }

    // MARK: Speech

    /// POST /v1/audio/speech: audio bytes, no usage.
    static func speech(_ exchange: Exchange) throws(APIError) -> Response {
        let body = try exchange.jsonObject()
        guard let model = body["model"]?.stringValue else { throw APIError.missing("model") }
        guard let input = body["input"]?.stringValue else { throw APIError.missing("input") }
        guard body["voice"]?.stringValue != nil else { throw APIError.missing("voice") }
        guard ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"].contains(model) else {
            throw APIError(status: 400, message: "Invalid model \(model).", type: "invalid_request_error", param: "model")
        }
        let format = body["response_format"]?.stringValue ?? "mp3"
        let types = ["mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac", "wav": "audio/wav", "pcm": "audio/pcm"]
        guard let type = types[format] else {
            throw APIError(status: 400, message: "Invalid response_format '\(format)'.", type: "invalid_request_error", param: "response_format")
        }
        var seed = StableID.value([model, input])
        var audio: [UInt8] = [0x49, 0x44, 0x33, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]  // an ID3v2.4 header
        let count = max(1, input.unicodeScalars.count) * speechBytesPerCharacter
        audio.reserveCapacity(audio.count + count)
        for _ in 0..<count {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            audio.append(UInt8(truncatingIfNeeded: seed >> 56))
        }
        var plain = exchange
        plain.settings.compress = false
        return HTTPReply.bytes(audio, contentType: type, status: .ok, for: plain)
    }

    // MARK: Speech to text

    /// POST /v1/audio/transcriptions and /v1/audio/translations (multipart/form-data).
    static func transcribe(_ exchange: Exchange, translation: Bool) throws(APIError) -> Response {
        let form = try FormData(exchange)
        guard let model = form.text("model") else { throw APIError.missing("model") }
        guard let file = form.files.first(where: { $0.name == "file" }) else { throw APIError.missing("file") }
        let tokenModels = ["gpt-4o-transcribe", "gpt-4o-mini-transcribe"]
        guard model == "whisper-1" || (!translation && tokenModels.contains(model)) else {
            throw APIError(status: 400, message: "Invalid model \(model).", type: "invalid_request_error", param: "model")
        }
        let format = form.text("response_format") ?? "json"
        let seconds = max(1, (file.bytes + audioBytesPerSecond - 1) / audioBytesPerSecond)
        let text = "The quick brown fox jumps over the lazy dog \(seconds) times."
        let usage: JSON
        if model == "whisper-1" {
            usage = ["type": "duration", "seconds": .int(seconds)]
        } else {
            let audio = seconds * audioTokensPerSecond
            let prompt = form.text("prompt").map(Tokenizer.count) ?? 0
            let output = Tokenizer.count(text)
            usage = [
                "type": "tokens", "input_tokens": .int(audio + prompt),
                "input_token_details": ["text_tokens": .int(prompt), "audio_tokens": .int(audio)], "output_tokens": .int(output),
                "total_tokens": .int(audio + prompt + output),
            ]
        }
        let stamp = String(format: "00:00:%02d", min(59, seconds))
        switch format {
        case "json":
            return HTTPReply.json(["text": .string(text), "usage": usage], for: exchange)
        case "verbose_json" where model == "whisper-1":
            let reply: JSON = [
                "task": .string(translation ? "translate" : "transcribe"), "language": "english", "duration": .double(Double(seconds)),
                "text": .string(text), "segments": [], "usage": usage,
            ]
            return HTTPReply.json(reply, for: exchange)
        case "text":
            return HTTPReply.bytes(Array((text + "\n").utf8), contentType: "text/plain; charset=utf-8", status: .ok, for: exchange)
        case "srt" where model == "whisper-1":
            let srt = "1\n00:00:00,000 --> \(stamp),000\n\(text)\n\n"
            return HTTPReply.bytes(Array(srt.utf8), contentType: "text/plain; charset=utf-8", status: .ok, for: exchange)
        case "vtt" where model == "whisper-1":
            let vtt = "WEBVTT\n\n00:00:00.000 --> \(stamp).000\n\(text)\n\n"
            return HTTPReply.bytes(Array(vtt.utf8), contentType: "text/plain; charset=utf-8", status: .ok, for: exchange)
        default:
            throw APIError(
                status: 400, message: "response_format '\(format)' is not compatible with model '\(model)'.", type: "invalid_request_error",
                param: "response_format")
        }
    }

    // MARK: Moderation

    static let categories = [
        "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent", "self-harm",
        "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence", "violence/graphic",
    ]

    /// POST /v1/moderations: no usage; nothing is flagged.
    static func moderate(_ exchange: Exchange) throws(APIError) -> Response {
        let body = try exchange.jsonObject()
        guard let input = body["input"] else { throw APIError.missing("input") }
        let requested = body["model"]?.stringValue ?? "omni-moderation-latest"
        let served = requested.hasPrefix("text-moderation") ? "text-moderation-007" : "omni-moderation-2024-09-26"
        let inputs = input.arrayValue?.count ?? 1
        let result: JSON = [
            "flagged": false, "categories": .object(categories.map { ($0, .bool(false)) }),
            "category_scores": .object(categories.map { ($0, .double(0.0001)) }),
            "category_applied_input_types": .object(categories.map { ($0, ["text"]) }),
        ]
        let reply: JSON = [
            "id": .string("modr-" + StableID.hash([input.encoded])), "model": .string(served),
            "results": .array(Array(repeating: result, count: inputs)),
        ]
        return HTTPReply.json(reply, for: exchange)
    }
}

/// A `multipart/form-data` body, parsed for the simulator: text fields and file parts (their names and sizes).
struct FormData {
    struct File {
        var name: String
        var filename: String
        var bytes: Int
    }

    var fields: [String: String] = [:]
    var files: [File] = []

    init(_ exchange: Exchange) throws(APIError) {
        let invalid = APIError(status: 400, message: "Could not parse multipart form", type: "invalid_request_error")
        guard let type = exchange.headers[.contentType], type.lowercased().hasPrefix("multipart/form-data"),
            let range = type.range(of: "boundary=")
        else { throw invalid }
        var boundary = String(type[range.upperBound...].prefix { $0 != ";" })
        if boundary.hasPrefix("\"") { boundary = String(boundary.dropFirst().dropLast()) }
        let body = Array(exchange.body.readableBytesView)
        let delimiter = Array("\r\n--\(boundary)".utf8)
        var at = 0
        let opening = Array("--\(boundary)".utf8)
        guard body.count >= opening.count, Array(body[0..<opening.count]) == opening else { throw invalid }
        at = opening.count
        while at + 2 <= body.count, body[at] != UInt8(ascii: "-") {
            let headerStart = at + 2
            guard let headerEnd = Self.find(Array("\r\n\r\n".utf8), in: body, from: headerStart),
                let next = Self.find(delimiter, in: body, from: headerEnd + 4)
            else { throw invalid }
            let headers = String(decoding: body[headerStart..<headerEnd], as: UTF8.self)
            let content = body[(headerEnd + 4)..<next]
            let name = Self.parameter("name", in: headers) ?? ""
            if let filename = Self.parameter("filename", in: headers) {
                files.append(File(name: name, filename: filename, bytes: content.count))
            } else {
                fields[name] = String(decoding: content, as: UTF8.self)
            }
            at = next + delimiter.count
        }
    }

    func text(_ name: String) -> String? { fields[name] }

    private static func parameter(_ name: String, in headers: String) -> String? {
        guard let range = headers.range(of: "; \(name)=\"") else { return nil }
        return String(headers[range.upperBound...].prefix { $0 != "\"" })
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0], Array(haystack[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }
}
