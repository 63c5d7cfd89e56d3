/// CRC-32 as IEEE 802.3, zlib and the AWS event-stream framing compute it (reflected polynomial `0xEDB88320`,
/// initial value and final XOR `0xFFFFFFFF`; the checksum of `"123456789"` is `0xCBF43926`).
///
/// Table-driven, one byte per step. A running value can be fed in pieces:
///
/// ```swift
/// var crc = CRC32()
/// crc.update(prelude)
/// crc.update(rest)
/// crc.value  // the same as CRC32.checksum(prelude + rest)
/// ```
public struct CRC32: Sendable, Equatable {
    /// The byte-indexed table of the reflected polynomial, built once.
    private static let table: [UInt32] = (0..<256).map { index in
        var entry = UInt32(index)
        for _ in 0..<8 { entry = entry & 1 == 1 ? (entry >> 1) ^ 0xEDB8_8320 : entry >> 1 }
        return entry
    }

    /// The register before the final XOR.
    private var register: UInt32 = 0xFFFF_FFFF

    /// A checksum of no bytes yet.
    public init() {}

    /// Feeds the next bytes.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        Self.table.withUnsafeBufferPointer { table in
            for byte in bytes { register = table[Int((register ^ UInt32(byte)) & 0xFF)] ^ (register >> 8) }
        }
    }

    /// The checksum of every byte fed so far.
    public var value: UInt32 { register ^ 0xFFFF_FFFF }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}
