/// Lowercase hexadecimal text of bytes (event ids, digests, signatures), written straight into the string: one
/// allocation and no formatting (`String(format: "%02x")` went through Foundation for every byte).
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `prefix`, then two lowercase hex digits per byte.
    public static func lowercase(_ bytes: some Collection<UInt8>, prefix: String = "") -> String {
        let head = prefix.utf8
        return String(unsafeUninitializedCapacity: head.count + 2 * bytes.count) { text in
            var index = text.initialize(fromContentsOf: head)
            for byte in bytes {
                text[index] = digits[Int(byte >> 4)]
                text[index + 1] = digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }

    /// The hex digit of a value below 16: `0`–`9`, then `a`–`f` (`A`–`F` when `uppercase`).
    public static func digit(_ value: UInt8, uppercase: Bool = false) -> UInt8 {
        assert(value < 16, "not a hex digit's value: \(value)")
        return value < 10 ? UInt8(ascii: "0") + value : (uppercase ? UInt8(ascii: "A") : UInt8(ascii: "a")) + value - 10
    }
}
