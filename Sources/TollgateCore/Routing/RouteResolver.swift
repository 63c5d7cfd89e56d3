/// Decides where a client path goes: which provider, which provider path, and which API it meters as.
///
/// `/v1/...` goes to the default provider (`openai`) with the path unchanged; `/NAME/rest` goes to provider NAME
/// with the path `/rest`. After the body is read, a model alias may move a `/v1/...` inference to another provider.
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
    }

    private let config: TollgateConfig

    /// Creates a resolver over a config.
    public init(config: TollgateConfig) { self.config = config }

    /// The target of a path (without query), or `nil` when no provider serves it.
    public func resolve(path: String) -> Target? {
        let trimmed = path.drop(while: { $0 == "/" })
        let first = trimmed.prefix(while: { $0 != "/" })
        if !first.isEmpty, let provider = config.providers[String(first)] {
            let rest = String(trimmed.dropFirst(first.count))
            let upstreamPath = rest.isEmpty ? "/" : rest
            return Target(provider: provider, upstreamPath: upstreamPath, api: provider.api(forPath: upstreamPath), viaDefault: false)
        }
        if first == "v1", let provider = config.providers[config.defaultProvider] {
            return Target(provider: provider, upstreamPath: path, api: provider.api(forPath: path), viaDefault: true)
        }
        return nil
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
