/// Finds the end of a JSON string one byte at a time: the first quote not escaped by a backslash.
///
/// Shared by every scanner that walks JSON text without parsing it (the field scanner, the array splitter, the
/// compactor), so that the one rule about escapes lives once.
struct JSONStringEnd: Sendable {
    /// Whether the previous byte was a backslash that escapes this one.
    private(set) var escaping = false

    /// Reads the next byte inside a string; returns whether it closes the string.
    @inline(__always)
    mutating func closes(at byte: UInt8) -> Bool {
        if escaping {
            escaping = false
            return false
        }
        if byte == UInt8(ascii: "\\") {
            escaping = true
            return false
        }
        return byte == UInt8(ascii: "\"")
    }

    /// Forgets a pending escape (a new string starts).
    @inline(__always)
    mutating func reset() { escaping = false }
}
