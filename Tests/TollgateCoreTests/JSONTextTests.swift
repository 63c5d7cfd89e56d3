import Foundation
import Testing
import TollgateCore

/// Tollgate's own JSON writer: the text `JSONSerialization` wrote before it (compact, keys sorted, slashes as they
/// are), without Foundation on the request path.
@Suite("JSON text")
struct JSONTextTests {
    /// What `JSONSerialization` writes for `object`: the reference the writer must match byte for byte.
    private func foundation(_ object: Any) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]))
    }

    static let samples = [
        "", "plain", "with \"quotes\" and \\backslashes\\", "a/b/c", "tab\tnew\nline\rreturn", "\u{8}\u{c}",
        "\u{0}\u{1}\u{1f}\u{7f}", "héllo wörld", "日本語", "emoji 🚀 and 👩‍👩‍👧", "\u{2028}\u{2029}", String(repeating: "x\"", count: 300),
    ]

    @Test("strings are escaped as JSONSerialization escapes them", arguments: samples)
    func strings(text: String) throws {
        #expect(encodeJSONString(text) == (try foundation(text)))
        let decoded = try JSONSerialization.jsonObject(with: Data(encodeJSONString(text)), options: .fragmentsAllowed) as? String
        #expect(decoded == text)
        #expect(decodeJSONString(encodeJSONString(text)) == text)
    }

    @Test("every control character")
    func controls() throws {
        for scalar in 0..<0x20 {
            let text = "<\(Character(Unicode.Scalar(UInt8(scalar))))>"
            #expect(encodeJSONString(text) == (try foundation(text)), "U+\(String(scalar, radix: 16))")
        }
    }

    @Test("objects: compact, keys sorted, nested; numbers, booleans and null")
    func objects() throws {
        let value: JSONValue = [
            "z": "last", "a": ["nested": nil, "count": 42, "negative": -7, "flag": true, "off": false], "m/n": .string("x\ny"),
        ]
        let text = String(decoding: value.text, as: UTF8.self)
        #expect(text == #"{"a":{"count":42,"flag":true,"negative":-7,"nested":null,"off":false},"m/n":"x\ny","z":"last"}"#)
        let reference: [String: Any] = [
            "z": "last", "a": ["nested": NSNull(), "count": 42, "negative": -7, "flag": true, "off": false], "m/n": "x\ny",
        ]
        #expect(value.text == (try foundation(reference)))
        #expect(JSONValue.object([:]).text == Array("{}".utf8))
    }
}
