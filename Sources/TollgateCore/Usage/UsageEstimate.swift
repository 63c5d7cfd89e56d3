/// A stand-in usage for an inference whose provider reported none (a client that left early, a stream cut short,
/// a provider that never reports usage on streams), so that no inference goes unbilled. Events carrying it are
/// marked `estimated`.
///
/// Method (docs/ARCHITECTURE.md, "Estimates"): input ≈ request body bytes / 4 (the usual bytes-per-token of
/// English text and JSON), output ≈ one token per content-bearing stream event (OpenAI-style streams send about
/// one token per chunk).
public enum UsageEstimate {
    /// The estimate for a request of `requestBytes` bytes whose response carried `contentEvents` content events.
    public static func estimate(requestBytes: Int, contentEvents: Int) -> TokenUsage {
        TokenUsage(inputTokens: (requestBytes + 3) / 4, outputTokens: contentEvents)
    }
}
