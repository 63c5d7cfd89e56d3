/// Token counts of one inference in disjoint billing classes: no token is counted in two classes.
///
/// Providers report usage differently (cached tokens inside or outside the prompt count, reasoning inside or
/// outside the output count); each wire format maps its provider's report onto these classes so that every
/// class can be billed at its own rate. See docs/ARCHITECTURE.md, "Canonical usage".
public struct TokenUsage: Sendable, Hashable, Codable {
    /// Prompt tokens neither read from nor written to a cache.
    public var inputTokens: Int
    /// Prompt tokens served from a cache.
    public var cacheReadTokens: Int
    /// Prompt tokens written to a cache (all lifetimes; ``cacheWrite1hTokens`` is the 1-hour part).
    public var cacheWriteTokens: Int
    /// The part of ``cacheWriteTokens`` written with a 1-hour lifetime, where the provider reports it.
    public var cacheWrite1hTokens: Int
    /// Every generated token, reasoning included.
    public var outputTokens: Int
    /// The reasoning part of ``outputTokens`` (information; already counted in ``outputTokens``).
    public var reasoningTokens: Int
    /// Audio tokens inside ``inputTokens`` (priced apart by some models).
    public var inputAudioTokens: Int
    /// Audio tokens inside ``outputTokens``.
    public var outputAudioTokens: Int
    /// Image tokens inside ``inputTokens`` (priced apart by some models).
    public var inputImageTokens: Int
    /// Image tokens inside ``outputTokens``.
    public var outputImageTokens: Int
    /// Server-side web searches the provider ran for the request (priced per search).
    public var webSearchRequests: Int
    /// Server-side web fetches the provider ran for the request.
    public var webFetchRequests: Int
    /// Images generated, where the provider bills per image rather than per token (DALL·E; priced per image).
    public var images: Int
    /// The size and quality of those images as priced (`hd/1024x1024`, `512x512`; see ``ModelPrice/imageRates``),
    /// `nil` when the request left both to the model's default.
    public var imageVariant: String?
    /// Seconds of audio, where the provider bills by duration (Whisper; priced per second).
    public var audioSeconds: Int
    /// Characters of input text, where the provider bills per character (text to speech; priced per character).
    public var inputCharacters: Int

    /// Zero in every class.
    public static let zero = TokenUsage()

    /// Creates a usage value; every class defaults to zero.
    public init(
        inputTokens: Int = 0, cacheReadTokens: Int = 0, cacheWriteTokens: Int = 0, cacheWrite1hTokens: Int = 0,
        outputTokens: Int = 0, reasoningTokens: Int = 0, inputAudioTokens: Int = 0, outputAudioTokens: Int = 0,
        inputImageTokens: Int = 0, outputImageTokens: Int = 0, webSearchRequests: Int = 0, webFetchRequests: Int = 0,
        images: Int = 0, imageVariant: String? = nil, audioSeconds: Int = 0, inputCharacters: Int = 0
    ) {
        self.inputTokens = inputTokens
        self.cacheReadTokens = cacheReadTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.cacheWrite1hTokens = cacheWrite1hTokens
        self.outputTokens = outputTokens
        self.reasoningTokens = reasoningTokens
        self.inputAudioTokens = inputAudioTokens
        self.outputAudioTokens = outputAudioTokens
        self.inputImageTokens = inputImageTokens
        self.outputImageTokens = outputImageTokens
        self.webSearchRequests = webSearchRequests
        self.webFetchRequests = webFetchRequests
        self.images = images
        self.imageVariant = imageVariant
        self.audioSeconds = audioSeconds
        self.inputCharacters = inputCharacters
    }

    /// The class-by-class sum of two usages (an image variant survives only when both sides agree on it).
    public static func + (lhs: TokenUsage, rhs: TokenUsage) -> TokenUsage {
        TokenUsage(
            inputTokens: lhs.inputTokens + rhs.inputTokens, cacheReadTokens: lhs.cacheReadTokens + rhs.cacheReadTokens,
            cacheWriteTokens: lhs.cacheWriteTokens + rhs.cacheWriteTokens, cacheWrite1hTokens: lhs.cacheWrite1hTokens + rhs.cacheWrite1hTokens,
            outputTokens: lhs.outputTokens + rhs.outputTokens, reasoningTokens: lhs.reasoningTokens + rhs.reasoningTokens,
            inputAudioTokens: lhs.inputAudioTokens + rhs.inputAudioTokens, outputAudioTokens: lhs.outputAudioTokens + rhs.outputAudioTokens,
            inputImageTokens: lhs.inputImageTokens + rhs.inputImageTokens, outputImageTokens: lhs.outputImageTokens + rhs.outputImageTokens,
            webSearchRequests: lhs.webSearchRequests + rhs.webSearchRequests, webFetchRequests: lhs.webFetchRequests + rhs.webFetchRequests,
            images: lhs.images + rhs.images,
            imageVariant: lhs.images == 0 ? rhs.imageVariant : rhs.images == 0 || lhs.imageVariant == rhs.imageVariant ? lhs.imageVariant : nil,
            audioSeconds: lhs.audioSeconds + rhs.audioSeconds, inputCharacters: lhs.inputCharacters + rhs.inputCharacters
        )
    }

    /// All prompt-side tokens: input, cache reads and cache writes.
    public var promptTokens: Int { inputTokens + cacheReadTokens + cacheWriteTokens }
    /// Every token of the inference.
    public var totalTokens: Int { promptTokens + outputTokens }
    /// Whether the usage bills anything that is not a token: images, audio seconds, characters, server-side tools.
    public var hasUnits: Bool { images > 0 || audioSeconds > 0 || inputCharacters > 0 || webSearchRequests > 0 || webFetchRequests > 0 }
}

extension Int {
    /// The sum, or `Int.max` where it would overflow: token counts summed from an upstream's report must not trap
    /// on hostile numbers.
    public func addingSaturated(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}
