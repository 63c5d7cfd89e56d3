#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Finds chosen members of a JSON document that arrives in pieces, without building the document.
///
/// The scanner is told which key paths matter (`["usage"]`, `["response", "usage"]`) and keeps the raw JSON text
/// of those values only, so a response of any size is metered with a few hundred bytes of state, and a body split
/// at any byte gives the same result. Members inside arrays are never matched. When a path occurs more than once,
/// the last occurrence wins (providers repeat running totals); a request reader that must read a body exactly as
/// the provider does asks instead for ``duplicate`` (the first watched key seen twice). Keys are compared after
/// their escapes are decoded (`"mod\u0065l"` is `model`), as every JSON parser reads them.
///
/// A scanner can also *tally* keys wherever they occur, inside arrays included (``init(paths:tallying:)``): how
/// many times each occurs and, for string values, with which value (`"type": "image_url"` parts of a prompt).
///
/// ```swift
/// var scanner = JSONFieldScanner(paths: [["model"], ["usage"]])
/// scanner.feed(Array(#"{"model":"gpt-4o","usage":{"prompt_tokens":3}}"#.utf8))
/// scanner.value(at: 1)  // the bytes of {"prompt_tokens":3}
/// ```
public struct JSONFieldScanner: Sendable {
    /// A captured value: its raw JSON text and where it stood in the fed bytes.
    public struct Capture: Sendable, Equatable {
        /// The value's JSON text, exactly as it appeared.
        public var bytes: [UInt8]
        /// Offset of the value's first byte among all bytes fed.
        public var start: Int
        /// Offset of the byte after the member (value end), among all bytes fed.
        public var end: Int
        /// Offset of the member's key (its opening quote): with ``end`` it spans the whole member.
        public var memberStart: Int
    }

    private let paths: [[[UInt8]]]
    private let maxDepth: Int
    private var captures: [Capture?]
    /// Longest raw key that may still decode to a watched key (an ASCII character is at most `\u0000`, six bytes).
    private let maxKeyLength: Int
    /// Every prefix of a watched path (`["generationConfig"]`, `["generationConfig", "maxOutputTokens"]`), once.
    private let prefixes: [[[UInt8]]]
    /// ``KeyPaths/keySignatures``
    private let keySignatures: [[Int]]
    /// ``KeyPaths/pathSignatures`` and ``KeyPaths/prefixSignatures``
    private let pathSignatures: [Int]
    private let prefixSignatures: [Int]
    /// The prefixes met so far: the first 64 of ``prefixes`` as bits (the usual case: a few dozen at most), so that
    /// noting one allocates nothing and costs no search; the indices of any further ones in a list.
    private var seenPrefixBits: UInt64 = 0
    private var seenPrefixes: [Int] = []
    /// The first watched key (or parent of one) that occurred twice in the same object, decoded.
    public private(set) var duplicate: [String]?

    private let tallyKeys: [[UInt8]]
    /// By tallied key, how often each value occurred; made at the first tally (most bodies have none).
    private var tallies: [[String: Int]] = []
    /// The tallied key whose value is being read (its index), and that value's bytes when it is a string.
    private var pendingTally = -1
    private var tallyingValue = -1
    private var tallyValue: [UInt8] = []

    /// What an open container accepts next.
    private enum Expect: UInt8 {
        /// Its first member or element, or its end (just opened).
        case first
        /// A member or element (after a comma).
        case next
        /// A colon (an object's key was read).
        case colon
        /// A member's value (after the colon).
        case value
        /// A comma or its end (a member or element was read).
        case separator
    }

    /// One open object or array.
    private struct Level {
        let isObject: Bool
        /// Whether an object expects a key next (just opened, or after a comma).
        var expectingKey: Bool
        /// Where the container stands in its grammar (``Expect``): a key without its colon, or two members without a
        /// comma between them, make the document malformed. Checked at the levels the scan steps through byte by
        /// byte (every level when tallying, else down to the deepest watched path).
        var expect = Expect.first
        /// The decoded key of the member being read, when it may lead to a watched path (`hasKey`). Its storage is
        /// swapped with ``keyBuffer``'s rather than copied, so that reading keys does not allocate once each buffer
        /// has grown.
        var key: [UInt8] = []
        var hasKey = false
        /// Where that member's key begins (its opening quote).
        var keyStart = 0

        init(isObject: Bool) {
            self.isObject = isObject
            self.expectingKey = isObject
        }

        /// Whether the member being read has `key`.
        @inline(__always)
        func has(_ key: [UInt8]) -> Bool { hasKey && self.key == key }
    }

    /// The open containers, outermost first: one allocation for the whole stack (it keeps its capacity).
    private var levels: [Level] = []

    private var inString = false
    private var stringEnd = JSONStringEnd()
    private var stringIsKey = false
    private var inScalar = false
    /// The bytes of the scalar being read (`true`, `-12.5e3`), checked when it ends; bounded by ``maxScalarLength``.
    private var scalarBytes: [UInt8] = []
    private static let maxScalarLength = 256
    private var keyBuffer: [UInt8] = []
    private var collectingKey = false
    private var pendingKeyStart = 0

    private var capturing = -1
    private var captureDepth = 0
    /// The value being captured. A scratch buffer kept from one capture to the next (each capture is copied out at its
    /// exact size): grown byte by byte from empty, a 300-byte usage object took six allocations.
    private var captureBuffer: [UInt8] = []
    private var captureStart = 0
    private var captureMemberStart = 0

    private var offset = 0
    /// Whether the top-level value has ended.
    public private(set) var isComplete = false
    /// Whether bytes that cannot be JSON were seen (the scan goes on, best effort).
    public private(set) var isMalformed = false
    private var sawValue = false

    /// Creates a scanner for the given key paths (each a list of object keys from the top).
    public init(paths: [[String]]) {
        self.init(paths: KeyPaths(paths))
    }

    /// Whether keys are compared without regard to ASCII case (Go's `encoding/json`, which Ollama parses with, matches
    /// `MODEL` to `model`); watched paths are then given in lowercase.
    private let foldsCase: Bool

    /// Creates a scanner for key paths encoded once (cheaper when one set of paths serves many documents), that
    /// also tallies the keys in `tallying` wherever they occur; with `foldingCase`, keys match whatever their ASCII case.
    public init(paths: KeyPaths, tallying: [String] = [], foldingCase: Bool = false) {
        self.init(paths: paths, tallying: TallyKeys(tallying, foldingCase: foldingCase))
    }

    /// Creates a scanner for key paths and tallied keys both encoded once (a request body's scanner, made for every
    /// request, then allocates only its captures).
    public init(paths: KeyPaths, tallying: TallyKeys) {
        self.foldsCase = tallying.foldingCase
        self.paths = paths.encoded
        self.maxDepth = paths.maxDepth
        self.captures = Array(repeating: nil, count: paths.encoded.count)
        self.prefixes = paths.prefixes
        self.keySignatures = paths.keySignatures
        self.pathSignatures = paths.pathSignatures
        self.prefixSignatures = paths.prefixSignatures
        self.tallyKeys = tallying.encoded
        self.maxKeyLength = max(64, 6 * max(paths.longestKey, tallying.longest))
    }

    /// Keys to tally wherever they occur, encoded once and shared by many scanners, and whether keys are compared
    /// without regard to ASCII case (then the keys are kept in lowercase).
    public struct TallyKeys: Sendable {
        let encoded: [[UInt8]]
        let foldingCase: Bool
        /// The length of the longest key.
        let longest: Int

        /// Encodes the keys.
        public init(_ keys: [String], foldingCase: Bool = false) {
            encoded = keys.map { Array((foldingCase ? $0.lowercased() : $0).utf8) }
            self.foldingCase = foldingCase
            longest = encoded.map(\.count).max() ?? 0
        }
    }

    /// A set of key paths, encoded once and shared by many scanners.
    public struct KeyPaths: Sendable {
        let encoded: [[[UInt8]]]
        let maxDepth: Int

        let prefixes: [[[UInt8]]]
        /// By depth (0 for top-level keys), the ``signature(of:)`` of every key a watched path has there: a key whose
        /// signature is not among them is no part of a watched path, which spares comparing its path.
        let keySignatures: [[Int]]
        /// The ``signature(of:)`` of the last key of each path, and of each prefix: a path is compared key by key only
        /// with a member whose key has its last key's signature.
        let pathSignatures: [Int]
        let prefixSignatures: [Int]
        /// The length of the longest key of the paths.
        let longestKey: Int

        /// Encodes the paths.
        public init(_ paths: [[String]]) {
            encoded = paths.map { $0.map { Array($0.utf8) } }
            maxDepth = paths.map(\.count).max() ?? 0
            var prefixes: [[[UInt8]]] = []
            for path in encoded {
                for count in 1...max(1, path.count) where !prefixes.contains(Array(path.prefix(count))) {
                    prefixes.append(Array(path.prefix(count)))
                }
            }
            self.prefixes = prefixes
            var signatures = Array(repeating: [Int](), count: maxDepth)
            for path in encoded {
                for (depth, key) in path.enumerated() where !signatures[depth].contains(Self.signature(of: key)) {
                    signatures[depth].append(Self.signature(of: key))
                }
            }
            keySignatures = signatures
            pathSignatures = encoded.map { Self.signature(of: $0.last ?? []) }
            prefixSignatures = prefixes.map { Self.signature(of: $0.last ?? []) }
            longestKey = encoded.joined().map(\.count).max() ?? 0
        }

        /// A key's length with its first and last byte: equal keys have equal signatures.
        static func signature(of key: [UInt8]) -> Int {
            guard let first = key.first, let last = key.last else { return 0 }
            return key.count &<< 16 | Int(first) &<< 8 | Int(last)
        }
    }

    /// How often a tallied key occurred, by value: its string value decoded, `""` for any other value.
    public func tally(at index: Int) -> [String: Int] { tallies.isEmpty ? [:] : tallies[index] }

    /// Counts one occurrence of the tallied key at `index` with `value`.
    private mutating func count(_ value: String, at index: Int) {
        if tallies.isEmpty { tallies = Array(repeating: [:], count: tallyKeys.count) }
        tallies[index][value, default: 0] += 1
    }

    /// Scans one whole document; `nil` when it is not complete, well-formed JSON.
    public static func scanWhole(_ document: [UInt8], paths: KeyPaths, tallying: [String] = [], foldingCase: Bool = false) -> JSONFieldScanner? {
        var scanner = JSONFieldScanner(paths: paths, tallying: tallying, foldingCase: foldingCase)
        scanner.feed(document)
        scanner.finish()
        return scanner.isComplete && !scanner.isMalformed ? scanner : nil
    }

    /// The last value captured for the path at `index` in the list given to ``init(paths:)``.
    public func value(at index: Int) -> [UInt8]? { captures[index]?.bytes }

    /// The last capture for the path at `index`, with its position.
    public func capture(at index: Int) -> Capture? { captures[index] }

    /// Feeds the next piece of the document.
    public mutating func feed(_ bytes: some Sequence<UInt8>) {
        let contiguous = Array(bytes)
        contiguous.withUnsafeBytes { feed($0) }
    }

    /// Feeds the next piece of the document from raw memory.
    ///
    /// Runs of bytes that cannot change the state machine's course are taken whole rather than stepped through one by
    /// one: the inside of strings up to a quote or a backslash and the inside of scalars (appended at once to the
    /// capture and the key being read, when there is one), and, below the deepest wanted path, everything but
    /// brackets and quotes. Most of a response is such bytes.
    public mutating func feed(_ buffer: UnsafeRawBufferPointer) {
        let count = buffer.count
        var index = 0
        // The next quote at or after some earlier index, found by ``stringRunEnd(_:from:quote:)``.
        var quote = -1
        while index < count {
            var next = index
            if inString {
                if !stringEnd.escaping && tallyingValue < 0 {
                    next = Self.stringRunEnd(buffer, from: index, quote: &quote)
                    if next > index {
                        let run = UnsafeRawBufferPointer(rebasing: buffer[index..<next])
                        if capturing >= 0 { captureBuffer.append(contentsOf: run) }
                        if collectingKey {
                            let room = maxKeyLength - keyBuffer.count
                            keyBuffer.append(contentsOf: run.prefix(room))
                            if run.count > room { collectingKey = false }
                        }
                    }
                }
            } else if inScalar {
                while next < count, !Self.endsScalar(buffer[next]) { next += 1 }
                if next > index {
                    let run = UnsafeRawBufferPointer(rebasing: buffer[index..<next])
                    if capturing >= 0 { captureBuffer.append(contentsOf: run) }
                    let room = Self.maxScalarLength - scalarBytes.count
                    scalarBytes.append(contentsOf: run.prefix(room))
                    if run.count > room { isMalformed = true }
                }
            } else if capturing < 0 && levels.count > maxDepth && tallyKeys.isEmpty {
                while next < count {
                    let byte = buffer[next]
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[")
                        || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]")
                    {
                        break
                    }
                    next += 1
                }
            }
            offset += next - index
            index = next
            if index == count { break }
            step(buffer[index])
            index += 1
        }
    }

    /// The index of the first quote or backslash at or after `start` in `buffer` (its count if none). A short run is
    /// stepped through; a long one (a prompt's text) is searched with `memchr`, many bytes at a time. `quote` keeps the
    /// next quote once found, so that a string with many escapes before its end is not searched again each time.
    @inline(__always)
    private static func stringRunEnd(_ buffer: UnsafeRawBufferPointer, from start: Int, quote: inout Int) -> Int {
        let count = buffer.count
        var next = start
        let stepped = min(count, start + 16)
        while next < stepped {
            let byte = buffer[next]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return next }
            next += 1
        }
        guard next < count, let base = buffer.baseAddress else { return next }
        if quote < next {
            quote = memchr(base + next, Int32(UInt8(ascii: "\"")), count - next).map { base.distance(to: UnsafeRawPointer($0)) } ?? count
        }
        guard quote > next else { return next }
        return memchr(base + next, Int32(UInt8(ascii: "\\")), quote - next).map { base.distance(to: UnsafeRawPointer($0)) } ?? quote
    }

    /// Ends the document: a scalar running to the end of input is closed.
    public mutating func finish() {
        if inScalar { endScalar(at: offset) }
    }

    private mutating func step(_ byte: UInt8) {
        defer { offset += 1 }
        currentByte = byte
        if capturing >= 0 { captureBuffer.append(byte) }
        if inString {
            if stringEnd.closes(at: byte) {
                inString = false
                if stringIsKey {
                    finishKey()
                } else {
                    if tallyingValue >= 0 { endTallyValue() }
                    endValue(at: offset + 1)
                }
                return
            }
            if collectingKey {
                if keyBuffer.count < maxKeyLength { keyBuffer.append(byte) } else { collectingKey = false }
            } else if tallyingValue >= 0 {
                if tallyValue.count < maxKeyLength {
                    tallyValue.append(byte)
                } else {
                    // Too long to be a value anyone tallies for: counted as "some other value".
                    count("", at: tallyingValue)
                    tallyingValue = -1
                }
            }
            return
        }
        if inScalar {
            guard Self.endsScalar(byte) else {
                if scalarBytes.count < Self.maxScalarLength { scalarBytes.append(byte) } else { isMalformed = true }
                return
            }
            if capturing >= 0 { captureBuffer.removeLast() }
            endScalar(at: offset)
            if capturing >= 0 { captureBuffer.append(byte) }
        }
        switch byte {
        case 0x20, 0x0A, 0x0D, 0x09:
            return
        case UInt8(ascii: "\""):
            inString = true
            let top = levels.count - 1
            if top >= 0, levels[top].isObject, levels[top].expectingKey {
                if checksGrammar {
                    if levels[top].expect != .first && levels[top].expect != .next { isMalformed = true }
                    levels[top].expect = .colon
                }
                stringIsKey = true
                pendingKeyStart = offset
                keyBuffer.removeAll(keepingCapacity: true)
                if keyBuffer.capacity == 0 { keyBuffer.reserveCapacity(32) }
                collectingKey = isTracked || !tallyKeys.isEmpty
            } else {
                stringIsKey = false
                beginValue()
            }
        // The innermost level is reached by index, not `levels.last`: a copy of it would retain its key.
        case UInt8(ascii: ":"):
            let top = levels.count - 1
            guard top >= 0 else {
                isMalformed = true
                return
            }
            if checksGrammar {
                if levels[top].expect != .colon { isMalformed = true }
                levels[top].expect = .value
            }
            if levels[top].isObject { levels[top].expectingKey = false }
        case UInt8(ascii: ","):
            let top = levels.count - 1
            guard top >= 0 else {
                isMalformed = true
                return
            }
            if checksGrammar {
                if levels[top].expect != .separator { isMalformed = true }
                levels[top].expect = .next
            }
            if levels[top].isObject {
                levels[top].expectingKey = true
                levels[top].hasKey = false
            }
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            beginValue()
            // Room for the usual depth at once, rather than growing one level at a time.
            if levels.capacity == 0 { levels.reserveCapacity(8) }
            levels.append(Level(isObject: byte == UInt8(ascii: "{")))
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            let top = levels.count - 1
            guard top >= 0 else {
                isMalformed = true
                return
            }
            if levels[top].isObject != (byte == UInt8(ascii: "}")) { isMalformed = true }
            if checksGrammar, levels[top].expect != .first && levels[top].expect != .separator { isMalformed = true }
            levels.removeLast()
            endValue(at: offset + 1)
        default:
            if let top = levels.indices.last, levels[top].isObject, levels[top].expectingKey { isMalformed = true }
            inScalar = true
            scalarBytes.removeAll(keepingCapacity: true)
            scalarBytes.append(byte)
            beginValue()
        }
    }

    /// Whether `byte` ends a scalar (`12,`, `true}`, `null ]`).
    @inline(__always)
    static func endsScalar(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09: return true
        default: return false
        }
    }

    /// Whether keys at the current depth may lead to a wanted path.
    private var isTracked: Bool {
        let depth = levels.count
        guard depth >= 1, depth <= maxDepth, capturing < 0 else { return false }
        for level in 0..<(depth - 1) where !levels[level].isObject || !levels[level].hasKey { return false }
        return levels[depth - 1].isObject
    }

    private mutating func finishKey() {
        let depth = levels.count
        defer { collectingKey = false }
        guard collectingKey else {
            levels[depth - 1].hasKey = false
            return
        }
        // The key is decoded in `keyBuffer` itself (which the next key empties anyway).
        if keyBuffer.contains(UInt8(ascii: "\\")) {
            guard let decoded = decodeJSONString([UInt8(ascii: "\"")] + keyBuffer + [UInt8(ascii: "\"")]) else {
                isMalformed = true
                levels[depth - 1].hasKey = false
                return
            }
            keyBuffer = Array(decoded.utf8)
        }
        if foldsCase {
            // Go also folds the Kelvin sign and the long s into k and s: such a key is read as its ASCII twin.
            if keyBuffer.contains(where: { $0 >= 0x80 }), let text = String(validating: keyBuffer, as: UTF8.self),
                text.contains(where: { $0 == "\u{212A}" || $0 == "\u{17F}" })
            {
                keyBuffer = Array(text.replacingOccurrences(of: "\u{212A}", with: "k").replacingOccurrences(of: "\u{17F}", with: "s").utf8)
            }
            for index in keyBuffer.indices where keyBuffer[index] >= UInt8(ascii: "A") && keyBuffer[index] <= UInt8(ascii: "Z") {
                keyBuffer[index] += 32
            }
        }
        if !tallyKeys.isEmpty, let index = tallyKeys.firstIndex(of: keyBuffer) { pendingTally = index }
        guard isTracked else {
            levels[depth - 1].hasKey = false
            return
        }
        // The level takes the key's storage and gives its previous key's back, to be filled by the next key.
        swap(&levels[depth - 1].key, &keyBuffer)
        levels[depth - 1].hasKey = true
        levels[depth - 1].keyStart = pendingKeyStart
        noteIfDuplicate(depth: depth)
    }

    /// Records the watched key (or parent of one) just read; the first one read twice becomes ``duplicate``.
    private mutating func noteIfDuplicate(depth: Int) {
        guard depth <= maxDepth, !prefixes.isEmpty, levels[depth - 1].hasKey else { return }
        let signature = KeyPaths.signature(of: levels[depth - 1].key)
        guard keySignatures[depth - 1].contains(signature) else { return }
        for (index, prefix) in prefixes.enumerated() where prefix.count == depth && prefixSignatures[index] == signature {
            var matches = true
            for level in (0..<depth).reversed() where !levels[level].has(prefix[level]) {
                matches = false
                break
            }
            guard matches else { continue }
            let seen: Bool
            if index < 64 {
                seen = seenPrefixBits & (1 &<< UInt64(index)) != 0
                seenPrefixBits |= 1 &<< UInt64(index)
            } else {
                seen = seenPrefixes.contains(index)
                if !seen { seenPrefixes.append(index) }
            }
            if seen, duplicate == nil {
                duplicate = prefix.map { String(decoding: $0, as: UTF8.self) }
            }
            return
        }
    }

    /// Whether the grammar of the innermost container is checked: its bytes are all stepped through.
    private var checksGrammar: Bool { !levels.isEmpty && (levels.count <= maxDepth || !tallyKeys.isEmpty) }

    private mutating func beginValue() {
        // A second top-level value (`{}{}`, `{} x`): the document was already complete.
        if isComplete && levels.isEmpty { isMalformed = true }
        if checksGrammar {
            let top = levels.count - 1
            let accepted: Bool
            switch levels[top].expect {
            case .value: accepted = levels[top].isObject
            case .first, .next: accepted = !levels[top].isObject
            case .colon, .separator: accepted = false
            }
            if !accepted { isMalformed = true }
            levels[top].expect = .separator
        }
        sawValue = true
        if pendingTally >= 0 {
            if currentByte == UInt8(ascii: "\"") {
                tallyingValue = pendingTally
                tallyValue.removeAll(keepingCapacity: true)
            } else {
                count("", at: pendingTally)
            }
            pendingTally = -1
        }
        guard capturing < 0, let index = matchingPath() else { return }
        capturing = index
        captureDepth = levels.count
        captureBuffer.removeAll(keepingCapacity: true)
        if captureBuffer.capacity == 0 { captureBuffer.reserveCapacity(512) }
        captureBuffer.append(currentByte)
        captureStart = offset
        captureMemberStart = levels[levels.count - 1].keyStart
    }

    /// The byte being stepped over: the first byte of a value that starts a capture.
    private var currentByte: UInt8 = 0

    private func matchingPath() -> Int? {
        let depth = levels.count
        guard depth >= 1, depth <= maxDepth, levels[depth - 1].isObject, levels[depth - 1].hasKey else { return nil }
        let signature = KeyPaths.signature(of: levels[depth - 1].key)
        for (index, path) in paths.enumerated() where path.count == depth && pathSignatures[index] == signature {
            var matches = true
            for level in (0..<depth).reversed() where !levels[level].isObject || !levels[level].has(path[level]) {
                matches = false
                break
            }
            if matches { return index }
        }
        return nil
    }

    private mutating func endTallyValue() {
        let value = decodeJSONString([UInt8(ascii: "\"")] + tallyValue + [UInt8(ascii: "\"")]) ?? ""
        count(value, at: tallyingValue)
        tallyingValue = -1
    }

    private mutating func endScalar(at end: Int) {
        inScalar = false
        if !Self.isScalar(scalarBytes) { isMalformed = true }
        endValue(at: end)
    }

    private static let trueText = Array("true".utf8)
    private static let falseText = Array("false".utf8)
    private static let nullText = Array("null".utf8)

    /// Whether `bytes` is a JSON literal or number (`true`, `false`, `null`, `-0.5e+3`), so that a bare word
    /// such as `Unauthorized` is not taken for a complete document.
    private static func isScalar(_ bytes: [UInt8]) -> Bool {
        // A literal by its first byte (comparing with each literal's `String.UTF8View` cost as much as a number's check).
        switch bytes.first {
        case UInt8(ascii: "t"): return bytes == trueText
        case UInt8(ascii: "f"): return bytes == falseText
        case UInt8(ascii: "n"): return bytes == nullText
        default: break
        }
        var index = 0
        func digits() -> Int {
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            return index - start
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let first = index
        let whole = digits()
        guard whole > 0, whole == 1 || bytes[first] != UInt8(ascii: "0") else { return false }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return false }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return false }
        }
        return index == bytes.count
    }

    private mutating func endValue(at end: Int) {
        if capturing >= 0, levels.count == captureDepth {
            let bytes = [UInt8](unsafeUninitializedCapacity: captureBuffer.count) { copy, count in
                count = copy.initialize(fromContentsOf: captureBuffer)
            }
            captures[capturing] = Capture(bytes: bytes, start: captureStart, end: end, memberStart: captureMemberStart)
            capturing = -1
        }
        if levels.isEmpty && sawValue { isComplete = true }
    }
}
