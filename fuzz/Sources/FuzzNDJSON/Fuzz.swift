import FuzzSupport
import TollgateCore

/// The NDJSON reader (Ollama's streams, `application/x-ndjson`) and the same meter over a whole JSON body: the body
/// metered whole and in pieces gives the same reading ("lines are split at any byte of any piece"), and the client
/// always gets the body unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count, controlCount: 3)
    let api: APIName = input.control[0] & 1 == 0 ? .ollamaChat : .ollamaGenerate
    let contentType = input.control[0] & 2 == 0 ? "application/x-ndjson" : "application/json; charset=utf-8"
    var request = PreparedRequest(model: "llama3.2", stream: input.control[0] & 4 == 0)
    request.maxOutputTokens = 64
    checkMeter(input.body, cut: input.pieces(seedAt: 1), label: "\(api) \(contentType)") {
        api.wireFormat.makeReader(for: request, contentType: contentType)
    }
    return 0
}
