import Foundation

/// Anthropic's prompt caching, made deterministic: a prompt prefix that ends at a `cache_control` block is written to
/// the cache the first time it is seen and read from it every later time (for the same model), for the life of the
/// simulator; nothing expires. Prefixes shorter than ``minimumTokens`` are never cached, as on the real API.
final class PromptCache: @unchecked Sendable {
    // @unchecked: `seen` is only touched while holding `lock`.
    private let lock = NSLock()
    private var seen: Set<String> = []
    private let capacity: Int

    /// The shortest prefix Anthropic caches (Sonnet and Opus; the simulator uses it for every model).
    static let minimumTokens = 1024

    /// A cache remembering at most `capacity` prefixes; past that it forgets them all, which only turns later reads
    /// into writes.
    init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    /// How a prompt's tokens split between the cache and the plain input.
    struct Accounting: Sendable, Equatable {
        /// Tokens read from the cache.
        var read = 0
        /// Tokens written to the cache with the 5-minute lifetime.
        var write5m = 0
        /// Tokens written to the cache with the 1-hour lifetime.
        var write1h = 0

        /// Every token written to the cache.
        var write: Int { write5m + write1h }
    }

    /// The reads and writes of `prompt` for `model`, remembering what it writes.
    ///
    /// The longest cached prefix that ends at a breakpoint is read; every breakpoint after it writes the tokens since
    /// the previous one, with that breakpoint's lifetime.
    func account(_ prompt: AnthropicPrompt, model: String) -> Accounting {
        var breakpoints: [(key: String, tokens: Int, ttl: AnthropicPrompt.CacheTTL)] = []
        var tokens = 0
        var fingerprints = [model]
        for block in prompt.blocks {
            tokens += block.tokens
            fingerprints.append(block.fingerprint)
            if let ttl = block.breakpoint, tokens >= Self.minimumTokens {
                breakpoints.append((StableID.hash(fingerprints), tokens, ttl))
            }
        }
        return lock.withLock {
            let hit = breakpoints.lastIndex { seen.contains($0.key) }
            var accounting = Accounting()
            var covered = hit.map { breakpoints[$0].tokens } ?? 0
            accounting.read = covered
            for breakpoint in breakpoints[(hit.map { $0 + 1 } ?? 0)...] {
                let written = breakpoint.tokens - covered
                if breakpoint.ttl == .oneHour { accounting.write1h += written } else { accounting.write5m += written }
                covered = breakpoint.tokens
                if seen.count >= capacity { seen.removeAll() }
                seen.insert(breakpoint.key)
            }
            return accounting
        }
    }
}
