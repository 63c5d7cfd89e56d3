/// Reads a ConverseStream: `messageStart`, `contentBlockStart` / `contentBlockDelta` / `contentBlockStop` per
/// block, `messageStop`, then a last `metadata` event whose `usage` is the whole inference's.
///
/// The stream names no model (``BedrockFormat`` takes the request path's). The terminal event is `metadata`, which
/// comes after `messageStop`; a stream that ends before it is noted.
struct BedrockConverseStreamReader: EventStreamUsageReader {
    private static let metadataPaths = JSONFieldScanner.KeyPaths([["usage"], ["serviceTier", "type"]])

    private var seen = UsageReading()
    private(set) var reachedEnd = false

    /// What was read; a stream that has not reached its `metadata` event says so.
    var reading: UsageReading {
        var reading = seen
        if !reachedEnd, reading.note == nil { reading.note = "stream ended before the metadata event" }
        return reading
    }

    mutating func read(event message: EventStreamMessage) {
        switch message.eventType {
        case "contentBlockDelta":
            seen.contentEvents += 1
        case "metadata":
            reachedEnd = true
            seen.completed = true
            guard let scanner = JSONFieldScanner.scanWhole(message.payload, paths: Self.metadataPaths) else {
                seen.note = "malformed metadata event"
                return
            }
            BedrockUsage.read(usage: scanner.value(at: 0), shape: .converse, into: &seen)
            if let tier = scanner.value(at: 1).flatMap(decodeJSONString) { seen.serviceTier = tier }
        default:
            // messageStart, contentBlockStart/Stop, messageStop, and event types added after this was written.
            break
        }
    }
}
