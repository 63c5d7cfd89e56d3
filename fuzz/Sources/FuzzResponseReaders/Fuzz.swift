import FuzzSupport
import TollgateCore

/// The response meter of every API, for every content type a provider may answer with: the body metered whole and
/// in pieces gives the same reading, the same end and the same client bytes; a meter that does not rewrite hands
/// the body on unchanged.
///
/// Control bytes: the API (`fuzzedAPIs`), then flags (bit 0 a stream was asked for, bit 1 the proxy added the usage
/// opt-in, bits 2–4 the content type, bit 5 Bedrock's token-count headers), then the cutting.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count, controlCount: 4)
    let api = fuzzedAPIs[Int(input.control[0]) % fuzzedAPIs.count]
    let flags = input.control[1]
    var request = PreparedRequest(model: "model-x", stream: flags & 1 != 0, injectedStreamUsage: flags & 2 != 0, maxOutputTokens: 256)
    request.choices = 1
    let contentType = contentTypes[Int(flags >> 2 & 7) % contentTypes.count]
    let headers: [String: String] =
        flags & 0x20 == 0
        ? [:]
        : ["x-amzn-bedrock-input-token-count": "12", "x-amzn-bedrock-output-token-count": "7"]
    checkMeter(input.body, cut: input.pieces(seedAt: 2), label: "\(api) \(contentType ?? "no content type")") {
        api.wireFormat.makeReader(for: request, contentType: contentType) { headers[$0] }
    }
    return 0
}

/// The content types a meter is chosen by (index = bits 2–4 of the flags).
private let contentTypes: [String?] = [
    nil, "text/event-stream", "application/json", "application/x-ndjson", "application/vnd.amazon.eventstream", "text/plain",
    "audio/mpeg", "text/event-stream; charset=utf-8",
]
