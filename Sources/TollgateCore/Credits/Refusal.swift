/// Why admission refused a request before it reached the provider: the proxy answers it in the route's error shape
/// (402 for credits and caps, 429 with Retry-After for rate limits, 403 for a model the plan does not include, 400 for a
/// model nothing prices).
public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of limit that refused.
    public enum Reason: String, Sendable, Codable {
        /// The prepaid credit balance does not cover the request's worst case.
        case credits = "insufficient_credits"
        /// A hard cap on money, tokens or requests for a period.
        case cap = "limit_exceeded"
        /// A requests- or tokens-per-minute limit.
        case rateLimit = "rate_limit_exceeded"
        /// The customer's plan does not include the model.
        case model = "model_not_allowed"
        /// No rate prices the model (and no fallback rate is set): it would be served at a price of zero.
        case unpriced = "model_not_priced"

        /// The HTTP status the client gets.
        public var status: Int {
            switch self {
            case .credits, .cap: return 402
            case .rateLimit: return 429
            case .model: return 403
            case .unpriced: return 400
            }
        }
    }

    /// The kind of limit.
    public var reason: Reason
    /// A sentence for the client developer: which limit, its size, what is used, when it resets.
    public var message: String
    /// The limit's id, when a configured limit refused.
    public var limitID: String?
    /// Seconds until the request may succeed (rate limits).
    public var retryAfterSeconds: Int?
    /// When the limit's period ends (caps), ms since 1970.
    public var resetsAtMs: Int64?

    /// Creates a refusal.
    public init(reason: Reason, message: String, limitID: String? = nil, retryAfterSeconds: Int? = nil, resetsAtMs: Int64? = nil) {
        self.reason = reason
        self.message = message
        self.limitID = limitID
        self.retryAfterSeconds = retryAfterSeconds
        self.resetsAtMs = resetsAtMs
    }

    /// The message.
    public var description: String { message }
}
