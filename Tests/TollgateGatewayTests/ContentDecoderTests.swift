import Testing

@testable import TollgateGateway

/// The side decoders that let the meter read compressed upstream bodies: gzip, deflate (zlib-wrapped or raw) and
/// brotli decode to the original however the body is cut into pieces; corrupt bodies and unknown encodings are
/// errors, never crashes.
@Suite("Content decoders")
struct ContentDecoderTests {
    /// `{"usage":{"prompt_tokens":12,"completion_tokens":34}} usage usage usage usage`, compressed offline with
    /// libbrotlienc (`BrotliEncoderCompress`, quality 11, window 22, text mode) and checked with libbrotlidec.
    static let brotliText = #"{"usage":{"prompt_tokens":12,"completion_tokens":34}} usage usage usage usage"#
    static let brotliBytes: [UInt8] = [
        0x1b, 0x4c, 0x00, 0x60, 0x8c, 0xd4, 0x62, 0xcd, 0x19, 0xee, 0x04, 0x71, 0xb9, 0xd4, 0x3f, 0x2b,
        0xd0, 0xba, 0x90, 0xdc, 0xdc, 0xb6, 0xe6, 0x84, 0x0e, 0x38, 0xe4, 0xc0, 0xf1, 0xf3, 0x03, 0x46,
        0x16, 0x52, 0xe0, 0x81, 0x43, 0x0e, 0xe8, 0x7c, 0x6a, 0x2d, 0xc8, 0x21, 0xd4, 0x63, 0xe8, 0x7b,
        0xaa, 0x7f, 0x36, 0xbb, 0x1e, 0x6a, 0xc2, 0x2e, 0xf0, 0xf1, 0xd8, 0xfd, 0x31, 0x1d,
    ]

    /// An encoding name and the zlib container a body labelled with it is produced in.
    static let zlibEncodings: [(encoding: String, wrapper: ZlibWrapper)] = [
        ("gzip", .gzip), ("x-gzip", .gzip), ("deflate", .zlib), ("deflate", .raw),
    ]

    @Test("identity needs no decoder", arguments: [nil, "", "identity", " Identity "] as [String?])
    func identity(_ encoding: String?) throws {
        #expect(try ContentDecoders.make(for: encoding) == nil)
    }

    @Test("gzip, deflate and br are read, whatever the case", arguments: ["gzip", "x-gzip", "GZIP", " deflate ", "Deflate", "br", "BR"])
    func supported(_ encoding: String) throws {
        #expect(try ContentDecoders.make(for: encoding) != nil)
    }

    @Test("an encoding Tollgate cannot read is an error", arguments: ["zstd", "compress", "snappy", "gzip, br", "br;q=1"])
    func unsupported(_ encoding: String) {
        let error = #expect(throws: ContentDecodingError.self) { try ContentDecoders.make(for: encoding) }
        #expect(error?.description.contains(encoding.lowercased()) == true)
    }

    @Test("zlib-made bodies decode to the original at every split point", arguments: zlibEncodings, [Payload.empty, .jsonLines])
    func zlibSplits(_ format: (encoding: String, wrapper: ZlibWrapper), _ payload: Payload) {
        let body = compressed(payload.bytes, as: format.wrapper)
        expectDecodesAtEverySplit(body, encoding: format.encoding, to: payload.bytes)
    }

    @Test("brotli decodes to the original at every split point")
    func brotliSplits() {
        expectDecodesAtEverySplit(Self.brotliBytes, encoding: "br", to: Array(Self.brotliText.utf8))
    }

    /// A body that cannot be decoded, with what is wrong with it.
    struct Corrupt: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let encoding: String
        let body: [UInt8]
    }

    static let corrupt: [Corrupt] = {
        let plain = Array(#"{"usage":{"prompt_tokens":1}}"#.utf8)
        let gzip = compressed(Payload.jsonLines.bytes, as: .gzip)
        let zlib = compressed(Payload.jsonLines.bytes, as: .zlib)
        return [
            Corrupt(testDescription: "gzip: plain text (bad magic)", encoding: "gzip", body: plain),
            Corrupt(testDescription: "gzip: CRC-32 trailer damaged", encoding: "gzip", body: gzip.flipping(gzip.count - 8)),
            Corrupt(testDescription: "deflate: zlib header check fails", encoding: "deflate", body: [0x78, 0x00] + zlib.dropFirst(2)),
            Corrupt(testDescription: "deflate: Adler-32 trailer damaged", encoding: "deflate", body: zlib.flipping(zlib.count - 1)),
            Corrupt(testDescription: "deflate: raw block of the reserved type 3", encoding: "deflate", body: [0x07, 0x00, 0x00, 0x00]),
            Corrupt(testDescription: "deflate: gzip bytes", encoding: "deflate", body: gzip),
            Corrupt(testDescription: "br: plain text", encoding: "br", body: plain),
            Corrupt(testDescription: "br: first byte damaged", encoding: "br", body: brotliBytes.flipping(0)),
        ]
    }()

    @Test("a corrupt body is an error however it is cut", arguments: corrupt)
    func corruptBody(_ corrupt: Corrupt) {
        expectRejectedAtEverySplit(corrupt.body, encoding: corrupt.encoding)
    }
}
