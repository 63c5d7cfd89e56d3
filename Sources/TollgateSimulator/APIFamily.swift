/// Which provider's API a request is for, told by its path: it decides the error shape and how the key is checked.
enum APIFamily: Sendable {
    /// OpenAI's `/v1/...` routes, and anything unrecognised.
    case openAI
    /// Anthropic's Messages API: `/v1/messages` and below.
    case anthropic
    /// Google's Gemini API: `/v1beta/...`, and the `/v1/models/MODEL:METHOD` calls (OpenAI has no POST with a colon there).
    case gemini

    /// The family of `path` (without the query).
    init(path: String) {
        if path == "/v1/messages" || path.hasPrefix("/v1/messages/") {
            self = .anthropic
        } else if path.hasPrefix("/v1beta/") || path == "/v1beta" || (path.hasPrefix("/v1/models/") && path.contains(":")) {
            self = .gemini
        } else {
            self = .openAI
        }
    }
}
