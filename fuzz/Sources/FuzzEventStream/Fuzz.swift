import FuzzSupport
import TollgateCore

/// The AWS event-stream decoder (Bedrock's streams).
///
/// - Fed whole and in pieces, it gives the same messages and the same fault at the same frame offset ("a body
///   split at any byte yields the same messages"); after a fault, feeding more throws it again.
/// - With the first control bit set, the checksums of every frame the body's lengths describe are set right first,
///   so that the fuzzer reaches the headers and payloads behind them.
/// - A decoded message fits in its frame: headers and payload never exceed the bytes fed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count, controlCount: 3)
    var body = input.body
    if input.control[0] & 1 != 0 { fixChecksums(&body) }
    let whole = decode(body, in: [0..<body.count])
    let cut = decode(body, in: Chunking.pieces(count: body.count, style: input.control[1], seed: [input.control[2]]))
    require(whole.messages == cut.messages, "messages differ when the body is cut (\(whole.messages.count) vs \(cut.messages.count))")
    require(
        whole.failure == cut.failure, "faults differ when the body is cut: \(String(describing: whole.failure)) vs \(String(describing: cut.failure))"
    )
    let payloadBytes = whole.messages.reduce(0) { $0 + $1.payload.count }
    require(payloadBytes + whole.messages.count * 16 <= body.count, "more message bytes than body bytes")
    return 0
}

private func decode(_ body: [UInt8], in ranges: [Range<Int>]) -> (messages: [EventStreamMessage], failure: EventStreamError?) {
    var decoder = EventStreamDecoder()
    var messages: [EventStreamMessage] = []
    var failure: EventStreamError?
    Chunking.feed(body, in: ranges) { piece in
        do throws(EventStreamError) { try decoder.feed(piece) { messages.append($0) } } catch {
            if let failure { require(error == failure, "a second, different fault: \(error) after \(failure)") }
            failure = error
        }
    }
    do throws(EventStreamError) { try decoder.finish() } catch {
        if let failure { require(error == failure, "finish throws \(error) after \(failure)") }
        failure = error
    }
    require(decoder.failure == failure, "the decoder's failure is not the fault thrown")
    return (messages, failure)
}

/// Walks the frames the body's length fields describe and writes both checksums of each.
private func fixChecksums(_ body: inout [UInt8]) {
    var offset = 0
    while offset + 16 <= body.count {
        let total = Int(readUInt32(body, offset))
        guard total >= 16, offset + total <= body.count else { return }
        writeUInt32(&body, offset + 8, crc32(body[offset..<offset + 8]))
        writeUInt32(&body, offset + total - 4, crc32(body[offset..<offset + total - 4]))
        offset += total
    }
}

private func readUInt32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    bytes[offset..<offset + 4].reduce(0) { ($0 << 8) | UInt32($1) }
}

private func writeUInt32(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
    for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * index)) }
}

/// CRC-32 (IEEE), written out here so that the harness does not lean on the code under test.
private func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
