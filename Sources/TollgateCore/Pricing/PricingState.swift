import Synchronization

/// The pricing rules in force, swapped whole when the rate files change. Readers take a snapshot per event.
public final class PricingState: Sendable {
    private let current: Mutex<PricingRules>
    private let lastReloadFailure = Mutex<String?>(nil)

    /// Starts with `rules`.
    public init(_ rules: PricingRules) { current = Mutex(rules) }

    /// The rules in force now.
    public var rules: PricingRules { current.withLock { $0 } }

    /// Puts `rules` in force for every later snapshot.
    public func replace(_ rules: PricingRules) {
        current.withLock { $0 = rules }
        lastReloadFailure.withLock { $0 = nil }
    }

    /// Why the last reload of the config files was refused (the rules in force stay), or `nil` after a good one.
    public var reloadFailure: String? { lastReloadFailure.withLock { $0 } }

    /// Notes a refused reload: the files on disk do not validate.
    public func reloadRefused(_ reason: String) { lastReloadFailure.withLock { $0 = reason } }
}
