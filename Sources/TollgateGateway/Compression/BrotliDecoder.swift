import CBrotli
import TollgateCore

/// Incremental Brotli (`br`) decoding with libbrotlidec.
final class BrotliDecoder: ContentDecoder {
    /// Decoded bytes still allowed (``MeterBounds/maxDecodedBytes``): a small compressed body must not inflate without end.
    var budget = MeterBounds.maxDecodedBytes
    private let state: OpaquePointer
    private var finished = false
    private var output = [UInt8](repeating: 0, count: 32 * 1024)

    init() throws(ContentDecodingError) {
        guard let state = BrotliDecoderCreateInstance(nil, nil, nil) else {
            throw ContentDecodingError(description: "brotli could not be initialised")
        }
        self.state = state
    }

    deinit { BrotliDecoderDestroyInstance(state) }

    func decode(_ piece: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) -> Void) throws(ContentDecodingError) {
        guard !finished, let base = piece.baseAddress, piece.count > 0 else { return }
        var availableIn = piece.count
        var nextIn: UnsafePointer<UInt8>? = base.assumingMemoryBound(to: UInt8.self)
        var failure: ContentDecodingError?
        output.withUnsafeMutableBytes { buffer in
            let out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            while true {
                var availableOut = buffer.count
                var nextOut: UnsafeMutablePointer<UInt8>? = out
                let result = BrotliDecoderDecompressStream(state, &availableIn, &nextIn, &availableOut, &nextOut, nil)
                let produced = buffer.count - availableOut
                if produced > 0 { sink(UnsafeRawBufferPointer(start: out, count: produced)) }
                budget -= produced
                if budget < 0 {
                    failure = ContentDecodingError.overBound
                    return
                }
                switch result {
                case BROTLI_DECODER_RESULT_SUCCESS:
                    finished = true
                    return
                case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
                    continue
                case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
                    return
                default:
                    failure = ContentDecodingError(description: "compressed body is corrupt (brotli)")
                    return
                }
            }
        }
        if let failure { throw failure }
    }
}
