import Foundation
import Testing

@testable import TollgateCore

/// Limit windows: UTC calendar periods at their boundaries, anniversary periods forwards and backwards from the anchor.
@Suite struct LimitPeriodTests {
    /// A UTC time written in a test.
    static func at(_ text: String) -> Int64 { Timestamps.parse(text)! }

    /// The window as ISO 8601 strings, so a failure reads as dates.
    static func window(_ period: LimitPeriod, _ time: String, anchor: PeriodAnchor = .calendar) -> [String] {
        let window = period.window(containing: at(time), anchor: anchor)
        return [Timestamps.iso8601(window.startMs), window.endMs.map(Timestamps.iso8601) ?? "never"]
    }

    @Test func calendarMinuteEndsJustBeforeTheNextOne() {
        #expect(Self.window(.minute, "2026-03-15T10:00:59.999Z") == ["2026-03-15T10:00:00Z", "2026-03-15T10:01:00Z"])
        #expect(Self.window(.minute, "2026-03-15T10:01:00Z") == ["2026-03-15T10:01:00Z", "2026-03-15T10:02:00Z"])
    }

    @Test func exactMidnightBelongsToTheNewDay() {
        #expect(Self.window(.day, "2026-03-14T23:59:59.999Z") == ["2026-03-14T00:00:00Z", "2026-03-15T00:00:00Z"])
        #expect(Self.window(.day, "2026-03-15T00:00:00Z") == ["2026-03-15T00:00:00Z", "2026-03-16T00:00:00Z"])
        #expect(Self.window(.day, "2024-02-29T12:00:00Z") == ["2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"])
    }

    @Test func daysBefore1970RoundDown() {
        #expect(LimitPeriod.day.window(containing: -1, anchor: .calendar) == (-86_400_000, 0))
        #expect(Self.window(.day, "1969-07-20T20:17:40Z") == ["1969-07-20T00:00:00Z", "1969-07-21T00:00:00Z"])
    }

    @Test func isoWeekRunsMondayToMonday() {
        // 2026-03-15 is a Sunday: it closes the week that began on Monday the 9th.
        #expect(Self.window(.week, "2026-03-15T23:59:59.999Z") == ["2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z"])
        #expect(Self.window(.week, "2026-03-16T00:00:00Z") == ["2026-03-16T00:00:00Z", "2026-03-23T00:00:00Z"])
        // Weeks cross the new year: Friday 2027-01-01 is in the week of Monday 2026-12-28.
        #expect(Self.window(.week, "2027-01-01T08:00:00Z") == ["2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"])
        // Thursday 1970-01-01 is in the week of Monday 1969-12-29.
        #expect(Self.window(.week, "1970-01-01T00:00:00Z") == ["1969-12-29T00:00:00Z", "1970-01-05T00:00:00Z"])
    }

    @Test func calendarMonthsHaveTheirOwnLengths() {
        #expect(Self.window(.month, "2026-01-31T23:59:59.999Z") == ["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"])
        #expect(Self.window(.month, "2026-02-01T00:00:00Z") == ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"])
        #expect(Self.window(.month, "2024-02-29T23:00:00Z") == ["2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"])
        #expect(Self.window(.month, "2026-04-30T12:00:00Z") == ["2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"])
        #expect(Self.window(.month, "2026-12-31T12:00:00Z") == ["2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"])
        // Century years are leap only every 400 years.
        #expect(Self.window(.month, "2100-02-28T12:00:00Z") == ["2100-02-01T00:00:00Z", "2100-03-01T00:00:00Z"])
        #expect(Self.window(.month, "2000-02-29T12:00:00Z") == ["2000-02-01T00:00:00Z", "2000-03-01T00:00:00Z"])
        #expect(Self.window(.month, "1969-12-31T23:59:59.999Z") == ["1969-12-01T00:00:00Z", "1970-01-01T00:00:00Z"])
    }

    @Test func totalNeverEnds() {
        #expect(LimitPeriod.total.window(containing: Self.at("2026-03-15T10:00:00Z"), anchor: .calendar) == (0, nil))
        #expect(LimitPeriod.total.window(containing: 5, anchor: .anniversary(1_000)) == (0, nil))
    }

    @Test func anniversaryMonthFromJanuary31ClampsWithoutDrifting() {
        let anchor = PeriodAnchor.anniversary(Self.at("2026-01-31T10:30:00Z"))
        #expect(Self.window(.month, "2026-02-10T00:00:00Z", anchor: anchor) == ["2026-01-31T10:30:00Z", "2026-02-28T10:30:00Z"])
        #expect(Self.window(.month, "2026-03-05T00:00:00Z", anchor: anchor) == ["2026-02-28T10:30:00Z", "2026-03-31T10:30:00Z"])
        // The 28th of February does not pull March back: the next window still starts on the 31st.
        #expect(Self.window(.month, "2026-03-31T10:29:59.999Z", anchor: anchor) == ["2026-02-28T10:30:00Z", "2026-03-31T10:30:00Z"])
        #expect(Self.window(.month, "2026-03-31T10:30:00Z", anchor: anchor) == ["2026-03-31T10:30:00Z", "2026-04-30T10:30:00Z"])
        #expect(Self.window(.month, "2026-05-01T00:00:00Z", anchor: anchor) == ["2026-04-30T10:30:00Z", "2026-05-31T10:30:00Z"])
        #expect(Self.window(.month, "2026-12-31T11:00:00Z", anchor: anchor) == ["2026-12-31T10:30:00Z", "2027-01-31T10:30:00Z"])
        let leap = PeriodAnchor.anniversary(Self.at("2024-01-31T00:00:00Z"))
        #expect(Self.window(.month, "2024-02-29T00:00:00Z", anchor: leap) == ["2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z"])
    }

    @Test func anniversaryPeriodsExtendBeforeTheAnchor() {
        let anchor = PeriodAnchor.anniversary(Self.at("2026-01-31T10:30:00Z"))
        #expect(Self.window(.month, "2026-01-31T10:29:59.999Z", anchor: anchor) == ["2025-12-31T10:30:00Z", "2026-01-31T10:30:00Z"])
        #expect(Self.window(.month, "2025-12-15T00:00:00Z", anchor: anchor) == ["2025-11-30T10:30:00Z", "2025-12-31T10:30:00Z"])
        #expect(Self.window(.month, "2025-03-01T00:00:00Z", anchor: anchor) == ["2025-02-28T10:30:00Z", "2025-03-31T10:30:00Z"])
        let morning = PeriodAnchor.anniversary(Self.at("2026-05-10T08:00:00Z"))
        #expect(Self.window(.day, "2026-05-09T07:59:59.999Z", anchor: morning) == ["2026-05-08T08:00:00Z", "2026-05-09T08:00:00Z"])
        #expect(Self.window(.day, "2026-05-10T08:00:00Z", anchor: morning) == ["2026-05-10T08:00:00Z", "2026-05-11T08:00:00Z"])
        #expect(Self.window(.week, "2026-05-03T09:00:00Z", anchor: morning) == ["2026-05-03T08:00:00Z", "2026-05-10T08:00:00Z"])
        #expect(Self.window(.week, "2026-05-17T07:00:00Z", anchor: morning) == ["2026-05-10T08:00:00Z", "2026-05-17T08:00:00Z"])
    }

    @Test func anniversaryMinuteCountsFromTheAnchorSecond() {
        let anchor = PeriodAnchor.anniversary(Self.at("2026-05-10T08:00:20Z"))
        #expect(Self.window(.minute, "2026-05-10T08:01:19.999Z", anchor: anchor) == ["2026-05-10T08:00:20Z", "2026-05-10T08:01:20Z"])
        #expect(Self.window(.minute, "2026-05-10T07:59:30Z", anchor: anchor) == ["2026-05-10T07:59:20Z", "2026-05-10T08:00:20Z"])
    }

    /// Against Foundation's Gregorian calendar: every anniversary month starts k months after the anchor, on the
    /// anchor's day clamped to the month's length (Foundation only builds the dates; its own month adding clamps
    /// differently on Linux), and the windows tile time without gaps or overlaps.
    @Test func anniversaryMonthsMatchFoundationsCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        var random = SeededGenerator(seed: 4)
        for _ in 0..<300 {
            // Anchors between 1990 and 2070, half of them on the 28th to 31st where clamping matters.
            let anchorMs = Self.at("1990-01-01T00:00:00Z") + Int64(random.next() % 2_524_608_000_000)
            var anchor = calendar.dateComponents(
                [.year, .month, .day, .hour, .minute, .second, .nanosecond], from: Date(timeIntervalSince1970: Double(anchorMs) / 1000))
            if random.next() % 2 == 0 {
                anchor.day = 1
                let length = calendar.range(of: .day, in: .month, for: calendar.date(from: anchor)!)!.count
                anchor.day = min(28 + Int(random.next() % 4), length)
            }
            let anchorTime = milliseconds(calendar.date(from: anchor)!)
            func start(_ months: Int) -> Int64 {
                let index = anchor.year! * 12 + anchor.month! - 1 + months
                var components = anchor
                components.year = index >= 0 ? index / 12 : (index - 11) / 12
                components.month = index - components.year! * 12 + 1
                components.day = 1
                let length = calendar.range(of: .day, in: .month, for: calendar.date(from: components)!)!.count
                components.day = min(anchor.day!, length)
                return milliseconds(calendar.date(from: components)!)
            }
            for months in -30...30 {
                let expected = (start(months), Optional(start(months + 1)))
                #expect(LimitPeriod.month.window(containing: expected.0, anchor: .anniversary(anchorTime)) == expected)
                #expect(LimitPeriod.month.window(containing: expected.1! - 1, anchor: .anniversary(anchorTime)) == expected)
            }
        }
    }

    @Test func calendarMonthsMatchFoundationsCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var random = SeededGenerator(seed: 7)
        for _ in 0..<2_000 {
            let time = Int64(random.next() % 7_258_118_400_000) - 2_208_988_800_000  // 1900 to 2200
            let interval = calendar.dateInterval(of: .month, for: Date(timeIntervalSince1970: Double(time) / 1000))!
            let window = LimitPeriod.month.window(containing: time, anchor: .calendar)
            #expect(window.startMs == Int64(interval.start.timeIntervalSince1970 * 1000))
            #expect(window.endMs == Int64(interval.end.timeIntervalSince1970 * 1000))
        }
    }

    @Test func labelsAndSpellings() {
        #expect(LimitPeriod.allCases.map(\.label) == ["per minute", "daily", "weekly", "monthly", "total"])
        #expect(LimitPeriod.parse("minute") == .minute)
        #expect(LimitPeriod.parse("Daily") == .day)
        #expect(LimitPeriod.parse(" week ") == .week)
        #expect(LimitPeriod.parse("weekly") == .week)
        #expect(LimitPeriod.parse("month") == .month)
        #expect(LimitPeriod.parse("MONTHLY") == .month)
        #expect(LimitPeriod.parse("total") == .total)
        #expect(LimitPeriod.parse("hourly") == nil)
        #expect(LimitPeriod.parse("") == nil)
        for period in LimitPeriod.allCases { #expect(LimitPeriod.parse(period.rawValue) == period) }
    }
}
