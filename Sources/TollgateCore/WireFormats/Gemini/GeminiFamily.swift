extension APIName {
    /// Gemini `models/M:generateContent`.
    public static let geminiGenerateContent = APIName(declaring: "gemini.generateContent")
    /// Gemini `models/M:streamGenerateContent` (SSE with `alt=sse`, else one JSON array).
    public static let geminiStreamGenerateContent = APIName(declaring: "gemini.streamGenerateContent")
    /// Gemini `models/M:embedContent`.
    public static let geminiEmbedContent = APIName(declaring: "gemini.embedContent")
    /// Gemini `models/M:batchEmbedContents`.
    public static let geminiBatchEmbedContents = APIName(declaring: "gemini.batchEmbedContents")
}

extension WireFamily {
    /// Google's Gemini API.
    public static let gemini = WireFamily(
        name: "gemini",
        apis: [
            (.geminiGenerateContent, GeminiFormat(api: .geminiGenerateContent)),
            (.geminiStreamGenerateContent, GeminiFormat(api: .geminiStreamGenerateContent)),
            (.geminiEmbedContent, GeminiFormat(api: .geminiEmbedContent)),
            (.geminiBatchEmbedContents, GeminiFormat(api: .geminiBatchEmbedContents)),
        ],
        defaultRoutes: [
            RouteRule(pattern: PathPattern("/**/models/*:generateContent"), api: .geminiGenerateContent),
            RouteRule(pattern: PathPattern("/**/models/*:streamGenerateContent"), api: .geminiStreamGenerateContent),
            RouteRule(pattern: PathPattern("/**/models/*:embedContent"), api: .geminiEmbedContent),
            RouteRule(pattern: PathPattern("/**/models/*:batchEmbedContents"), api: .geminiBatchEmbedContents),
        ],
        passThroughRoutes: [PassThroughRule(["POST"], "/**/models/*:countTokens")] + PassThroughRule.openAIModelList,
        claimedPathPrefixes: ["/v1beta/"],
        keyLocations: [.header("x-goog-api-key"), .query("key")],
        credentialHeaders: ["x-goog-api-key"],
        // Not `x-goog-user-project`: it picks the project billed.
        forwardedHeaders: ["x-goog-api-client"],
        modelInPath: true,
        telemetryName: "gcp.gemini",
        errorShape: GoogleErrorShape())
}

/// `{"error": {"code", "message", "status"}}` with google.rpc's canonical status names.
struct GoogleErrorShape: WireErrorShape {
    func object(for error: WireError) -> JSONValue {
        ["error": ["code": .integer(error.status), "message": .string(error.message), "status": .string(Self.status(error.status))]]
    }

    static func status(_ code: Int) -> String {
        switch code {
        case 400, 413: return "INVALID_ARGUMENT"
        case 401: return "UNAUTHENTICATED"
        case 402, 429: return "RESOURCE_EXHAUSTED"
        case 403: return "PERMISSION_DENIED"
        case 404: return "NOT_FOUND"
        case 503, 502: return "UNAVAILABLE"
        case 504: return "DEADLINE_EXCEEDED"
        default: return "INTERNAL"
        }
    }
}
