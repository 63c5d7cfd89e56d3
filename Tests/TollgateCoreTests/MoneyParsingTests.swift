import Foundation
import Testing

@testable import TollgateCore

/// The parser and printer of `Money` and `DecimalRatio` work on UTF-8 bytes. They accept and reject exactly what the
/// former `Character`-based implementation did, kept here as the reference.
@Suite("Money parsing")
struct MoneyParsingTests {
    /// The former `FixedPoint.parse`: Foundation trims `CharacterSet.whitespaces`, then it walks `Character`s.
    static func referenceParse(_ text: String, digits: Int) -> Int128? {
        var bytes = Substring(text.trimmingCharacters(in: .whitespaces))
        var negative = false
        if bytes.first == "-" || bytes.first == "+" {
            negative = bytes.first == "-"
            bytes = bytes.dropFirst()
        }
        let parts = bytes.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !(whole.isEmpty && parts.count == 1) else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        let isASCIIDigit = { (character: Character) in character.isASCII && character.isNumber }
        guard whole.allSatisfy(isASCIIDigit), fraction.allSatisfy(isASCIIDigit), !(whole.isEmpty && fraction.isEmpty) else {
            return nil
        }
        let trimmedFraction = fraction.reversed().drop(while: { $0 == "0" }).reversed()
        guard trimmedFraction.count <= digits, whole.count <= 22 else { return nil }
        var value: Int128 = 0
        for character in whole { value = value * 10 + Int128(character.asciiValue! - 48) }
        var fractionValue: Int128 = 0
        for character in trimmedFraction { fractionValue = fractionValue * 10 + Int128(character.asciiValue! - 48) }
        fractionValue *= FixedPoint.power10(digits - trimmedFraction.count)
        let result = value * FixedPoint.power10(digits) + fractionValue
        return negative ? -result : result
    }

    /// The former `FixedPoint.format`.
    static func referenceFormat(_ value: Int128, digits: Int) -> String {
        let magnitude = value.magnitude
        let unit = UInt128(FixedPoint.power10(digits))
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

    /// The precisions the callers parse with: money (15) and ratios and per-million rates (9); 0 and 2 for the edges.
    static let precisions = [15, 9, 2, 0]

    /// Checks one text against the reference at every precision.
    static func expectSame(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for digits in precisions {
            let parsed = FixedPoint.parse(text, digits: digits)
            let expected = referenceParse(text, digits: digits)
            #expect(
                parsed == expected, "\(text.unicodeScalars.map { "U+" + String($0.value, radix: 16) }) digits \(digits)",
                sourceLocation: sourceLocation)
        }
    }

    @Test("whitespace trimmed around a number is exactly Foundation's CharacterSet.whitespaces, scalar by scalar")
    func whitespaceSet() {
        var mismatches: [UInt32] = []
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            if FixedPoint.isWhitespace(value) != CharacterSet.whitespaces.contains(scalar) { mismatches.append(value) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.map { String($0, radix: 16) })")
    }

    @Test(
        "edge cases parse as the reference parses them",
        arguments: [
            "", " ", "\t", "\n", "0", "-0", "+0", "-", "+", ".", "-.", "+.", "..", "5.", ".5", "-.5", "+.5", "-5.", "5..", ".5.",
            "1.2.3", "--5", "+-5", "-+5", "5-", "5+", "1e5", "1E5", "1e-5", "0x10", "1,5", "1_000", "NaN", "nan", "inf", "-inf",
            "Infinity", " 12 ", "\t12\t", "12\n", "\n12", "12\r\n", "\r\n", " - 1", "- 1", "1 2", "1. 5", "1 .5", "١٢", "٣", "١.٥",
            "１２", "12٫5", "٠", "۱۲", "१२", "\u{A0}12\u{A0}", "\u{3000}-1.5\u{3000}", "\u{200B}7\u{200B}", "\u{200C}7", "\u{200D}7",
            "\u{FEFF}7", "\u{85}7", "7\u{85}", "\u{2028}7", "\u{2029}7", "\u{180E}7", "\u{1680}7\u{202F}\u{205F}", "\u{2000}\u{200A}8",
            "5\u{301}", " \u{301}5", "5 \u{301}", "\u{301}5", "-\u{301}5", ".\u{301}5", "5.\u{301}", "5\u{FE0F}", "5\u{20E3}",
            "\u{1F600}", "5\u{1F600}", "\u{1F1FA}\u{1F1F8}5", "0.000123456789012", "0.0001234567890120000", "0.000000000000001",
            "0.0000000000000001", "0.0000000000000010", "1.0000000000000001", "0.000000001", "0.0000000001", "0.0000000010",
            "0.10", "0.01", "0.001", "1.000", "1234567890123456789012", "12345678901234567890123", "0000000000000000000001",
            "00000000000000000000001", "-1234567890123456789012.999999999999999", "9999999999999999999999.999999999999999",
            "-9999999999999999999999.999999999999999", "9999999999999999999999.9999999999999999", "007.50", "0.1000000000000000000",
        ])
    func edgeCases(_ text: String) {
        Self.expectSame(text)
    }

    @Test("every scalar of the Basic Multilingual Plane's first blocks, and a sample beyond, in every position")
    func everyScalarInEveryPosition() {
        var scalars = (UInt32(0)...0x3100).compactMap(Unicode.Scalar.init)
        var generator = SeededGenerator(seed: 0x5EED_0010)
        for _ in 0..<2_000 {
            if let scalar = Unicode.Scalar(UInt32(generator.next() % 0x11_0000)) { scalars.append(scalar) }
        }
        scalars += ["\u{FEFF}", "\u{FF10}", "\u{FF0E}", "\u{FF0D}", "\u{FE63}", "\u{2212}", "\u{1D7CE}", "\u{1F600}", "\u{E0020}"]
        for scalar in scalars {
            let s = String(scalar)
            for text in [s, "\(s)1", "1\(s)", "1\(s)2", "-\(s)1", "\(s)-1", "1.\(s)", ".\(s)5", "\(s)\(s)1.5\(s)", "\(s) 1 \(s)"] {
                for digits in [15, 9] where FixedPoint.parse(text, digits: digits) != Self.referenceParse(text, digits: digits) {
                    Issue.record("U+\(String(scalar.value, radix: 16)) in \(text.debugDescription) digits \(digits)")
                }
            }
        }
    }

    @Test("random strings over digits, signs, points, spaces and look-alikes parse as the reference parses them")
    func randomStrings() {
        let alphabet: [String] = [
            "0", "0", "0", "1", "2", "5", "9", ".", ".", "-", "+", " ", "\t", "\n", "e", "E", ",", "x", "_", "\u{A0}", "\u{200B}",
            "\u{3000}", "\u{301}", "١", "٫", "０", "\u{2212}", "\r\n",
        ]
        var generator = SeededGenerator(seed: 0x5EED_0011)
        var accepted = 0
        for _ in 0..<100_000 {
            let length = Int(generator.next() % 12)
            let text = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }.joined()
            if FixedPoint.parse(text, digits: 15) != nil { accepted += 1 }
            Self.expectSame(text)
        }
        #expect(accepted > 1_000, "the alphabet produces numbers often enough to test acceptance")
    }

    @Test("random decimals of every length, with padding, signs and trailing zeros, parse as the reference parses them")
    func randomDecimals() {
        let pads = ["", "", "", " ", "\t", "  ", "\u{A0}", "\n"]
        var generator = SeededGenerator(seed: 0x5EED_0012)
        func digits(_ count: Int) -> String {
            String((0..<count).map { _ in Character(Unicode.Scalar(UInt8(48 + generator.next() % 10))) })
        }
        var accepted = 0
        for _ in 0..<100_000 {
            let sign = ["", "", "-", "+"][Int(generator.next() % 4)]
            let whole = digits(Int(generator.next() % 25))
            let point = generator.next() % 5 == 0 ? "" : "."
            let fraction = digits(Int(generator.next() % 18)) + String(repeating: "0", count: Int(generator.next() % 6))
            let text = pads[Int(generator.next() % 8)] + sign + whole + point + fraction + pads[Int(generator.next() % 8)]
            if FixedPoint.parse(text, digits: 15) != nil { accepted += 1 }
            Self.expectSame(text)
        }
        #expect(accepted > 10_000)
    }

    @Test("printing matches the reference and parses back, for random and extreme values at every precision used")
    func formatting() {
        var generator = SeededGenerator(seed: 0x5EED_0013)
        var values: [Int128] = [0, 1, -1, 10, -10, .max, .min, .max - 1, .min + 1, Money.scale, -Money.scale, 1_000_000_000]
        for _ in 0..<100_000 {
            let magnitude = Int128(generator.next()) << Int(generator.next() % 64) | Int128(generator.next() % 1_000)
            let zeros = FixedPoint.power10(Int(generator.next() % 16))
            let value = magnitude / zeros * zeros
            values.append(generator.next() % 2 == 0 ? value : -value)
        }
        for value in values {
            for digits in [15, 12, 9, 0] {
                let text = FixedPoint.format(value, digits: digits)
                #expect(text == Self.referenceFormat(value, digits: digits), "\(value) digits \(digits)")
                if digits >= 9, value.magnitude < UInt128(FixedPoint.power10(22 + digits)) {
                    #expect(FixedPoint.parse(text, digits: digits) == value, "\(text) parses back")
                }
            }
        }
    }
}
