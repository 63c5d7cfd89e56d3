/// What a request to a media API asks for (images, speech, transcription, moderation), read from its body by its
/// wire format: the quantities the request is billed in when the response does not report them, and what
/// admission needs for the request's worst case.
///
/// Worst case (``worstCase(price:promptTokens:defaultMaxOutputTokens:)``), always an upper bound of what the event
/// can be billed (tokens only for a model the catalog prices per token, or not at all):
/// - images: `n` images at the size and quality asked, or at the model's most expensive ones when the request leaves
///   them to the model; for a model billed per token (gpt-image-1), `n` × the model's `max_output_tokens` (per image
///   for image models) as output image tokens, with the prompt bytes as input tokens;
/// - speech: every character of `input`, plus the token worst case (for a model priced per token);
/// - transcription and translation: the audio's duration cannot be read without decoding it, so its bound is the
///   file's bytes at ``minimumAudioBytesPerSecond`` (6 kbit/s, the lowest bitrate of Opus speech: no accepted file
///   holds more audio per byte in practice), and for a model billed per token ``audioTokensPerSecondBound`` audio
///   tokens per second of it, plus the model's `max_output_tokens` of text.
public struct MediaRequest: Sendable, Equatable {
    /// The kind of media API.
    public enum Kind: String, Sendable, Equatable {
        case images, speech, transcription, moderation
    }

    /// Bytes per second of audio below which no accepted audio file goes (6 kbit/s): the bound of a file's duration.
    public static let minimumAudioBytesPerSecond = 750
    /// Bytes per second of a typical upload (128 kbit/s MP3): a transcription answered without usage is estimated at
    /// its file's bytes / this many seconds.
    public static let typicalAudioBytesPerSecond = 16_000
    /// Audio tokens per second of audio reserved for a model billed per token (OpenAI's realtime models count 10 per
    /// second of input audio; twice that is reserved).
    public static let audioTokensPerSecondBound = 20

    /// Which API.
    public var kind: Kind
    /// Images asked for (`n`, default 1).
    public var images: Int
    /// `QUALITY/SIZE`, `SIZE` or `QUALITY` as asked (`hd/1024x1792`); `nil` when both are left to the model (`auto`).
    public var imageVariant: String?
    /// Characters of the text to speak (Unicode scalars of `input`).
    public var inputCharacters: Int
    /// Bytes of the uploaded files (the audio to transcribe, the images to edit).
    public var fileBytes: Int

    /// Creates the facts of a media request.
    public init(kind: Kind, images: Int = 0, imageVariant: String? = nil, inputCharacters: Int = 0, fileBytes: Int = 0) {
        self.kind = kind
        self.images = images
        self.imageVariant = imageVariant
        self.inputCharacters = inputCharacters
        self.fileBytes = fileBytes
    }

    /// The variant from a request's `quality` and `size` (`auto` and absent ones left out): `hd/1024x1792`, `512x512`,
    /// `hd`, or `nil`.
    public static func imageVariant(quality: String?, size: String?) -> String? {
        let given = [quality, size].compactMap { $0?.lowercased() }.filter { !$0.isEmpty && $0 != "auto" && !$0.contains("/") }
        return given.isEmpty ? nil : given.joined(separator: "/")
    }

    /// Seconds of audio an upload of `bytes` can hold at most (``minimumAudioBytesPerSecond``).
    public static func audioSecondsBound(bytes: Int) -> Int {
        (bytes + minimumAudioBytesPerSecond - 1) / minimumAudioBytesPerSecond
    }

    /// The estimated duration of an upload of `bytes`, when the response reports none (``typicalAudioBytesPerSecond``,
    /// at least one second).
    public static func audioSecondsEstimate(bytes: Int) -> Int {
        max(1, (bytes + typicalAudioBytesPerSecond - 1) / typicalAudioBytesPerSecond)
    }

    /// The most this request can be billed, as a usage to rate at the customer's prices. `price` is the model's
    /// catalog price (if found), `promptTokens` the token bound of the body (its bytes over `prompt_bytes_per_token`).
    public func worstCase(price: ModelPrice?, promptTokens: Int, defaultMaxOutputTokens: Int) -> TokenUsage {
        // Tokens count only for a model priced per token (or not priced at all): a DALL·E, tts-1 or whisper-1 request
        // reserves no tokens against a token cap.
        let perToken = price.map { $0.rates[.input] != nil || $0.rates[.output] != nil } ?? true
        let maxOutput = perToken ? price?.maxOutputTokens ?? defaultMaxOutputTokens : 0
        let promptTokens = perToken ? promptTokens : 0
        switch kind {
        case .moderation:
            return TokenUsage(inputTokens: promptTokens)
        case .images:
            let count = max(1, images)
            var usage = TokenUsage(inputTokens: promptTokens, outputTokens: count.multipliedSaturated(by: maxOutput), images: count)
            usage.outputImageTokens = usage.outputTokens
            // The size and quality asked, else the model's most expensive ones.
            if let price, price.imageRate(for: imageVariant) == nil, imageVariant == nil || price.rates[.image] == nil {
                usage.imageVariant = price.mostExpensiveImage?.variant
            } else {
                usage.imageVariant = imageVariant
            }
            return usage
        case .speech:
            return TokenUsage(inputTokens: promptTokens, outputTokens: maxOutput, inputCharacters: inputCharacters)
        case .transcription:
            let seconds = Self.audioSecondsBound(bytes: fileBytes)
            let audioTokens = perToken ? seconds.multipliedSaturated(by: Self.audioTokensPerSecondBound) : 0
            return TokenUsage(
                inputTokens: audioTokens.addingSaturated(promptTokens), outputTokens: maxOutput, inputAudioTokens: audioTokens, audioSeconds: seconds)
        }
    }
}

extension Int {
    /// The product, or `Int.max` where it would overflow.
    func multipliedSaturated(by other: Int) -> Int {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? .max : product
    }
}
