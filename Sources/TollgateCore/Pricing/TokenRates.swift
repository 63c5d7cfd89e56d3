/// The billing classes a price can name: token classes (rates per token, written per million) and priced units
/// (rates per unit: a request, a web search, an image, a second of audio, a character of text to speech).
public enum PriceClass: String, Sendable, CaseIterable, Codable {
    case input
    case cacheRead = "cache_read"
    case cacheWrite = "cache_write"
    case cacheWrite1h = "cache_write_1h"
    case inputAudio = "input_audio"
    case inputImage = "input_image"
    case output
    case reasoning
    case outputAudio = "output_audio"
    case outputImage = "output_image"
    case perRequest = "per_request"
    case webSearch = "web_search"
    case webFetch = "web_fetch"
    /// Per generated image (DALL·E); the rate of a size and quality comes from ``ModelPrice/imageRates``.
    case image
    /// Per second of audio (Whisper).
    case audioSecond = "audio_second"
    /// Per character of input text (text to speech).
    case inputCharacter = "input_character"

    /// Whether the rate is per token (written per million tokens) rather than per unit.
    public var isTokenClass: Bool { !Self.unitClasses.contains(self) }

    static let unitClasses: Set<PriceClass> = [.perRequest, .webSearch, .webFetch, .image, .audioSecond, .inputCharacter]

    /// The class a missing rate falls back to, as providers bill: cache and modality tokens at their side's
    /// text rate, a 1-hour cache write at the 5-minute rate, reasoning at the output rate. Units have none.
    public var fallback: PriceClass? {
        switch self {
        case .cacheRead, .cacheWrite, .inputAudio, .inputImage: .input
        case .cacheWrite1h: .cacheWrite
        case .reasoning, .outputAudio, .outputImage: .output
        case .input, .output, .perRequest, .webSearch, .webFetch, .image, .audioSecond, .inputCharacter: nil
        }
    }

    /// The quantity of this class in a usage: disjoint, so that summing every class's amount prices each token once.
    public func quantity(in usage: TokenUsage) -> Int {
        switch self {
        case .input: max(0, usage.inputTokens - usage.inputAudioTokens - usage.inputImageTokens)
        case .cacheRead: usage.cacheReadTokens
        case .cacheWrite: max(0, usage.cacheWriteTokens - usage.cacheWrite1hTokens)
        case .cacheWrite1h: usage.cacheWrite1hTokens
        case .inputAudio: usage.inputAudioTokens
        case .inputImage: usage.inputImageTokens
        case .output: max(0, usage.outputTokens - usage.reasoningTokens - usage.outputAudioTokens - usage.outputImageTokens)
        case .reasoning: usage.reasoningTokens
        case .outputAudio: usage.outputAudioTokens
        case .outputImage: usage.outputImageTokens
        case .perRequest: 1
        case .webSearch: usage.webSearchRequests
        case .webFetch: usage.webFetchRequests
        case .image: usage.images
        case .audioSecond: usage.audioSeconds
        case .inputCharacter: usage.inputCharacters
        }
    }
}

/// Rates by class, each optional: a set of rates can be partial (a long-context tier that changes only input and
/// output) and is laid over another with ``overlaid(by:)``. Token rates are kept per token as exact ``Money``.
public struct TokenRates: Sendable, Hashable {
    /// The rates that are set.
    public private(set) var values: [PriceClass: Money]

    /// Creates rates from per-token (and per-unit) amounts.
    public init(_ values: [PriceClass: Money] = [:]) { self.values = values }

    /// The rate of a class, if set.
    public subscript(_ priceClass: PriceClass) -> Money? {
        get { values[priceClass] }
        set { values[priceClass] = newValue }
    }

    /// Whether no rate is set.
    public var isEmpty: Bool { values.isEmpty }

    /// These rates with every rate that `other` sets taken from `other`.
    public func overlaid(by other: TokenRates) -> TokenRates {
        TokenRates(values.merging(other.values) { $1 })
    }

    /// Every token rate multiplied by a ratio (a batch discount), rounded half to even at the last kept digit;
    /// per-unit prices (requests, searches) stay.
    public func multiplied(by ratio: DecimalRatio) -> TokenRates {
        TokenRates(Dictionary(uniqueKeysWithValues: values.map { ($0.key, $0.key.isTokenClass ? $0.value.multiplied(by: ratio) : $0.value) }))
    }

    /// The rate a class is billed at: its own, else its fallback's, else zero.
    public func effective(_ priceClass: PriceClass) -> Money {
        var current: PriceClass? = priceClass
        while let candidate = current {
            if let rate = values[candidate] { return rate }
            current = candidate.fallback
        }
        return .zero
    }

    /// The class whose rate ``effective(_:)`` uses (for breakdowns that say "cache read at the input rate").
    public func source(of priceClass: PriceClass) -> PriceClass? {
        var current: PriceClass? = priceClass
        while let candidate = current {
            if values[candidate] != nil { return candidate }
            current = candidate.fallback
        }
        return nil
    }
}
