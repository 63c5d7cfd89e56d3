/// A proleptic Gregorian date, counted in days from 1970-01-01 (the civil-date algorithms of Howard Hinnant).
public struct CivilDate: Sendable, Equatable {
    /// The year (proleptic Gregorian; 0 and negative years exist).
    public var year: Int64
    /// 1 … 12.
    public var month: Int64
    /// 1 … 31.
    public var day: Int64

    /// Months since year 0, so that month arithmetic is plain integer arithmetic.
    var monthIndex: Int64 { year * 12 + month - 1 }

    /// The date `days` days after 1970-01-01 (before it when negative).
    public init(days: Int64) {
        let shifted = days + 719_468  // days from 0000-03-01, the start of a 400-year era
        let era = shifted.floorDivided(by: 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let marchMonth = (5 * dayOfYear + 2) / 153  // 0 = March … 11 = February
        day = dayOfYear - (153 * marchMonth + 2) / 5 + 1
        month = marchMonth < 10 ? marchMonth + 3 : marchMonth - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// Days from 1970-01-01 to this date.
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let marchYear = month <= 2 ? year - 1 : year
        let era = marchYear.floorDivided(by: 400)
        let yearOfEra = marchYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Days in a month of a year (February 29 in Gregorian leap years).
    static func length(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
