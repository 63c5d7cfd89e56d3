/// A per-minute rate limit: holds up to `capacity` units and refills `capacity` units every 60 seconds, continuously.
///
/// A new bucket is full, so `capacity` requests can pass in a burst; after that one unit comes back every
/// `60 / capacity` seconds. Time is passed in (milliseconds since 1970) so the bucket is a plain value that callers
/// keep in whatever owns the state, and tests are deterministic. The level is kept in units × 60 000, so a refill of
/// `capacity` units per 60 000 ms is `capacity` scaled units per millisecond: exact integer arithmetic, no drift.
///
/// ```swift
/// var bucket = TokenBucket(capacity: 60, nowMs: now)
/// switch bucket.take(1, nowMs: now) {
/// case .allowed: forward()
/// case .refused(let retryAfterMs): refuse(retryAfter: TokenBucket.retryAfterSeconds(retryAfterMs))
/// }
/// ```
public struct TokenBucket: Sendable, Equatable {
    /// Units per minute, and the most the bucket holds.
    public let capacity: Int
    /// The level in units × ``scale``; negative while in debt after a ``charge(_:nowMs:)``.
    private var scaledLevel: Int64
    /// When ``scaledLevel`` was last brought up to date.
    private var updatedMs: Int64

    /// Scaled units per unit: one refill period in milliseconds.
    private static let scale: Int64 = 60_000

    /// A full bucket of `capacity` units per minute. A capacity of 0 (or less) refuses every non-zero take.
    public init(capacity: Int, nowMs: Int64) {
        self.capacity = max(capacity, 0)
        self.scaledLevel = Self.scaled(self.capacity)
        self.updatedMs = nowMs
    }

    /// A bucket as it was stored (a meter shared by replicas keeps its buckets in a table): its level in units ×
    /// 60 000 and when that level was brought up to date (``stored``).
    public init(capacity: Int, scaledLevel: Int64, updatedMs: Int64) {
        self.capacity = max(capacity, 0)
        self.scaledLevel = scaledLevel
        self.updatedMs = updatedMs
    }

    /// The level in units × 60 000 and when it was brought up to date, to store.
    public var stored: (scaledLevel: Int64, updatedMs: Int64) { (scaledLevel, updatedMs) }

    /// Takes `amount` units when the bucket holds at least that many after refilling, else takes nothing.
    ///
    /// `retryAfterMs` is how long until the bucket holds `amount`. When `amount` is more than ``capacity`` it can
    /// never pass; the wait is then the time until the bucket is full (0 when it already is), so callers that must tell
    /// "never" apart compare `amount` with ``capacity`` themselves.
    public mutating func take(_ amount: Int, nowMs: Int64) -> TokenBucketDecision {
        refill(nowMs: nowMs)
        let wanted = Self.scaled(amount)
        if scaledLevel >= wanted {
            scaledLevel -= wanted
            return .allowed
        }
        guard capacity > 0 else { return .refused(retryAfterMs: Self.scale) }
        return .refused(retryAfterMs: refillTime(upTo: min(wanted, Self.scaled(capacity))))
    }

    /// Takes `amount` units whatever the level, which may go below zero: charging what a response actually used
    /// after it was let through. Later takes wait until the debt has refilled.
    public mutating func charge(_ amount: Int, nowMs: Int64) {
        refill(nowMs: nowMs)
        let (level, overflow) = scaledLevel.subtractingReportingOverflow(Self.scaled(amount))
        scaledLevel = overflow ? (amount > 0 ? .min : .max) : level
    }

    /// Whole units the bucket holds at `nowMs` (negative while in debt), e.g. for a `RateLimit-Remaining` header.
    public func available(nowMs: Int64) -> Int {
        var copy = self
        copy.refill(nowMs: nowMs)
        let units = copy.scaledLevel / Self.scale
        return Int(copy.scaledLevel < 0 && copy.scaledLevel % Self.scale != 0 ? units - 1 : units)
    }

    /// A wait in milliseconds as whole seconds for `Retry-After`: rounded up, and at least 1 so clients do not retry at
    /// once.
    public static func retryAfterSeconds(_ ms: Int64) -> Int {
        max(1, Int((max(ms, 0) + 999) / 1000))
    }

    /// Adds what refilled since the last update, up to full. A clock that steps back refills nothing.
    private mutating func refill(nowMs: Int64) {
        guard nowMs > updatedMs else { return }
        let full = Self.scaled(capacity)
        let elapsed = nowMs - updatedMs
        updatedMs = nowMs
        guard scaledLevel < full, capacity > 0 else { return }
        // Compare before multiplying: a long idle time times the rate could overflow.
        scaledLevel = elapsed >= refillTime(upTo: full) ? full : scaledLevel + elapsed * Int64(capacity)
    }

    /// Milliseconds until the level reaches `target` (scaled units, above the level), rounded up. Needs capacity > 0.
    private func refillTime(upTo target: Int64) -> Int64 {
        let (missing, overflow) = target.subtractingReportingOverflow(scaledLevel)
        let gap = overflow ? Int64.max : missing
        let rate = Int64(capacity)
        return gap / rate + (gap % rate == 0 ? 0 : 1)
    }

    /// `units` in scaled units, saturating instead of trapping on absurd amounts.
    private static func scaled(_ units: Int) -> Int64 {
        let (product, overflow) = Int64(units).multipliedReportingOverflow(by: scale)
        return overflow ? (units > 0 ? .max : .min) : product
    }
}

/// Whether a ``TokenBucket`` let an amount through.
public enum TokenBucketDecision: Sendable, Equatable {
    /// The units were taken.
    case allowed
    /// Nothing was taken; the amount can pass in `retryAfterMs` milliseconds at the earliest.
    case refused(retryAfterMs: Int64)
}
