import Foundation

/// The wait before the next attempt of a delivery (alerts, exported lines): exponential, capped, jittered, and never
/// shorter than what the receiver asked for with `Retry-After`.
enum RetryBackoff {
    /// The longest `Retry-After` honoured: a day.
    static let maxRetryAfterSeconds = 86_400

    /// After `attempts` failed attempts: `initialSeconds` doubled per attempt up to `maxBackoffSeconds`, times `jitter`
    /// (drawn in [0.5, 1] so that a burst spreads out), and never less than `retryAfterSeconds`.
    static func delayMs(attempts: Int, initialSeconds: Double = 1, maxBackoffSeconds: Double, retryAfterSeconds: Int?, jitter: Double) -> Int64 {
        let ceilingMs = max(0, maxBackoffSeconds * 1000)
        let backoffMs = min(ceilingMs, max(0, initialSeconds) * 1000 * pow(2, Double(min(max(attempts, 0), 62))))
        let delayMs = Int64((backoffMs * min(max(jitter, 0), 1)).rounded())
        guard let retryAfterSeconds else { return delayMs }
        return max(delayMs, Int64(min(max(retryAfterSeconds, 0), maxRetryAfterSeconds)) * 1000)
    }
}
