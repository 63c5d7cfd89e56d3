/// Reads the token counts of a usage object that a scan has captured whole: whole-number members one or two keys
/// deep (`prompt_tokens`, `prompt_tokens_details.cached_tokens`), in one pass over its bytes; or where such members'
/// values stand (``ranges(in:)``), for a member that is not a count (Anthropic's `service_tier`).
///
/// ``JSONFieldScanner``, made for documents that arrive in pieces, read these few hundred bytes a second time at
/// nearly the cost of the whole response's scan (four percent of a request's CPU, most of it comparing sixteen
/// watched paths at every key and a capture allocated for each count). This reader reads the same counts: keys are
/// compared after their escapes are decoded, the last occurrence of a path wins, and a count is a whole, non-negative
/// number of at most 15 digits (anything else, `null` included, reads as absent, as
/// ``JSONFieldScanner/tokenCount(at:)`` reads it). Members inside arrays are never matched. Bytes that are not a JSON
/// object end the reading where they stand; whatever was read before them is kept.
public struct JSONCounts: Sendable {
    /// One key of a watched path, with what it leads to.
    private struct Key: Sendable {
        let name: [UInt8]
        /// The path that ends here (its index among the paths given), if any.
        let path: Int?
        /// The keys below this one, for paths that go on.
        let children: [Key]
    }

    private let keys: [Key]
    /// How many paths were given.
    public let count: Int

    /// Prepares the reading of `paths`, each one or two keys long.
    public init(_ paths: [[String]]) {
        precondition(paths.allSatisfy { (1...2).contains($0.count) }, "paths are one or two keys long")
        var parents: [String] = []
        for path in paths where !parents.contains(path[0]) { parents.append(path[0]) }
        keys = parents.map { parent in
            Key(
                name: Array(parent.utf8), path: paths.firstIndex(of: [parent]),
                children: paths.enumerated().filter { $0.element.count == 2 && $0.element[0] == parent }.map {
                    Key(name: Array($0.element[1].utf8), path: $0.offset, children: [])
                })
        }
        count = paths.count
    }

    /// The count of each path in the object's text, by the paths' order; `nil` where absent or not a count.
    public func read(_ object: [UInt8]) -> [Int?] {
        ranges(in: object).map { $0.flatMap { Self.count(object[$0]) } }
    }

    /// Where the value of each path stands in the object's text (its last occurrence), by the paths' order.
    public func ranges(in object: [UInt8]) -> [Range<Int>?] {
        var ranges = [Range<Int>?](repeating: nil, count: count)
        object.withUnsafeBufferPointer { bytes in
            var reader = Reader(bytes: bytes)
            reader.skipSpace()
            guard reader.peek == UInt8(ascii: "{") else { return }
            reader.readObject(keys, into: &ranges)
        }
        return ranges
    }

    /// A whole, non-negative number of at most 15 digits (which cannot overflow), else `nil`.
    public static func count(_ value: ArraySlice<UInt8>) -> Int? {
        guard !value.isEmpty, value.count < 16 else { return nil }
        var count = 0
        for byte in value {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            count = count &* 10 &+ Int(byte &- UInt8(ascii: "0"))
        }
        return count
    }

    /// A position in the object's bytes.
    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while index < bytes.count, JSONEdit.isWhitespace(bytes[index]) { index += 1 }
        }

        /// Reads the object that starts at `index` (its `{`), noting where the values of `keys`' paths stand.
        mutating func readObject(_ keys: [Key], into ranges: inout [Range<Int>?]) {
            index += 1
            while true {
                skipSpace()
                guard let byte = peek else { return }
                if byte == UInt8(ascii: "}") {
                    index += 1
                    return
                }
                if byte == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard byte == UInt8(ascii: "\""), let key = readKey() else { return }
                skipSpace()
                guard peek == UInt8(ascii: ":") else { return }
                index += 1
                skipSpace()
                guard let value = peek else { return }
                let watched = keys.first { key.matches($0.name, in: bytes) }
                if let watched, let path = watched.path {
                    let start = index
                    guard skipValue() else { return }
                    ranges[path] = start..<index
                } else if let watched, !watched.children.isEmpty, value == UInt8(ascii: "{") {
                    readObject(watched.children, into: &ranges)
                } else {
                    guard skipValue() else { return }
                }
            }
        }

        /// A key: where its text stands, or its decoded bytes when it has escapes.
        enum KeyText {
            case plain(Range<Int>)
            case decoded([UInt8])

            func matches(_ name: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
                switch self {
                case .plain(let range):
                    return range.count == name.count && bytes[range].elementsEqual(name)
                case .decoded(let decoded): return decoded == name
                }
            }
        }

        /// Reads the string at `index` (its opening quote) as a key; `nil` when it does not end. A key whose escapes
        /// cannot be decoded (a lone surrogate) matches nothing, and the reading goes on after its value, as the
        /// scanner's did.
        mutating func readKey() -> KeyText? {
            let start = index
            guard skipString() else { return nil }
            let text = (start + 1)..<(index - 1)
            guard bytes[text].contains(UInt8(ascii: "\\")) else { return .plain(text) }
            return .decoded(decodeJSONString(Array(bytes[start..<index])).map { Array($0.utf8) } ?? [])
        }

        /// Steps over the string at `index`; `false` when it does not end.
        mutating func skipString() -> Bool {
            index += 1
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    index += 1
                    return true
                case UInt8(ascii: "\\"): index += 2
                default: index += 1
                }
            }
            return false
        }

        /// Steps over the value at `index`; `false` when it does not end before the bytes do.
        mutating func skipValue() -> Bool {
            guard let first = peek else { return false }
            switch first {
            case UInt8(ascii: "\""): return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while let byte = peek {
                    switch byte {
                    case UInt8(ascii: "\""):
                        guard skipString() else { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            index += 1
                            return true
                        }
                    default: break
                    }
                    index += 1
                }
                return false
            default:
                while let byte = peek, !JSONFieldScanner.endsScalar(byte) { index += 1 }
                return true
            }
        }
    }
}
