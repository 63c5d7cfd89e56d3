import Foundation
import Testing
import TollgateCore

/// `Money` is exact fixed-point decimal: it parses and prints decimal strings, adds and multiplies by counts
/// exactly, and rounds half to even only when multiplied by a `DecimalRatio`.
@Suite("Money")
struct MoneyTests {
    private func money(_ text: String) throws -> Money { try #require(Money(text), "\(text) parses") }

    @Test(
        "decimal strings round-trip",
        arguments: [
            "0", "-0.5", "12.000000000000001", "0.000000000000001", "-0.000000000000001", "12", "0.00015",
            "1234567890123456789012.999999999999999", "-1234567890123456789012.999999999999999",
        ]
    )
    func roundTrip(_ text: String) throws {
        #expect(try money(text).description == text)
    }

    @Test(
        "equivalent spellings print canonically",
        arguments: [
            ("0.000000150", "0.00000015"), ("+3", "3"), ("-0", "0"), ("007.50", "7.5"), (".5", "0.5"), ("5.", "5"),
            ("0.1000000000000000000", "0.1"),
        ]
    )
    func canonical(text: String, printed: String) throws {
        #expect(try money(text).description == printed)
    }

    @Test(
        "the approximate value (metrics only) is the plain conversion of the raw value, inside and outside 64 bits",
        arguments: ["0", "0.000125", "-3.5", "12", "9223.372036854775807", "9223.372036854775808", "-9223.372036854775809", "123456789.5"])
    func approximateValue(text: String) throws {
        let money = try #require(Money(text))
        #expect(money.approximateValue == Double(money.raw) / 1e15)
        if money.raw.magnitude < 1 << 53 { #expect(money.approximateValue == Double(text)) }
    }

    @Test("raw value is in units of 10^-15")
    func raw() throws {
        #expect(try money("1").raw == Money.scale)
        #expect(try money("0.000000000000001").raw == 1)
        #expect(try money("-2.5").raw == -2_500_000_000_000_000)
        #expect(Money.zero.description == "0")
    }

    @Test(
        "anything but a plain decimal is rejected",
        arguments: [
            "1e5", "abc", "1.2.3", "", ".", "-", "+-1", "1,5", "0x10", " - 1", "1 2", "٣", "NaN", "inf",
            "0.0000000000000001", "1.0000000000000001", "12345678901234567890123",
        ]
    )
    func rejects(_ text: String) {
        #expect(Money(text) == nil)
    }

    @Test("arithmetic is exact")
    func arithmetic() throws {
        var total = Money.zero
        for _ in 0..<10 { total += try money("0.1") }
        #expect(total == (try money("1")))
        #expect((try money("0.3")) - (try money("0.1")) - (try money("0.2")) == .zero)
        #expect((try money("0.000000000000001")) < (try money("0.000000000000002")))
        #expect((try money("-1")) < .zero)
    }

    @Test("times(count) is exact")
    func times() throws {
        #expect(try money("0.00000015").times(1_000_000).description == "0.15")
        #expect(try money("0.000002").times(123_456_789).description == "246.913578")
        #expect(try money("0.000000000000001").times(3).description == "0.000000000000003")
        #expect(try money("2.5").times(0) == .zero)
        #expect(try money("2.5").times(-2).description == "-5")
    }

    @Test(
        "multiplied(by:) rounds half to even at the last digit",
        arguments: [
            ("10", "1.25", "12.5"),
            ("0.000000000000001", "1.25", "0.000000000000001"),  // 1.25 → 1
            ("0.000000000000002", "1.25", "0.000000000000002"),  // 2.5 → 2
            ("0.000000000000006", "1.25", "0.000000000000008"),  // 7.5 → 8
            ("0.000000000000003", "1.25", "0.000000000000004"),  // 3.75 → 4
            ("0.000000000000001", "0.5", "0"),  // 0.5 → 0
            ("0.000000000000003", "0.5", "0.000000000000002"),  // 1.5 → 2
            ("0.000000000000005", "0.5", "0.000000000000002"),  // 2.5 → 2
            ("-0.000000000000005", "0.5", "-0.000000000000002"),  // -2.5 → -2
            ("-0.000000000000003", "0.5", "-0.000000000000002"),  // -1.5 → -2
            ("-0.000000000000001", "1.25", "-0.000000000000001"),  // -1.25 → -1
            ("0.000000000000001", "0.000000001", "0"),
            ("1", "0.000000001", "0.000000001"),
            ("123.456", "1", "123.456"),
            ("123.456", "0", "0"),
        ]
    )
    func multiplied(amount: String, ratio: String, expected: String) throws {
        let factor = try #require(DecimalRatio(ratio))
        #expect(try money(amount).multiplied(by: factor).description == expected)
    }

    @Test("DecimalRatio parses non-negative decimals with at most 9 fractional digits")
    func decimalRatio() {
        #expect(DecimalRatio("1.25")?.description == "1.25")
        #expect(DecimalRatio("1.250")?.description == "1.25")
        #expect(DecimalRatio("0.000000001")?.description == "0.000000001")
        #expect(DecimalRatio.one.description == "1")
        #expect(DecimalRatio("1") == .one, "equal ratios are equal values")
        #expect(DecimalRatio("1.0") == .one)
        #expect(DecimalRatio("-1.25") == nil)
        #expect(DecimalRatio("0.0000000001") == nil)
        #expect(DecimalRatio("1e2") == nil)
        let one = Money("12.345")!
        #expect(one.multiplied(by: .one) == one)
    }

    @Test("Codable as a decimal string")
    func codable() throws {
        let data = try JSONEncoder().encode(["price": try money("0.00000015")])
        #expect(String(decoding: data, as: UTF8.self) == #"{"price":"0.00000015"}"#)
        let decoded = try JSONDecoder().decode([String: Money].self, from: data)
        #expect(decoded["price"] == (try money("0.00000015")))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([String: Money].self, from: Data(#"{"p":"1e5"}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([String: Money].self, from: Data(#"{"p":0.1}"#.utf8)) }
    }

    @Test(
        "a million random token counts billed one by one sum exactly to the rate times the total",
        arguments: [
            "0.0000025", "0.000000075", "0.000015", "0.0000001234567",
        ])
    func sumsExactly(rateText: String) throws {
        let rate = try money(rateText)
        var generator = SeededGenerator(seed: 20_250_101)
        var total = Money.zero
        var tokens = 0
        for _ in 0..<1_000_000 {
            let count = Int.random(in: 0...200_000, using: &generator)
            total += rate.times(count)
            tokens += count
        }
        #expect(total == rate.times(tokens))
        // Checked once more without Money: the rate's digits times the count, placed by hand.
        let digits = rateText.split(separator: ".")[1]
        let rateUnits = Int(digits)!
        let product = String(rateUnits * tokens)
        let padded = String(repeating: "0", count: max(0, digits.count + 1 - product.count)) + product
        var expected = String(padded.prefix(padded.count - digits.count)) + "." + String(padded.suffix(digits.count))
        while expected.hasSuffix("0") { expected.removeLast() }
        if expected.hasSuffix(".") { expected.removeLast() }
        #expect(total.description == expected)
    }
}
