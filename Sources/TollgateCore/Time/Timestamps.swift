import Foundation

/// Times as Tollgate writes and reads them: milliseconds since 1970 (UTC) inside, ISO 8601 outside.
public enum Timestamps {
    /// The current time in milliseconds since 1970 (UTC), the unit of every time in the meter.
    public static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Parses `2026-11-21T10:00:00Z`, `2026-11-21T10:00:00.250+01:00`, `2026-11-21 10:00:00` (UTC) or a date
    /// `2026-11-21` (midnight UTC); `nil` otherwise.
    public static func parse(_ text: String) -> Int64? {
        var trimmed = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " ", with: "T")
        let hasTime = trimmed.contains("T")
        let zone = trimmed.dropFirst(10)
        if hasTime, !zone.hasSuffix("Z"), !zone.contains("+"), !zone.contains("-") { trimmed += "Z" }  // no zone: UTC
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        let attempts: [ISO8601DateFormatter.Options] =
            hasTime ? [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] : trimmed.count == 10 ? [[.withFullDate]] : []
        for options in attempts {
            formatter.formatOptions = options
            guard let date = formatter.date(from: trimmed) else { continue }
            let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
            // The formatter rolls 2026-02-30 over into March: refuse dates that do not exist.
            guard !(trimmed.count == 10 || trimmed.hasSuffix("Z")) || iso8601(milliseconds).prefix(10) == trimmed.prefix(10) else { return nil }
            return milliseconds
        }
        return nil
    }

    /// How much of a second an ISO 8601 time shows.
    public enum Fraction: Sendable {
        /// Milliseconds only when there are some: `2026-11-21T10:00:00Z`, `2026-11-21T10:00:00.250Z`.
        case whenPresent
        /// Always milliseconds: `2026-11-21T10:00:00.000Z`.
        case milliseconds
        /// Whole seconds, rounded down (towards the past, before 1970 too): `2026-11-21T10:00:00Z`.
        case wholeSeconds
    }

    /// `2026-11-21T10:00:00Z` in UTC, with milliseconds only when there are some (``Fraction/whenPresent``).
    public static func iso8601(_ milliseconds: Int64) -> String { iso8601(milliseconds, fraction: .whenPresent) }

    /// `2026-11-21T10:00:00Z` in UTC, with as much of the second as `fraction` says: the one way Tollgate writes a
    /// time (RFC 3339 is this profile of ISO 8601).
    public static func iso8601(_ milliseconds: Int64, fraction: Fraction) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        var shown = milliseconds
        switch fraction {
        case .whenPresent:
            formatter.formatOptions = milliseconds % 1000 == 0 ? [.withInternetDateTime] : [.withInternetDateTime, .withFractionalSeconds]
        case .milliseconds:
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        case .wholeSeconds:
            formatter.formatOptions = [.withInternetDateTime]
            shown -= milliseconds.floorModulo(1000)
        }
        return formatter.string(from: Date(timeIntervalSince1970: Double(shown) / 1000))
    }

    /// The UTC date (`2026-11-21`) a time falls on.
    public static func date(of milliseconds: Int64) -> String { String(iso8601(milliseconds, fraction: .wholeSeconds).prefix(10)) }

    /// The calendar month (UTC) written `2026-11`, as [start, end) in milliseconds.
    public static func month(_ text: String) -> (startMs: Int64, endMs: Int64)? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let year = Int64(parts[0]), let month = Int64(parts[1]), (1...12).contains(month), (1970...9999).contains(year)
        else { return nil }
        let startMs = CivilDate.days(year: year, month: month, day: 1) * dayMs
        return (startMs, nextMonthStart(after: startMs))
    }

    /// The month (`2026-11`) a time falls in.
    public static func monthName(of milliseconds: Int64) -> String { String(date(of: milliseconds).prefix(7)) }

    /// The first millisecond of the calendar month (UTC) that holds `milliseconds`; times before 1970 too.
    ///
    /// Integer civil-date arithmetic, no date formatting: the rollups call it for every event they add.
    public static func monthStart(containing milliseconds: Int64) -> Int64 {
        let date = CivilDate(days: milliseconds.floorDivided(by: dayMs))
        return CivilDate.days(year: date.year, month: date.month, day: 1) * dayMs
    }

    /// The first millisecond of the calendar month (UTC) after the one that holds `milliseconds`.
    public static func nextMonthStart(after milliseconds: Int64) -> Int64 {
        let next = CivilDate(days: milliseconds.floorDivided(by: dayMs)).monthIndex + 1
        let year = next.floorDivided(by: 12)
        return CivilDate.days(year: year, month: next - year * 12 + 1, day: 1) * dayMs
    }

    private static let dayMs: Int64 = 86_400_000
}
