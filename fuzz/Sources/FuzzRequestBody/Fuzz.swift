import FuzzSupport
import TollgateCore

/// Preparing request bodies, for every API (the request path's parser): a body either is refused with a
/// `RequestError` or prepared; a prepared body that the proxy rewrites (usage opt-in, model alias) is itself a body
/// the same API prepares, with the same stream flag, output limit and number of answers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count, controlCount: 2)
    let api = fuzzedAPIs[Int(input.control[0]) % fuzzedAPIs.count]
    let flags = input.control[1]
    let options = requestOptions(for: api, acceptsStreamUsage: flags & 1 != 0, alias: flags & 2 != 0, multipart: flags & 4 != 0)
    guard let prepared = try? api.wireFormat.prepare(body: input.body, options: options) else { return 0 }
    require(prepared.choices >= 1, "\(api): \(prepared.choices) answers")
    require(prepared.maxOutputTokens.map { $0 > 0 } ?? true, "\(api): output limit \(String(describing: prepared.maxOutputTokens))")
    require(prepared.imageInputTokens >= 0, "\(api): negative image tokens")
    guard let rewritten = prepared.rewrittenBody else { return 0 }
    var again = options
    again.upstreamModel = nil
    let reread: PreparedRequest
    do {
        reread = try api.wireFormat.prepare(body: rewritten, options: again)
    } catch {
        require(false, "\(api): the rewritten body is refused (\(error)): \(String(decoding: rewritten, as: UTF8.self))")
        return 0
    }
    require(reread.stream == prepared.stream, "\(api): the rewritten body changes the stream flag")
    require(reread.maxOutputTokens == prepared.maxOutputTokens, "\(api): the rewritten body changes the output limit")
    require(reread.choices == prepared.choices, "\(api): the rewritten body changes the number of answers")
    if options.upstreamModel != nil && !api.modelInPath && prepared.model != nil {
        require(reread.model == options.upstreamModel, "\(api): the alias is not in the rewritten body")
    }
    return 0
}
