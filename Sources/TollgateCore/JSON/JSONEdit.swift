/// Byte-level edits of JSON text that leave every other byte exactly as it was.
///
/// The proxy changes as little of a body as it must (one member added, replaced or removed), so that what the
/// provider or the client receives is otherwise byte-identical to what was sent.
public enum JSONEdit {
    /// One replacement of a byte range.
    public struct Replacement: Sendable {
        /// The range replaced.
        public var range: Range<Int>
        /// The new bytes.
        public var bytes: [UInt8]

        /// Creates a replacement.
        public init(range: Range<Int>, bytes: [UInt8]) {
            self.range = range
            self.bytes = bytes
        }
    }

    /// Applies non-overlapping replacements.
    public static func apply(_ replacements: [Replacement], to text: [UInt8]) -> [UInt8] {
        var result = text
        for replacement in replacements.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            result.replaceSubrange(replacement.range, with: replacement.bytes)
        }
        return result
    }

    /// The range to delete to remove a member (key through value) together with one adjacent comma.
    public static func memberRemovalRange(_ capture: JSONFieldScanner.Capture, in text: [UInt8]) -> Range<Int> {
        var before = capture.memberStart - 1
        while before >= 0, isWhitespace(text[before]) { before -= 1 }
        if before >= 0, text[before] == UInt8(ascii: ",") { return before..<capture.end }
        var after = capture.end
        while after < text.count, isWhitespace(text[after]) { after += 1 }
        if after < text.count, text[after] == UInt8(ascii: ",") {
            after += 1
            while after < text.count, isWhitespace(text[after]) { after += 1 }
            return capture.memberStart..<after
        }
        return capture.memberStart..<capture.end
    }

    /// The offset just after the opening brace of the top-level object, and whether the object has members.
    public static func objectInsertionPoint(in text: [UInt8]) -> (offset: Int, hasMembers: Bool)? {
        guard let open = text.firstIndex(where: { !isWhitespace($0) }), text[open] == UInt8(ascii: "{") else { return nil }
        let next = text[(open + 1)...].firstIndex(where: { !isWhitespace($0) })
        return (open + 1, next.map { text[$0] != UInt8(ascii: "}") } ?? false)
    }

    /// The JSON text without whitespace outside strings (one line, member order and values untouched).
    public static func compacted(_ text: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(text.count)
        var inString = false
        var stringEnd = JSONStringEnd()
        for byte in text {
            if inString {
                if stringEnd.closes(at: byte) { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if isWhitespace(byte) {
                continue
            }
            result.append(byte)
        }
        return result
    }

    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
}
