import Foundation

/// How long a limit's usage accumulates before it starts again from zero.
///
/// `minute` limits are rate limits (a token bucket in memory, refused with 429 and `Retry-After`); the others are caps
/// and alert thresholds counted per window. Windows are UTC: use ``window(containing:anchor:)`` to find the one a
/// moment falls in.
public enum LimitPeriod: String, Sendable, CaseIterable, Codable {
    /// A rolling rate: the amount refills continuously over 60 seconds.
    case minute
    /// A day, midnight to midnight UTC (or 24 hours from the anchor).
    case day
    /// An ISO week, Monday 00:00 UTC to the next Monday (or 7 days from the anchor).
    case week
    /// A calendar month from the 1st 00:00 UTC (or from the anchor's day of the month).
    case month
    /// Never resets: the whole life of the limit.
    case total

    /// How people say it in a sentence: "daily", "weekly", "monthly", "per minute", "total".
    public var label: String {
        switch self {
        case .minute: "per minute"
        case .day: "daily"
        case .week: "weekly"
        case .month: "monthly"
        case .total: "total"
        }
    }

    /// Reads `minute`, `day`/`daily`, `week`/`weekly`, `month`/`monthly` or `total` (any case, surrounding spaces
    /// ignored); `nil` otherwise.
    public static func parse(_ text: String) -> LimitPeriod? {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "minute": .minute
        case "day", "daily": .day
        case "week", "weekly": .week
        case "month", "monthly": .month
        case "total": .total
        default: nil
        }
    }

    /// The window that holds `timestampMs`, as [startMs, endMs) in milliseconds since 1970 UTC.
    ///
    /// A moment exactly on a boundary belongs to the window it starts. ``total`` has one window that starts at 0 and
    /// never ends (`endMs` is `nil`), whatever the anchor. With ``PeriodAnchor/anniversary(_:)`` windows start at the
    /// anchor and every period length from it, forwards and backwards; anniversary months keep the anchor's day of the
    /// month and time of day, on the month's last day when it is shorter (from January 31: February 28 or 29,
    /// March 31, April 30, …).
    public func window(containing timestampMs: Int64, anchor: PeriodAnchor) -> (startMs: Int64, endMs: Int64?) {
        switch (self, anchor) {
        case (.total, _):
            return (0, nil)
        case (.minute, .calendar):
            return Self.fixedWindow(containing: timestampMs, origin: 0, length: Self.minuteMs)
        case (.day, .calendar):
            return Self.fixedWindow(containing: timestampMs, origin: 0, length: Self.dayMs)
        case (.week, .calendar):
            // 1970-01-01 was a Thursday: the ISO weeks line up on Monday 1969-12-29.
            return Self.fixedWindow(containing: timestampMs, origin: -3 * Self.dayMs, length: 7 * Self.dayMs)
        case (.month, .calendar):
            let date = CivilDate(days: timestampMs.floorDivided(by: Self.dayMs))
            let start = CivilDate.days(year: date.year, month: date.month, day: 1)
            let next = CivilDate.days(year: date.month == 12 ? date.year + 1 : date.year, month: date.month % 12 + 1, day: 1)
            return (start * Self.dayMs, next * Self.dayMs)
        case (.minute, .anniversary(let anchorMs)):
            return Self.fixedWindow(containing: timestampMs, origin: anchorMs, length: Self.minuteMs)
        case (.day, .anniversary(let anchorMs)):
            return Self.fixedWindow(containing: timestampMs, origin: anchorMs, length: Self.dayMs)
        case (.week, .anniversary(let anchorMs)):
            return Self.fixedWindow(containing: timestampMs, origin: anchorMs, length: 7 * Self.dayMs)
        case (.month, .anniversary(let anchorMs)):
            return Self.anniversaryMonth(containing: timestampMs, anchorMs: anchorMs)
        }
    }

    private static let minuteMs: Int64 = 60_000
    private static let dayMs: Int64 = 86_400_000

    private static func fixedWindow(containing timestampMs: Int64, origin: Int64, length: Int64) -> (startMs: Int64, endMs: Int64?) {
        let start = origin + (timestampMs - origin).floorDivided(by: length) * length
        return (start, start + length)
    }

    private static func anniversaryMonth(containing timestampMs: Int64, anchorMs: Int64) -> (startMs: Int64, endMs: Int64?) {
        let anchorDays = anchorMs.floorDivided(by: dayMs)
        let anchorDate = CivilDate(days: anchorDays)
        let timeOfDay = anchorMs - anchorDays * dayMs
        // Every start is derived from the anchor itself, so a clamped February 28 does not pull March back to the 28th.
        func start(monthsAfterAnchor offset: Int64) -> Int64 {
            let monthIndex = anchorDate.monthIndex + offset
            let year = monthIndex.floorDivided(by: 12)
            let month = monthIndex - year * 12 + 1
            let day = min(anchorDate.day, CivilDate.length(year: year, month: month))
            return CivilDate.days(year: year, month: month, day: day) * dayMs + timeOfDay
        }
        // The window starts in the timestamp's month or, when that month's start is still ahead, in the month before.
        var offset = CivilDate(days: timestampMs.floorDivided(by: dayMs)).monthIndex - anchorDate.monthIndex
        if start(monthsAfterAnchor: offset) > timestampMs { offset -= 1 }
        return (start(monthsAfterAnchor: offset), start(monthsAfterAnchor: offset + 1))
    }
}

/// Where a limit's windows begin: on the UTC calendar, or at a customer's own start time.
public enum PeriodAnchor: Sendable, Equatable {
    /// Minutes, UTC days, ISO weeks from Monday, months from the 1st.
    case calendar
    /// Windows of the period's length counted from this moment (milliseconds since 1970 UTC), e.g. a subscription's
    /// start date.
    case anniversary(Int64)
}

/// What a limit counts.
public enum LimitMetric: String, Sendable, CaseIterable, Codable {
    /// Priced spend, in the limit's currency.
    case money
    /// Tokens of every class, as metered.
    case tokens
    /// Billable requests.
    case requests
}

/// Whose usage a limit counts.
public enum LimitScope: String, Sendable, CaseIterable, Codable {
    /// One customer, over all of its keys.
    case customer
    /// All customers of a team together.
    case team
    /// One API key.
    case key
}

/// What happens when a limit is reached.
public enum Enforcement: String, Sendable, Codable {
    /// Requests over the limit are refused (402 for caps, 429 for rates).
    case hard
    /// Requests go on; crossing the limit only fires alerts.
    case soft
}
