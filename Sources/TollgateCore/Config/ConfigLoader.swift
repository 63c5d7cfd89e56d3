import Foundation

/// Turns a YAML config and the provider definitions into a validated ``TollgateConfig``.
///
/// Pure: the caller reads the files and the environment and hands over their text, so every rule here is tested
/// with plain values. Every complaint is a ``ConfigError`` naming file and line.
public enum ConfigLoader {
    /// A config file parsed but not yet combined with the provider definitions.
    public struct Document: Sendable {
        /// The settings read.
        public var config = TollgateConfig()
        /// Provider entries by name, in the order written.
        public var providerEntries: [(name: String, spec: ProviderSpec)] = []
        /// Folder of provider definitions, if the file names one (relative to the config file).
        public var providersDirectory: String?
        /// The file name, for messages.
        public var file = "<defaults>"
        /// Where each model alias was written.
        public var aliasLines: [String: Int] = [:]
        /// Where each pricing setting that names a price book was written (`default_price_book`, `customers.ID`).
        public var pricingLines: [String: Int] = [:]

        /// An empty document: every setting at its default, no providers named.
        public init(file: String = "<defaults>") { self.file = file }
    }

    static let topKeys = [
        "listen", "meter", "providers", "providers_dir", "default_provider", "models", "pricing", "proxy", "log_level", "admin",
        "credits", "alerts", "sinks", "export", "idempotency", "log", "metrics", "tracing",
    ]

    /// Parses a config file's text.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> Document {
        let root = try YAMLValue.parse(yaml, file: file)
        var document = Document(file: file)
        for (key, value) in try root.mapping(allowed: topKeys) {
            switch key {
            case "listen":
                let text = try value.string()
                guard let address = ListenAddress(text) else { throw value.error("expected HOST:PORT such as \"127.0.0.1:8787\", not '\(text)'") }
                document.config.listen = address
            case "meter": try parseMeter(value, into: &document.config.meter)
            case "providers":
                for (name, entry) in try value.mapping() {
                    guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), !name.isEmpty else {
                        throw entry.error("a provider name uses letters, digits, - and _ only")
                    }
                    document.providerEntries.append(
                        (
                            name,
                            entry.node.mapping == nil && entry.node.null != nil
                                ? ProviderSpec(file: file, line: entry.line) : try ProviderSpec.parse(entry)
                        ))
                }
            case "providers_dir": document.providersDirectory = try value.string()
            case "default_provider": document.config.defaultProvider = try value.string()
            case "models":
                for (model, entry) in try value.mapping() {
                    var alias = ModelAlias(provider: "", model: nil)
                    for (field, member) in try entry.mapping(allowed: ["provider", "model"]) {
                        if field == "provider" { alias.provider = try member.string() } else { alias.model = try member.string() }
                    }
                    guard !alias.provider.isEmpty else { throw entry.error("a model alias needs a provider") }
                    document.config.modelAliases[model] = alias
                    document.aliasLines[model] = entry.line
                }
            case "pricing": try parsePricing(value, into: &document)
            case "proxy": try parseProxy(value, into: &document.config.proxy)
            case "idempotency": try parseIdempotency(value, into: &document.config.idempotency)
            case "admin": try parseAdmin(value, into: &document.config.admin)
            case "credits": try parseCredits(value, into: &document.config.credits)
            case "alerts": try parseAlerts(value, into: &document.config.alerts)
            case "sinks":
                for (name, entry) in try value.mapping() {
                    guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                        throw entry.error("a sink name uses letters, digits, - and _ only")
                    }
                    document.config.sinks[name] = try parseSink(name, entry)
                }
            case "export":
                for (field, member) in try value.mapping(allowed: ["interval_s", "sinks", "continuous_s"]) {
                    if field == "interval_s" {
                        document.config.export.intervalSeconds = max(1, try member.seconds())
                    } else if field == "continuous_s" {
                        let seconds = try member.seconds()
                        document.config.export.continuousSeconds = seconds == 0 ? nil : max(1, seconds)
                    } else {
                        document.config.export.sinks = try member.sequence().map { (item) throws(ConfigError) in try item.string() }
                    }
                }
            case "log_level": document.config.log.level = try parseLevel(value)
            case "log": try parseLog(value, into: &document.config.log)
            case "metrics": try parseMetrics(value, into: &document.config.metrics)
            case "tracing": try parseTracing(value, into: &document.config.tracing)
            default: break
            }
        }
        return document
    }

    private static func parsePricing(_ value: YAMLValue, into document: inout Document) throws(ConfigError) {
        let keys = ["markup", "currency", "price_books", "default_price_book", "customers", "unpriced_models", "missing_usage", "billing_cycle"]
        for (field, member) in try value.mapping(allowed: keys) {
            switch field {
            case "markup": document.config.pricing.markup = try PriceParsing.ratio(member)
            case "currency": document.config.pricing.currency = try PriceParsing.currency(member)
            case "price_books":
                document.config.pricing.priceBookPaths =
                    member.node.sequence != nil
                    ? try member.sequence().map { (item) throws(ConfigError) in try item.string() } : [try member.string()]
            case "unpriced_models":
                if member.node.mapping != nil {
                    let entries = try member.mapping(allowed: ["fallback"])
                    guard let fallback = entries.first(where: { $0.0 == "fallback" })?.1 else {
                        throw member.error("unpriced_models: write 'refuse' or {fallback: {input: …, output: …}}")
                    }
                    document.config.pricing.unpricedModels = .fallback(try PriceParsing.modelPrice(fallback))
                } else {
                    guard try member.string() == "refuse" else {
                        throw member.error("unpriced_models: write 'refuse' or {fallback: {input: …, output: …}}")
                    }
                    document.config.pricing.unpricedModels = .refuse
                }
            case "missing_usage":
                guard let billing = MissingUsageBilling(rawValue: try member.string()) else {
                    throw member.error("missing_usage must be worst_case or estimate")
                }
                document.config.pricing.missingUsage = billing
            case "billing_cycle": document.config.pricing.billingCycle = try PriceBookFile.billingCycle(member)
            case "default_price_book":
                document.config.pricing.defaultPriceBook = try member.string()
                document.pricingLines["default_price_book"] = member.line
            case "customers":
                for (customer, entry) in try member.mapping() {
                    let (terms, holdLine) = try PriceBookFile.customer(entry)
                    document.config.pricing.customers[customer] = terms
                    document.pricingLines["customers.\(customer)"] = entry.line
                    document.pricingLines["customers.\(customer).hold"] = holdLine
                }
            default: break
            }
        }
    }

    private static func parseMeter(_ value: YAMLValue, into meter: inout MeterSettings) throws(ConfigError) {
        var relaxed = false
        let allowed = [
            "path", "url", "password_env", "password_file", "pool_size", "replica_timeout_s", "durability", "relaxed_window_ms", "max_batch",
            "fsync", "on_failure",
        ]
        var sawPath = false
        for (key, member) in try value.mapping(allowed: allowed) {
            switch key {
            case "path":
                meter.path = try member.string()
                sawPath = true
            case "url":
                let text = try member.string()
                guard MeterSettings.isPostgresURL(text) else {
                    throw member.error(
                        "expected a postgres:// URL (a SQLite meter is given by path:), not '\(MeterSettings.redactedURL(text))'")
                }
                meter.url = text
            case "password_env": meter.passwordEnv = try member.string()
            case "password_file": meter.passwordFile = try member.string()
            case "pool_size": meter.poolSize = try member.int(in: 1...200)
            case "replica_timeout_s":
                let seconds = try member.seconds()
                guard seconds >= 1, seconds <= 3600 else { throw member.error("expected 1 to 3600 seconds, not \(seconds)") }
                meter.replicaTimeoutSeconds = seconds
            case "durability":
                let text = try member.string()
                guard text == "strict" || text == "relaxed" else { throw member.error("expected strict or relaxed, not '\(text)'") }
                relaxed = text == "relaxed"
            case "relaxed_window_ms":
                // Parsed and never applied by earlier versions; refused rather than silently ignored (the relaxed
                // window is fixed: EventWriter.relaxedWindow).
                throw member.error(
                    "relaxed_window_ms is no longer a setting: with relaxed durability events gather for a fixed 5 ms before "
                        + "they are committed; remove the key")
            case "max_batch": meter.maxBatch = try member.int(in: 1...100_000)
            case "fsync": meter.fsync = try member.bool()
            case "on_failure":
                let text = try member.string()
                guard let policy = MeterFailurePolicy(rawValue: text) else { throw member.error("expected refuse or serve, not '\(text)'") }
                meter.onFailure = policy
            default: break
            }
        }
        meter.durability = relaxed ? .relaxed : .strict
        if sawPath, meter.url != nil {
            throw value.error("meter: path (SQLite) and url (PostgreSQL) name two meters; give one")
        }
        if meter.url == nil, meter.passwordEnv != nil || meter.passwordFile != nil || meter.poolSize != nil {
            throw value.error("meter: password_env, password_file and pool_size are for a PostgreSQL meter (url:)")
        }
    }

    private static func parseAdmin(_ value: YAMLValue, into admin: inout AdminSettings) throws(ConfigError) {
        for (key, member) in try value.mapping(allowed: ["listen", "token", "token_env", "session_ttl_s", "secure_cookies", "trusted_proxies"]) {
            switch key {
            case "listen":
                let text = try member.string()
                guard let address = ListenAddress(text) else { throw member.error("expected HOST:PORT such as \"127.0.0.1:8788\", not '\(text)'") }
                admin.listen = address
            case "token": admin.token = try member.string()
            case "token_env": admin.tokenEnv = try member.string()
            case "session_ttl_s":
                let seconds = try member.seconds()
                guard seconds >= 1, seconds <= 30 * 86400 else { throw member.error("session_ttl_s is between 1 and 2592000 (30 days)") }
                admin.sessionTTLSeconds = seconds
            case "secure_cookies": admin.secureCookies = try member.bool()
            case "trusted_proxies": admin.trustedProxies = try member.sequence().map { (item) throws(ConfigError) in try item.string() }
            default: break
            }
        }
    }

    private static func parseSink(_ name: String, _ value: YAMLValue) throws(ConfigError) -> SinkSettings {
        let fields = [
            "type", "base_url", "api_key", "api_key_env", "path", "customer_id_system", "mode", "event_name", "timeout_s", "max_attempts",
            "initial_backoff_s", "max_backoff_s",
        ]
        let members = try value.mapping(allowed: fields)
        guard let typeValue = members.first(where: { $0.key == "type" })?.value else {
            throw value.error("sink '\(name)' needs a type: \(SinkSettings.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let typeName = try typeValue.string()
        guard let kind = SinkSettings.Kind(rawValue: typeName) else {
            throw typeValue.error("unknown sink type '\(typeName)': use \(SinkSettings.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var sink = SinkSettings(name: name, kind: kind)
        for (field, member) in members {
            switch field {
            case "base_url":
                let url = try member.string()
                guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw member.error("expected an http(s) URL, not '\(url)'") }
                sink.baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
            case "api_key": sink.apiKey = try member.string()
            case "api_key_env": sink.apiKeyEnv = try member.string()
            case "path": sink.path = try member.string()
            case "customer_id_system": sink.customerIDSystem = try member.string()
            case "mode":
                guard kind == .stripe, let mode = SinkSettings.StripeMode(rawValue: try member.string()) else {
                    throw member.error("mode is for Stripe sinks: invoice_items or meter_events")
                }
                sink.stripeMode = mode
            case "event_name": sink.eventName = try member.string()
            case "timeout_s": sink.timeoutSeconds = max(0.1, try member.seconds())
            case "max_attempts": sink.maxAttempts = try member.int(in: 1...1000)
            case "initial_backoff_s": sink.initialBackoffSeconds = max(0.01, try member.seconds())
            case "max_backoff_s": sink.maxBackoffSeconds = max(0.01, try member.seconds())
            default: break
            }
        }
        if kind == .stripe, sink.eventName.isEmpty || sink.eventName.count > 100 {
            throw value.error("sink '\(name)': Stripe's event_name is 1 to 100 characters")
        }
        if kind.isFile {
            guard sink.path != nil else { throw value.error("sink '\(name)' (\(typeName)) needs a path") }
        } else {
            guard sink.baseURL != nil else { throw value.error("sink '\(name)' (\(typeName)) needs a base_url") }
        }
        return sink
    }

    private static func parseCredits(_ value: YAMLValue, into credits: inout CreditSettings) throws(ConfigError) {
        for (key, member) in try value.mapping(allowed: ["default_max_output_tokens", "default_max_input_tokens", "prompt_bytes_per_token", "unit"]) {
            switch key {
            case "default_max_output_tokens": credits.defaultMaxOutputTokens = try member.int(in: 1...10_000_000)
            case "prompt_bytes_per_token": credits.promptBytesPerToken = try member.int(in: 1...16)
            case "default_max_input_tokens": credits.defaultMaxInputTokens = try member.int(in: 1...100_000_000)
            case "unit":
                for (field, part) in try member.mapping(allowed: ["name", "value"]) {
                    if field == "name" {
                        credits.unitName = try part.string()
                    } else {
                        guard let money = Money(try part.string()), money > .zero else { throw part.error("expected a positive decimal amount") }
                        credits.unitValue = money
                    }
                }
                guard credits.unitName != nil, credits.unitValue != nil else { throw member.error("a credit unit needs a name and a value") }
            default: break
            }
        }
    }

    private static func parseAlerts(_ value: YAMLValue, into alerts: inout AlertSettings) throws(ConfigError) {
        let keys = [
            "webhook_url", "secret", "secret_env", "thresholds", "max_backoff_s", "max_attempts", "low_balance", "negative_margin",
            "check_interval_s",
        ]
        for (key, member) in try value.mapping(allowed: keys) {
            switch key {
            case "webhook_url":
                let url = try member.string()
                guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw member.error("expected an http(s) URL") }
                alerts.webhookURL = url
            case "secret": alerts.secret = try member.string()
            case "secret_env": alerts.secretEnv = try member.string()
            case "thresholds":
                alerts.defaultThresholds = try member.sequence().map { (item) throws(ConfigError) in try item.int(in: 1...1000) }.sorted()
            case "max_backoff_s": alerts.maxBackoffSeconds = max(1, try member.seconds())
            case "max_attempts": alerts.maxAttempts = try member.int(in: 1...1000)
            case "low_balance":
                let text = try member.string().trimmingCharacters(in: .whitespaces)
                if text == "off" || text == "false" {
                    alerts.lowBalance = nil
                } else if text.hasSuffix("%"), let percent = Int(text.dropLast()), (1...100).contains(percent) {
                    alerts.lowBalance = .percent(percent)
                } else if let amount = Money(text), amount > .zero {
                    alerts.lowBalance = .amount(amount)
                } else {
                    throw member.error("low_balance is a percentage of the credits granted (\"10%\"), an amount (\"25.00\") or off")
                }
            case "negative_margin": alerts.negativeMargin = try member.bool()
            case "check_interval_s": alerts.checkIntervalSeconds = max(1, try member.seconds())
            default: break
            }
        }
    }

    private static func parseProxy(_ value: YAMLValue, into proxy: inout ProxySettings) throws(ConfigError) {
        let keys = [
            "max_request_body_bytes", "connect_timeout_s", "read_timeout_s", "disconnect_drain_s", "shutdown_grace_s",
            "max_request_body_bytes_by_route", "header_read_timeout_s", "idle_timeout_s", "max_connections", "max_concurrent_per_key",
            "max_concurrent_per_customer", "customer_concurrency", "max_meter_event_bytes", "max_meter_decoded_bytes",
        ]
        for (key, member) in try value.mapping(allowed: keys) {
            switch key {
            case "max_request_body_bytes_by_route":
                proxy.routeBodyLimits = []
                for (route, limit) in try member.mapping() {
                    let bytes = try limit.int(in: 1024...(1 << 34))
                    if route.hasPrefix("/") {
                        proxy.routeBodyLimits.append(RouteBodyLimit(route: .path(PathPattern(route)), bytes: bytes))
                    } else if let api = APIName(rawValue: route) {
                        proxy.routeBodyLimits.append(RouteBodyLimit(route: .api(api), bytes: bytes))
                    } else {
                        throw limit.error("'\(route)' is neither an API name (openai.transcriptions) nor a path (/v1/files)")
                    }
                }
            case "header_read_timeout_s": proxy.headerReadTimeoutSeconds = try member.seconds()
            case "idle_timeout_s": proxy.idleTimeoutSeconds = try member.seconds()
            case "max_connections": proxy.maxConnections = try member.int(in: 1...1_000_000)
            case "max_concurrent_per_key": proxy.maxConcurrentPerKey = try member.int(in: 1...1_000_000)
            case "max_concurrent_per_customer": proxy.maxConcurrentPerCustomer = try member.int(in: 1...1_000_000)
            case "customer_concurrency":
                for (customer, limit) in try member.mapping() { proxy.customerConcurrency[customer] = try limit.int(in: 1...1_000_000) }
            case "max_meter_event_bytes": proxy.maxMeterEventBytes = try member.int(in: 1024...(1 << 34))
            case "max_meter_decoded_bytes": proxy.maxMeterDecodedBytes = try member.int(in: 1024...(1 << 40))
            case "max_request_body_bytes": proxy.maxRequestBodyBytes = try member.int(in: 1024...(1 << 34))
            case "connect_timeout_s": proxy.connectTimeoutSeconds = try member.seconds()
            case "read_timeout_s": proxy.readTimeoutSeconds = try member.seconds()
            case "disconnect_drain_s": proxy.disconnectDrainSeconds = try member.seconds()
            case "shutdown_grace_s": proxy.shutdownGraceSeconds = try member.seconds()
            default: break
            }
        }
    }

    private static func parseIdempotency(_ value: YAMLValue, into settings: inout IdempotencySettings) throws(ConfigError) {
        for (key, member) in try value.mapping(allowed: ["window_s", "max_response_bytes", "in_flight_wait_s"]) {
            switch key {
            case "window_s": settings.windowSeconds = try member.seconds()
            case "max_response_bytes": settings.maxResponseBytes = try member.int(in: 0...(1 << 30))
            case "in_flight_wait_s": settings.inFlightWaitSeconds = try member.seconds()
            default: break
            }
        }
    }

    /// Combines a parsed config with provider definitions (by name) and the environment into the final config.
    ///
    /// With `providers:` in the config, exactly the providers listed are active. Without it, a bundled definition is
    /// active when its credentials are set (its `api_key_env` variable, or AWS credentials for SigV4); one that needs
    /// no authentication (`auth: none`: Ollama, vLLM, a local server) is never active unless listed. The others are
    /// kept in ``TollgateConfig/inactiveProviders``, and ``TollgateConfig/activation`` says why each is in its state.
    /// An entry reuses the definition of its own name, or the one named by `use:`; an entry with neither is an
    /// OpenAI-compatible server.
    public static func resolve(
        _ document: Document, definitions: [String: ProviderSpec], priceBooks: [String: PriceBook] = [:], environment: [String: String]
    ) throws(ConfigError) -> TollgateConfig {
        var config = document.config
        config.pricing.priceBooks = priceBooks
        try resolveSecrets(&config, document: document, environment: environment)
        try checkPricing(config.pricing, document: document)
        let listed = !document.providerEntries.isEmpty
        let entries =
            listed
            ? document.providerEntries
            : definitions.keys.sorted().map { (name: $0, spec: ProviderSpec(file: definitions[$0]!.file, line: definitions[$0]!.line)) }
        for (name, entry) in entries {
            let provider = try resolveProvider(name, entry: entry, definitions: definitions, config: config, environment: environment)
            let activation = listed ? .listed : bundledActivation(of: provider)
            config.activation[name] = activation
            if activation.isActive {
                config.providers[name] = provider
            } else {
                config.inactiveProviders[name] = provider
            }
        }
        for book in config.pricing.priceBooks.values.sorted(by: { $0.name < $1.name }) where book.versions.contains(where: { $0.markup != nil }) {
            // Inactive providers too: their catalogs price events as well (``TollgateConfig/pricingRules``).
            let all = config.providers.values.sorted(by: { $0.name < $1.name }) + config.inactiveProviders.values.sorted(by: { $0.name < $1.name })
            if let provider = all.first(where: { $0.prices.currency != book.currency }) {
                throw ConfigError(
                    file: document.file, line: document.pricingLines["default_price_book"],
                    message:
                        "price book '\(book.name)' is in \(book.currency) and marks up costs, but provider '\(provider.name)' prices in \(provider.prices.currency): give the book its own rates instead of a markup, or use \(provider.prices.currency)"
                )
            }
        }
        // An alias may name an inactive bundled provider: its requests are refused until the provider is activated.
        for (model, alias) in config.modelAliases where config.providers[alias.provider] == nil && config.inactiveProviders[alias.provider] == nil {
            throw ConfigError(
                file: document.file, line: document.aliasLines[model],
                message: "models.\(model): unknown provider '\(alias.provider)' (known: \(config.providers.keys.sorted().joined(separator: ", ")))")
        }
        return config
    }

    /// One provider entry on top of its definition, with its key from the environment.
    static func resolveProvider(
        _ name: String, entry: ProviderSpec, definitions: [String: ProviderSpec], config: TollgateConfig, environment: [String: String]
    ) throws(ConfigError) -> Provider {
        var spec = entry
        if let base = entry.use ?? (definitions[name] != nil ? name : nil) {
            guard let definition = resolvedDefinition(base, in: definitions) else {
                throw ConfigError(
                    file: entry.file, line: entry.line,
                    message: "providers.\(name): no provider definition named '\(base)' (known: \(definitions.keys.sorted().joined(separator: ", ")))"
                )
            }
            spec = definition.overridden(by: entry)
        }
        guard let baseURL = spec.baseURL else {
            throw ConfigError(
                file: entry.file, line: entry.line,
                message: "providers.\(name): base_url is required (the provider has no definition in providers/ to take it from)")
        }
        // Keys read from files and secrets often end in a newline: trim, and refuse anything else that would
        // make an invalid header (an HTTP client would then quote the whole key in its error).
        let apiKey = (spec.apiKey ?? spec.apiKeyEnv.flatMap { environment[$0] })?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let apiKey, hasControlCharacters(apiKey) {
            throw ConfigError(file: entry.file, line: entry.line, message: "providers.\(name): the API key contains control characters")
        }
        let family = spec.wireFormat ?? WireFamilies.default
        return Provider(
            name: name, baseURL: baseURL, auth: spec.auth ?? .bearer, apiKey: apiKey?.isEmpty == true ? nil : apiKey, apiKeyEnv: spec.apiKeyEnv,
            acceptsStreamUsageOption: spec.streamOptions ?? true, routes: spec.routes ?? family.defaultRoutes,
            prices: spec.catalog(currency: config.pricing.currency), family: family,
            nativePaths: (spec.nativePaths ?? []).map(PathPattern.init), streamUsageSinceAPIVersion: spec.streamOptionsSinceAPIVersion,
            deployments: spec.deployments ?? [:], aws: try awsCredentials(spec, name: name, environment: environment),
            allowedPassThrough: spec.passThrough ?? [],
            headers: HeaderRules(
                family: family, forward: spec.forwardHeaders ?? [], return: spec.returnHeaders ?? [],
                rateLimitHeaders: spec.rateLimitHeaders ?? .drop),
            genAIProvider: spec.genAIProvider
        )
    }

    /// Whether a bundled definition is active in a config that lists no providers: when its credentials are set,
    /// never when it needs none.
    static func bundledActivation(of provider: Provider) -> ProviderActivation {
        let variable = provider.apiKeyEnv ?? "api_key"
        switch provider.auth {
        case .none: return .unauthenticated
        case .sigv4:
            if let aws = provider.aws { return .credentials("AWS credentials set (SigV4 in \(aws.region))") }
            if provider.apiKey != nil { return .credentials(provider.apiKeyEnv.map { "\($0) set" } ?? "key in its definition") }
            return .missingCredentials("AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (or \(variable))")
        default:
            if provider.apiKey != nil { return .credentials(provider.apiKeyEnv.map { "\($0) set" } ?? "key in its definition") }
            return .missingCredentials(variable)
        }
    }

    /// The admin token and the alert signing secret, from the environment when the config names a variable; an admin
    /// listener without a strong enough token is refused.
    static func resolveSecrets(_ config: inout TollgateConfig, document: Document, environment: [String: String]) throws(ConfigError) {
        func variable(_ name: String?) -> String? {
            let value = name.flatMap { environment[$0] }?.trimmingCharacters(in: .whitespacesAndNewlines)
            return value?.isEmpty == false ? value : nil
        }
        if config.admin.token == nil { config.admin.token = variable(config.admin.tokenEnv) }
        if let name = config.meter.passwordEnv {
            guard let password = variable(name) else {
                throw ConfigError(file: document.file, line: nil, message: "meter.password_env names \(name), which is unset")
            }
            config.meter.password = password
        }
        if config.alerts.secret == nil { config.alerts.secret = variable(config.alerts.secretEnv) }
        for (name, sink) in config.sinks where sink.apiKey == nil {
            config.sinks[name]?.apiKey = variable(sink.apiKeyEnv)
        }
        for name in config.export.sinks ?? [] where config.sinks[name] == nil {
            throw ConfigError(
                file: document.file, line: nil,
                message: "export.sinks names '\(name)', which is not under sinks: (\(config.sinks.keys.sorted().joined(separator: ", ")))")
        }
        if config.admin.listen != nil, (config.admin.token ?? "").count < 16 {
            throw ConfigError(
                file: document.file, line: nil,
                message:
                    "admin: the admin listener needs a token of at least 16 characters (admin.token, or admin.token_env naming a set variable\(config.admin.tokenEnv.map { " — \($0) is unset" } ?? ""))"
            )
        }
    }

    /// A definition, on top of the one it names in `use:` (Azure's on OpenAI's prices), one level deep.
    static func resolvedDefinition(_ name: String, in definitions: [String: ProviderSpec]) -> ProviderSpec? {
        guard let spec = definitions[name] else { return nil }
        guard let base = spec.use, base != name, let parent = definitions[base] else { return spec }
        return parent.overridden(by: spec)
    }

    /// The SigV4 credentials of an `auth: sigv4` provider: the entry's own, else AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION (or AWS_DEFAULT_REGION); `nil` when there are none
    /// (then a Bedrock API key, sent as a bearer token, is needed).
    /// Whether `text` holds a control character (below 0x20, or DEL): such a value would break the header or request
    /// line it goes out in.
    static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    static func awsCredentials(_ spec: ProviderSpec, name: String, environment: [String: String]) throws(ConfigError) -> AWSCredentials? {
        guard spec.auth == .sigv4 else { return nil }
        func value(_ own: String?, _ variable: String) -> String? {
            let text = (own ?? environment[variable])?.trimmingCharacters(in: .whitespacesAndNewlines)
            return text?.isEmpty == false ? text : nil
        }
        let keyID = value(spec.awsAccessKeyID, "AWS_ACCESS_KEY_ID")
        let secret = value(spec.awsSecretAccessKey, "AWS_SECRET_ACCESS_KEY")
        let sessionToken = value(spec.awsSessionToken, "AWS_SESSION_TOKEN")
        // They go out in signed headers (the key id and region in `Authorization`, the token in `x-amz-security-token`).
        func refuseControlCharacters(_ values: String?...) throws(ConfigError) {
            for value in values.compactMap({ $0 }) where hasControlCharacters(value) {
                throw ConfigError(
                    file: spec.file, line: spec.line, message: "providers.\(name): an AWS credential or region contains control characters")
            }
        }
        try refuseControlCharacters(keyID, secret, sessionToken)
        guard let keyID, let secret else {
            if keyID != nil || secret != nil {
                throw ConfigError(
                    file: spec.file, line: spec.line,
                    message: "providers.\(name): an AWS access key id needs its secret access key, and the other way round")
            }
            return nil
        }
        guard let region = value(spec.region, "AWS_REGION") ?? value(nil, "AWS_DEFAULT_REGION") else {
            throw ConfigError(file: spec.file, line: spec.line, message: "providers.\(name): SigV4 signing needs a region (region: or AWS_REGION)")
        }
        try refuseControlCharacters(region)
        return AWSCredentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: sessionToken, region: region)
    }

    /// Every price book named exists, and every held version is one of its book's versions.
    static func checkPricing(_ pricing: PricingSettings, document: Document) throws(ConfigError) {
        let known = pricing.priceBooks.keys.sorted().joined(separator: ", ")
        func missing(_ name: String, _ key: String) -> ConfigError {
            ConfigError(
                file: document.file, line: document.pricingLines[key],
                message: "pricing.\(key): no price book named '\(name)' (known: \(known.isEmpty ? "none; put books in price-books/" : known))")
        }
        if let name = pricing.defaultPriceBook, pricing.priceBooks[name] == nil { throw missing(name, "default_price_book") }
        for (customer, terms) in pricing.customers.sorted(by: { $0.key < $1.key }) {
            for change in terms.planChanges where pricing.priceBooks[change.priceBook] == nil {
                throw missing(change.priceBook, "customers.\(customer)")
            }
            guard let name = terms.priceBook ?? pricing.defaultPriceBook else {
                if terms.hold != nil {
                    throw ConfigError(
                        file: document.file, line: document.pricingLines["customers.\(customer).hold"],
                        message: "pricing.customers.\(customer).hold: the customer has no price book to hold a version of")
                }
                continue
            }
            guard let book = pricing.priceBooks[name] else { throw missing(name, "customers.\(customer)") }
            if let hold = terms.hold, book.version(effectiveAt: hold.versionEffectiveMs) == nil {
                let versions = book.versions.map { $0.effectiveMs == .min ? "(initial)" : Timestamps.iso8601($0.effectiveMs) }
                throw ConfigError(
                    file: document.file, line: document.pricingLines["customers.\(customer).hold"],
                    message:
                        "pricing.customers.\(customer).hold.version: price book '\(name)' has no version effective at \(Timestamps.iso8601(hold.versionEffectiveMs)) (versions: \(versions.joined(separator: ", ")))"
                )
            }
        }
    }
}
