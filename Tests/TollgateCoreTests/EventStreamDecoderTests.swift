import Testing
import TollgateCore

/// The `application/vnd.amazon.eventstream` decoder: the recorded ConverseStream body decodes into its events
/// whole, split at any byte and one byte at a time; every header type reads back; a bad prelude or message CRC, an
/// implausible length, a malformed header, a truncated frame and garbage are clear errors, never a crash, with the
/// messages before the fault delivered.
@Suite("Event stream")
struct EventStreamDecoderTests {
    static let recorded = RecordedCase.named("bedrock-converse-stream-gpt-oss")
    static let recordedEventTypes = [
        "messageStart", "contentBlockDelta", "contentBlockStop", "contentBlockDelta", "contentBlockStop", "contentBlockDelta",
        "contentBlockStop", "messageStop", "metadata",
    ]

    // MARK: - CRC-32

    @Test("CRC-32/IEEE: the standard check value, zlib's values, and pieces equal the whole")
    func crc32() {
        #expect(CRC32.checksum(Array(utf8: "123456789")) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        // zlib.crc32 of the same bytes.
        #expect(CRC32.checksum(Array(utf8: "The quick brown fox jumps over the lazy dog")) == 0x414F_A339)
        #expect(CRC32.checksum([0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00]) == 0x05C2_48EB)
        var running = CRC32()
        running.update(Array(utf8: "12345"))
        running.update(Array(utf8: "6789"))
        #expect(running.value == 0xCBF4_3926)
    }

    // MARK: - Well-formed streams

    @Test("the recorded ConverseStream body: nine events with their headers and JSON payloads")
    func recordedBody() throws {
        let messages = try decodeAll([Self.recorded.body[...]])
        #expect(messages.map(\.eventType) == Self.recordedEventTypes)
        #expect(messages.allSatisfy { $0.messageType == "event" && $0.stringHeader(":content-type") == "application/json" })
        #expect(messages.allSatisfy { parseJSONObject($0.payload) != nil })
        #expect(messages.last?.payload.text.contains(#""usage":{"inputTokens":66"#) == true)
        #expect(messages.first?.header(":event-type") == .string("messageStart"))
        #expect(messages.first?.header(":no-such-header") == nil)
    }

    @Test("every two-piece split and one byte at a time give the same messages", .tags(.exhaustive))
    func recordedBodyAtEverySplit() throws {
        let body = Self.recorded.body
        let whole = try decodeAll([body[...]])
        for cut in 0...body.count {
            #expect(try decodeAll(body.pieces(cutAt: [cut])) == whole, "cut at \(cut)")
        }
        #expect(try decodeAll(body.bytewise) == whole)
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<50 {
            let cuts = (0..<6).map { _ in Int.random(in: 0...body.count, using: &generator) }.sorted()
            #expect(try decodeAll(body.pieces(cutAt: cuts)) == whole, "cuts at \(cuts)")
        }
    }

    @Test("every header value type reads back, and a frame with no headers and no payload is valid")
    func headerTypes() throws {
        let headers = [
            EventStreamHeader(name: "yes", value: .bool(true)), EventStreamHeader(name: "no", value: .bool(false)),
            EventStreamHeader(name: "byte", value: .byte(-2)), EventStreamHeader(name: "short", value: .int16(-300)),
            EventStreamHeader(name: "int", value: .int32(70_000)), EventStreamHeader(name: "long", value: .int64(-5_000_000_000)),
            EventStreamHeader(name: "blob", value: .bytes([0, 255, 7])), EventStreamHeader(name: ":event-type", value: .string("chunk")),
            EventStreamHeader(name: "time", value: .timestamp(1_768_472_430_123)),
            EventStreamHeader(name: "id", value: .uuid(Array(0..<16))), EventStreamHeader(name: "empty", value: .string("")),
        ]
        let body = eventStreamFrame(headers: headers, payload: Array(utf8: "{}")) + eventStreamFrame(headers: [], payload: [])
        let messages = try decodeAll([body[...]])
        #expect(messages == [EventStreamMessage(headers: headers, payload: Array(utf8: "{}")), EventStreamMessage(headers: [], payload: [])])
        #expect(messages[0].eventType == "chunk")
        #expect(messages[0].stringHeader("yes") == nil, "a non-string header is not read as a string")
        #expect(try decodeAll(body.bytewise) == messages)
    }

    // MARK: - Faults

    @Test("a bad prelude CRC: the messages before it are delivered, then a clear error")
    func badPreludeCRC() {
        let first = bedrockEvent("messageStart", #"{"role":"assistant"}"#)
        var second = bedrockEvent("metadata", #"{"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}"#)
        second[9] ^= 0xFF
        let fault = expectFault(first + second, delivered: 1)
        #expect(fault?.frameOffset == first.count)
        guard case .preludeChecksumMismatch(let received, let computed) = fault?.reason else {
            Issue.record("expected a prelude CRC mismatch, got \(String(describing: fault))")
            return
        }
        #expect(received != computed)
        #expect(fault?.description.hasPrefix("event stream frame at byte \(first.count): prelude CRC mismatch (received 0x") == true)
    }

    @Test("a bad message CRC, from a flipped payload byte or a flipped checksum byte")
    func badMessageCRC() {
        let frame = bedrockEvent("contentBlockDelta", #"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#)
        for index in [frame.count - 10, frame.count - 1] {
            var corrupted = frame
            corrupted[index] ^= 0x01
            let fault = expectFault(frame + corrupted, delivered: 1)
            guard case .messageChecksumMismatch = fault?.reason else {
                Issue.record("byte \(index): expected a message CRC mismatch, got \(String(describing: fault))")
                continue
            }
            #expect(fault?.frameOffset == frame.count)
        }
    }

    @Test("implausible lengths with a valid prelude CRC are refused at the prelude, without waiting for the frame")
    func implausibleLengths() {
        let cases: [(total: UInt32, headers: UInt32, EventStreamError.Reason)] = [
            (15, 0, .frameTooShort(totalLength: 15)),
            (0, 0, .frameTooShort(totalLength: 0)),
            (40, 25, .headersBeyondFrame(headersLength: 25, totalLength: 40)),
            (40, UInt32.max, .headersBeyondFrame(headersLength: UInt32.max, totalLength: 40)),
            (16 * 1024 * 1024 + 1, 0, .frameTooLarge(totalLength: 16 * 1024 * 1024 + 1, limit: EventStreamDecoder.maximumFrameLength)),
            (UInt32.max, 0, .frameTooLarge(totalLength: UInt32.max, limit: EventStreamDecoder.maximumFrameLength)),
        ]
        for (total, headers, reason) in cases {
            var prelude = bigEndianBytes(total) + bigEndianBytes(headers)
            prelude += bigEndianBytes(CRC32.checksum(prelude))
            var decoder = EventStreamDecoder()
            #expect(throws: EventStreamError(reason, frameOffset: 0), "total \(total), headers \(headers)") {
                try decoder.feed(prelude) { _ in }
            }
        }
        // The largest frame accepted: its prelude alone is fine, and the body ending there is a truncated frame.
        var prelude = bigEndianBytes(UInt32(EventStreamDecoder.maximumFrameLength)) + bigEndianBytes(UInt32(0))
        prelude += bigEndianBytes(CRC32.checksum(prelude))
        var decoder = EventStreamDecoder()
        #expect(throws: Never.self) { try decoder.feed(prelude) { _ in } }
        #expect(throws: EventStreamError(.truncatedFrame(received: 12, expected: EventStreamDecoder.maximumFrameLength), frameOffset: 0)) {
            try decoder.finish()
        }
    }

    @Test("a body that ends inside a frame is a truncated frame, at every cut")
    func truncatedFrame() throws {
        let body = Self.recorded.body
        let frameStarts = try frameOffsets(body)
        for length in 0..<body.count where !frameStarts.contains(length) {
            var decoder = EventStreamDecoder()
            var delivered = 0
            do {
                try decoder.feed(Array(body[..<length])) { _ in delivered += 1 }
                try decoder.finish()
                Issue.record("cut at \(length): no error")
            } catch {
                let start = frameStarts.last { $0 < length } ?? 0
                #expect(delivered == frameStarts.filter { $0 < length }.count - 1, "cut at \(length)")
                let received = length - start
                let expected = received < 12 ? nil : frameStarts.first { $0 > start }.map { $0 - start }
                #expect(error == EventStreamError(.truncatedFrame(received: received, expected: expected), frameOffset: start), "cut at \(length)")
            }
        }
        let error = EventStreamError(.truncatedFrame(received: 50, expected: 169), frameOffset: 176)
        #expect(error.description == "event stream frame at byte 176: truncated, the body ended after 50 bytes of 169")
        let short = EventStreamError(.truncatedFrame(received: 5, expected: nil), frameOffset: 0)
        #expect(short.description == "event stream frame at byte 0: truncated, the body ended after 5 bytes of its 12-byte prelude")
    }

    @Test(
        "malformed headers: an unknown type, an empty name, a value or name past the headers",
        arguments: [
            ([4, 0x6E, 0x61, 0x6D, 0x65, 10], "unknown value type 10 of 'name'"),
            ([0, 0x07], "empty header name"),
            ([1, 0x61, 7, 0x00, 0x09, 0x61], "'a' runs past the headers"),
            ([1, 0x61, 4, 0x00], "'a' runs past the headers"),
            ([9, 0x61], "a header name runs past the headers"),
            ([1, 0x61], "the type of 'a' runs past the headers"),
        ] as [([UInt8], String)])
    func malformedHeaders(headers: [UInt8], why: String) {
        let frame = rawFrame(headers: headers, payload: Array(utf8: "{}"))
        let fault = expectFault(bedrockEvent("messageStart", "{}") + frame, delivered: 1)
        #expect(fault?.reason == .malformedHeader(why))
    }

    @Test("after a fault the decoder stays failed: later pieces are not read and the same error is thrown")
    func staysFailed() throws {
        var decoder = EventStreamDecoder()
        let garbage = Array(utf8: #"{"message":"The security token included in the request is invalid."}"#)
        var first: EventStreamError?
        do { try decoder.feed(garbage) { _ in } } catch { first = error }
        let fault = try #require(first)
        #expect(decoder.failure == fault)
        var delivered = 0
        #expect(throws: fault) { try decoder.feed(Self.recorded.body) { _ in delivered += 1 } }
        #expect(throws: fault) { try decoder.finish() }
        #expect(delivered == 0)
    }

    @Test("garbage and mutated streams never crash: each run delivers whole messages and at most one error")
    func garbageNeverCrashes() {
        var generator = SeededGenerator(seed: 42)
        let body = Self.recorded.body
        for round in 0..<300 {
            var input: [UInt8]
            if round < 100 {
                input = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                input = body
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    input[Int.random(in: 0..<input.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
                if round % 3 == 0 { input.removeLast(Int.random(in: 0..<input.count, using: &generator)) }
            }
            var decoder = EventStreamDecoder()
            var messages: [EventStreamMessage] = []
            do {
                for piece in input.pieces(cutAt: [input.count / 3, input.count / 2]) {
                    try decoder.feed(Array(piece)) { messages.append($0) }
                }
                try decoder.finish()
                #expect(decoder.failure == nil)
            } catch {
                #expect(decoder.failure == error)
                #expect(!error.description.isEmpty)
            }
            #expect(messages.count <= Self.recordedEventTypes.count)
        }
    }

    // MARK: - Helpers

    /// Decodes pieces and finishes; throws the decoder's fault.
    private func decodeAll(_ pieces: [ArraySlice<UInt8>]) throws -> [EventStreamMessage] {
        var decoder = EventStreamDecoder()
        var messages: [EventStreamMessage] = []
        for piece in pieces { try piece.withUnsafeBytes { try decoder.feed($0) { messages.append($0) } } }
        try decoder.finish()
        return messages
    }

    /// Decodes `body` whole and one byte at a time; expects `delivered` messages then a fault, the same both ways.
    private func expectFault(_ body: [UInt8], delivered: Int, sourceLocation: SourceLocation = #_sourceLocation) -> EventStreamError? {
        var faults: [EventStreamError] = []
        for pieces in [[body[...]], body.bytewise] {
            var decoder = EventStreamDecoder()
            var count = 0
            do {
                for piece in pieces { try decoder.feed(Array(piece)) { _ in count += 1 } }
                try decoder.finish()
                Issue.record("no error", sourceLocation: sourceLocation)
            } catch {
                faults.append(error)
            }
            #expect(count == delivered, sourceLocation: sourceLocation)
        }
        #expect(Set(faults.map(\.description)).count == 1, "whole and byte-at-a-time agree", sourceLocation: sourceLocation)
        return faults.first
    }

    /// Offsets of every frame in a well-formed body, and its end.
    private func frameOffsets(_ body: [UInt8]) throws -> [Int] {
        var offsets = [0]
        while let last = offsets.last, last < body.count {
            let length = Int(body[last..<(last + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            try #require(length >= 16)
            offsets.append(last + length)
        }
        return offsets
    }
}

// MARK: - A generator of event-stream frames (shared with the Bedrock tests)

/// The bytes of an unsigned integer, big-endian.
func bigEndianBytes<Integer: FixedWidthInteger & UnsignedInteger>(_ value: Integer) -> [UInt8] {
    (0..<(Integer.bitWidth / 8)).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
}

/// A frame around already encoded header bytes, with correct lengths and checksums.
func rawFrame(headers: [UInt8], payload: [UInt8]) -> [UInt8] {
    var frame = bigEndianBytes(UInt32(12 + headers.count + payload.count + 4)) + bigEndianBytes(UInt32(headers.count))
    frame += bigEndianBytes(CRC32.checksum(frame))
    frame += headers + payload
    return frame + bigEndianBytes(CRC32.checksum(frame))
}

/// A frame with the given headers, encoded as the event-stream format says (the decoder's mirror image).
func eventStreamFrame(headers: [EventStreamHeader], payload: [UInt8]) -> [UInt8] {
    var encoded: [UInt8] = []
    for header in headers {
        encoded += [UInt8(header.name.utf8.count)] + Array(header.name.utf8)
        switch header.value {
        case .bool(let value): encoded.append(value ? 0 : 1)
        case .byte(let value): encoded += [2, UInt8(bitPattern: value)]
        case .int16(let value): encoded += [3] + bigEndianBytes(UInt16(bitPattern: value))
        case .int32(let value): encoded += [4] + bigEndianBytes(UInt32(bitPattern: value))
        case .int64(let value): encoded += [5] + bigEndianBytes(UInt64(bitPattern: value))
        case .bytes(let value): encoded += [6] + bigEndianBytes(UInt16(value.count)) + value
        case .string(let value): encoded += [7] + bigEndianBytes(UInt16(value.utf8.count)) + Array(value.utf8)
        case .timestamp(let value): encoded += [8] + bigEndianBytes(UInt64(bitPattern: value))
        case .uuid(let value): encoded += [9] + value
        }
    }
    return rawFrame(headers: encoded, payload: payload)
}

/// A Bedrock event frame: `:event-type`, `:content-type` JSON and `:message-type` event, in the order Bedrock sends.
func bedrockEvent(_ type: String, _ payload: String) -> [UInt8] {
    eventStreamFrame(
        headers: [
            EventStreamHeader(name: ":event-type", value: .string(type)),
            EventStreamHeader(name: ":content-type", value: .string("application/json")),
            EventStreamHeader(name: ":message-type", value: .string("event")),
        ],
        payload: Array(utf8: payload))
}

/// A Bedrock exception frame (`:message-type` exception) whose payload carries the message.
func bedrockException(_ type: String, message: String) -> [UInt8] {
    eventStreamFrame(
        headers: [
            EventStreamHeader(name: ":exception-type", value: .string(type)),
            EventStreamHeader(name: ":content-type", value: .string("application/json")),
            EventStreamHeader(name: ":message-type", value: .string("exception")),
        ],
        payload: Array(utf8: #"{"message":"\#(message)"}"#))
}
