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

@Suite("Hex")
struct HexTests {
    @Test("two lowercase digits per byte after the prefix, as String(format: \"%02x\") wrote them")
    func lowercase() {
        let bytes: [UInt8] = [0x00, 0x01, 0x0F, 0x10, 0x7F, 0x80, 0xAB, 0xFF]
        #expect(Hex.lowercase(bytes) == "00010f107f80abff")
        #expect(Hex.lowercase(bytes, prefix: "tg_") == "tg_00010f107f80abff")
        #expect(Hex.lowercase([UInt8]()) == "" && Hex.lowercase([UInt8](), prefix: "evt_") == "evt_")
        let all = (0...255).map { UInt8($0) }
        #expect(Hex.lowercase(all) == all.map { String(format: "%02x", $0) }.joined())
    }

    @Test("an event id: evt_ and the 16 bytes, with the UUID version and variant bits set")
    func eventID() {
        #expect(UsageEvent.id(Array(0..<16), version: 0x70) == "evt_000102030405760788090a0b0c0d0e0f")
        #expect(UsageEvent.id(Array(repeating: 0xFF, count: 16), version: 0x80) == "evt_ffffffffffff8fffbfffffffffffffff")
        let fresh = UsageEvent.newID()
        #expect(fresh.count == 36 && fresh.hasPrefix("evt_") && Array(fresh.utf8)[16] == UInt8(ascii: "7"))
    }

    @Test("event ids made at once on several threads, across many refills of the random pool, are all distinct")
    func eventIDsAreDistinct() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 { group.addTask { (0..<5_000).map { _ in UsageEvent.newID() } } }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(Set(ids).count == 20_000)
        // The random part (after the 48-bit time and the version digit) is not a constant.
        #expect(Set(ids.map { $0.dropFirst(17) }).count == 20_000)
    }

    @Test("one digit: 0-9 then a-f, or A-F when asked")
    func digits() {
        #expect((0..<16).map { Hex.digit(UInt8($0)) } == Array("0123456789abcdef".utf8))
        #expect((0..<16).map { Hex.digit(UInt8($0), uppercase: true) } == Array("0123456789ABCDEF".utf8))
    }
}
