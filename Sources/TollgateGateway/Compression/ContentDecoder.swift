import TollgateCore

/// Decodes a compressed upstream body for the meter only: the client still receives the compressed bytes as sent.
///
/// Official SDKs ask for `gzip, deflate, br`; providers' edges answer compressed. The meter must read the usage
/// inside, so each piece is inflated on the side, incrementally, as it passes.
protocol ContentDecoder: AnyObject {
    /// Decodes the next piece; `sink` receives decoded bytes (possibly several times, possibly not at all).
    func decode(_ piece: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) -> Void) throws(ContentDecodingError)
}

/// The body could not be decoded; the event says so and the client's bytes are unaffected.
struct ContentDecodingError: Error, CustomStringConvertible {
    let description: String

    /// The body decodes to more than the meter's bound (``MeterBounds/maxDecodedBytes``): a decompression bomb, or
    /// an answer too large to meter.
    static var overBound: ContentDecodingError {
        ContentDecodingError(description: "the decoded body passed the meter's bound of \(MeterBounds.maxDecodedBytes) bytes (usage estimated)")
    }
}

/// Picks the decoder for a `Content-Encoding` value.
enum ContentDecoders {
    /// The decoder for `encoding`, `nil` for identity, or an error for an encoding Tollgate cannot read.
    /// The content codings a decoder exists for (and `identity`): the only ones offered to a provider, so that a
    /// client cannot make usage unreadable by asking for another (`zstd`).
    static let readable: Set<String> = ["gzip", "x-gzip", "deflate", "br", "identity"]

    /// A client's `Accept-Encoding` less the codings the meter cannot read (`*` included, which would let a provider
    /// pick any); `identity` when none is left.
    static func readableAcceptEncoding(_ value: String) -> String {
        let kept = value.split(separator: ",").map { $0.trimmingASCIISpaces }.filter { item in
            let coding = item.split(separator: ";", maxSplits: 1).first.map { $0.trimmingASCIISpaces.lowercased() } ?? ""
            return readable.contains(coding)
        }
        return kept.isEmpty ? "identity" : kept.joined(separator: ", ")
    }

    static func make(for encoding: String?) throws(ContentDecodingError) -> (any ContentDecoder)? {
        guard let encoding = encoding?.trimmingASCIISpaces.lowercased(), !encoding.isEmpty, encoding != "identity" else {
            return nil
        }
        switch encoding {
        case "gzip", "x-gzip": return try ZlibDecoder(format: .gzip)
        case "deflate": return try ZlibDecoder(format: .zlibOrRaw)
        case "br": return try BrotliDecoder()
        default: throw ContentDecodingError(description: "unsupported content-encoding '\(encoding)'")
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (a header value's optional whitespace), without Foundation. Here
    /// rather than beside the header policy: the fuzz package builds this file on its own.
    var trimmingASCIISpaces: SubSequence {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return self[endIndex...] }
        return self[first...last]
    }
}
