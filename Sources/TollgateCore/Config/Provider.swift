/// One upstream Tollgate forwards to: where it is, how it authenticates, which paths meter as which API, its prices.
///
/// Providers are data: a file in providers/ describes one (providers/openai.yaml), and a config entry can reuse it
/// or describe a new OpenAI-compatible upstream with nothing but a `base_url`.
public struct Provider: Sendable {
    /// The fields, behind one reference that copies share until one of them is changed (copy on write): a provider
    /// is copied into each request's route target, inference context and relay, and a copy of its seventeen fields cost
    /// about twenty reference-count operations each time. The larger fields are read in place (`_read`), not copied out.
    private var storage: Storage

    private final class Storage: @unchecked Sendable {  // changed only through `change`, when not shared
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private struct Fields: Sendable {
        var name: String
        var baseURL: String
        var auth: ProviderAuth
        var apiKey: String?
        var apiKeyEnv: String?
        var acceptsStreamUsageOption: Bool
        var routes: [RouteRule]
        var prices: PriceCatalog
        var family: WireFamily
        var nativePaths: [PathPattern]
        var streamUsageSinceAPIVersion: String?
        var deployments: [String: String]
        var aws: AWSCredentials?
        var passThrough: [PassThroughRule]
        var allowedPassThrough: [PassThroughRule]
        var headers: HeaderRules
        var genAIProvider: String
    }

    /// Changes the fields, copying them first if another provider shares them.
    private mutating func change(_ body: (inout Fields) -> Void) {
        if !isKnownUniquelyReferenced(&storage) { storage = Storage(storage.fields) }
        body(&storage.fields)
    }

    /// The name used in paths (`/NAME/...`) and on events.
    public var name: String {
        get { storage.fields.name }
        set { change { $0.name = newValue } }
    }

    /// The origin (scheme, host, port, and a path prefix only if the provider's paths need one).
    public var baseURL: String {
        get { storage.fields.baseURL }
        set { change { $0.baseURL = newValue } }
    }

    /// How the provider key is sent.
    public var auth: ProviderAuth {
        get { storage.fields.auth }
        set { change { $0.auth = newValue } }
    }

    /// The provider key, resolved from the config or the environment; never logged or returned.
    public var apiKey: String? {
        get { storage.fields.apiKey }
        set { change { $0.apiKey = newValue } }
    }

    /// The environment variable the key comes from, named in errors when it is missing.
    public var apiKeyEnv: String? {
        get { storage.fields.apiKeyEnv }
        set { change { $0.apiKeyEnv = newValue } }
    }

    /// Whether streaming requests may carry `stream_options.include_usage`.
    public var acceptsStreamUsageOption: Bool {
        get { storage.fields.acceptsStreamUsageOption }
        set { change { $0.acceptsStreamUsageOption = newValue } }
    }

    /// Paths that are inferences, and the API each speaks; other paths are passed through unmetered.
    public var routes: [RouteRule] {
        get { storage.fields.routes }
        set { change { $0.routes = newValue } }
    }

    /// What the provider charges.
    public var prices: PriceCatalog {
        _read { yield storage.fields.prices }
        set { change { $0.prices = newValue } }
    }

    /// The API family: the shape of errors Tollgate answers for this provider's paths.
    public var family: WireFamily {
        _read { yield storage.fields.family }
        set { change { $0.family = newValue } }
    }

    /// Paths of this provider that Tollgate also serves at its root (`/v1/messages` for Anthropic), so that an SDK
    /// pointed at Tollgate's origin reaches the provider without a `/NAME` prefix.
    public var nativePaths: [PathPattern] {
        get { storage.fields.nativePaths }
        set { change { $0.nativePaths = newValue } }
    }

    /// When set, only requests whose `api-version` query is this version or later (or that carry none) may get
    /// `stream_options.include_usage` (Azure OpenAI refuses it before 2024-09-01-preview).
    public var streamUsageSinceAPIVersion: String? {
        get { storage.fields.streamUsageSinceAPIVersion }
        set { change { $0.streamUsageSinceAPIVersion = newValue } }
    }

    /// Deployment names and the models they serve (Azure `/openai/deployments/NAME/...`), for requests whose body
    /// names no model.
    public var deployments: [String: String] {
        get { storage.fields.deployments }
        set { change { $0.deployments = newValue } }
    }

    /// AWS credentials for SigV4 signing (`auth: sigv4`).
    public var aws: AWSCredentials? {
        _read { yield storage.fields.aws }
        set { change { $0.aws = newValue } }
    }

    /// Read-only, non-billable paths that go through unmetered (model lists, token counting): the family's.
    public var passThrough: [PassThroughRule] {
        get { storage.fields.passThrough }
        set { change { $0.passThrough = newValue } }
    }

    /// Further paths an operator allowed to go through unmetered (`pass_through:`): each such request is recorded as
    /// an event with its path, so that nothing goes through unseen.
    public var allowedPassThrough: [PassThroughRule] {
        get { storage.fields.allowedPassThrough }
        set { change { $0.allowedPassThrough = newValue } }
    }

    /// Which headers cross the proxy to and from this provider: the family's allow-lists, the entry's
    /// `forward_headers` / `return_headers`, and its `ratelimit_headers` mode.
    public var headers: HeaderRules {
        _read { yield storage.fields.headers }
        set { change { $0.headers = newValue } }
    }

    /// Its name in OpenTelemetry's GenAI conventions (`gen_ai.provider.name` on its spans): the provider file's
    /// `gen_ai_provider`, else the family's (`openai`, `anthropic`, `gcp.gemini`, `aws.bedrock` …).
    public var genAIProvider: String {
        get { storage.fields.genAIProvider }
        set { change { $0.genAIProvider = newValue } }
    }

    /// The host of ``baseURL`` (`api.openai.com`), for `server.address` on spans.
    public var host: String? { Self.host(of: baseURL) }

    /// Creates a provider.
    public init(
        name: String, baseURL: String, auth: ProviderAuth = .bearer, apiKey: String? = nil, apiKeyEnv: String? = nil,
        acceptsStreamUsageOption: Bool = true, routes: [RouteRule] = RouteRule.openAICompatible, prices: PriceCatalog = PriceCatalog(),
        family: WireFamily = WireFamilies.default, nativePaths: [PathPattern] = [], streamUsageSinceAPIVersion: String? = nil,
        deployments: [String: String] = [:], aws: AWSCredentials? = nil, passThrough: [PassThroughRule]? = nil,
        allowedPassThrough: [PassThroughRule] = [], headers: HeaderRules? = nil, genAIProvider: String? = nil
    ) {
        storage = Storage(
            Fields(
                name: name, baseURL: baseURL, auth: auth, apiKey: apiKey, apiKeyEnv: apiKeyEnv,
                acceptsStreamUsageOption: acceptsStreamUsageOption, routes: routes, prices: prices, family: family,
                nativePaths: nativePaths, streamUsageSinceAPIVersion: streamUsageSinceAPIVersion, deployments: deployments,
                aws: aws, passThrough: passThrough ?? family.passThroughRoutes, allowedPassThrough: allowedPassThrough,
                headers: headers ?? HeaderRules(family: family), genAIProvider: genAIProvider ?? family.telemetryName))
    }

    /// The host of a base URL (`api.openai.com` of `https://api.openai.com/v1`; `[::1]` of `http://[::1]:9000`).
    public static func host(of url: String) -> String? {
        guard let scheme = url.range(of: "://") else { return nil }
        let authority = url[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" }
        let host = authority.hasPrefix("[") ? authority.prefix { $0 != "]" } + "]" : authority.prefix { $0 != ":" }
        return host.isEmpty ? nil : String(host)
    }

    /// Whether Tollgate can authenticate to the provider: it needs no key, or has a key, or AWS credentials to sign.
    public var hasCredentials: Bool {
        auth == .none || apiKey != nil || (auth == .sigv4 && aws != nil)
    }

    /// The metered API of a provider path, or `nil` for a path that is not an inference.
    public func api(forPath path: String) -> APIName? {
        routes.first { $0.pattern.matches(path) }?.api
    }

    /// What Tollgate does with a request for a provider path that is not an inference (``api(forPath:)`` is `nil`):
    /// nothing goes through unless the family or the operator lets it.
    public func passage(method: String, path: String) -> Passage {
        if passThrough.contains(where: { $0.admits(method: method, path: path) }) { return .free }
        if allowedPassThrough.contains(where: { $0.admits(method: method, path: path) }) { return .recorded }
        if let refused = family.refusedRoutes.first(where: { $0.matches(path) }) { return .refused(refused) }
        return .denied
    }

    /// Whether a request with this query may carry the streaming usage opt-in.
    public func acceptsStreamUsageOption(query: String?) -> Bool {
        guard acceptsStreamUsageOption else { return false }
        guard let since = streamUsageSinceAPIVersion, let version = Self.queryValue("api-version", in: query) else { return true }
        // Dated versions compare by date (`2024-10-21` ≥ `2024-09-01-preview`); undated ones (`preview`, `latest`,
        // the v1 API's) are current.
        let date = version.prefix(10)
        guard date.count == 10, date.first?.isNumber == true else { return true }
        return date >= since.prefix(10)
    }

    /// The model a request names in its path when its body names none: an Azure deployment's model.
    public func modelFromPath(_ path: String) -> String? {
        // Most paths name no deployment: they are not split into segments (an allocation per request) to learn it.
        guard path.containsBytes(of: "deployments/") else { return nil }
        let segments = path.split(separator: "/")
        guard let index = segments.firstIndex(of: "deployments"), index + 1 < segments.count else { return nil }
        let deployment = String(segments[index + 1])
        return deployments[deployment] ?? deployment
    }

    /// The first value of a query parameter (not percent-decoded).
    public static func queryValue(_ name: String, in query: String?) -> String? {
        guard let query else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.first == Substring(name) { return parts.count > 1 ? String(parts[1]) : "" }
        }
        return nil
    }

    /// The provider's own path for an API (used when a model alias moves a request to this provider).
    public func path(for api: APIName) -> String? {
        routes.first { $0.api == api }?.pattern.literalPath
    }
}

/// Whether a request that is not an inference may reach the provider.
public enum Passage: Sendable, Equatable {
    /// A read-only, non-billable path of the family (a model list, token counting): forwarded unmetered.
    case free
    /// A path the operator allowed (`pass_through:`): forwarded unmetered and recorded as an event with its path.
    case recorded
    /// A path the family knows and Tollgate does not meter yet (realtime): refused with its own status and reason.
    case refused(RefusedRoute)
    /// Anything else: refused with 404 before it reaches the provider.
    case denied
}

/// Paths of a family refused, whatever the method, with a status and a reason of their own, so that a client learns
/// why (`realtime_not_metered`) rather than a bare 404. An operator can still allow them with `pass_through:`.
public struct RefusedRoute: Sendable, Equatable {
    /// Which paths.
    public var patterns: [PathPattern]
    /// The HTTP status (403).
    public var status: Int
    /// The machine-readable reason (OpenAI's `code`).
    public var code: String
    /// What the client developer reads.
    public var message: String

    /// Creates a refusal.
    public init(_ patterns: [String], status: Int, code: String, message: String) {
        self.patterns = patterns.map(PathPattern.init)
        self.status = status
        self.code = code
        self.message = message
    }

    /// Whether `path` is one of the refused paths.
    public func matches(_ path: String) -> Bool { patterns.contains { $0.matches(path) } }
}

/// A path that may go through unmetered, and the methods it may be asked with.
public struct PassThroughRule: Sendable, Equatable {
    /// The methods allowed, uppercase (`GET`).
    public var methods: Set<String>
    /// Which paths.
    public var pattern: PathPattern

    /// Creates a rule.
    public init(_ methods: Set<String>, _ pattern: String) {
        self.methods = Set(methods.map { $0.uppercased() })
        self.pattern = PathPattern(pattern)
    }

    /// Whether the rule lets `method` `path` through.
    public func admits(method: String, path: String) -> Bool { methods.contains(method.uppercased()) && pattern.matches(path) }
}

/// How a provider key travels.
public enum ProviderAuth: Sendable, Equatable {
    /// `Authorization: Bearer KEY`.
    case bearer
    /// The key alone in the named header (`x-api-key`, `api-key`).
    case header(String)
    /// No key (a local server).
    case none
    /// AWS Signature Version 4 over the forwarded request (Bedrock), or a Bedrock API key as a bearer token when
    /// one is configured.
    case sigv4

    /// A byte of an HTTP token: a letter, a digit or one of ``!#$%&'*+-.^_`|~``.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// Reads `bearer`, `none`, `sigv4`, or `header:NAME` (NAME an HTTP token).
    public init?(_ text: String) {
        switch text {
        case "bearer": self = .bearer
        case "none": self = .none
        case "sigv4": self = .sigv4
        default:
            // The name goes out as a header name: an HTTP token (RFC 9110 §5.6.2) or nothing.
            let name = text.dropFirst(7)
            guard text.hasPrefix("header:"), !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else { return nil }
            self = .header(name.lowercased())
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
}

/// AWS credentials for SigV4, resolved from the config or the environment; never logged.
public struct AWSCredentials: Sendable, Equatable {
    /// Access key id (`AKIA…`, `ASIA…`).
    public var accessKeyID: String
    /// Secret access key.
    public var secretAccessKey: String
    /// Session token of temporary credentials.
    public var sessionToken: String?
    /// Region signed for (`us-east-1`).
    public var region: String

    /// Creates credentials.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, region: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
    }
}

/// A path pattern: literal segments, `*` for one segment, `**` for any number of segments (zero included).
public struct PathPattern: Sendable, Equatable, CustomStringConvertible {
    enum Segment: Sendable, Equatable {
        case literal(Substring)
        case one
        case any
        /// `*:generateContent`: one segment ending with the text.
        case suffix(Substring)
    }

    let segments: [Segment]
    /// The pattern as written.
    public let description: String

    /// Parses `/v1/chat/completions`, `/openai/deployments/*/chat/completions`, `/**/embeddings`,
    /// `/v1beta/models/*:generateContent`.
    public init(_ text: String) {
        description = text
        segments = text.split(separator: "/").map { part in
            switch part {
            case "*": return .one
            case "**": return .any
            case _ where part.hasPrefix("*"): return .suffix(part.dropFirst())
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

    /// The segment with `%3A` (either case) read as `:`.
    private static func decodingColons(_ segment: Substring) -> Substring {
        var result = ""
        var rest = segment[...]
        while let percent = rest.firstIndex(of: "%") {
            result += rest[..<percent]
            let escape = rest[percent...].prefix(3)
            if escape.count == 3, escape.dropFirst().uppercased() == "3A" {
                result += ":"
            } else {
                result += escape
            }
            rest = rest[percent...].dropFirst(escape.count)
        }
        return Substring(result + rest)
    }

    private static func match(_ pattern: ArraySlice<Segment>, _ path: ArraySlice<Substring>) -> Bool {
        guard let first = pattern.first else { return path.isEmpty }
        switch first {
        case .literal(let literal):
            return path.first == literal && match(pattern.dropFirst(), path.dropFirst())
        case .one:
            return !path.isEmpty && match(pattern.dropFirst(), path.dropFirst())
        case .suffix(let suffix):
            // `M%3AgenerateContent` is the same path to the provider as `M:generateContent`: it must not escape metering.
            guard var segment = path.first else { return false }
            if segment.utf8.contains(UInt8(ascii: "%")) { segment = Self.decodingColons(segment) }
            guard segment.count > suffix.count, segment.hasSuffix(suffix) else { return false }
            return match(pattern.dropFirst(), path.dropFirst())
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
