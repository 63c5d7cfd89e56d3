/// Decides where a client path goes: which provider, which provider path, and which API it meters as.
///
/// `/NAME/rest` goes to provider NAME with the path `/rest`; a path a provider claims as native (`/v1/messages` for
/// Anthropic, `/v1beta/...` for Gemini) goes to it unchanged; any other `/v1/...` goes to the default provider
/// (`openai`) unchanged. After the body is read, a model alias may move a `/v1/...` inference to another provider.
public struct RouteResolver: Sendable {
    /// Where one request goes.
    public struct Target: Sendable {
        /// The provider.
        public var provider: Provider
        /// The path to append to the provider's base URL.
        public var upstreamPath: String
        /// The API the path speaks, or `nil` for a pass-through path (no inference, no event).
        public var api: APIName?
        /// Whether the path reached the provider through the default `/v1` prefix (aliases apply only then).
        public var viaDefault: Bool
        /// The query to send upstream (the client's, less any key it carried), without `?`.
        public var upstreamQuery: String?

        /// Creates a target.
        public init(provider: Provider, upstreamPath: String, api: APIName?, viaDefault: Bool, upstreamQuery: String? = nil) {
            self.provider = provider
            self.upstreamPath = upstreamPath
            self.api = api
            self.viaDefault = viaDefault
            self.upstreamQuery = upstreamQuery
        }
    }

    private let config: TollgateConfig

    /// Providers that claim root paths, in name order (the first claim wins).
    private let nativeProviders: [Provider]
    /// Inactive providers that claim root paths, in name order: their paths are refused as inactive rather than sent
    /// to the default provider.
    private let inactiveNativeProviders: [Provider]

    /// Creates a resolver over a config.
    public init(config: TollgateConfig) {
        self.config = config
        self.nativeProviders = config.providers.values.filter { !$0.nativePaths.isEmpty }.sorted { $0.name < $1.name }
        self.inactiveNativeProviders = config.inactiveProviders.values.filter { !$0.nativePaths.isEmpty }.sorted { $0.name < $1.name }
    }

    /// The family whose error shape a path most likely expects when no route matched it: the family of the provider
    /// named by its first segment (`/anthropic/…`), else the family claiming its prefix (`/v1beta/` is Gemini's), else
    /// the default provider's.
    public func family(guessedFrom path: String) -> WireFamily {
        // The first segment, leading slashes skipped (as `split` reads it, without making the array of segments).
        let segment = path.drop { $0 == "/" }.prefix { $0 != "/" }
        let first = segment.isEmpty ? nil : String(segment)
        if let first, let provider = config.providers[first] ?? config.inactiveProviders[first] { return provider.family }
        if let family = WireFamilies.claiming(path) { return family }
        return config.providers[config.defaultProvider]?.family ?? WireFamilies.default
    }

    /// The path in canonical form: percent-escapes of unreserved characters decoded (`/v1/chat/completion%73` is
    /// `/v1/chat/completions`, as the provider would read it), so that no spelling of an inference path escapes
    /// metering. `nil` for paths Tollgate refuses: an escaped `/` or `\` (except an escaped `/` in the segment after
    /// `model`, where Bedrock model ARNs carry one), `.` or `..` segments, bad escapes.
    public static func canonicalPath(_ raw: String) -> String? {
        guard raw.hasPrefix("/") else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.utf8.count)
        var iterator = raw.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(PercentDecoding.hexValue), let low = iterator.next().flatMap(PercentDecoding.hexValue) else {
                return nil
            }
            let decoded = high << 4 | low
            let isUnreserved =
                (decoded >= 0x41 && decoded <= 0x5A) || (decoded >= 0x61 && decoded <= 0x7A) || (decoded >= 0x30 && decoded <= 0x39)
                || decoded == 0x2D || decoded == 0x2E || decoded == 0x5F || decoded == 0x7E
            if decoded == UInt8(ascii: "/"), Self.isModelIDSegment(bytes) {
                // A Bedrock model ARN (`/model/arn%3Aaws%3A…%3Aapplication-inference-profile%2Fabc/converse`): the
                // escaped slash stays escaped, inside the one segment Bedrock reads it in.
                bytes.append(contentsOf: Array("%2F".utf8))
                continue
            }
            if decoded == UInt8(ascii: "/") || decoded == UInt8(ascii: "\\") { return nil }
            if isUnreserved {
                bytes.append(decoded)
            } else {
                bytes.append(contentsOf: [UInt8(ascii: "%"), Hex.digit(high, uppercase: true), Hex.digit(low, uppercase: true)])
            }
        }
        if hasDotSegment(bytes) { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether a `/`-separated segment of `bytes` is `.` or `..`.
    private static func hasDotSegment(_ bytes: [UInt8]) -> Bool {
        var start = 0
        for index in 0...bytes.count where index == bytes.count || bytes[index] == UInt8(ascii: "/") {
            if (1...2).contains(index - start), bytes[start..<index].allSatisfy({ $0 == UInt8(ascii: ".") }) { return true }
            start = index + 1
        }
        return false
    }

    /// Whether the segment being written (after the last `/` of `bytes`) follows a `model` segment.
    private static func isModelIDSegment(_ bytes: [UInt8]) -> Bool {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return false }
        let previous = bytes[..<slash]
        let start = previous.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? previous.startIndex
        return previous[start...].elementsEqual("model".utf8)
    }

    /// The target of a path (without query), or `nil` when no provider serves it.
    public func resolve(path: String) -> Target? {
        let trimmed = path.drop(while: { $0 == "/" })
        let first = trimmed.prefix(while: { $0 != "/" })
        if !first.isEmpty, let provider = config.providers[String(first)] {
            let rest = String(trimmed.dropFirst(first.count))
            let upstreamPath = rest.isEmpty ? "/" : rest
            return Target(provider: provider, upstreamPath: upstreamPath, api: provider.api(forPath: upstreamPath), viaDefault: false)
        }
        if let provider = nativeProviders.first(where: { provider in provider.nativePaths.contains { $0.matches(path) } }) {
            return Target(provider: provider, upstreamPath: path, api: provider.api(forPath: path), viaDefault: false)
        }
        if inactiveNativeProviders.contains(where: { provider in provider.nativePaths.contains { $0.matches(path) } }) { return nil }
        if first == "v1", let provider = config.providers[config.defaultProvider] {
            return Target(provider: provider, upstreamPath: path, api: provider.api(forPath: path), viaDefault: true)
        }
        return nil
    }

    /// The inactive provider a path (that ``resolve(path:)`` found no target for) is meant for, with how to activate
    /// it: the provider its first segment names, else the one claiming it as a native path, else the default
    /// provider for `/v1/...`.
    public func inactiveProvider(for path: String) -> (provider: Provider, hint: String)? {
        let trimmed = path.drop(while: { $0 == "/" })
        let first = String(trimmed.prefix(while: { $0 != "/" }))
        let provider =
            config.inactiveProviders[first]
            ?? inactiveNativeProviders.first(where: { provider in provider.nativePaths.contains { $0.matches(path) } })
            ?? (first == "v1" && config.providers[config.defaultProvider] == nil ? config.inactiveProviders[config.defaultProvider] : nil)
        guard let provider else { return nil }
        return (provider, config.activation[provider.name]?.hint(for: provider.name) ?? "list it under providers: in the config")
    }

    /// The inactive provider a model alias sends a `/v1/...` inference to, when it names one.
    public func inactiveAliasProvider(for target: Target, model: String?) -> (provider: Provider, hint: String)? {
        guard target.viaDefault, let model, let alias = config.modelAliases[model], config.providers[alias.provider] == nil,
            let provider = config.inactiveProviders[alias.provider]
        else { return nil }
        return (provider, config.activation[provider.name]?.hint(for: provider.name) ?? "list it under providers: in the config")
    }

    /// The target after applying a model alias, and the model to send upstream; the same target when none applies.
    public func applyingAlias(to target: Target, model: String?) -> (target: Target, upstreamModel: String?) {
        guard target.viaDefault, let api = target.api, let model, let alias = config.modelAliases[model],
            let provider = config.providers[alias.provider]
        else { return (target, nil) }
        let path = provider.path(for: api) ?? target.upstreamPath
        return (Target(provider: provider, upstreamPath: path, api: api, viaDefault: false), alias.model)
    }
}
