import Foundation
import Testing

@testable import TollgateCore

/// Billing cycles: anchors, time zones across daylight-saving changes, short months, period names. Expected instants
/// were computed with Python's zoneinfo (the IANA database), independently of Foundation.
@Suite struct BillingCycleTests {
    static func at(_ text: String) -> Int64 { Timestamps.parse(text)! }

    /// A period as ISO 8601 strings (UTC), so a failure reads as dates.
    static func span(_ period: BillingPeriod) -> [String] { [Timestamps.iso8601(period.startMs), Timestamps.iso8601(period.endMs)] }

    static func cycle(_ cadence: String, _ anchor: String? = nil, time: String? = nil, zone: String? = nil) -> BillingCycle {
        try! BillingCycle(cadence: cadence, anchor: anchor, time: time, timeZone: zone)
    }

    @Test func theDefaultIsTheCalendarMonthInUTC() throws {
        let cycle = BillingCycle.calendarMonthUTC
        #expect(Self.span(cycle.period(containing: Self.at("2026-11-20T10:00:00Z"))) == ["2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"])
        #expect(Self.span(cycle.period(containing: Self.at("2026-12-01T00:00:00Z"))) == ["2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"])
        #expect(Self.span(try cycle.period(named: "2026-11", nowMs: 0)) == ["2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"])
        #expect(try cycle.period(named: "2026-11", nowMs: 0).name == "2026-11-01")
        #expect(try BillingCycle(cadence: "monthly") == cycle)
    }

    /// The example: anchored on the 15th in New York, across the end of daylight-saving time (2026-11-01): the
    /// period starts at 04:00 UTC (EDT) and ends at 05:00 UTC (EST), one hour longer than 31 days.
    @Test func newYorkOnTheFifteenthAcrossTheEndOfDaylightSavingTime() throws {
        let cycle = Self.cycle("month", "15", zone: "America/New_York")
        let period = cycle.period(containing: Self.at("2026-11-01T12:00:00Z"))
        #expect(period.startMs == 1_792_036_800_000)
        #expect(period.endMs == 1_794_718_800_000)
        #expect(period.endMs - period.startMs == (31 * 24 + 1) * 3_600_000)
        #expect(period.name == "2026-10-15")
        #expect(try cycle.period(named: "2026-10", nowMs: 0) == period)
        #expect(try cycle.period(named: "2026-10-15", nowMs: 0) == period)
        #expect(try cycle.period(named: "2026-11-14", nowMs: 0) == period)
        // 23:59 on the 14th in New York is still this period; midnight starts the next.
        #expect(cycle.period(containing: period.endMs - 1) == period)
        #expect(cycle.period(containing: period.endMs).startMs == period.endMs)
        #expect(cycle.period(after: period).name == "2026-11-15")
        // And across the start of daylight-saving time (2026-03-08): one hour shorter.
        let spring = cycle.period(containing: Self.at("2026-03-01T00:00:00Z"))
        #expect([spring.startMs, spring.endMs] == [1_771_131_600_000, 1_773_547_200_000])
        #expect(spring.endMs - spring.startMs == (28 * 24 - 1) * 3_600_000)
    }

    @Test func anAnchorPastTheEndOfAShortMonthFallsOnItsLastDayAndComesBack() {
        let cycle = Self.cycle("month", "31")
        var period = cycle.period(containing: Self.at("2027-01-31T00:00:00Z"))
        var starts: [String] = []
        for _ in 0..<4 {
            starts.append(Timestamps.iso8601(period.startMs))
            period = cycle.period(after: period)
        }
        #expect(starts == ["2027-01-31T00:00:00Z", "2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z", "2027-04-30T00:00:00Z"])
        #expect(cycle.period(containing: Self.at("2028-02-29T12:00:00Z")).name == "2028-02-29")
    }

    @Test func aTimeOfDayTheClocksSkipStartsWhenTheyJumpAndOneTheyRepeatAtItsFirstOccurrence() {
        // 2026-03-08 02:30 does not exist in New York (02:00 EST → 03:00 EDT, at 07:00 UTC).
        let skipped = Self.cycle("month", "8", time: "02:30", zone: "America/New_York")
        #expect(skipped.period(containing: Self.at("2026-03-20T00:00:00Z")).startMs == 1_772_953_200_000)
        // 2026-11-01 01:30 happens twice (EDT, then EST): the first is 05:30 UTC.
        let repeated = Self.cycle("month", "1", time: "01:30", zone: "America/New_York")
        #expect(repeated.period(containing: Self.at("2026-11-20T00:00:00Z")).startMs == 1_793_511_000_000)
    }

    @Test func weeklyYearlyAndHalfHourZones() throws {
        let week = Self.cycle("weekly", "monday")
        #expect(
            [week.period(containing: Self.at("2026-12-04T12:00:00Z")).startMs, week.period(containing: Self.at("2026-12-04T12:00:00Z")).endMs]
                == [1_795_996_800_000, 1_796_601_600_000])
        let sunday = Self.cycle("week", "sun", time: "18:00", zone: "Europe/Paris")
        #expect(Self.span(sunday.period(containing: Self.at("2026-12-06T16:59:59Z"))) == ["2026-11-29T17:00:00Z", "2026-12-06T17:00:00Z"])
        let year = Self.cycle("year", "03-15", zone: "Europe/Paris")
        let period = year.period(containing: Self.at("2026-12-04T12:00:00Z"))
        #expect([period.startMs, period.endMs] == [1_773_529_200_000, 1_805_065_200_000])
        #expect(try year.period(named: "2026", nowMs: 0) == period)
        let india = Self.cycle("month", zone: "Asia/Kolkata")
        let december = try india.period(named: "2026-12", nowMs: 0)
        #expect([december.startMs, december.endMs] == [1_796_063_400_000, 1_798_741_800_000])
    }

    @Test func currentAndPreviousAreReadAgainstNow() throws {
        let cycle = Self.cycle("month", "15", zone: "America/New_York")
        let now = Self.at("2026-12-04T12:00:00Z")
        #expect(try cycle.period(named: "current", nowMs: now).name == "2026-11-15")
        #expect(try cycle.period(named: "previous", nowMs: now).name == "2026-10-15")
    }

    @Test func badCyclesAndPeriodNamesAreRefusedInASentence() {
        #expect(throws: BillingCycleError.self) { try BillingCycle(cadence: "fortnight") }
        #expect(throws: BillingCycleError.self) { try BillingCycle(cadence: "month", anchor: "32") }
        #expect(throws: BillingCycleError.self) { try BillingCycle(cadence: "year", anchor: "02-30") }
        #expect(throws: BillingCycleError.self) { try BillingCycle(cadence: "week", anchor: "someday") }
        #expect(throws: BillingCycleError.self) { try BillingCycle(cadence: "month", time: "25:00") }
        #expect(throws: BillingCycleError.self) { try BillingCycle(cadence: "month", timeZone: "Mars/Olympus_Mons") }
        #expect(throws: BillingCycleError.self) { try BillingCycle(cadence: "month", timeZone: "EST") }
        let cycle = BillingCycle.calendarMonthUTC
        for name in ["26-11", "2026-13", "2026-02-30", "november", "2026"] {
            #expect(throws: BillingCycleError.self, "\(name)") { try cycle.period(named: name, nowMs: 0) }
        }
    }

    @Test func descriptionsReadAsASentence() {
        #expect(Self.cycle("month", "15", zone: "America/New_York").description == "monthly from the 15th at 00:00 America/New_York")
        #expect(Self.cycle("year", "03-01", time: "09:30").description == "yearly from March 1 at 09:30 UTC")
        #expect(Self.cycle("week", "friday").description == "weekly from Friday at 00:00 UTC")
        #expect(Self.cycle("month", "22").description.contains("22nd"))
    }
}
