import Foundation
import Testing

@testable import TollgateCore

@Suite("Byte search")
struct ByteSearchTests {
    @Test(
        "containsBytes finds a needle anywhere, byte for byte",
        arguments: [
            ("gpt-4o-mini-2024-07-18", "4o-mini", true), ("gpt-4o-mini", "4o-mini", true), ("4o-mini", "4o-mini", true),
            ("gpt-4o", "4o-mini", false), ("4o-min", "4o-mini", false), ("44o-mini", "4o-mini", true), ("", "x", false),
            ("anything", "", true), ("keep-alive, close", "close", true), ("closing", "close", false), ("ÉcloseÉ", "close", true),
        ])
    func finds(haystack: String, needle: String, expected: Bool) {
        #expect(haystack.containsBytes(of: needle) == expected)
        // The same answer as Foundation's search.
        #expect(needle.isEmpty || haystack.contains(needle) == expected)
    }
}
