import Foundation

/// The bytes libFuzzer hands to a target, split into a few control bytes and the body under test.
///
/// The control bytes choose how the body is cut into pieces (and, for some targets, an API or a mode), so one corpus
/// entry explores both the content and the chunking: a reader promised to give the same result whatever the cuts is
/// fed the body whole and in the pieces the control bytes pick, and the two results are compared.
public struct FuzzInput {
    /// The control bytes (zero when the input is shorter).
    public let control: [UInt8]
    /// The body under test.
    public let body: [UInt8]

    /// Splits `count` bytes at `start` into `controlCount` control bytes and the body.
    public init(_ start: UnsafeRawPointer, _ count: Int, controlCount: Int) {
        let all = Array(UnsafeRawBufferPointer(start: start, count: count))
        let taken = min(controlCount, all.count)
        control = Array(all[..<taken]) + Array(repeating: 0, count: controlCount - taken)
        body = Array(all[taken...])
    }

    /// The piece boundaries the control bytes pick for `body`: several cutting styles, from one byte at a time to a
    /// few large pieces, drawn from a generator seeded with `control[seedIndex...]`.
    public func pieces(seedAt seedIndex: Int = 0) -> [Range<Int>] {
        Chunking.pieces(count: body.count, style: control[seedIndex], seed: Array(control[(seedIndex + 1)...]))
    }
}

/// Cutting a body into pieces.
public enum Chunking {
    /// Piece ranges covering `0..<count` in order, in the style chosen by `style`, with sizes from a generator seeded
    /// with `seed`. Every piece but an empty body's is non-empty.
    public static func pieces(count: Int, style: UInt8, seed: [UInt8]) -> [Range<Int>] {
        var generator = SplitMix(seed: seed.reduce(UInt64(style)) { $0 &* 31 &+ UInt64($1) })
        let maximum: Int
        switch style % 5 {
        case 0: maximum = 1  // one byte at a time
        case 1: maximum = 3
        case 2: maximum = 16
        case 3: maximum = 512
        default: maximum = max(1, count / 2)  // about two pieces
        }
        var ranges: [Range<Int>] = []
        var start = 0
        while start < count {
            let size = 1 + Int(generator.next() % UInt64(maximum))
            let end = min(count, start + size)
            ranges.append(start..<end)
            start = end
        }
        return ranges
    }

    /// Calls `body` with each piece of `bytes` in its own allocation, so that AddressSanitizer catches a read past
    /// the end of a piece (a slice of one buffer would hide it).
    public static func feed(_ bytes: [UInt8], in ranges: [Range<Int>], _ body: (UnsafeRawBufferPointer) -> Void) {
        for range in ranges {
            let piece = UnsafeMutableRawBufferPointer.allocate(byteCount: range.count, alignment: 1)
            defer { piece.deallocate() }
            bytes[range].withUnsafeBytes { piece.copyMemory(from: $0) }
            body(UnsafeRawBufferPointer(piece))
        }
    }

    /// Calls `body` once with all of `bytes` in its own allocation.
    public static func feedWhole(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) -> Void) {
        feed(bytes, in: bytes.isEmpty ? [0..<0] : [0..<bytes.count], body)
    }
}

/// A small deterministic generator (SplitMix64): the same input always gives the same cuts.
public struct SplitMix {
    private var state: UInt64

    /// Creates a generator.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Stops the run with `message` when an invariant does not hold: libFuzzer reports the abort as a crash and saves
/// the input.
public func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    guard !condition else { return }
    FileHandle.standardError.write(Data("invariant failed at \(file):\(line): \(message())\n".utf8))
    abort()
}

/// Whether two values read by `JSONSerialization` are the same JSON value (compared by their sorted serialization).
public func sameJSON(_ a: Any, _ b: Any) -> Bool {
    let options: JSONSerialization.WritingOptions = [.sortedKeys, .fragmentsAllowed]
    guard let left = try? JSONSerialization.data(withJSONObject: [a], options: options),
        let right = try? JSONSerialization.data(withJSONObject: [b], options: options)
    else { return false }
    return left == right
}
