import TollgateCore

/// Every API Tollgate meters, sorted by name: a control byte picks one (`byte % count`), so the seed script can
/// write the byte for a recorded body's API.
public let fuzzedAPIs: [APIName] = APIName.allCases.sorted { $0.rawValue < $1.rawValue }

/// The request options a route of `api` is prepared with: the path names the model for Gemini and Bedrock.
public func requestOptions(for api: APIName, acceptsStreamUsage: Bool, alias: Bool, multipart: Bool) -> RequestOptions {
    let path: String
    switch api.family.name {
    case "gemini":
        path = "/v1beta/models/gemini-2.5-flash:" + api.rawValue.dropFirst("gemini.".count)
    case "bedrock":
        path = "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/" + api.rawValue.dropFirst("bedrock.".count)
    case "ollama":
        path = "/api/" + api.rawValue.dropFirst("ollama.".count)
    default:
        path = "/v1/chat/completions"
    }
    return RequestOptions(
        acceptsStreamUsageOption: acceptsStreamUsage, upstreamModel: alias ? "alias-model" : nil, path: path,
        query: api.rawValue.hasPrefix("gemini.stream") && multipart ? "alt=sse" : nil,
        contentType: multipart ? "multipart/form-data; boundary=BOUNDARY" : "application/json")
}
