import Foundation
import Synchronization

/// When a customer's billing periods begin and end: every week, month or year from an anchor (a day and a time of
/// day), in the customer's own time zone.
///
/// Boundaries are wall-clock times in ``timeZone``: a cycle anchored on the 15th at 00:00 in America/New_York runs
/// from the 15th 00:00 New York time to the next 15th 00:00 New York time, whatever the offset from UTC did in between
/// (a period across a daylight-saving change is an hour longer or shorter). A monthly anchor past the end of a short
/// month falls on its last day (anchored on the 31st: February 28 or 29, April 30), and every start is derived from the
/// anchor itself, so March goes back to the 31st. A time of day that does not exist on a day (02:30 when the clocks
/// jump from 02:00 to 03:00) starts at the first instant after the jump; one that happens twice (when the clocks go
/// back) at its first occurrence. The default, ``calendarMonthUTC``, is the calendar month in UTC.
public struct BillingCycle: Sendable, Hashable, Codable, CustomStringConvertible {
    /// How long a period lasts.
    public enum Cadence: String, Sendable, Hashable, Codable, CaseIterable {
        case week, month, year
    }

    /// How long a period lasts.
    public var cadence: Cadence
    /// The month a yearly period starts in (1 … 12); 1 for the other cadences.
    public var anchorMonth: Int
    /// The day a period starts on: the day of the month (1 … 31) for monthly and yearly cycles, the ISO weekday
    /// (1 = Monday … 7 = Sunday) for weekly ones.
    public var anchorDay: Int
    /// The local time of day a period starts at, in minutes after midnight (0 … 1439).
    public var anchorMinutes: Int
    /// The IANA time zone the boundaries are wall-clock times of (`UTC`, `America/New_York`, `Asia/Kolkata`).
    public var timeZone: String

    /// Calendar months from the 1st 00:00 UTC: every period's default.
    public static let calendarMonthUTC = BillingCycle(cadence: .month, anchorMonth: 1, anchorDay: 1, anchorMinutes: 0, timeZone: "UTC")

    enum CodingKeys: String, CodingKey {
        case cadence, anchor, time, timeZone = "time_zone"
    }

    /// Stored and shown as it is written: `{"cadence": "month", "anchor": "15", "time": "00:00", "time_zone": "…"}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(cadence.rawValue, forKey: .cadence)
        try container.encode(anchorText, forKey: .anchor)
        try container.encode(timeText, forKey: .time)
        try container.encode(timeZone, forKey: .timeZone)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        do {
            try self.init(
                cadence: try container.decode(String.self, forKey: .cadence), anchor: try container.decodeIfPresent(String.self, forKey: .anchor),
                time: try container.decodeIfPresent(String.self, forKey: .time),
                timeZone: try container.decodeIfPresent(String.self, forKey: .timeZone))
        } catch let error as BillingCycleError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    init(cadence: Cadence, anchorMonth: Int, anchorDay: Int, anchorMinutes: Int, timeZone: String) {
        self.cadence = cadence
        self.anchorMonth = anchorMonth
        self.anchorDay = anchorDay
        self.anchorMinutes = anchorMinutes
        self.timeZone = timeZone
    }

    /// A cycle from how an operator writes it: `cadence` `week`, `month` or `year` (also `weekly`, `monthly`,
    /// `yearly`); `anchor` the day it starts on (`15` for a month; `03-15` or `15` for a year, `03-15` is March 15;
    /// `monday` … `sunday` for a week; the 1st, January 1 or Monday when `nil`); `time` the local time of day
    /// (`HH:MM`, `00:00` when `nil`); `timeZone` an IANA name (`UTC` when `nil`). Throws a sentence that names the
    /// bad part.
    public init(cadence: String, anchor: String? = nil, time: String? = nil, timeZone: String? = nil) throws(BillingCycleError) {
        let cadenceName = cadence.trimmingCharacters(in: .whitespaces).lowercased()
        guard let parsed = Cadence(rawValue: cadenceName) ?? ["weekly": .week, "monthly": .month, "yearly": .year, "annual": .year][cadenceName]
        else { throw BillingCycleError("a billing cycle's cadence is week, month or year, not '\(cadence)'") }
        self.cadence = parsed
        anchorMonth = 1
        anchorDay = 1
        if let anchor = anchor?.trimmingCharacters(in: .whitespaces), !anchor.isEmpty {
            switch parsed {
            case .week:
                guard let day = Self.weekdays.firstIndex(where: { $0.hasPrefix(anchor.lowercased()) && anchor.count >= 3 }) else {
                    throw BillingCycleError("a weekly cycle's anchor is a weekday (monday … sunday), not '\(anchor)'")
                }
                anchorDay = day + 1
            case .month:
                guard let day = Int(anchor), (1...31).contains(day) else {
                    throw BillingCycleError("a monthly cycle's anchor is a day of the month, 1 to 31, not '\(anchor)'")
                }
                anchorDay = day
            case .year:
                let parts = anchor.split(separator: "-").map { Int($0) }
                if parts.count == 2, let month = parts[0], let day = parts[1], (1...12).contains(month),
                    (1...CivilDate.length(year: 2000, month: Int64(month))).contains(Int64(day))
                {
                    anchorMonth = month
                    anchorDay = day
                } else if parts.count == 1, let day = parts[0], (1...31).contains(day) {
                    anchorDay = day
                } else {
                    throw BillingCycleError("a yearly cycle's anchor is a month and day such as 03-15, not '\(anchor)'")
                }
            }
        }
        anchorMinutes = 0
        if let time = time?.trimmingCharacters(in: .whitespaces), !time.isEmpty {
            let parts = time.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
                (0..<24).contains(hours), (0..<60).contains(minutes)
            else { throw BillingCycleError("a billing cycle's time of day is HH:MM (00:00 to 23:59), not '\(time)'") }
            anchorMinutes = hours * 60 + minutes
        }
        let zone = timeZone?.trimmingCharacters(in: .whitespaces) ?? "UTC"
        guard Self.zone(zone) != nil else {
            throw BillingCycleError("unknown time zone '\(zone)': use an IANA name such as UTC, Europe/Paris or America/New_York")
        }
        self.timeZone = zone.isEmpty ? "UTC" : zone
    }

    /// `monthly from the 15th at 00:00 America/New_York`.
    public var description: String {
        let time = String(format: "%02d:%02d", anchorMinutes / 60, anchorMinutes % 60)
        switch cadence {
        case .week: return "weekly from \(Self.weekdays[anchorDay - 1].capitalized) at \(time) \(timeZone)"
        case .month: return "monthly from the \(Self.ordinal(anchorDay)) at \(time) \(timeZone)"
        case .year: return "yearly from \(Self.monthNames[anchorMonth - 1]) \(anchorDay) at \(time) \(timeZone)"
        }
    }

    /// The anchor as ``init(cadence:anchor:time:timeZone:)`` reads it: `15`, `03-15` or `monday`.
    public var anchorText: String {
        switch cadence {
        case .week: Self.weekdays[anchorDay - 1]
        case .month: String(anchorDay)
        case .year: String(format: "%02d-%02d", anchorMonth, anchorDay)
        }
    }

    /// The time of day as ``init(cadence:anchor:time:timeZone:)`` reads it: `HH:MM`.
    public var timeText: String { String(format: "%02d:%02d", anchorMinutes / 60, anchorMinutes % 60) }

    // MARK: - Periods

    /// The period that holds `timestampMs` (a moment on a boundary belongs to the period it starts).
    public func period(containing timestampMs: Int64) -> BillingPeriod {
        let zone = self.zone
        let local = CivilDate(days: (timestampMs + Self.offsetMs(zone, at: timestampMs)).floorDivided(by: Self.dayMs))
        var index = index(ofPeriodAround: local)
        if start(index, zone) > timestampMs { index -= 1 }
        while start(index + 1, zone) <= timestampMs { index += 1 }
        return period(index, zone)
    }

    /// The period a name stands for, `nowMs` being now:
    /// - `current`, `previous` (also `last`): the period holding now, the one before it;
    /// - `YYYY-MM-DD`: the period holding that local date's anchor time;
    /// - `YYYY-MM` (monthly cycles): the period that starts in that month; for a weekly or yearly cycle, the period
    ///   holding the month's first day;
    /// - `YYYY` (yearly cycles): the period that starts in that year.
    ///
    /// On the default cycle, `2026-11` is the calendar month November 2026 UTC.
    public func period(named name: String, nowMs: Int64) throws(BillingCycleError) -> BillingPeriod {
        let zone = self.zone
        let text = name.trimmingCharacters(in: .whitespaces).lowercased()
        switch text {
        case "current": return period(containing: nowMs)
        case "previous", "last": return period(containing: period(containing: nowMs).startMs - 1)
        default: break
        }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int64($0) }
        guard !parts.contains(nil), let year = parts.first ?? nil, text.split(separator: "-").first?.count == 4 else {
            throw BillingCycleError(
                "a period is current, previous, a month (2026-11), a date (2026-11-15) or a year (2026), not '\(name)'")
        }
        switch parts.count {
        case 1 where cadence == .year:
            return period(year, zone)
        case 2 where cadence == .month:
            guard let month = parts[1], (1...12).contains(month) else { break }
            return period(year * 12 + month - 1, zone)
        case 2:
            guard let month = parts[1], (1...12).contains(month) else { break }
            return period(containing: localStartMs(days: CivilDate.days(year: year, month: month, day: 1), zone))
        case 3:
            guard let month = parts[1], let day = parts[2], (1...12).contains(month), (1...CivilDate.length(year: year, month: month)).contains(day)
            else { break }
            return period(containing: localStartMs(days: CivilDate.days(year: year, month: month, day: day), zone))
        default: break
        }
        throw BillingCycleError(
            "'\(name)' names no \(cadence) period: use current, previous, a date (2026-11-15)"
                + (cadence == .month ? " or a month (2026-11)" : cadence == .year ? " or a year (2026)" : ""))
    }

    /// The instant a local date (`2026-11-15`) begins in the cycle's time zone (the first instant of the day when the
    /// clocks skipped midnight); `nil` for a text that is no date.
    public func midnight(of date: String) -> Int64? {
        let parts = date.split(separator: "-", omittingEmptySubsequences: false)
        guard date.count == 10, parts.count == 3, let year = Int64(parts[0]), let month = Int64(parts[1]), let day = Int64(parts[2]),
            (1...12).contains(month), (1...CivilDate.length(year: year, month: month)).contains(day)
        else { return nil }
        return Self.instant(localMs: CivilDate.days(year: year, month: month, day: day) * Self.dayMs, zone)
    }

    /// The local date (`2026-11-14`) of an instant in the cycle's time zone.
    public func localDate(of timestampMs: Int64) -> String {
        let date = CivilDate(days: (timestampMs + Self.offsetMs(zone, at: timestampMs)).floorDivided(by: Self.dayMs))
        return String(format: "%04lld-%02lld-%02lld", date.year, date.month, date.day)
    }

    /// Whether the time zone's offset from UTC is a whole number of hours at both ends of a range and in between
    /// (checked at each daylight-saving change), so that hours in UTC are hours on the local clock too. An open start
    /// counts as 1970, an open end as now.
    public func hasWholeHourOffsets(from fromMs: Int64?, to toMs: Int64?) -> Bool {
        let zone = self.zone
        var time = fromMs ?? 0
        let end = toMs ?? Timestamps.nowMs()
        for _ in 0..<1000 {
            guard Self.offsetMs(zone, at: time) % 3_600_000 == 0 else { return false }
            guard time < end, let next = zone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: Double(time) / 1000)) else {
                return true
            }
            time = min(end, Int64((next.timeIntervalSince1970 * 1000).rounded()))
        }
        return false
    }

    /// The period after `period`.
    public func period(after period: BillingPeriod) -> BillingPeriod { self.period(containing: period.endMs) }

    // MARK: - Arithmetic

    static let dayMs: Int64 = 86_400_000
    static let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
    ]

    var zone: TimeZone { Self.zone(timeZone) ?? TimeZone(secondsFromGMT: 0)! }

    /// Zones by name, looked up once each.
    private static let zones = Mutex<[String: TimeZone]>([:])

    private static let knownZones = Set(TimeZone.knownTimeZoneIdentifiers)

    static func zone(_ name: String) -> TimeZone? {
        if name.isEmpty || name == "UTC" { return TimeZone(identifier: "UTC") }
        if let known = zones.withLock({ $0[name] }) { return known }
        // Foundation also accepts abbreviations and offsets ("EST", "GMT+2"), whose meaning is not always clear: a cycle
        // takes IANA names (Region/City, Etc/…) and the few IANA names without a slash that Foundation lists.
        guard name.contains("/") || knownZones.contains(name), let zone = TimeZone(identifier: name), zone.identifier == name else { return nil }
        zones.withLock { $0[name] = zone }
        return zone
    }

    /// A period index: weeks since the week of 1970-01-01, months since year 0, or the year.
    private func index(ofPeriodAround date: CivilDate) -> Int64 {
        switch cadence {
        case .week: (CivilDate.days(year: date.year, month: date.month, day: date.day) - Int64(anchorDay - 4)).floorDivided(by: 7)
        case .month: date.monthIndex
        case .year: date.year
        }
    }

    /// The local date (days since 1970-01-01) period `index` starts on.
    private func startDay(_ index: Int64) -> Int64 {
        switch cadence {
        case .week:
            // 1970-01-01 was a Thursday (ISO weekday 4).
            return index * 7 + Int64(anchorDay - 4)
        case .month:
            let year = index.floorDivided(by: 12)
            let month = index - year * 12 + 1
            return CivilDate.days(year: year, month: month, day: min(Int64(anchorDay), CivilDate.length(year: year, month: month)))
        case .year:
            let month = Int64(anchorMonth)
            return CivilDate.days(year: index, month: month, day: min(Int64(anchorDay), CivilDate.length(year: index, month: month)))
        }
    }

    private func start(_ index: Int64, _ zone: TimeZone) -> Int64 { localStartMs(days: startDay(index), zone) }

    private func period(_ index: Int64, _ zone: TimeZone) -> BillingPeriod {
        let day = CivilDate(days: startDay(index))
        return BillingPeriod(
            startMs: start(index, zone), endMs: start(index + 1, zone),
            name: String(format: "%04lld-%02lld-%02lld", day.year, day.month, day.day))
    }

    /// The instant the anchor's time of day falls on a local date (days since 1970-01-01).
    private func localStartMs(days: Int64, _ zone: TimeZone) -> Int64 {
        Self.instant(localMs: days * Self.dayMs + Int64(anchorMinutes) * 60_000, zone)
    }

    /// The first instant whose wall-clock time in `zone` is `localMs` (local time counted like UTC); when that wall-clock
    /// time does not exist (skipped by a jump forward), the instant of the jump.
    static func instant(localMs: Int64, _ zone: TimeZone) -> Int64 {
        let before = offsetMs(zone, at: localMs - dayMs)
        let after = offsetMs(zone, at: localMs + dayMs)
        let candidates = [localMs - before, localMs - after].sorted()
        for candidate in candidates where candidate + offsetMs(zone, at: candidate) == localMs { return candidate }
        // A gap: the wall clock jumped over localMs; the period starts when it jumped.
        let jump = zone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: Double(candidates[0]) / 1000))
        return jump.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } ?? candidates[1]
    }

    /// The zone's offset from UTC at an instant, in milliseconds.
    static func offsetMs(_ zone: TimeZone, at timestampMs: Int64) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(timestampMs.floorDivided(by: 1000)))) * 1000)
    }

    static func ordinal(_ day: Int) -> String {
        let suffix = (11...13).contains(day % 100) ? "th" : [1: "st", 2: "nd", 3: "rd"][day % 10] ?? "th"
        return "\(day)\(suffix)"
    }
}

/// One billing period: [startMs, endMs) in milliseconds since 1970, named by the local date it starts on.
public struct BillingPeriod: Sendable, Hashable {
    /// Start (inclusive).
    public var startMs: Int64
    /// End (exclusive).
    public var endMs: Int64
    /// The local date the period starts on (`2026-11-15`).
    public var name: String

    /// A period.
    public init(startMs: Int64, endMs: Int64, name: String) {
        self.startMs = startMs
        self.endMs = endMs
        self.name = name
    }
}

/// A billing cycle that cannot be read, in a sentence.
public struct BillingCycleError: Error, CustomStringConvertible, Equatable {
    /// What is wrong.
    public var description: String
    init(_ description: String) { self.description = description }
}

/// A customer's billing cycle as commands and the admin API show it: the cycle, where it is set, and the period in
/// progress.
public struct ResolvedBillingCycle: Sendable, Encodable, Equatable {
    /// The cycle.
    public var cycle: BillingCycle
    /// Where it is set.
    public var source: BillingCycleSource
    /// The period that holds the time it was resolved at.
    public var current: BillingPeriod

    /// The cycle, its source and its period holding `nowMs`.
    public init(_ resolved: (cycle: BillingCycle, source: BillingCycleSource), nowMs: Int64) {
        cycle = resolved.cycle
        source = resolved.source
        current = resolved.cycle.period(containing: nowMs)
    }

    enum CodingKeys: String, CodingKey {
        case cadence, anchor, time, timeZone = "time_zone", description, source, currentPeriod = "current_period"
    }

    enum PeriodKeys: String, CodingKey { case name, start, end }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(cycle.cadence.rawValue, forKey: .cadence)
        try container.encode(cycle.anchorText, forKey: .anchor)
        try container.encode(cycle.timeText, forKey: .time)
        try container.encode(cycle.timeZone, forKey: .timeZone)
        try container.encode(cycle.description, forKey: .description)
        try container.encode(source.description, forKey: .source)
        var period = container.nestedContainer(keyedBy: PeriodKeys.self, forKey: .currentPeriod)
        try period.encode(current.name, forKey: .name)
        try period.encode(Timestamps.iso8601(current.startMs), forKey: .start)
        try period.encode(Timestamps.iso8601(current.endMs), forKey: .end)
    }
}
