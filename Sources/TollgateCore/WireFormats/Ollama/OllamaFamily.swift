extension APIName {
    /// Ollama native chat (`/api/chat`, NDJSON stream).
    public static let ollamaChat = APIName(declaring: "ollama.chat")
    /// Ollama native generate (`/api/generate`, NDJSON stream).
    public static let ollamaGenerate = APIName(declaring: "ollama.generate")
}

extension WireFamily {
    /// Ollama's native API; an Ollama server also answers OpenAI-compatible paths.
    public static let ollama = WireFamily(
        name: "ollama",
        apis: [(.ollamaChat, OllamaFormat(api: .ollamaChat)), (.ollamaGenerate, OllamaFormat(api: .ollamaGenerate))],
        defaultRoutes: [
            RouteRule(pattern: PathPattern("/api/chat"), api: .ollamaChat),
            RouteRule(pattern: PathPattern("/api/generate"), api: .ollamaGenerate),
        ] + RouteRule.openAICompatible,
        // The local model list, a model's details, the server's version and its loaded models.
        passThroughRoutes: [
            PassThroughRule(["GET"], "/api/tags"), PassThroughRule(["POST"], "/api/show"), PassThroughRule(["GET"], "/api/version"),
            PassThroughRule(["GET"], "/api/ps"),
        ] + PassThroughRule.openAIModelList,
        keyLocations: [.bearer],
        credentialHeaders: ["authorization"],
        errorShape: OllamaErrorShape())
}

/// `{"error": "message"}`.
struct OllamaErrorShape: WireErrorShape {
    func object(for error: WireError) -> JSONValue { ["error": .string(error.message)] }
}
