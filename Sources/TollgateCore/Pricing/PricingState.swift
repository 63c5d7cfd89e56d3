import Synchronization

/// The pricing rules in force, swapped whole when the rate files change. Readers take a snapshot per event.
public final class PricingState: Sendable {
    private let current: Mutex<PricingRules>

    /// Starts with `rules`.
    public init(_ rules: PricingRules) { current = Mutex(rules) }

    /// The rules in force now.
    public var rules: PricingRules { current.withLock { $0 } }

    /// Puts `rules` in force for every later snapshot.
    public func replace(_ rules: PricingRules) { current.withLock { $0 = rules } }
}
