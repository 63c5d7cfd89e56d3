import Foundation

/// An exact amount of money in one currency unit, as a fixed-point integer with ``Money/scale`` fractional digits.
///
/// Money never passes through floating point: it is parsed from and printed as decimal strings
/// (`Money("0.000125")`, `money.description`). Adding and subtracting is exact. Multiplying by a token
/// count is exact for every rate that has at most ``Money/fractionalDigits`` − 6 digits per million tokens.
/// The one place a value is rounded is ``Money/multiplied(by:)`` with a ``DecimalRatio`` (markups),
/// which rounds half to even at the 15th fractional digit; see docs/ARCHITECTURE.md, "Money".
public struct Money: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// Number of fractional digits kept.
    public static let fractionalDigits = 15
    /// 10^fractionalDigits: the raw value of one currency unit.
    public static let scale: Int128 = 1_000_000_000_000_000

    /// The amount in units of 10^-15 of the currency unit.
    public let raw: Int128

    /// Zero.
    public static let zero = Money(raw: 0)

    /// Wraps a raw fixed-point value.
    public init(raw: Int128) { self.raw = raw }

    /// Parses a decimal string such as `"12"`, `"-0.5"`, `"0.000000150"`; `nil` when it is not a decimal
    /// number or has more fractional digits than ``fractionalDigits``.
    public init?(_ text: String) {
        guard let value = FixedPoint.parse(text, digits: Self.fractionalDigits) else { return nil }
        self.raw = value
    }

    /// The plain decimal form, without exponent or trailing zeros: `"0.00015"`, `"12"`, `"-3.5"`.
    public var description: String { FixedPoint.format(raw, digits: Self.fractionalDigits) }

    /// Sum of two amounts.
    public static func + (lhs: Money, rhs: Money) -> Money { Money(raw: lhs.raw + rhs.raw) }
    /// Difference of two amounts.
    public static func - (lhs: Money, rhs: Money) -> Money { Money(raw: lhs.raw - rhs.raw) }
    /// Adds in place.
    public static func += (lhs: inout Money, rhs: Money) { lhs = lhs + rhs }
    /// Orders by value.
    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.raw < rhs.raw }

    /// The amount times a whole count (tokens, requests): exact.
    public func times(_ count: Int) -> Money { Money(raw: raw * Int128(count)) }

    /// The amount times a decimal ratio (a markup such as 1.25), rounded half to even at the last kept digit.
    public func multiplied(by ratio: DecimalRatio) -> Money {
        Money(raw: FixedPoint.divideRoundingHalfEven(raw * ratio.numerator, by: ratio.denominator))
    }

    /// Encoded as its decimal string so JSON never carries a float.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Money(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a decimal amount: \(text)"))
        }
        self = value
    }

    /// Encodes the decimal string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An exact decimal multiplier such as a markup of `1.25`, kept as numerator / 10^k.
public struct DecimalRatio: Sendable, Hashable, CustomStringConvertible {
    /// Numerator of the ratio.
    public let numerator: Int128
    /// Power of ten that divides the numerator.
    public let denominator: Int128

    /// One: no markup. Kept in the same scale as parsed ratios, so that `DecimalRatio("1") == .one`.
    public static let one = DecimalRatio(numerator: 1, denominator: 1)

    /// A ratio in lowest terms, so that products of ratios (a markup and two discounts) stay small.
    init(numerator: Int128, denominator: Int128) {
        var a = numerator.magnitude
        var b = denominator.magnitude
        while b != 0 { (a, b) = (b, a % b) }
        let divisor = a == 0 ? 1 : Int128(a)
        self.numerator = numerator / divisor
        self.denominator = denominator / divisor
    }

    /// Parses a non-negative decimal string with at most 9 fractional digits (`"1.25"`).
    public init?(_ text: String) {
        guard let value = FixedPoint.parse(text, digits: 9), value >= 0 else { return nil }
        self.init(numerator: value, denominator: 1_000_000_000)
    }

    /// The decimal string it was written as, without trailing zeros.
    public var description: String { FixedPoint.format(numerator * 1_000_000_000_000 / denominator, digits: 12) }

    /// The product of two ratios (a markup and a discount), exact.
    public static func * (lhs: DecimalRatio, rhs: DecimalRatio) -> DecimalRatio {
        DecimalRatio(numerator: lhs.numerator * rhs.numerator, denominator: lhs.denominator * rhs.denominator)
    }
}

/// Decimal string ⇄ fixed-point integer conversion shared by ``Money`` and ``DecimalRatio``.
enum FixedPoint {
    /// Parses `[-+]digits[.digits]` into an integer scaled by 10^digits; `nil` on anything else or on excess precision.
    static func parse(_ text: String, digits: Int) -> Int128? {
        var bytes = Substring(text.trimmingCharacters(in: .whitespaces))
        var negative = false
        if bytes.first == "-" || bytes.first == "+" {
            negative = bytes.first == "-"
            bytes = bytes.dropFirst()
        }
        let parts = bytes.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !(whole.isEmpty && parts.count == 1) else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard whole.allSatisfy(\.isASCIIDigit), fraction.allSatisfy(\.isASCIIDigit), !(whole.isEmpty && fraction.isEmpty) else {
            return nil
        }
        let trimmedFraction = fraction.reversed().drop(while: { $0 == "0" }).reversed()
        guard trimmedFraction.count <= digits, whole.count <= 22 else { return nil }
        var value: Int128 = 0
        for character in whole { value = value * 10 + Int128(character.asciiValue! - 48) }
        var fractionValue: Int128 = 0
        for character in trimmedFraction { fractionValue = fractionValue * 10 + Int128(character.asciiValue! - 48) }
        fractionValue *= power10(digits - trimmedFraction.count)
        let result = value * power10(digits) + fractionValue
        return negative ? -result : result
    }

    /// Formats a scaled integer as a plain decimal string without trailing zeros.
    static func format(_ value: Int128, digits: Int) -> String {
        let magnitude = value.magnitude
        let unit = UInt128(power10(digits))
        let whole = magnitude / unit
        var fraction = String(magnitude % unit)
        var text = (value < 0 ? "-" : "") + String(whole)
        if fraction != "0" {
            fraction = String(repeating: "0", count: digits - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text
    }

    /// Integer division that rounds half to even (banker's rounding).
    static func divideRoundingHalfEven(_ dividend: Int128, by divisor: Int128) -> Int128 {
        let quotient = dividend / divisor
        let remainder = dividend % divisor
        let twice = remainder.magnitude * 2
        if twice > divisor.magnitude || (twice == divisor.magnitude && quotient % 2 != 0) {
            return (dividend < 0) != (divisor < 0) ? quotient - 1 : quotient + 1
        }
        return quotient
    }

    /// 10^exponent.
    static func power10(_ exponent: Int) -> Int128 {
        var result: Int128 = 1
        for _ in 0..<exponent { result *= 10 }
        return result
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

extension Money {
    /// The amount divided by a whole count (prices written per thousand units), rounded half to even at the last
    /// kept digit; exact whenever the division is (a price with at most 15 − log10(count) fractional digits).
    public func divided(by count: Int) -> Money {
        count == 1 ? self : Money(raw: FixedPoint.divideRoundingHalfEven(raw, by: Int128(count)))
    }

    /// The amount rounded half to even to `digits` fractional digits (2 for cents): the one rounding applied to a
    /// rated line before it is invoiced.
    public func rounded(toDigits digits: Int) -> Money {
        guard digits < Money.fractionalDigits else { return self }
        let unit = FixedPoint.power10(Money.fractionalDigits - digits)
        return Money(raw: FixedPoint.divideRoundingHalfEven(raw, by: unit) * unit)
    }

    /// Whether the amount is negative.
    public var isNegative: Bool { raw < 0 }
}

extension Money {
    /// A per-token amount from a rate written per million tokens (`"0.15"`); `nil` when the text is not a
    /// non-negative decimal with at most 9 fractional digits.
    public static func perMillionTokens(_ text: String) -> Money? {
        guard let value = FixedPoint.parse(text, digits: 9), value >= 0 else { return nil }
        return Money(raw: value)
    }

    /// The rate per million tokens of a per-token amount, as it would be written in a provider file.
    public var perMillionDescription: String { FixedPoint.format(raw, digits: 9) }
}
