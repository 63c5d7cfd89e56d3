/// Splits a JSON array that arrives in pieces into its elements, without holding the array or an element.
///
/// Gemini's `streamGenerateContent` without `alt=sse` answers with one JSON array, `[{…},\n{…}]`, written chunk
/// by chunk: each element is a whole response object and must be read as soon as it closes. The splitter keeps
/// only its position (inside a string, after a backslash, the bracket depth), so pieces may be cut at any byte
/// and memory stays constant. It hands the bytes of each element on in runs, as they arrive, and says where each
/// element ends; the reader of the elements decides what to keep of them.
///
/// A document that is not an array (a plain response object, an error object) is handed on whole as one element
/// that never ends: its reader tells the end of the value itself.
///
/// ```swift
/// var splitter = JSONArraySplitter()
/// var index = 0
/// while let event = splitter.next(in: piece, from: &index) { … }
/// ```
struct JSONArraySplitter: Sendable {
    /// What the document turned out to be.
    enum Shape: Sendable, Equatable {
        /// Only whitespace so far.
        case unknown
        /// A JSON array, split into elements.
        case array
        /// Any other value, handed on whole.
        case value
    }

    /// One step of the split.
    enum Event: Sendable, Equatable {
        /// Bytes of the current element (a range of the piece being read); an element may come in several runs.
        case elementBytes(Range<Int>)
        /// The current element closed with the last bytes handed on.
        case elementEnd
        /// The array's closing `]`.
        case arrayEnd
        /// Bytes that cannot belong to the array; the rest of the document is ignored.
        case malformed(String)
    }

    private enum State: Sendable {
        case start
        case value
        case beforeElement(afterComma: Bool)
        case inElement
        /// The element's last bytes were handed on; its end is reported next.
        case elementEnded
        case afterElement
        case closed
        case broken
    }

    private var state = State.start
    /// Open brackets of the current element.
    private var depth = 0
    private var inString = false
    private var stringEnd = JSONStringEnd()
    /// Whether the current element is a bare number or literal (`true`, `12`), which ends at a delimiter.
    private var inScalar = false

    /// What the document is.
    private(set) var shape = Shape.unknown

    /// Whether the array has closed.
    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// Creates a splitter at the start of a document.
    init() {}

    /// The next event found in `buffer` from `index`, which moves past what the event covers; `nil` once the
    /// buffer is used up (the next piece continues where this one ended).
    mutating func next(in buffer: UnsafeRawBufferPointer, from index: inout Int) -> Event? {
        if case .elementEnded = state {
            state = .afterElement
            return .elementEnd
        }
        while index < buffer.count {
            let byte = buffer[index]
            switch state {
            case .start:
                if JSONEdit.isWhitespace(byte) {
                    index += 1
                } else if byte == UInt8(ascii: "[") {
                    shape = .array
                    state = .beforeElement(afterComma: false)
                    index += 1
                } else {
                    shape = .value
                    state = .value
                }
            case .value:
                defer { index = buffer.count }
                return .elementBytes(index..<buffer.count)
            case .beforeElement(let afterComma):
                if JSONEdit.isWhitespace(byte) {
                    index += 1
                } else if byte == UInt8(ascii: "]") && !afterComma {
                    index += 1
                    state = .closed
                    return .arrayEnd
                } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}")
                    || byte == UInt8(ascii: ":")
                {
                    return fail(&index, buffer, "no element where one should begin")
                } else {
                    state = .inElement
                    depth = 0
                    inString = false
                    stringEnd.reset()
                    inScalar = byte != UInt8(ascii: "{") && byte != UInt8(ascii: "[") && byte != UInt8(ascii: "\"")
                }
            case .inElement:
                let start = index
                if scanElement(buffer, from: &index) { state = .elementEnded }
                if index > start { return .elementBytes(start..<index) }
                // A bare scalar ended at the delimiter that begins this piece: nothing more to hand on.
                state = .afterElement
                return .elementEnd
            case .elementEnded:
                state = .afterElement
                return .elementEnd
            case .afterElement:
                if JSONEdit.isWhitespace(byte) {
                    index += 1
                } else if byte == UInt8(ascii: ",") {
                    index += 1
                    state = .beforeElement(afterComma: true)
                } else if byte == UInt8(ascii: "]") {
                    index += 1
                    state = .closed
                    return .arrayEnd
                } else {
                    return fail(&index, buffer, "neither ',' nor ']' after an element")
                }
            case .closed:
                guard JSONEdit.isWhitespace(byte) else { return fail(&index, buffer, "data after the array's closing ]") }
                index += 1
            case .broken:
                index = buffer.count
            }
        }
        return nil
    }

    /// Moves `index` over the current element's bytes; returns whether the element ended (its last byte included).
    private mutating func scanElement(_ buffer: UnsafeRawBufferPointer, from index: inout Int) -> Bool {
        let count = buffer.count
        while index < count {
            let byte = buffer[index]
            if inScalar {
                if JSONEdit.isWhitespace(byte) || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "]") {
                    inScalar = false
                    return true
                }
                index += 1
                continue
            }
            index += 1
            if inString {
                // The inside of a string (a long text, an image's base64) is skipped in one tight run.
                if !stringEnd.escaping, byte != UInt8(ascii: "\\"), byte != UInt8(ascii: "\"") {
                    while index < count, buffer[index] != UInt8(ascii: "\\"), buffer[index] != UInt8(ascii: "\"") { index += 1 }
                    continue
                }
                if stringEnd.closes(at: byte) {
                    inString = false
                    if depth == 0 { return true }
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return true }
            default:
                break
            }
        }
        return false
    }

    /// Gives up on the document: nothing after bytes that cannot belong to the array is split.
    private mutating func fail(_ index: inout Int, _ buffer: UnsafeRawBufferPointer, _ why: String) -> Event {
        state = .broken
        index = buffer.count
        return .malformed(why)
    }
}

extension JSONArraySplitter {
    /// The elements of a whole JSON array held in memory (a small captured value such as a usage detail list), or
    /// `nil` when `array` is not one closed array.
    static func elements(of array: [UInt8]) -> [ArraySlice<UInt8>]? {
        array.withUnsafeBytes { buffer -> [ArraySlice<UInt8>]? in
            var splitter = JSONArraySplitter()
            var elements: [ArraySlice<UInt8>] = []
            var current: Range<Int>?
            var index = 0
            while let event = splitter.next(in: buffer, from: &index) {
                switch event {
                case .elementBytes(let range):
                    current = (current?.lowerBound ?? range.lowerBound)..<range.upperBound
                case .elementEnd:
                    if let current { elements.append(array[current]) }
                    current = nil
                case .arrayEnd:
                    break
                case .malformed:
                    return nil
                }
            }
            return splitter.isClosed ? elements : nil
        }
    }
}
