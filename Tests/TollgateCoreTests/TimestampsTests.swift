import Testing

@testable import TollgateCore

/// The one way times are written (ISO 8601 UTC, as much of the second as asked, dates and months) and the floor
/// division that keeps times before 1970 in the right second, day and month.
@Suite struct TimestampsTests {
    /// 2026-11-21T10:00:00.250Z.
    static let time: Int64 = 1_795_255_200_250

    @Test("ISO 8601 UTC: milliseconds when there are some, always, or cut to the whole second")
    func fractions() {
        #expect(Timestamps.iso8601(Self.time) == "2026-11-21T10:00:00.250Z")
        #expect(Timestamps.iso8601(Self.time - 250) == "2026-11-21T10:00:00Z")
        #expect(Timestamps.iso8601(Self.time, fraction: .milliseconds) == "2026-11-21T10:00:00.250Z")
        #expect(Timestamps.iso8601(Self.time - 250, fraction: .milliseconds) == "2026-11-21T10:00:00.000Z")
        #expect(EventFields.timestamp(Self.time - 250) == "2026-11-21T10:00:00.000Z")
        #expect(Timestamps.iso8601(Self.time + 749, fraction: .wholeSeconds) == "2026-11-21T10:00:00Z")
        #expect(Timestamps.iso8601(-1, fraction: .wholeSeconds) == "1969-12-31T23:59:59Z")
        #expect(Timestamps.iso8601(-1000, fraction: .wholeSeconds) == "1969-12-31T23:59:59Z")
    }

    @Test("dates and months of a time, before 1970 too")
    func datesAndMonths() {
        #expect(Timestamps.date(of: Self.time) == "2026-11-21")
        #expect(Timestamps.date(of: -1) == "1969-12-31")
        #expect(Timestamps.monthName(of: Self.time) == "2026-11")
        #expect(Timestamps.monthName(of: 0) == "1970-01")
    }

    @Test("a month written 2026-11 is [start, end) in milliseconds; what is not a month from 1970 to 9999 is nil")
    func months() {
        #expect(Timestamps.month("2026-11")?.startMs == Timestamps.parse("2026-11-01"))
        #expect(Timestamps.month("2026-11")?.endMs == Timestamps.parse("2026-12-01"))
        #expect(Timestamps.month("2026-12")?.endMs == Timestamps.parse("2027-01-01"))
        #expect(Timestamps.month("2024-02")?.endMs == Timestamps.parse("2024-03-01"))
        #expect(Timestamps.month("1970-01")?.startMs == 0)
        #expect(Timestamps.month("9999-12")?.endMs == 253_402_300_800_000)  // 10000-01-01
        for text in ["2026-13", "2026-00", "1969-12", "10000-01", "2026", "2026-11-01", "x-1", ""] {
            #expect(Timestamps.month(text) == nil, "\(text)")
        }
    }

    @Test("floor modulo and division: the remainder has the divisor's sign, the quotient rounds towards minus infinity")
    func floorDivision() {
        #expect(Int64(-1).floorModulo(1000) == 999 && Int64(-1).floorDivided(by: 1000) == -1)
        #expect(Int64(-1000).floorModulo(1000) == 0 && Int64(-1000).floorDivided(by: 1000) == -1)
        #expect(Int64(1999).floorModulo(1000) == 999 && Int64(1999).floorDivided(by: 1000) == 1)
        #expect(Int64(0).floorModulo(7) == 0 && Int64(0).floorDivided(by: 7) == 0)
        #expect(Int64(7).floorModulo(-3) == -2 && Int64(7).floorDivided(by: -3) == -3)
        #expect(Int64(-7).floorModulo(-3) == -1 && Int64(-7).floorDivided(by: -3) == 2)
        #expect(Int64.min.floorModulo(1000) == 192 && Int64.min.floorDivided(by: 1000) == Int64.min / 1000 - 1)
        #expect(
            (Int64(-2500)...2500).allSatisfy {
                $0.floorDivided(by: 1000) * 1000 + $0.floorModulo(1000) == $0 && (0..<1000).contains($0.floorModulo(1000))
            })
    }
}
