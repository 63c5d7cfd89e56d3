import CZlib
import Foundation
import HTTPTypes
import NIOHTTP1
import Testing
import TollgateCore

@testable import TollgateGateway

// Shared helpers of the gateway tests: compressed bodies made with zlib here (no fixture that could drift
// from the library), decoding in pieces, header lists.

// MARK: - Payloads

/// A body to compress, named for test output.
struct Payload: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    var testDescription: String { "\(name) (\(bytes.count) bytes)" }

    /// No bytes at all.
    static let empty = Payload(name: "empty", bytes: [])
    /// JSON lines, larger than the decoders' 32 KiB output buffer and compressible like a real response but not trivially.
    static let jsonLines = Payload(
        name: "JSON lines",
        bytes: Array(
            (0..<800).map { index in
                let tag = String((UInt32(truncatingIfNeeded: index) &* 2_654_435_761) % 4096, radix: 16)
                return #"{"index":\#(index),"id":"\#(tag)","text":"token \#(index % 97) of \#(index % 13)"}"# + "\n"
            }.joined().utf8)
    )
}

// MARK: - Compression

/// The container zlib puts a deflate stream in (the `windowBits` given to `deflateInit2`).
enum ZlibWrapper: Int32, Sendable, CaseIterable {
    /// RFC 1950, what HTTP `deflate` means.
    case zlib = 15
    /// RFC 1952, HTTP `gzip`.
    case gzip = 31
    /// Bare RFC 1951 deflate, which some servers send as `deflate`.
    case raw = -15
}

/// `bytes` compressed by zlib in `wrapper`: with `compress2` for the zlib format (zlib's one-call API produces
/// exactly that), with a `deflateInit2` stream otherwise.
func compressed(_ bytes: [UInt8], as wrapper: ZlibWrapper) -> [UInt8] {
    if wrapper == .zlib {
        var length = compressBound(uLong(bytes.count))
        var output = [UInt8](repeating: 0, count: Int(length))
        let status = compress2(&output, &length, bytes, uLong(bytes.count), Z_BEST_COMPRESSION)
        precondition(status == Z_OK, "compress2 failed: \(status)")
        return Array(output.prefix(Int(length)))
    }
    var stream = z_stream()
    let status = deflateInit2_(
        &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, wrapper.rawValue, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
        Int32(MemoryLayout<z_stream>.size))
    precondition(status == Z_OK, "deflateInit2 failed: \(status)")
    defer { deflateEnd(&stream) }
    var input = bytes
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))))
    let written = input.withUnsafeMutableBufferPointer { source in
        output.withUnsafeMutableBufferPointer { target in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            stream.next_out = target.baseAddress
            stream.avail_out = uInt(target.count)
            let result = deflate(&stream, Z_FINISH)
            precondition(result == Z_STREAM_END, "deflate did not finish: \(result)")
            return target.count - Int(stream.avail_out)
        }
    }
    return Array(output.prefix(written))
}

// MARK: - Decoding

/// `bytes` decoded by a fresh decoder for `encoding`, handed over in pieces cut at `cuts` (ascending offsets,
/// empty pieces allowed); the bytes themselves when the encoding is identity.
func decoded(_ bytes: [UInt8], encoding: String, cutAt cuts: [Int] = []) throws -> [UInt8] {
    guard let decoder = try ContentDecoders.make(for: encoding) else { return bytes }
    var output: [UInt8] = []
    var start = 0
    for end in cuts + [bytes.count] {
        try bytes[start..<end].withUnsafeBytes { piece in
            try decoder.decode(piece) { output.append(contentsOf: $0.assumingMemoryBound(to: UInt8.self)) }
        }
        start = end
    }
    return output
}

/// Expects `body` to decode to `original` when cut in two at every offset (0 and the end included) and when
/// handed over one byte at a time. Reports at most the first five failing cuts.
func expectDecodesAtEverySplit(
    _ body: [UInt8], encoding: String, to original: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
) {
    var failures: [String] = []
    for cut in 0...body.count where failures.count < 5 {
        do {
            let output = try decoded(body, encoding: encoding, cutAt: [cut])
            if !sameBytes(output, original) { failures.append("cut \(cut): \(output.count) bytes, not the original \(original.count)") }
        } catch {
            failures.append("cut \(cut): \(error)")
        }
    }
    #expect(failures.isEmpty, "\(failures)", sourceLocation: sourceLocation)
    let bytewise = try? decoded(body, encoding: encoding, cutAt: Array(body.indices.dropFirst()))
    #expect(bytewise == original, "one byte at a time", sourceLocation: sourceLocation)
}

/// Expects decoding `body` to throw a ``ContentDecodingError`` however it is cut in two.
func expectRejectedAtEverySplit(_ body: [UInt8], encoding: String, sourceLocation: SourceLocation = #_sourceLocation) {
    var accepted: [Int] = []
    for cut in 0...body.count {
        do {
            _ = try decoded(body, encoding: encoding, cutAt: [cut])
            accepted.append(cut)
        } catch is ContentDecodingError {
            continue
        } catch {
            accepted.append(cut)
        }
    }
    #expect(accepted.isEmpty, "decoded without a ContentDecodingError when cut at \(accepted.prefix(5))", sourceLocation: sourceLocation)
}

/// Whether two byte arrays are equal, compared with `memcmp` (`==` on arrays is slow in a debug build, and the
/// split-point checks compare megabytes).
func sameBytes(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    lhs.count == rhs.count
        && lhs.withUnsafeBytes { left in
            rhs.withUnsafeBytes { right in left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0 }
        }
}

extension Array where Element == UInt8 {
    /// The bytes with the byte at `index` inverted.
    func flipping(_ index: Int) -> [UInt8] {
        var copy = self
        copy[index] ^= 0xFF
        return copy
    }
}

// MARK: - Headers

/// Header fields as a client sends them, in order, duplicates allowed.
func clientFields(_ pairs: KeyValuePairs<String, String>) -> HTTPFields {
    HTTPFields(pairs.map { HTTPField(name: HTTPField.Name($0.key)!, value: $0.value) })
}

extension HTTPHeaders {
    /// Values by lowercased name, in order.
    var byName: [String: [String]] {
        reduce(into: [:]) { result, header in result[header.name.lowercased(), default: []].append(header.value) }
    }
}

extension HTTPFields {
    /// Values by lowercased name, in order.
    var byName: [String: [String]] {
        reduce(into: [:]) { result, field in result[field.name.canonicalName, default: []].append(field.value) }
    }
}
