/// A provider as written in a file of providers/ or in a config entry: every field optional, so that an entry can
/// take a definition and change only what differs (`openai: {base_url: http://127.0.0.1:9000}`).
public struct ProviderSpec: Sendable {
    /// The definition this one builds on (`use: openai`).
    public var use: String?
    /// API family (`openai`, `anthropic`, `gemini`, `bedrock`, `cohere`, `ollama`): the error shape, and the
    /// routes when none are listed.
    public var wireFormat: WireFamily?
    /// Paths also served at Tollgate's root (`/v1/messages`).
    public var nativePaths: [String]?
    /// The first `api-version` that accepts `stream_options` (Azure).
    public var streamOptionsSinceAPIVersion: String?
    /// Deployment names → models (Azure).
    public var deployments: [String: String]?
    /// AWS region (Bedrock).
    public var region: String?
    /// The provider's name in OpenTelemetry's GenAI conventions (`gen_ai.provider.name`: `azure.ai.openai`).
    public var genAIProvider: String?
    /// AWS access key id, secret and session token (prefer the AWS_* environment variables).
    public var awsAccessKeyID: String?
    /// See ``awsAccessKeyID``.
    public var awsSecretAccessKey: String?
    /// See ``awsAccessKeyID``.
    public var awsSessionToken: String?
    /// Origin of the provider.
    public var baseURL: String?
    /// How the key is sent.
    public var auth: ProviderAuth?
    /// The key itself (prefer ``apiKeyEnv``).
    public var apiKey: String?
    /// The environment variable that holds the key.
    public var apiKeyEnv: String?
    /// Whether streams may carry `stream_options.include_usage`.
    public var streamOptions: Bool?
    /// Paths that are inferences.
    public var routes: [RouteRule]?
    /// Further paths allowed through unmetered, each request recorded as an event (`pass_through:`).
    public var passThrough: [PassThroughRule]?
    /// Prices by model.
    public var prices: [String: ModelPrice]?
    /// When ``prices`` took effect (`nil`: always).
    public var pricesEffectiveMs: Int64?
    /// Later price versions, each changing the models it lists.
    public var priceVersions: [(effectiveMs: Int64, prices: [String: ModelPrice])]?
    /// Currency of the prices.
    public var currency: String?
    /// Client headers forwarded besides the family's (`forward_headers`).
    public var forwardHeaders: [String]?
    /// Provider headers returned besides the family's (`return_headers`).
    public var returnHeaders: [String]?
    /// What happens to the provider's rate-limit headers (`ratelimit_headers: drop | pass`).
    public var rateLimitHeaders: HeaderRules.RateLimitHeaders?
    /// The file it was written in, for messages.
    public var file: String
    /// The line it starts at, when known.
    public var line: Int?

    static let keys = [
        "name", "use", "wire_format", "base_url", "auth", "api_key", "api_key_env", "stream_options", "routes", "prices",
        "currency", "description", "prices_effective", "price_versions", "source", "native_paths",
        "stream_options_since_api_version", "deployments", "region", "aws_access_key_id", "aws_secret_access_key",
        "aws_session_token", "pass_through", "forward_headers", "return_headers", "ratelimit_headers", "gen_ai_provider",
    ]

    /// Parses a provider file (or entry) from YAML text.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> ProviderSpec {
        try parse(YAMLValue.parse(yaml, file: file))
    }

    static func parse(_ value: YAMLValue) throws(ConfigError) -> ProviderSpec {
        var spec = ProviderSpec(file: value.file, line: value.line)
        for (key, member) in try value.mapping(allowed: keys) {
            switch key {
            case "use": spec.use = try member.string()
            case "wire_format":
                let text = try member.string()
                guard let family = WireFamily.named(text) else {
                    throw member.error("unknown wire format '\(text)' (known: \(WireFamilies.names))")
                }
                spec.wireFormat = family
            case "native_paths":
                spec.nativePaths = try member.sequence().map { (item) throws(ConfigError) -> String in
                    let path = try item.string()
                    guard path.hasPrefix("/") else { throw item.error("a path starts with /") }
                    return path
                }
            case "stream_options_since_api_version": spec.streamOptionsSinceAPIVersion = try member.string()
            case "deployments":
                var deployments: [String: String] = [:]
                for (name, model) in try member.mapping() { deployments[name] = try model.string() }
                spec.deployments = deployments
            case "region": spec.region = try member.string()
            case "gen_ai_provider": spec.genAIProvider = try member.string()
            case "aws_access_key_id": spec.awsAccessKeyID = try member.string()
            case "aws_secret_access_key": spec.awsSecretAccessKey = try member.string()
            case "aws_session_token": spec.awsSessionToken = try member.string()
            case "base_url": spec.baseURL = try parseBaseURL(member)
            case "auth":
                let text = try member.string()
                guard let auth = ProviderAuth(text) else {
                    throw member.error("expected bearer, none, sigv4 or header:NAME (an HTTP header name), not '\(text)'")
                }
                spec.auth = auth
            case "api_key": spec.apiKey = try member.string()
            case "api_key_env": spec.apiKeyEnv = try member.string()
            case "stream_options": spec.streamOptions = try member.bool()
            case "routes": spec.routes = try parseRoutes(member)
            case "pass_through": spec.passThrough = try parsePassThrough(member)
            case "forward_headers": spec.forwardHeaders = try parseHeaderNames(member)
            case "return_headers": spec.returnHeaders = try parseHeaderNames(member)
            case "ratelimit_headers":
                let text = try member.string()
                guard let mode = HeaderRules.RateLimitHeaders(rawValue: text) else { throw member.error("expected drop or pass, not '\(text)'") }
                spec.rateLimitHeaders = mode
            case "prices": spec.prices = try PriceParsing.modelPrices(member)
            case "prices_effective": spec.pricesEffectiveMs = try PriceParsing.time(member)
            case "price_versions": spec.priceVersions = try PriceParsing.priceVersions(member)
            case "currency": spec.currency = try PriceParsing.currency(member)
            default: break
            }
        }
        return spec
    }

    /// `[openai-organization, x-custom-*]`: header names, lowercase, a trailing `*` for a prefix.
    private static func parseHeaderNames(_ member: YAMLValue) throws(ConfigError) -> [String] {
        try member.sequence().map { (item) throws(ConfigError) -> String in
            let text = try item.string().lowercased()
            guard HeaderRules.isValidEntry(text) else { throw item.error("expected a header name (optionally ending in *), not '\(text)'") }
            return text
        }
    }

    private static func parseBaseURL(_ member: YAMLValue) throws(ConfigError) -> String {
        var text = try member.string()
        guard text.hasPrefix("http://") || text.hasPrefix("https://"), text.count > 8 else {
            throw member.error("expected an http:// or https:// URL, not '\(text)'")
        }
        guard !text.contains("?"), !text.contains("#") else { throw member.error("a base URL has no query or fragment") }
        // Its host goes out in the Host header and its path in the request line: no spaces or control characters.
        guard !text.contains(" "), !ConfigLoader.hasControlCharacters(text) else {
            throw member.error("a base URL has no spaces or control characters")
        }
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    /// `[{path: /v1/files, methods: [GET]}, …]`; methods default to GET.
    private static func parsePassThrough(_ member: YAMLValue) throws(ConfigError) -> [PassThroughRule] {
        var rules: [PassThroughRule] = []
        for item in try member.sequence() {
            var path: String?
            var methods: Set<String> = ["GET"]
            for (key, field) in try item.mapping(allowed: ["path", "methods"]) {
                if key == "path" {
                    let text = try field.string()
                    guard text.hasPrefix("/") else { throw field.error("a pass-through path starts with /") }
                    path = text
                } else {
                    methods = []
                    for method in try field.sequence() {
                        let text = try method.string().uppercased()
                        guard ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"].contains(text) else {
                            throw method.error("unknown method '\(text)' (GET, HEAD, POST, PUT, PATCH or DELETE)")
                        }
                        methods.insert(text)
                    }
                    guard !methods.isEmpty else { throw field.error("list at least one method") }
                }
            }
            guard let path else { throw item.error("a pass-through entry needs a path") }
            rules.append(PassThroughRule(methods, path))
        }
        return rules
    }

    private static func parseRoutes(_ member: YAMLValue) throws(ConfigError) -> [RouteRule] {
        var rules: [RouteRule] = []
        for item in try member.sequence() {
            var path: String?
            var api: APIName?
            for (key, field) in try item.mapping(allowed: ["path", "api"]) {
                if key == "path" {
                    let text = try field.string()
                    guard text.hasPrefix("/") else { throw field.error("a route path starts with /") }
                    path = text
                } else {
                    let text = try field.string()
                    guard let name = APIName(rawValue: text) else {
                        throw field.error("unknown api '\(text)' (known: \(APIName.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    api = name
                }
            }
            guard let path, let api else { throw item.error("a route needs both path and api") }
            rules.append(RouteRule(pattern: PathPattern(path), api: api))
        }
        return rules
    }

    /// The prices over time, in `currency` unless the spec names its own.
    public func catalog(currency defaultCurrency: String) -> PriceCatalog {
        PriceParsing.catalog(
            base: prices ?? [:], baseEffectiveMs: pricesEffectiveMs, versions: priceVersions ?? [], currency: currency ?? defaultCurrency)
    }

    /// This spec with every field that `other` sets taken from `other`.
    func overridden(by other: ProviderSpec) -> ProviderSpec {
        var result = self
        result.wireFormat = other.wireFormat ?? wireFormat
        result.baseURL = other.baseURL ?? baseURL
        result.auth = other.auth ?? auth
        result.apiKey = other.apiKey ?? apiKey
        result.apiKeyEnv = other.apiKeyEnv ?? apiKeyEnv
        result.streamOptions = other.streamOptions ?? streamOptions
        result.routes = other.routes ?? routes
        result.passThrough = other.passThrough ?? passThrough
        result.forwardHeaders = other.forwardHeaders ?? forwardHeaders
        result.returnHeaders = other.returnHeaders ?? returnHeaders
        result.rateLimitHeaders = other.rateLimitHeaders ?? rateLimitHeaders
        result.nativePaths = other.nativePaths ?? nativePaths
        result.streamOptionsSinceAPIVersion = other.streamOptionsSinceAPIVersion ?? streamOptionsSinceAPIVersion
        if let extra = other.deployments { result.deployments = (deployments ?? [:]).merging(extra) { $1 } }
        result.region = other.region ?? region
        result.genAIProvider = other.genAIProvider ?? genAIProvider
        result.awsAccessKeyID = other.awsAccessKeyID ?? awsAccessKeyID
        result.awsSecretAccessKey = other.awsSecretAccessKey ?? awsSecretAccessKey
        result.awsSessionToken = other.awsSessionToken ?? awsSessionToken
        if let extra = other.prices { result.prices = (prices ?? [:]).merging(extra) { $1 } }
        result.currency = other.currency ?? currency
        result.pricesEffectiveMs = other.pricesEffectiveMs ?? pricesEffectiveMs
        // A model the entry prices itself keeps that price: the definition's later versions no longer change it.
        let ownModels = Set(other.prices?.keys ?? [:].keys)
        result.priceVersions =
            other.priceVersions
            ?? priceVersions?.map { version in (version.effectiveMs, version.prices.filter { !ownModels.contains($0.key) }) }
        result.file = other.file
        result.line = other.line
        return result
    }
}
