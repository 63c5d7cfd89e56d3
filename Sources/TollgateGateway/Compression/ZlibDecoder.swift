import CZlib
import Foundation
import TollgateCore

/// Incremental gzip / deflate decoding with zlib.
final class ZlibDecoder: ContentDecoder {
    /// Decoded bytes still allowed (``MeterBounds/maxDecodedBytes``): a small compressed body must not inflate without end.
    var budget = MeterBounds.maxDecodedBytes
    enum Format {
        /// RFC 1952 gzip.
        case gzip
        /// RFC 1950 zlib (what HTTP `deflate` means), or raw RFC 1951 deflate as some servers send.
        case zlibOrRaw
    }

    private var stream = z_stream()
    private var format: Format
    private var started = false
    private var finished = false
    private var output = [UInt8](repeating: 0, count: 32 * 1024)

    init(format: Format) throws(ContentDecodingError) {
        self.format = format
        guard inflateInit2_(&stream, format == .gzip ? 15 + 16 : 15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ContentDecodingError(description: "zlib could not be initialised")
        }
    }

    deinit { inflateEnd(&stream) }

    func decode(_ piece: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) -> Void) throws(ContentDecodingError) {
        guard !finished, let base = piece.baseAddress, piece.count > 0 else { return }
        if !started, format == .zlibOrRaw {
            started = true
            // A zlib header is 0x78 0x?? with (b0 << 8 | b1) divisible by 31; anything else is raw deflate.
            let first = piece[0]
            if first & 0x0F != 8 {
                inflateEnd(&stream)
                stream = z_stream()
                guard inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                    throw ContentDecodingError(description: "zlib could not be initialised")
                }
            }
        }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(piece.count)
        var failure: ContentDecodingError?
        output.withUnsafeMutableBytes { buffer in
            let out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            repeat {
                stream.next_out = out
                stream.avail_out = uInt(buffer.count)
                let status = inflate(&stream, Z_NO_FLUSH)
                let produced = buffer.count - Int(stream.avail_out)
                if produced > 0 { sink(UnsafeRawBufferPointer(start: out, count: produced)) }
                budget -= produced
                if budget < 0 {
                    failure = ContentDecodingError.overBound
                    return
                }
                if status == Z_STREAM_END {
                    finished = true
                    return
                }
                if status != Z_OK && status != Z_BUF_ERROR {
                    failure = ContentDecodingError(description: "compressed body is corrupt (zlib status \(status))")
                    return
                }
                if status == Z_BUF_ERROR && produced == 0 { return }
            } while stream.avail_in > 0 || stream.avail_out == 0
        }
        stream.next_in = nil
        if let failure { throw failure }
    }
}
