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

    /// The amount as a floating-point number of currency units: for metrics and charts only, never for money that
    /// is billed (the meter, reports and exports keep the exact value).
    public var approximateValue: Double {
        // `Double(Int128)` is the standard library's generic conversion (about 1 % of a request's CPU for the two
        // amounts each event's metrics carry): an amount that fits in 64 bits (up to about 9,223 units) converts
        // directly, to the same value.
        let units = raw >= Int128(Int64.min) && raw <= Int128(Int64.max) ? Double(Int64(truncatingIfNeeded: raw)) : Double(raw)
        return units / Self.doubleScale
    }
    private static let doubleScale = Double(scale)

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
///
/// Both directions work on UTF-8 bytes: reports read millions of amounts back from the meter.
enum FixedPoint {
    /// Parses `[-+]digits[.digits]` into an integer scaled by 10^digits; `nil` on anything else or on excess precision.
    ///
    /// Accepted: an optional sign, then ASCII digits with at most one `.` and at least one digit before or after it
    /// (`"5"`, `"5."`, `".5"`), surrounded by any number of the whitespace of `CharacterSet.whitespaces` (tab, space,
    /// no-break and the other Unicode spaces, zero-width space). Trailing zeros of the fraction are ignored; more than
    /// `digits` fractional digits after them, or more than 22 whole digits (leading zeros count), is `nil`: never
    /// rounded.
    static func parse(_ text: String, digits: Int) -> Int128? {
        if let parsed = text.utf8.withContiguousStorageIfAvailable({ parse(bytes: $0, digits: digits) }) { return parsed }
        return Array(text.utf8).withUnsafeBufferPointer { parse(bytes: $0, digits: digits) }
    }

    /// ``parse(_:digits:)`` on the UTF-8 bytes of the text.
    private static func parse(bytes: UnsafeBufferPointer<UInt8>, digits: Int) -> Int128? {
        var start = 0
        var end = bytes.count
        while start < end, let length = whitespaceLength(bytes, from: start, to: end) { start += length }
        while end > start, let length = whitespaceLength(bytes, endingAt: end, from: start) { end -= length }
        var index = start
        var negative = false
        if index < end, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        let wholeStart = index
        while index < end, isDigit(bytes[index]) { index += 1 }
        let wholeEnd = index
        var fractionStart = index
        if index < end, bytes[index] == UInt8(ascii: ".") {
            index += 1
            fractionStart = index
            while index < end, isDigit(bytes[index]) { index += 1 }
        }
        var fractionEnd = index
        guard index == end, wholeEnd > wholeStart || fractionEnd > fractionStart else { return nil }
        while fractionEnd > fractionStart, bytes[fractionEnd - 1] == UInt8(ascii: "0") { fractionEnd -= 1 }
        let fractionCount = fractionEnd - fractionStart
        guard fractionCount <= digits, wholeEnd - wholeStart <= 22 else { return nil }
        var value: Int128 = 0
        for position in wholeStart..<wholeEnd { value = value * 10 + Int128(bytes[position] &- UInt8(ascii: "0")) }
        for position in fractionStart..<fractionEnd { value = value * 10 + Int128(bytes[position] &- UInt8(ascii: "0")) }
        value *= power10(digits - fractionCount)
        return negative ? -value : value
    }

    /// Whether a byte is an ASCII digit.
    private static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    /// The length in bytes of the whitespace scalar that starts at `position`, or `nil` when there is none.
    private static func whitespaceLength(_ bytes: UnsafeBufferPointer<UInt8>, from position: Int, to end: Int) -> Int? {
        let lead = bytes[position]
        if lead < 0x80 { return lead == 0x20 || lead == 0x09 ? 1 : nil }
        let length = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
        guard position + length <= end else { return nil }
        return isWhitespace(decode(bytes, at: position, length: length)) ? length : nil
    }

    /// The length in bytes of the whitespace scalar that ends just before `end`, or `nil` when there is none.
    private static func whitespaceLength(_ bytes: UnsafeBufferPointer<UInt8>, endingAt end: Int, from start: Int) -> Int? {
        let last = bytes[end - 1]
        if last < 0x80 { return last == 0x20 || last == 0x09 ? 1 : nil }
        var lead = end - 1
        while lead > start, bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard bytes[lead] & 0xC0 == 0xC0 else { return nil }
        return isWhitespace(decode(bytes, at: lead, length: end - lead)) ? end - lead : nil
    }

    /// The scalar value of a valid UTF-8 sequence of `length` bytes.
    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at position: Int, length: Int) -> UInt32 {
        var value = UInt32(bytes[position]) & (0x7F >> length)
        for offset in 1..<length { value = value << 6 | UInt32(bytes[position + offset] & 0x3F) }
        return value
    }

    /// Whether a scalar is in Foundation's `CharacterSet.whitespaces`: tab, and the spaces of Unicode (category Zs)
    /// plus U+200B ZERO WIDTH SPACE, as that set has them. Newlines are not whitespace here.
    static func isWhitespace(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }

    /// Formats a scaled integer as a plain decimal string without trailing zeros.
    static func format(_ value: Int128, digits: Int) -> String {
        let (whole, fraction) = value.magnitude.quotientAndRemainder(dividingBy: UInt128(power10(digits)))
        let capacity = 41 + digits  // sign, 39 digits of a UInt128, point, fraction
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var end = capacity
            var start = end
            if fraction != 0 {
                start = writeDigits(fraction, before: end, count: digits, into: buffer)
                while buffer[end - 1] == UInt8(ascii: "0") { end -= 1 }
                start -= 1
                buffer[start] = UInt8(ascii: ".")
            }
            start = writeDigits(whole, before: start, count: 1, into: buffer)
            if value < 0 {
                start -= 1
                buffer[start] = UInt8(ascii: "-")
            }
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<end]), as: UTF8.self)
        }
    }

    /// Writes `value` in decimal, zero-padded to at least `count` digits, ending just before `end`; returns where it
    /// starts.
    private static func writeDigits(_ value: UInt128, before end: Int, count: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var position = end
        var rest = value
        while rest > UInt128(UInt64.max) {
            let (quotient, chunk) = rest.quotientAndRemainder(dividingBy: 10_000_000_000_000_000_000)
            var small = UInt64(chunk)
            for _ in 0..<19 {
                position -= 1
                buffer[position] = UInt8(ascii: "0") + UInt8(small % 10)
                small /= 10
            }
            rest = quotient
        }
        var small = UInt64(rest)
        repeat {
            position -= 1
            buffer[position] = UInt8(ascii: "0") + UInt8(small % 10)
            small /= 10
        } while small != 0
        while end - position < count {
            position -= 1
            buffer[position] = UInt8(ascii: "0")
        }
        return position
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
