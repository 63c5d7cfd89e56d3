/// Process-wide simulator settings, from the command line.
struct SimulatorSettings: Sendable {
    /// Address to bind.
    var host: String
    /// Port to bind; 0 lets the kernel pick a free one.
    var port: Int
    /// Pause between streamed token chunks, unless a request overrides it with `x-sim-delay-ms`.
    var tokenDelayMs: Int
    /// Pause before the first streamed chunk.
    var firstTokenDelayMs: Int
    /// Folder of recorded cases served on `x-sim-replay`, if any.
    var replayDirectory: String?
    /// The key Anthropic and Gemini requests must carry; any non-empty key when nil. OpenAI routes accept any key.
    var apiKey: String?
    /// Whether non-streaming bodies are gzip-compressed for clients that accept it.
    var compress: Bool
}
