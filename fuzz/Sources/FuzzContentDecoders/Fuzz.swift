import CBrotliEncoder
import CZlib
import FuzzSupport

/// The content decoders (gzip, deflate, br) that read compressed upstream bodies for the meter.
///
/// The first control byte picks the coding (bits 0–1: gzip, deflate, br) and the mode (bit 2): in the raw mode the
/// body is decoded as it is (arbitrary, mostly corrupt, streams); in the round-trip mode it is first compressed with
/// zlib or the Brotli encoder (deflate as zlib or raw, as bit 3 says), and decoding must give it back exactly.
/// In both modes the body decoded whole and in pieces gives the same bytes and the same verdict (corrupt or not);
/// when one corrupt stream is decoded in two ways, the shorter output is a prefix of the longer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count, controlCount: 3)
    let mode = input.control[0]
    let coding = ["gzip", "deflate", "br"][Int(mode & 3) % 3]
    let roundTrip = mode & 4 != 0
    var body = input.body
    if roundTrip {
        switch coding {
        case "gzip": body = zlibCompress(body, windowBits: 15 + 16)
        case "deflate": body = zlibCompress(body, windowBits: mode & 8 == 0 ? 15 : -15)
        default: body = brotliCompress(body, quality: Int32(input.control[1] % 12))
        }
    }
    let whole = decode(body, coding: coding, in: body.isEmpty ? [] : [0..<body.count])
    let cut = decode(body, coding: coding, in: Chunking.pieces(count: body.count, style: input.control[1], seed: [input.control[2]]))
    require(whole.corrupt == cut.corrupt, "\(coding): corrupt whole \(whole.corrupt), cut \(cut.corrupt)")
    if whole.corrupt {
        let shorter = min(whole.output.count, cut.output.count)
        require(whole.output.prefix(shorter) == cut.output.prefix(shorter), "\(coding): corrupt streams decode differently")
    } else {
        require(whole.output == cut.output, "\(coding): \(whole.output.count) bytes decoded whole, \(cut.output.count) cut")
    }
    if roundTrip {
        require(!whole.corrupt && whole.output == input.body, "\(coding): the round trip gives \(whole.output.count) bytes, not \(input.body.count)")
    }
    return 0
}

/// Decodes the pieces; stops at the first error, as the meter does.
private func decode(_ body: [UInt8], coding: String, in ranges: [Range<Int>]) -> (output: [UInt8], corrupt: Bool) {
    let decoder: any ContentDecoder
    do {
        guard let made = try ContentDecoders.make(for: coding) else {
            require(false, "no decoder for \(coding)")
            return ([], true)
        }
        decoder = made
    } catch {
        require(false, "no decoder for \(coding): \(error)")
        return ([], true)
    }
    var output: [UInt8] = []
    var corrupt = false
    Chunking.feed(body, in: ranges) { piece in
        guard !corrupt else { return }
        do {
            try decoder.decode(piece) { decoded in
                require(decoded.count <= 32 * 1024, "one call of the sink gets \(decoded.count) bytes")
                // A small body may inflate to a lot (a decompression bomb): keep the first MiB to compare, count the rest.
                if output.count < 1 << 20 { output += decoded.prefix(1 << 20 - output.count) }
            }
        } catch {
            corrupt = true
        }
    }
    return (output, corrupt)
}

private func zlibCompress(_ bytes: [UInt8], windowBits: Int32) -> [UInt8] {
    var stream = z_stream()
    guard
        deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            == Z_OK
    else {
        require(false, "deflateInit2 failed")
        return []
    }
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64)
    var input = bytes
    let produced = input.withUnsafeMutableBufferPointer { source in
        output.withUnsafeMutableBufferPointer { target in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            stream.next_out = target.baseAddress
            stream.avail_out = uInt(target.count)
            let status = deflate(&stream, Z_FINISH)
            require(status == Z_STREAM_END, "deflate: \(status)")
            return target.count - Int(stream.avail_out)
        }
    }
    return Array(output[..<produced])
}

private func brotliCompress(_ bytes: [UInt8], quality: Int32) -> [UInt8] {
    var size = BrotliEncoderMaxCompressedSize(bytes.count)
    if size == 0 { size = bytes.count + 1024 }
    var output = [UInt8](repeating: 0, count: size)
    let ok = bytes.withUnsafeBufferPointer { source in
        output.withUnsafeMutableBufferPointer { target in
            BrotliEncoderCompress(quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, source.count, source.baseAddress, &size, target.baseAddress)
        }
    }
    require(ok == BROTLI_TRUE, "BrotliEncoderCompress failed")
    return Array(output[..<size])
}
