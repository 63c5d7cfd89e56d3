import Foundation

/// Reads InvokeModelWithResponseStream for an Anthropic model: each `chunk` event's payload is
/// `{"bytes":"<base64>"}`, and the bytes are one Anthropic Messages stream event (`message_start`,
/// `content_block_delta`, `message_delta`, `message_stop` …), read as ``AnthropicMessagesStreamReader`` reads them
/// over SSE.
///
/// Bedrock adds `amazon-bedrock-invocationMetrics` to the last event (`message_stop`); its counts are used only when
/// the Anthropic events reported no usage. The served model is the one `message_start` names.
///
/// Other vendors' models (Llama, Mistral, Nova…) stream their own JSON in the chunks; for them the chunk carrying
/// the invocation metrics is the last one: it ends the stream and gives the usage, and every chunk counts as a
/// content event.
struct BedrockInvokeStreamReader: EventStreamUsageReader {
    private static let chunkPaths = JSONFieldScanner.KeyPaths([["bytes"]])
    private static let metricsPaths = JSONFieldScanner.KeyPaths([["amazon-bedrock-invocationMetrics"], ["type"]])

    private var anthropic = AnthropicMessagesStreamReader()
    /// The last invocation metrics object seen.
    private var invocationMetrics: [UInt8]?
    /// Set when a chunk could not be decoded.
    private var malformedChunk = false
    /// Chunks decoded, for streams that are not Anthropic events.
    private var chunks = 0
    /// Whether a chunk held an Anthropic event (a JSON object with a `type`).
    private var sawAnthropicEvent = false

    /// Whether `message_stop` (or an Anthropic `error` event), or any model's final chunk (the one with the
    /// invocation metrics), has been seen.
    var reachedEnd: Bool { anthropic.reachedEnd || invocationMetrics != nil }

    /// What the Anthropic events said, completed by the invocation metrics.
    var reading: UsageReading {
        var reading = anthropic.reading
        if !sawAnthropicEvent, invocationMetrics != nil {
            // Not an Anthropic stream: it ended with its metrics chunk.
            reading = UsageReading(completed: true)
            reading.contentEvents = chunks
        }
        if reading.usage == nil, let invocationMetrics {
            BedrockUsage.read(usage: invocationMetrics, shape: .invocationMetrics, into: &reading)
        }
        if malformedChunk {
            reading.note = ["malformed chunk event", reading.note].compactMap { $0 }.joined(separator: "; ")
        }
        return reading
    }

    mutating func read(event message: EventStreamMessage) {
        guard message.eventType == "chunk" else { return }
        guard let encoded = JSONFieldScanner.scanWhole(message.payload, paths: Self.chunkPaths)?.value(at: 0).flatMap(decodeJSONString),
            let decoded = Data(base64Encoded: encoded)
        else {
            malformedChunk = true
            return
        }
        let event = Array(decoded)
        chunks += 1
        _ = anthropic.read(SSEEvent(name: nil, data: event, hasData: true, raw: []), rewriting: false)
        if let scanner = JSONFieldScanner.scanWhole(event, paths: Self.metricsPaths) {
            if let metrics = scanner.value(at: 0) { invocationMetrics = metrics }
            if scanner.value(at: 1) != nil { sawAnthropicEvent = true }
        }
    }
}
