/// One upstream Tollgate forwards to: where it is, how it authenticates, which paths meter as which API, its prices.
///
/// Providers are data: a file in providers/ describes one (providers/openai.yaml), and a config entry can reuse it
/// or describe a new OpenAI-compatible upstream with nothing but a `base_url`.
public struct Provider: Sendable {
    /// The name used in paths (`/NAME/...`) and on events.
    public var name: String
    /// The origin (scheme, host, port, and a path prefix only if the provider's paths need one).
    public var baseURL: String
    /// How the provider key is sent.
    public var auth: ProviderAuth
    /// The provider key, resolved from the config or the environment; never logged or returned.
    public var apiKey: String?
    /// The environment variable the key comes from, named in errors when it is missing.
    public var apiKeyEnv: String?
    /// Whether streaming requests may carry `stream_options.include_usage`.
    public var acceptsStreamUsageOption: Bool
    /// Paths that are inferences, and the API each speaks; other paths are passed through unmetered.
    public var routes: [RouteRule]
    /// What the provider charges.
    public var prices: PriceCatalog

    /// Creates a provider.
    public init(
        name: String, baseURL: String, auth: ProviderAuth = .bearer, apiKey: String? = nil, apiKeyEnv: String? = nil,
        acceptsStreamUsageOption: Bool = true, routes: [RouteRule] = RouteRule.openAICompatible, prices: PriceCatalog = PriceCatalog()
    ) {
        self.name = name
        self.baseURL = baseURL
        self.auth = auth
        self.apiKey = apiKey
        self.apiKeyEnv = apiKeyEnv
        self.acceptsStreamUsageOption = acceptsStreamUsageOption
        self.routes = routes
        self.prices = prices
    }

    /// The metered API of a provider path, or `nil` for a pass-through path.
    public func api(forPath path: String) -> APIName? {
        routes.first { $0.pattern.matches(path) }?.api
    }

    /// The provider's own path for an API (used when a model alias moves a request to this provider).
    public func path(for api: APIName) -> String? {
        routes.first { $0.api == api }?.pattern.literalPath
    }
}

/// How a provider key travels.
public enum ProviderAuth: Sendable, Equatable {
    /// `Authorization: Bearer KEY`.
    case bearer
    /// The key alone in the named header (`x-api-key`, `api-key`).
    case header(String)
    /// No key (a local server).
    case none

    /// Reads `bearer`, `none`, or `header:NAME`.
    public init?(_ text: String) {
        switch text {
        case "bearer": self = .bearer
        case "none": self = .none
        default:
            guard text.hasPrefix("header:"), text.count > 7 else { return nil }
            self = .header(String(text.dropFirst(7)).lowercased())
        }
    }
}

/// A path pattern and the API requests to it speak.
public struct RouteRule: Sendable, Equatable {
    /// Which paths.
    public var pattern: PathPattern
    /// Which API.
    public var api: APIName

    /// Creates a rule.
    public init(pattern: PathPattern, api: APIName) {
        self.pattern = pattern
        self.api = api
    }

    /// The routes of an OpenAI-compatible server, whatever prefix it puts before them (`/v1`, `/openai/v1`).
    public static let openAICompatible: [RouteRule] = [
        RouteRule(pattern: PathPattern("/**/chat/completions"), api: .openAIChat),
        RouteRule(pattern: PathPattern("/**/completions"), api: .openAICompletions),
        RouteRule(pattern: PathPattern("/**/embeddings"), api: .openAIEmbeddings),
        RouteRule(pattern: PathPattern("/**/responses"), api: .openAIResponses),
    ]
}

/// A path pattern: literal segments, `*` for one segment, `**` for any number of segments (zero included).
public struct PathPattern: Sendable, Equatable, CustomStringConvertible {
    enum Segment: Sendable, Equatable {
        case literal(Substring)
        case one
        case any
    }

    let segments: [Segment]
    /// The pattern as written.
    public let description: String

    /// Parses `/v1/chat/completions`, `/openai/deployments/*/chat/completions`, `/**/embeddings`.
    public init(_ text: String) {
        description = text
        segments = text.split(separator: "/").map { part in
            switch part {
            case "*": return .one
            case "**": return .any
            default: return .literal(part)
            }
        }
    }

    /// Whether a path (without query) matches.
    public func matches(_ path: String) -> Bool {
        Self.match(segments[...], path.split(separator: "/")[...])
    }

    /// The path itself when the pattern has no wildcard.
    public var literalPath: String? {
        segments.allSatisfy { if case .literal = $0 { return true } else { return false } } ? description : nil
    }

    private static func match(_ pattern: ArraySlice<Segment>, _ path: ArraySlice<Substring>) -> Bool {
        guard let first = pattern.first else { return path.isEmpty }
        switch first {
        case .literal(let literal):
            return path.first == literal && match(pattern.dropFirst(), path.dropFirst())
        case .one:
            return !path.isEmpty && match(pattern.dropFirst(), path.dropFirst())
        case .any:
            var rest = path
            while true {
                if match(pattern.dropFirst(), rest) { return true }
                guard !rest.isEmpty else { return false }
                rest = rest.dropFirst()
            }
        }
    }
}
