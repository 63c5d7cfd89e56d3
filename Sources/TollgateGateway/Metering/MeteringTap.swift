import NIOCore
import TollgateCore

/// The tap on a response body: every piece the client gets passes through it once, is decoded on the side when
/// compressed, and is read by the wire format's usage reader. Returns what the client should receive.
struct MeteringTap: @unchecked Sendable {
    // @unchecked: a tap is owned by one task at a time; it moves to the drain task only when the client has gone.
    private(set) var reader: any ResponseReader
    private let decoder: (any ContentDecoder)?
    private var decodingFailure: String?
    /// Whether the client receives decoded bytes (a compressed body that the reader must rewrite).
    let forwardsDecoded: Bool

    init(reader: any ResponseReader, contentEncoding: String?) {
        self.reader = reader
        var failure: String?
        do {
            decoder = try ContentDecoders.make(for: contentEncoding)
        } catch {
            decoder = nil
            failure = error.description
        }
        decodingFailure = failure
        forwardsDecoded = decoder != nil && reader.rewrites
    }

    /// Where the terminal event begins in the bytes the last ``pass(_:)`` returned, when they held it and the reader
    /// can say (the bytes before it may go to the client before the event is committed). `nil` for a compressed body:
    /// the reader's offsets are in the decoded bytes.
    private(set) var terminalEventStart: Int?

    /// Reads a piece; returns the bytes for the client (the piece itself unless the reader rewrites), or `nil` when
    /// the client was promised decoded bytes and the body can no longer be decoded.
    mutating func pass(_ piece: ByteBuffer) -> ByteBuffer? {
        terminalEventStart = nil
        if decodingFailure != nil { return forwardsDecoded ? nil : piece }
        guard let decoder else {
            let replacement = piece.withUnsafeReadableBytes { reader.observe($0) }
            terminalEventStart = reader.terminalEventStart
            return replacement.map { ByteBuffer(bytes: $0) } ?? piece
        }
        var decoded: [UInt8] = []
        var working = reader
        let forwardsDecoded = self.forwardsDecoded
        do {
            try piece.withUnsafeReadableBytes { raw throws(ContentDecodingError) in
                try decoder.decode(raw) { chunk in
                    if let replacement = working.observe(chunk) {
                        decoded.append(contentsOf: replacement)
                    } else if forwardsDecoded {
                        decoded.append(contentsOf: chunk)
                    }
                }
            }
        } catch {
            decodingFailure = error.description
        }
        reader = working
        if forwardsDecoded && decodingFailure != nil { return nil }
        return forwardsDecoded ? ByteBuffer(bytes: decoded) : piece
    }

    /// Whether the body could not be decoded for the reader (the reading's note says why).
    var couldNotDecode: Bool { decodingFailure != nil }

    /// Ends the body: the reading, and any bytes the reader still held for the client.
    mutating func finish() -> (reading: UsageReading, tail: ByteBuffer?) {
        var (reading, tail) = reader.finish()
        if let decodingFailure {
            reading.note = [reading.note, decodingFailure].compactMap { $0 }.joined(separator: "; ")
            // Over the bound, whatever usage was read is not known to be all of it.
            if decodingFailure == ContentDecodingError.overBound.description { reading.estimated = true }
        }
        return (reading, tail.map { ByteBuffer(bytes: $0) })
    }
}
