import CZlib

/// gzip compression of whole response bodies, the way OpenAI's edge compresses non-streaming replies.
enum Gzip {
    /// `bytes` as a complete gzip member; nil only if zlib fails, in which case the caller sends it uncompressed.
    static func compress(_ bytes: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        // windowBits 15 + 16 asks zlib for a gzip header and trailer instead of a raw zlib stream. Fastest level and
        // smallest memLevel: the ratio hardly matters for API-sized bodies, while setting up zlib's default 64 KiB
        // hash table for every compressed reply is most of the cost under load.
        let status = deflateInit2_(
            &stream, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 1, Z_DEFAULT_STRATEGY,
            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)
        )
        guard status == Z_OK else { return nil }
        defer { deflateEnd(&stream) }

        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))))
        var input = bytes
        let result: Int32 = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = UInt32(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = UInt32(outBuffer.count)
                // deflateBound guarantees one Z_FINISH call fits the whole output.
                return deflate(&stream, Z_FINISH)
            }
        }
        guard result == Z_STREAM_END else { return nil }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }
}
