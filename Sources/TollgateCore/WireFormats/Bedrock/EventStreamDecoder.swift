/// Splits an `application/vnd.amazon.eventstream` body (Bedrock ConverseStream, InvokeModelWithResponseStream) into
/// messages, incrementally: a body split at any byte yields the same messages.
///
/// Each message is one binary frame:
///
/// ```text
/// total length (u32 BE) | headers length (u32 BE) | prelude CRC32 (of the 8 bytes before it)
/// headers | payload | message CRC32 (of every byte before it)
/// ```
///
/// Both checksums are verified. The first fault (a checksum mismatch, an implausible length, a malformed header, or
/// a body that ends inside a frame) is thrown as an ``EventStreamError`` and ends decoding: a later call throws it
/// again without reading more. Memory is bounded by one frame, at most ``maximumFrameLength`` bytes.
///
/// ```swift
/// var decoder = EventStreamDecoder()
/// try decoder.feed(piece) { message in print(message.eventType ?? "?") }
/// try decoder.finish()
/// ```
public struct EventStreamDecoder: Sendable {
    /// The largest frame accepted: AWS caps event-stream messages at 16 MiB.
    public static let maximumFrameLength = 16 * 1024 * 1024
    /// Bytes of the prelude: two lengths and the prelude checksum.
    static let preludeLength = 12
    /// Bytes of the smallest frame: a prelude and the message checksum, with no headers and no payload.
    static let minimumFrameLength = preludeLength + 4

    /// The bytes of the frame being read (prelude included).
    private var frame: [UInt8] = []
    /// The frame's total length, once its prelude has been read and checked.
    private var frameLength: Int?
    /// Offset of the frame being read among all bytes fed.
    private var frameOffset = 0
    /// The fault that ended decoding, if any.
    public private(set) var failure: EventStreamError?

    /// Creates a decoder at the start of a body.
    public init() {}

    /// Feeds the next piece of the body; `onMessage` is called for each message the piece completes, in order.
    public mutating func feed(
        _ buffer: UnsafeRawBufferPointer, onMessage: (EventStreamMessage) -> Void
    ) throws(EventStreamError) {
        if let failure { throw failure }
        var index = 0
        while index < buffer.count {
            let wanted = (frameLength ?? Self.preludeLength) - frame.count
            let end = index + min(wanted, buffer.count - index)
            frame.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index..<end]))
            index = end
            guard frame.count == (frameLength ?? Self.preludeLength) else { continue }
            do throws(EventStreamError.Reason) {
                if frameLength == nil {
                    frameLength = try readPrelude()
                    continue
                }
                let message = try readMessage()
                frameOffset += frame.count
                frame.removeAll(keepingCapacity: frame.count <= 64 * 1024)
                frameLength = nil
                onMessage(message)
            } catch {
                throw record(EventStreamError(error, frameOffset: frameOffset))
            }
        }
    }

    /// Feeds bytes from an array.
    public mutating func feed(_ bytes: [UInt8], onMessage: (EventStreamMessage) -> Void) throws(EventStreamError) {
        var fault: EventStreamError?
        bytes.withUnsafeBytes { buffer in
            do throws(EventStreamError) { try feed(buffer, onMessage: onMessage) } catch { fault = error }
        }
        if let fault { throw fault }
    }

    /// Ends the body: bytes of a frame that never completed are a truncated frame.
    public mutating func finish() throws(EventStreamError) {
        if let failure { throw failure }
        guard frame.isEmpty else {
            throw record(EventStreamError(.truncatedFrame(received: frame.count, expected: frameLength), frameOffset: frameOffset))
        }
    }

    /// Ends decoding with `error`: later calls throw it again, and the partial frame is let go.
    private mutating func record(_ error: EventStreamError) -> EventStreamError {
        failure = error
        frame = []
        return error
    }

    /// Checks the prelude checksum, then the lengths it gives; returns the frame's total length.
    private func readPrelude() throws(EventStreamError.Reason) -> Int {
        let received = frame.bigEndian(UInt32.self, at: 8)
        let computed = CRC32.checksum(frame[0..<8])
        guard received == computed else { throw .preludeChecksumMismatch(received: received, computed: computed) }
        let total = frame.bigEndian(UInt32.self, at: 0)
        let headers = frame.bigEndian(UInt32.self, at: 4)
        guard total >= Self.minimumFrameLength else { throw .frameTooShort(totalLength: total) }
        guard total <= Self.maximumFrameLength else { throw .frameTooLarge(totalLength: total, limit: Self.maximumFrameLength) }
        guard Int(headers) <= Int(total) - Self.minimumFrameLength else {
            throw .headersBeyondFrame(headersLength: headers, totalLength: total)
        }
        return Int(total)
    }

    /// Checks the message checksum of the complete frame and splits it into headers and payload.
    private func readMessage() throws(EventStreamError.Reason) -> EventStreamMessage {
        let checksumStart = frame.count - 4
        let received = frame.bigEndian(UInt32.self, at: checksumStart)
        let computed = CRC32.checksum(frame[0..<checksumStart])
        guard received == computed else { throw .messageChecksumMismatch(received: received, computed: computed) }
        let headersEnd = Self.preludeLength + Int(frame.bigEndian(UInt32.self, at: 4))
        let headers = try EventStreamHeader.decodeAll(frame[Self.preludeLength..<headersEnd])
        return EventStreamMessage(headers: headers, payload: Array(frame[headersEnd..<checksumStart]))
    }
}

/// Why an event-stream body could not be decoded, and where.
public struct EventStreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong with the frame.
    public enum Reason: Error, Sendable, Equatable {
        /// The prelude's checksum does not match its first 8 bytes: not an event stream, or corrupted.
        case preludeChecksumMismatch(received: UInt32, computed: UInt32)
        /// The message checksum does not match the frame's bytes.
        case messageChecksumMismatch(received: UInt32, computed: UInt32)
        /// The total length is below the 16 bytes of an empty frame.
        case frameTooShort(totalLength: UInt32)
        /// The total length is above the largest frame accepted.
        case frameTooLarge(totalLength: UInt32, limit: Int)
        /// The headers would run past the payload and the message checksum.
        case headersBeyondFrame(headersLength: UInt32, totalLength: UInt32)
        /// A header is cut short, has an empty name, or has an unknown value type.
        case malformedHeader(String)
        /// The body ended inside a frame; `expected` is `nil` when even the prelude was incomplete.
        case truncatedFrame(received: Int, expected: Int?)
    }

    /// What was wrong.
    public var reason: Reason
    /// Offset of the faulty frame's first byte in the body.
    public var frameOffset: Int

    /// Creates an error.
    public init(_ reason: Reason, frameOffset: Int) {
        self.reason = reason
        self.frameOffset = frameOffset
    }

    /// A message an operator can act on, as the reading's note.
    public var description: String {
        let frame = "event stream frame at byte \(frameOffset)"
        switch reason {
        case .preludeChecksumMismatch(let received, let computed):
            return "\(frame): prelude CRC mismatch (received \(hex(received)), computed \(hex(computed)))"
        case .messageChecksumMismatch(let received, let computed):
            return "\(frame): message CRC mismatch (received \(hex(received)), computed \(hex(computed)))"
        case .frameTooShort(let total):
            return "\(frame): implausible total length \(total) (below the \(EventStreamDecoder.minimumFrameLength) bytes of an empty frame)"
        case .frameTooLarge(let total, let limit):
            return "\(frame): implausible total length \(total) (above the \(limit)-byte limit)"
        case .headersBeyondFrame(let headers, let total):
            return "\(frame): implausible headers length \(headers) for a total length of \(total)"
        case .malformedHeader(let why):
            return "\(frame): malformed header: \(why)"
        case .truncatedFrame(let received, let expected):
            let of = expected.map { "of \($0)" } ?? "of its \(EventStreamDecoder.preludeLength)-byte prelude"
            return "\(frame): truncated, the body ended after \(received) bytes \(of)"
        }
    }

    private func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// One decoded event-stream message: its headers and its payload bytes.
public struct EventStreamMessage: Sendable, Equatable {
    /// The headers, in wire order.
    public var headers: [EventStreamHeader]
    /// The payload (for Bedrock, JSON text).
    public var payload: [UInt8]

    /// Creates a message.
    public init(headers: [EventStreamHeader], payload: [UInt8]) {
        self.headers = headers
        self.payload = payload
    }

    /// The value of the first header with this name.
    public func header(_ name: String) -> EventStreamHeader.Value? {
        headers.first { $0.name == name }?.value
    }

    /// The first header with this name, when it is a string.
    public func stringHeader(_ name: String) -> String? {
        if case .string(let text) = header(name) { return text }
        return nil
    }

    /// `:message-type`: `event`, `exception` or `error`.
    public var messageType: String? { stringHeader(":message-type") }
    /// `:event-type` of an event (`messageStart`, `metadata`, `chunk` …).
    public var eventType: String? { stringHeader(":event-type") }
    /// `:exception-type` of an exception (`throttlingException`, `modelStreamErrorException` …).
    public var exceptionType: String? { stringHeader(":exception-type") }
}

/// One header of an event-stream message: a name and a typed value.
public struct EventStreamHeader: Sendable, Equatable {
    /// A header value, by its wire type.
    public enum Value: Sendable, Equatable {
        /// Types 0 and 1: true and false, no value bytes.
        case bool(Bool)
        /// Type 2: one signed byte.
        case byte(Int8)
        /// Type 3: a big-endian signed 16-bit integer.
        case int16(Int16)
        /// Type 4: a big-endian signed 32-bit integer.
        case int32(Int32)
        /// Type 5: a big-endian signed 64-bit integer.
        case int64(Int64)
        /// Type 6: bytes with a 16-bit length.
        case bytes([UInt8])
        /// Type 7: UTF-8 text with a 16-bit length.
        case string(String)
        /// Type 8: milliseconds since the Unix epoch, as a signed 64-bit integer.
        case timestamp(Int64)
        /// Type 9: a 16-byte UUID.
        case uuid([UInt8])
    }

    /// The header name (`:event-type`).
    public var name: String
    /// The header value.
    public var value: Value

    /// Creates a header.
    public init(name: String, value: Value) {
        self.name = name
        self.value = value
    }

    /// Decodes the headers section of a frame.
    static func decodeAll(_ bytes: ArraySlice<UInt8>) throws(EventStreamError.Reason) -> [EventStreamHeader] {
        var headers: [EventStreamHeader] = []
        var index = bytes.startIndex
        /// The next `count` bytes, or a malformed-header fault naming what was cut.
        func take(_ count: Int, _ what: String) throws(EventStreamError.Reason) -> ArraySlice<UInt8> {
            guard count <= bytes.endIndex - index else { throw .malformedHeader("\(what) runs past the headers") }
            defer { index += count }
            return bytes[index..<(index + count)]
        }
        /// The next byte.
        func takeByte(_ what: String) throws(EventStreamError.Reason) -> UInt8 {
            try take(1, what).bigEndian(UInt8.self)
        }
        while index < bytes.endIndex {
            let nameLength = Int(try takeByte("a name length"))
            guard nameLength > 0 else { throw .malformedHeader("empty header name") }
            let name = String(decoding: try take(nameLength, "a header name"), as: UTF8.self)
            let type = try takeByte("the type of '\(name)'")
            let value: Value
            switch type {
            case 0: value = .bool(true)
            case 1: value = .bool(false)
            case 2: value = .byte(Int8(bitPattern: try takeByte("'\(name)'")))
            case 3: value = .int16(Int16(bitPattern: try take(2, "'\(name)'").bigEndian(UInt16.self)))
            case 4: value = .int32(Int32(bitPattern: try take(4, "'\(name)'").bigEndian(UInt32.self)))
            case 5: value = .int64(Int64(bitPattern: try take(8, "'\(name)'").bigEndian(UInt64.self)))
            case 6, 7:
                let length = Int(try take(2, "the length of '\(name)'").bigEndian(UInt16.self))
                let content = try take(length, "'\(name)'")
                value = type == 6 ? .bytes(Array(content)) : .string(String(decoding: content, as: UTF8.self))
            case 8: value = .timestamp(Int64(bitPattern: try take(8, "'\(name)'").bigEndian(UInt64.self)))
            case 9: value = .uuid(Array(try take(16, "'\(name)'")))
            default: throw .malformedHeader("unknown value type \(type) of '\(name)'")
            }
            headers.append(EventStreamHeader(name: name, value: value))
        }
        return headers
    }
}

extension Collection where Element == UInt8, Index == Int {
    /// The big-endian integer in the bytes starting at `offset` (the collection's own indices).
    fileprivate func bigEndian<Integer: FixedWidthInteger & UnsignedInteger>(_: Integer.Type, at offset: Int) -> Integer {
        self[offset..<(offset + Integer.bitWidth / 8)].reduce(0) { ($0 << 8) | Integer($1) }
    }

    /// The big-endian integer in all the bytes of the collection.
    fileprivate func bigEndian<Integer: FixedWidthInteger & UnsignedInteger>(_ type: Integer.Type) -> Integer {
        bigEndian(type, at: startIndex)
    }
}
