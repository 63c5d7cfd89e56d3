/// A prepaid credit grant as spending sees it: how much is left, in which order it is spent, when it applies.
public struct CreditGrantState: Sendable, Equatable {
    /// Grant id (`grant_…`).
    public var id: String
    /// What is left of it.
    public var remaining: Money
    /// Lower is spent first.
    public var priority: Int
    /// When it starts to count (ms since 1970).
    public var effectiveMs: Int64
    /// When what is left of it lapses, if ever.
    public var expiresMs: Int64?
    /// Creation time, the last tie-breaker.
    public var createdMs: Int64

    /// Creates a grant state.
    public init(id: String, remaining: Money, priority: Int, effectiveMs: Int64, expiresMs: Int64?, createdMs: Int64) {
        self.id = id
        self.remaining = remaining
        self.priority = priority
        self.effectiveMs = effectiveMs
        self.expiresMs = expiresMs
        self.createdMs = createdMs
    }

    /// Whether the grant counts at `nowMs`: effective, not yet expired.
    public func isActive(at nowMs: Int64) -> Bool {
        effectiveMs <= nowMs && (expiresMs.map { nowMs < $0 } ?? true)
    }
}

/// The order grants are spent in, and how one charge is split across them.
///
/// Grants are spent by priority (lowest number first), then soonest expiry (grants that never expire last), then
/// oldest first. A charge takes what it can from each active grant in that order; what no grant covers is an
/// overdraft of the account (it happens only when a request costs more than its reservation, a bound documented in
/// docs/CREDITS.md).
public enum GrantAllocation {
    /// Whether `a` is spent before `b`.
    public static func spendsBefore(_ a: CreditGrantState, _ b: CreditGrantState) -> Bool {
        if a.priority != b.priority { return a.priority < b.priority }
        switch (a.expiresMs, b.expiresMs) {
        case (let x?, let y?) where x != y: return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        default: break
        }
        if a.createdMs != b.createdMs { return a.createdMs < b.createdMs }
        return a.id < b.id
    }

    /// Splits `amount` across the grants active at `nowMs`, in spending order: the part taken from each grant (only
    /// non-zero parts) and the overdraft left over.
    public static func allocate(
        _ amount: Money, over grants: [CreditGrantState], at nowMs: Int64
    ) -> (
        parts: [(grantID: String, amount: Money)], overdraft: Money
    ) {
        var left = amount
        var parts: [(grantID: String, amount: Money)] = []
        for grant in grants.filter({ $0.isActive(at: nowMs) && $0.remaining > .zero }).sorted(by: spendsBefore) {
            guard left > .zero else { break }
            let taken = min(left, grant.remaining)
            parts.append((grant.id, taken))
            left = left - taken
        }
        return (parts, max(left, .zero))
    }

    /// What the active grants still hold at `nowMs`.
    public static func remaining(of grants: [CreditGrantState], at nowMs: Int64) -> Money {
        grants.filter { $0.isActive(at: nowMs) }.reduce(Money.zero) { $0 + $1.remaining }
    }
}
