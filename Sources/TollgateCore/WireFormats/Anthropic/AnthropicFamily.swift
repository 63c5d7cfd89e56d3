extension APIName {
    /// Anthropic Messages.
    public static let anthropicMessages = APIName(declaring: "anthropic.messages")
}

extension WireFamily {
    /// Anthropic's native API.
    public static let anthropic = WireFamily(
        name: "anthropic",
        apis: [(.anthropicMessages, AnthropicMessagesFormat())],
        defaultRoutes: [RouteRule(pattern: PathPattern("/**/v1/messages"), api: .anthropicMessages)],
        // Token counting is free; the model list is read-only.
        passThroughRoutes: [PassThroughRule(["POST"], "/**/v1/messages/count_tokens")] + PassThroughRule.openAIModelList,
        objects: .anthropic,
        claimedPathPrefixes: ["/v1/messages"],
        keyLocations: [.header("x-api-key")],
        credentialHeaders: ["x-api-key", "authorization"],
        requestIDHeaders: ["request-id"],
        forwardedHeaders: ["anthropic-version", "anthropic-beta", "x-stainless-*"],
        // Not `anthropic-organization-id` (the operator's account) nor `anthropic-ratelimit-*` (its shared quota).
        returnedHeaders: [],
        errorShape: AnthropicErrorShape())
}

/// `{"type": "error", "error": {"type", "message"}}`, the type named by status
/// (https://docs.anthropic.com/en/api/errors).
struct AnthropicErrorShape: WireErrorShape {
    func object(for error: WireError) -> JSONValue {
        ["type": "error", "error": ["type": .string(Self.type(status: error.status)), "message": .string(error.message)]]
    }

    static func type(status: Int) -> String {
        switch status {
        case 400: return "invalid_request_error"
        case 401: return "authentication_error"
        case 402: return "billing_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 504: return "timeout_error"
        case 529: return "overloaded_error"
        default: return "api_error"
        }
    }
}
