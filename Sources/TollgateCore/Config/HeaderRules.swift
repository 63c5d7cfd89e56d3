/// Which headers cross the proxy for one provider, precomputed once when the config is loaded: the client headers
/// forwarded to the provider and the provider headers returned to the client are allow-lists (the family's, plus the
/// provider entry's `forward_headers` / `return_headers`); everything else stays behind.
///
/// A name ending in `*` is a prefix (`x-stainless-*`). Names are lowercase.
public struct HeaderRules: Sendable, Equatable {
    /// What happens to the provider's rate-limit headers (`x-ratelimit-*`, `anthropic-ratelimit-*`, `ratelimit*`):
    /// they describe the operator's shared quota, not the customer's.
    public enum RateLimitHeaders: String, Sendable, Equatable, CaseIterable {
        /// Dropped (the default).
        case drop
        /// Returned as the provider sent them.
        case pass
    }

    /// Client headers every family's provider may receive (besides the family's own and the provider key).
    public static let commonForwarded = ["content-type", "content-encoding", "accept", "accept-encoding", "accept-language", "user-agent"]
    /// Provider headers every client may receive (besides the family's own, e.g. its request id).
    public static let commonReturned = [
        "content-type", "content-length", "content-encoding", "content-disposition", "content-language", "cache-control", "etag",
        "last-modified", "expires", "vary", "location", "retry-after", "retry-after-ms", "x-should-retry", "x-request-id", "request-id",
    ]
    /// Prefixes of the rate-limit headers of the providers Tollgate knows.
    public static let rateLimitPrefixes = ["x-ratelimit-", "anthropic-ratelimit-", "ratelimit", "x-ratelimit"]

    let forwardedNames: Set<String>
    let forwardedPrefixes: [String]
    let returnedNames: Set<String>
    let returnedPrefixes: [String]
    /// The rate-limit mode.
    public let rateLimitHeaders: RateLimitHeaders

    /// The rules of a family, with a provider entry's additions.
    public init(
        family: WireFamily, forward extraForward: [String] = [], return extraReturn: [String] = [], rateLimitHeaders: RateLimitHeaders = .drop
    ) {
        (forwardedNames, forwardedPrefixes) = Self.split(Self.commonForwarded + family.forwardedHeaders + extraForward)
        var returned = Self.commonReturned + family.requestIDHeaders + family.returnedHeaders + extraReturn
        if rateLimitHeaders == .pass { returned += Self.rateLimitPrefixes.map { $0 + "*" } }
        (returnedNames, returnedPrefixes) = Self.split(returned)
        self.rateLimitHeaders = rateLimitHeaders
    }

    private static func split(_ names: [String]) -> (Set<String>, [String]) {
        var exact = Set<String>()
        var prefixes: [String] = []
        for name in names.map({ $0.lowercased() }) {
            if name.hasSuffix("*") { prefixes.append(String(name.dropLast())) } else { exact.insert(name) }
        }
        return (exact, prefixes)
    }

    /// Whether a client header (lowercase name) may go to the provider.
    @inline(__always)
    public func forwards(_ name: String) -> Bool {
        forwardedNames.contains(name) || (!forwardedPrefixes.isEmpty && forwardedPrefixes.contains { name.hasPrefix($0) })
    }

    /// Whether a provider header (lowercase name) may go back to the client.
    @inline(__always)
    public func returns(_ name: String) -> Bool {
        returnedNames.contains(name) || (!returnedPrefixes.isEmpty && returnedPrefixes.contains { name.hasPrefix($0) })
    }

    /// Checks a `forward_headers` / `return_headers` entry: a header name, optionally ending in `*`.
    public static func isValidEntry(_ text: String) -> Bool {
        let name = text.hasSuffix("*") ? text.dropLast() : Substring(text)
        return !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }
}
