extension APIName {
    /// Cohere v2 chat (`/v2/chat`).
    public static let cohereChat = APIName(declaring: "cohere.chat")
}

extension WireFamily {
    /// Cohere v2.
    public static let cohere = WireFamily(
        name: "cohere",
        apis: [(.cohereChat, CohereChatFormat())],
        defaultRoutes: [RouteRule(pattern: PathPattern("/v2/chat"), api: .cohereChat)],
        passThroughRoutes: [PassThroughRule(["POST"], "/v1/tokenize"), PassThroughRule(["POST"], "/v1/detokenize")]
            + PassThroughRule.openAIModelList,
        keyLocations: [.bearer],
        credentialHeaders: ["authorization"],
        forwardedHeaders: ["x-client-name"],
        errorShape: MessageErrorShape())
}
