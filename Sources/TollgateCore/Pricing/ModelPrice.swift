/// What one model costs per token class, as written in a provider file (decimal strings per million tokens).
///
/// Rates are kept per token as exact ``Money``: a rate of `"0.075"` per million is 7.5e-8 per token, so a cost is
/// a sum of whole-number multiplications with no rounding at all. A class without its own rate falls back as
/// providers bill it: cache reads and writes at the input rate, audio at the text rate of its side.
public struct ModelPrice: Sendable, Equatable {
    /// Input (uncached prompt) tokens.
    public var input: Money
    /// Output tokens (reasoning included).
    public var output: Money
    /// Cache reads; `nil` bills them at ``input``.
    public var cacheRead: Money?
    /// Cache writes (5-minute lifetime, or the only lifetime); `nil` bills them at ``input``.
    public var cacheWrite: Money?
    /// 1-hour cache writes; `nil` bills them at ``cacheWrite``.
    public var cacheWrite1h: Money?
    /// Input audio tokens; `nil` bills them at ``input``.
    public var inputAudio: Money?
    /// Output audio tokens; `nil` bills them at ``output``.
    public var outputAudio: Money?
    /// A fee per request.
    public var perRequest: Money?

    /// Creates a price from per-token amounts.
    public init(
        input: Money, output: Money, cacheRead: Money? = nil, cacheWrite: Money? = nil, cacheWrite1h: Money? = nil,
        inputAudio: Money? = nil, outputAudio: Money? = nil, perRequest: Money? = nil
    ) {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
        self.cacheWrite1h = cacheWrite1h
        self.inputAudio = inputAudio
        self.outputAudio = outputAudio
        self.perRequest = perRequest
    }

    /// The exact cost of one inference's usage.
    public func cost(of usage: TokenUsage) -> Money {
        let textInput = max(0, usage.inputTokens - usage.inputAudioTokens)
        let textOutput = max(0, usage.outputTokens - usage.outputAudioTokens)
        let write = cacheWrite ?? input
        var total = input.times(textInput)
        total += (inputAudio ?? input).times(usage.inputAudioTokens)
        total += (cacheRead ?? input).times(usage.cacheReadTokens)
        total += write.times(usage.cacheWriteTokens - usage.cacheWrite1hTokens)
        total += (cacheWrite1h ?? write).times(usage.cacheWrite1hTokens)
        total += output.times(textOutput)
        total += (outputAudio ?? output).times(usage.outputAudioTokens)
        total += perRequest ?? .zero
        return total
    }
}

extension Money {
    /// A per-token amount from a rate written per million tokens (`"0.15"`); `nil` when the text is not a
    /// non-negative decimal with at most 9 fractional digits.
    public static func perMillionTokens(_ text: String) -> Money? {
        guard let value = FixedPoint.parse(text, digits: 9), value >= 0 else { return nil }
        return Money(raw: value)
    }

    /// The rate per million tokens of a per-token amount, as it would be written in a provider file.
    public var perMillionDescription: String { FixedPoint.format(raw, digits: 9) }
}
