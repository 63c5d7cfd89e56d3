import Testing

@testable import TollgateCore

/// The config file that the config tests parse, as named in errors.
private let configFile = "config/tollgate.yaml"

/// Provider definitions as providers/*.yaml would hold them: one with literal routes, prices and a key variable,
/// one with its own auth scheme, currency and no routes.
private let definitionTexts = [
    "openai": """
    base_url: https://api.openai.com
    auth: bearer
    api_key_env: OPENAI_API_KEY
    routes:
      - {path: /v1/chat/completions, api: openai.chat}
      - {path: /v1/embeddings, api: openai.embeddings}
    prices:
      gpt-4o: {input: "2.50", cache_read: "1.25", output: "10.00"}
      gpt-4o-mini: {input: "0.15", output: "0.60"}
    """,
    "acme": """
    base_url: https://api.acme.example/
    auth: header:X-Acme-Key
    api_key_env: ACME_KEY
    stream_options: false
    currency: EUR
    prices:
      acme-small: {input: "0.1", output: "0.3"}
    """,
]

/// Parses a config text and resolves it against the definitions above.
private func resolve(
    _ yaml: String, environment: [String: String] = [:], priceBooks: [String: PriceBook] = [:]
) throws(ConfigError) -> TollgateConfig {
    let document = try ConfigLoader.parse(yaml: yaml, file: configFile)
    var definitions: [String: ProviderSpec] = [:]
    for (name, text) in definitionTexts { definitions[name] = try ProviderSpec.parse(yaml: text, file: "providers/\(name).yaml") }
    return try ConfigLoader.resolve(document, definitions: definitions, priceBooks: priceBooks, environment: environment)
}

/// A broken config file refused by `ConfigLoader.parse`: the error names the file and the line at fault, and says
/// what is wrong in terms of what was written.
@Suite("Config errors")
struct ConfigErrorTests {
    /// A config text, the 1-based line the complaint must name, and text the message must contain.
    struct Broken: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let yaml: String
        let line: Int
        let mentions: String
    }

    static let broken: [Broken] = [
        Broken(
            testDescription: "invalid YAML",
            yaml: """
                listen: "127.0.0.1:8787"
                log_level: info
                meter: path: tollgate.db
                """, line: 3, mentions: "not valid YAML"),
        Broken(
            testDescription: "unknown top-level key 'lisen'",
            yaml: """
                # Tollgate
                lisen: "127.0.0.1:8787"
                """, line: 2, mentions: "unknown key 'lisen'"),
        Broken(
            testDescription: "listen without a port",
            yaml: """
                log_level: info
                listen: localhost
                """, line: 2, mentions: "'localhost'"),
        Broken(testDescription: "listen port out of range", yaml: #"listen: "127.0.0.1:99999""#, line: 1, mentions: "127.0.0.1:99999"),
        Broken(testDescription: "log format unknown", yaml: "log:\n  format: xml\n", line: 2, mentions: "text or json"),
        Broken(testDescription: "log level unknown", yaml: "log: {level: loud}\n", line: 1, mentions: "critical"),
        Broken(testDescription: "metrics listen not HOST:PORT", yaml: "metrics:\n  listen: nine\n", line: 2, mentions: "'nine'"),
        Broken(testDescription: "tracing endpoint not a URL", yaml: "tracing:\n  endpoint: collector:4318\n", line: 2, mentions: "http://"),
        Broken(testDescription: "tracing protocol gRPC", yaml: "tracing: {protocol: grpc}\n", line: 1, mentions: "http/protobuf"),
        Broken(testDescription: "tracing sample ratio above 1", yaml: "tracing:\n  sample_ratio: 2\n", line: 2, mentions: "0 to 1"),
        Broken(
            testDescription: "relaxed_window_ms, never applied, is refused with the fix",
            yaml: """
                meter:
                  durability: relaxed
                  relaxed_window_ms: 200
                """, line: 3, mentions: "remove the key"),
        Broken(
            testDescription: "unknown durability",
            yaml: """
                meter:
                  path: tollgate.db
                  durability: sometimes
                """, line: 3, mentions: "'sometimes'"),
        Broken(
            testDescription: "price in words",
            yaml: """
                providers:
                  local:
                    base_url: http://127.0.0.1:11434
                    prices:
                      llama3: {input: "cheap", output: "0.10"}
                """, line: 5, mentions: "'cheap'"),
        Broken(
            testDescription: "price with an exponent",
            yaml: """
                providers:
                  local:
                    base_url: http://127.0.0.1:11434
                    prices:
                      llama3:
                        input: "0.10"
                        output: 1e-6
                """, line: 7, mentions: "'1e-6'"),
        Broken(
            testDescription: "unknown api in a route",
            yaml: """
                providers:
                  local:
                    base_url: http://127.0.0.1:11434
                    routes:
                      - path: /api/chat
                        api: foo.chat
                """, line: 6, mentions: "'foo.chat'"),
        Broken(
            testDescription: "unknown sink type",
            yaml: """
                sinks:
                  billing:
                    type: chargebee
                """, line: 3, mentions: "unknown sink type 'chargebee'"),
        Broken(
            testDescription: "API sink without base_url",
            yaml: """
                sinks:
                  billing: {type: stripe, api_key: sk}
                """, line: 2, mentions: "needs a base_url"),
        Broken(
            testDescription: "file sink without path",
            yaml: """
                sinks:
                  files: {type: focus}
                """, line: 2, mentions: "needs a path"),
        Broken(
            testDescription: "Stripe mode on another sink",
            yaml: """
                sinks:
                  lago:
                    type: lago
                    base_url: https://api.getlago.com
                    mode: meter_events
                """, line: 5, mentions: "mode is for Stripe sinks"),
    ]

    @Test("sinks and continuous export parse with their defaults; export.sinks must name configured sinks")
    func sinks() throws {
        let document = try ConfigLoader.parse(
            yaml: """
                sinks:
                  stripe: {type: stripe, base_url: "http://127.0.0.1:9/", api_key_env: STRIPE_KEY, mode: meter_events, event_name: tokens}
                  files: {type: jsonl, path: "out/{period}.jsonl", max_attempts: 3, initial_backoff_s: 0.5}
                export: {interval_s: 60, sinks: [files]}
                """, file: configFile)
        let stripe = try #require(document.config.sinks["stripe"])
        #expect(stripe.kind == .stripe && stripe.baseURL == "http://127.0.0.1:9" && stripe.stripeMode == .meterEvents)
        #expect(stripe.eventName == "tokens" && stripe.apiKeyEnv == "STRIPE_KEY" && stripe.idSystem == "stripe" && stripe.maxAttempts == 8)
        let files = try #require(document.config.sinks["files"])
        #expect(files.kind == .jsonl && files.kind.isFile && files.maxAttempts == 3 && files.initialBackoffSeconds == 0.5)
        #expect(document.config.export.intervalSeconds == 60 && document.config.export.sinks == ["files"])
        var config = document.config
        try ConfigLoader.resolveSecrets(&config, document: document, environment: ["STRIPE_KEY": "sk_test_1"])
        #expect(config.sinks["stripe"]?.apiKey == "sk_test_1")
        let unknown = try ConfigLoader.parse(yaml: "export: {sinks: [nope]}", file: configFile)
        var unknownConfig = unknown.config
        let error = try #require(throws: ConfigError.self) {
            try ConfigLoader.resolveSecrets(&unknownConfig, document: unknown, environment: [:])
        }
        #expect(error.message.contains("'nope'"))
    }

    @Test("a customer entry may carry its ids in billing systems")
    func customerExternalIDs() throws {
        let document = try ConfigLoader.parse(
            yaml: """
                pricing:
                  customers:
                    acme: {markup: "1.1", external_ids: {stripe: cus_123, lago: sub_acme}}
                """, file: configFile)
        #expect(document.config.pricing.customers["acme"]?.externalIDs == ["stripe": "cus_123", "lago": "sub_acme"])
    }

    @Test("billing cycles: the default, a customer's, a price book's; a bad one is refused at its line")
    func billingCycles() throws {
        let document = try ConfigLoader.parse(
            yaml: """
                pricing:
                  billing_cycle: {cadence: month, anchor: 15, time_zone: America/New_York}
                  customers:
                    acme: {billing_cycle: {cadence: year, anchor: "03-01", time: "09:30", time_zone: Europe/Paris}}
                    globex: {billing_cycle: week}
                """, file: configFile)
        let pricing = document.config.pricing
        #expect(pricing.billingCycle == (try BillingCycle(cadence: "month", anchor: "15", timeZone: "America/New_York")))
        #expect(pricing.customers["acme"]?.billingCycle?.description == "yearly from March 1 at 09:30 Europe/Paris")
        #expect(pricing.customers["globex"]?.billingCycle == (try BillingCycle(cadence: "week")))
        let book = try PriceBookFile.parse(
            yaml: "billing_cycle: {cadence: month, anchor: 1, time_zone: Asia/Tokyo}\nmarkup: \"1.2\"\n", file: "tokyo.yaml", name: "tokyo")
        #expect(book.billingCycle?.timeZone == "Asia/Tokyo")
        for (yaml, mentions) in [
            ("pricing:\n  billing_cycle: {cadence: month, anchor: 32}\n", "1 to 31"),
            ("pricing:\n  billing_cycle: {cadence: month, time_zone: Moon/Base}\n", "unknown time zone 'Moon/Base'"),
            ("pricing:\n  billing_cycle: {anchor: 3}\n", "needs 'cadence'"),
            ("pricing:\n  billing_cycle: {cadence: month, day: 3}\n", "day"),
        ] {
            let error = try #require(throws: ConfigError.self) { try ConfigLoader.parse(yaml: yaml, file: configFile) }
            #expect(error.line == 2 && error.message.contains(mentions), "\(error)")
        }
    }

    @Test("alerts: low balance as a share or an amount (10 % by default, or off), negative margins on by default")
    func watchAlerts() throws {
        #expect(AlertSettings().lowBalance == .percent(10) && AlertSettings().negativeMargin)
        func alerts(_ text: String) throws(ConfigError) -> AlertSettings {
            try ConfigLoader.parse(yaml: "alerts: \(text)\n", file: configFile).config.alerts
        }
        #expect(try alerts("{low_balance: \"25%\"}").lowBalance == .percent(25))
        #expect(
            try alerts("{low_balance: \"12.50\", negative_margin: false, check_interval_s: 5}")
                == {
                    var expected = AlertSettings()
                    expected.lowBalance = .amount(Money("12.50")!)
                    expected.negativeMargin = false
                    expected.checkIntervalSeconds = 5
                    return expected
                }())
        #expect(try alerts("{low_balance: off}").lowBalance == nil)
        for bad in ["{low_balance: \"150%\"}", "{low_balance: cheap}", "{low_balance: \"-3\"}"] {
            let error = try #require(throws: ConfigError.self) { try alerts(bad) }
            #expect(error.message.contains("low_balance"), "\(bad)")
        }
    }

    @Test("no description of the config or its parts spells out a secret")
    func descriptionsHideSecrets() throws {
        var config = try resolve(
            """
            providers:
              acme: {api_key: sk-acme-SECRET-1}
            admin: {listen: "127.0.0.1:8788", token: admin-SECRET-token-2}
            alerts: {webhook_url: "https://hooks.example/SECRET-3", secret: whsec-SECRET-4}
            sinks:
              stripe: {type: stripe, base_url: "https://api.stripe.com", api_key: sk_live_SECRET-5}
            tracing: {endpoint: "http://collector:4318", headers: {x-api-key: otel-SECRET-6}}
            """)
        config.providers["acme"]?.aws = AWSCredentials(accessKeyID: "AKIA-SECRET-7", secretAccessKey: "aws-SECRET-8", region: "us-east-1")
        struct Holder { let config: TollgateConfig; let provider: Provider?; let sinks: [String: SinkSettings] }
        let holder = Holder(config: config, provider: config.providers["acme"], sinks: config.sinks)
        for text in [
            "\(holder)", String(reflecting: holder), "\(config.providers)", "\(config.admin)", "\(config.alerts)", "\(config.sinks)",
            "\(config.tracing)",
        ] {
            #expect(!text.contains("SECRET"), "\(text)")
        }
        #expect("\(config.providers["acme"]!)".contains("secrets: redacted"))
    }

    @Test("log, metrics and tracing settings")
    func telemetry() throws {
        let document = try ConfigLoader.parse(
            yaml: """
                log: {level: debug, format: json, requests: true}
                metrics: {listen: "127.0.0.1:9464", customer_label: true, max_customers: 20}
                tracing:
                  endpoint: http://127.0.0.1:4318
                  protocol: http/json
                  service_name: gateway
                  sample_ratio: 0.25
                  headers: {x-api-key: secret}
                """, file: configFile)
        let config = document.config
        #expect(config.log.level == "debug" && config.log.format == .json && config.log.requests)
        #expect(config.metrics.listen == ListenAddress(host: "127.0.0.1", port: 9464))
        #expect(config.metrics.enabled && config.metrics.customerLabel && config.metrics.maxCustomers == 20)
        #expect(config.tracing.endpoint == "http://127.0.0.1:4318" && config.tracing.wireProtocol == .json)
        #expect(config.tracing.serviceName == "gateway" && config.tracing.sampleRatio == 0.25 && config.tracing.headers == ["x-api-key": "secret"])
        #expect(config.tracing.enabled(environment: [:]))
        #expect(!TracingSettings().enabled(environment: [:]))
        #expect(TracingSettings().enabled(environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"]))
        let defaults = TollgateConfig()
        #expect(defaults.log.format == .text && !defaults.log.requests && defaults.metrics.enabled && defaults.metrics.listen == nil)
    }

    @Test("the error names file and line", arguments: broken)
    func namesFileAndLine(_ broken: Broken) throws {
        let error = try #require(throws: ConfigError.self) { try ConfigLoader.parse(yaml: broken.yaml, file: configFile) }
        #expect(error.file == configFile)
        #expect(error.line == broken.line, "\(error)")
        #expect(error.message.contains(broken.mentions), "\(error)")
        #expect(error.description.hasPrefix("\(configFile):\(broken.line): "))
    }

    @Test(
        "a provider entry with no base_url and no definition names file and line of the entry",
        arguments: [
            "providers:\n  local:\n    auth: none\n", "providers:\n  local: {auth: none}\n",
        ])
    func missingBaseURL(_ yaml: String) throws {
        let error = try #require(throws: ConfigError.self) { try resolve(yaml) }
        #expect(error.file == configFile)
        #expect(error.message.contains("providers.local") && error.message.contains("base_url"), "\(error)")
        #expect(error.description.contains("\(configFile):\(yaml.contains("{") ? 2 : 3)"), "\(error)")
    }

    @Test("an error in a provider file names that file and line")
    func providerFileError() throws {
        let error = try #require(throws: ConfigError.self) {
            try ProviderSpec.parse(yaml: "auth: bearer\nbase_url: ftp://files.example\n", file: "providers/ftp.yaml")
        }
        #expect(error.file == "providers/ftp.yaml")
        #expect(error.line == 2)
    }
}

/// `ConfigLoader.resolve`: config entries combined with provider definitions and the environment into providers.
@Suite("Config resolution")
struct ConfigResolutionTests {
    @Test("a provider is a value: copies share their fields until one changes, and a change leaves the others as they were")
    func providerCopiesAreIndependent() {
        let original = Provider(name: "ex", baseURL: "https://api.example", apiKey: "sk-1", deployments: ["d": "m"])
        var changed = original
        changed.apiKey = "sk-2"
        changed.deployments["e"] = "n"
        changed.headers = HeaderRules(family: WireFamily.named("anthropic")!)
        #expect(original.apiKey == "sk-1" && original.deployments == ["d": "m"] && original.headers == HeaderRules(family: WireFamilies.default))
        #expect(changed.apiKey == "sk-2" && changed.deployments == ["d": "m", "e": "n"] && changed.name == "ex")
        var alone = Provider(name: "solo", baseURL: "https://solo.example")
        alone.baseURL = "https://other.example"
        #expect(alone.baseURL == "https://other.example" && alone.host == "other.example")
    }

    @Test("a model an entry prices itself keeps its price after the definition's later price versions")
    func entryPriceOutlivesDefinitionVersions() throws {
        let definition = try ProviderSpec.parse(
            yaml: """
                base_url: https://api.example
                prices:
                  a: {input: "1", output: "1"}
                  b: {input: "1", output: "1"}
                price_versions:
                  - effective: 2027-01-01
                    prices:
                      a: {input: "2", output: "2"}
                      b: {input: "2", output: "2"}
                """, file: "providers/ex.yaml")
        let document = try ConfigLoader.parse(yaml: "providers:\n  ex:\n    prices:\n      a: {input: \"5\", output: \"5\"}\n", file: "c.yaml")
        let config = try ConfigLoader.resolve(document, definitions: ["ex": definition], environment: [:])
        let catalog = try #require(config.providers["ex"]).prices
        let later = Timestamps.parse("2027-06-01")!
        #expect(catalog.price(for: "a", at: later)?.price.rates[.input] == Money.perMillionTokens("5"))
        #expect(catalog.price(for: "b", at: later)?.price.rates[.input] == Money.perMillionTokens("2"))
    }

    @Test("an entry named like a definition overrides base_url and keeps the rest, prices included")
    func sameNameOverride() throws {
        let definition = try resolve("", environment: ["OPENAI_API_KEY": "sk-0"]).providers["openai"]
        let config = try resolve("providers:\n  openai:\n    base_url: http://127.0.0.1:9000/\n", environment: ["OPENAI_API_KEY": "sk-1"])
        #expect(config.providers.keys.sorted() == ["openai"])
        let openAI = try #require(config.providers["openai"])
        #expect(openAI.baseURL == "http://127.0.0.1:9000")
        #expect(openAI.prices == definition?.prices)
        #expect(
            openAI.prices.latest.models["gpt-4o"]
                == ModelPrice(
                    input: try perMillionRate("2.50"), output: try perMillionRate("10"),
                    cacheRead: try perMillionRate("1.25")))
        #expect(openAI.routes == definition?.routes)
        #expect(openAI.apiKey == "sk-1")
    }

    @Test("an entry's prices are added to the definition's, replacing those it names")
    func priceMerge() throws {
        let config = try resolve(
            """
            providers:
              openai:
                prices:
                  gpt-4o: {input: "2.00", output: "8.00"}
                  my-fine-tune: {input: "3.00", output: "12.00"}
            """)
        let prices = try #require(config.providers["openai"]).prices.latest.models
        #expect(prices.keys.sorted() == ["gpt-4o", "gpt-4o-mini", "my-fine-tune"])
        #expect(prices["gpt-4o"] == ModelPrice(input: try perMillionRate("2"), output: try perMillionRate("8")))
    }

    @Test("use: builds a new provider on a definition")
    func use() throws {
        let config = try resolve(
            """
            providers:
              openai-eu:
                use: openai
                base_url: https://eu.api.openai.com
                api_key_env: OPENAI_EU_KEY
            """, environment: ["OPENAI_API_KEY": "sk-us", "OPENAI_EU_KEY": "sk-eu"])
        #expect(config.providers.keys.sorted() == ["openai-eu"], "listing providers activates only those listed")
        let europe = try #require(config.providers["openai-eu"])
        #expect(europe.name == "openai-eu")
        #expect(europe.baseURL == "https://eu.api.openai.com")
        #expect(europe.apiKey == "sk-eu")
        #expect(europe.api(forPath: "/v1/embeddings") == .openAIEmbeddings)
        #expect(europe.prices.latest.models.keys.sorted() == ["gpt-4o", "gpt-4o-mini"])
    }

    @Test("use: of an unknown definition is refused")
    func useUnknown() throws {
        let error = try #require(throws: ConfigError.self) { try resolve("providers:\n  mine:\n    use: anthropic\n") }
        #expect(error.message.contains("providers.mine") && error.message.contains("'anthropic'"), "\(error)")
    }

    @Test("an entry with only a base_url is an OpenAI-compatible server")
    func openAICompatible() throws {
        let config = try resolve(
            """
            pricing: {currency: GBP}
            providers:
              groq:
                base_url: https://api.groq.com/openai
                api_key_env: GROQ_API_KEY
            """, environment: ["GROQ_API_KEY": "gsk-1"])
        let groq = try #require(config.providers["groq"])
        #expect(groq.routes == RouteRule.openAICompatible)
        #expect(groq.auth == .bearer)
        #expect(groq.acceptsStreamUsageOption)
        #expect(groq.apiKey == "gsk-1")
        #expect(groq.prices == PriceCatalog(models: [:], currency: "GBP"))
        #expect(groq.prices.currency == "GBP", "a provider without its own currency takes pricing.currency")
    }

    @Test(
        "api_key_env is read from the environment given; empty counts as unset; api_key wins",
        arguments: [
            (yaml: "api_key_env: ACME_KEY", environment: ["ACME_KEY": "k-env"], key: "k-env"),
            (yaml: "api_key_env: ACME_KEY", environment: [:], key: nil),
            (yaml: "api_key_env: ACME_KEY", environment: ["ACME_KEY": ""], key: nil),
            (yaml: "api_key_env: OTHER_KEY", environment: ["ACME_KEY": "k-env", "OTHER_KEY": "k-other"], key: "k-other"),
            (yaml: "api_key: k-literal", environment: ["ACME_KEY": "k-env"], key: "k-literal"),
        ] as [(yaml: String, environment: [String: String], key: String?)])
    func apiKey(_ row: (yaml: String, environment: [String: String], key: String?)) throws {
        let config = try resolve("providers:\n  acme:\n    \(row.yaml)\n", environment: row.environment)
        #expect(try #require(config.providers["acme"]).apiKey == row.key)
    }

    @Test("with no providers in the config every definition whose key is set is active, as defined")
    func allDefinitions() throws {
        let config = try resolve("log_level: debug\n", environment: ["OPENAI_API_KEY": "sk-1", "ACME_KEY": "k-1"])
        #expect(config.providers.keys.sorted() == ["acme", "openai"])
        let acme = try #require(config.providers["acme"])
        #expect(acme.baseURL == "https://api.acme.example")
        #expect(acme.auth == .header("x-acme-key"))
        #expect(acme.apiKey == "k-1")
        #expect(!acme.acceptsStreamUsageOption)
        #expect(acme.routes == RouteRule.openAICompatible)
        #expect(acme.prices.currency == "EUR")
        #expect(config.providers["openai"]?.apiKey == "sk-1")
    }

    @Test("a model alias to an unknown provider is refused; to a known one it is kept")
    func aliases() throws {
        let error = try #require(throws: ConfigError.self) { try resolve("models:\n  fast: {provider: groq}\n") }
        #expect(error.message.contains("models.fast") && error.message.contains("'groq'"), "\(error)")
        let config = try resolve("models:\n  fast: {provider: acme, model: acme-small}\n")
        #expect(config.modelAliases["fast"] == ModelAlias(provider: "acme", model: "acme-small"))
        // acme's key is not set: it is inactive, and the alias is kept (its requests get a 404 saying so).
        #expect(config.providers["acme"] == nil && config.inactiveProviders["acme"] != nil)
    }

    @Test("without providers:, a definition without its key is inactive, with the variable to set; with providers:, listed ones only")
    func activation() throws {
        let none = try resolve("log_level: info\n")
        #expect(none.providers.isEmpty)
        #expect(none.activation == ["openai": .missingCredentials("OPENAI_API_KEY"), "acme": .missingCredentials("ACME_KEY")])
        #expect(none.activation["openai"]?.hint(for: "openai").contains("set OPENAI_API_KEY") == true)
        let listed = try resolve("providers:\n  acme:\n")
        #expect(listed.providers.keys.sorted() == ["acme"] && listed.activation == ["acme": .listed] && listed.inactiveProviders.isEmpty)
    }

    @Test("admin: the dashboard session's lifetime, Secure flag and trusted proxies")
    func adminSessions() throws {
        let defaults = try resolve("log_level: info\n").admin
        #expect(defaults.sessionTTLSeconds == 43200 && !defaults.secureCookies && defaults.trustedProxies.isEmpty)
        let admin = try resolve(
            "admin: {listen: \"127.0.0.1:8788\", token: \"0123456789abcdef\", session_ttl_s: 3600, secure_cookies: true, trusted_proxies: [10.0.0.2, \"::1\"]}\n"
        ).admin
        #expect(admin.sessionTTLSeconds == 3600 && admin.secureCookies && admin.trustedProxies == ["10.0.0.2", "::1"])
        let error = try #require(throws: ConfigError.self) { try resolve("admin: {session_ttl_s: 0}\n") }
        #expect(error.message.contains("session_ttl_s"), "\(error)")
    }

    @Test("every setting of a full config is read")
    func fullConfig() throws {
        let config = try resolve(
            """
            listen: "[::1]:9090"
            meter: {path: /var/lib/tollgate/meter.db, durability: relaxed, max_batch: 64}
            default_provider: acme
            pricing: {markup: "1.25", currency: EUR}
            proxy: {max_request_body_bytes: 2048, connect_timeout_s: 2.5, read_timeout_s: 60}
            log_level: debug
            """)
        #expect(config.listen == ListenAddress(host: "::1", port: 9090))
        #expect(config.meter.path == "/var/lib/tollgate/meter.db")
        #expect(config.meter.durability == .relaxed)
        #expect(config.meter.maxBatch == 64)
        #expect(config.defaultProvider == "acme")
        #expect(config.pricing.markup == DecimalRatio("1.25"))
        #expect(config.proxy.maxRequestBodyBytes == 2048)
        #expect(config.proxy.connectTimeoutSeconds == 2.5 && config.proxy.readTimeoutSeconds == 60)
        #expect(config.log.level == "debug")
    }

    @Test("resource bounds and header rules are read; each has its documented default")
    func boundsAndHeaders() throws {
        let defaults = try resolve("log_level: info\n")
        #expect(defaults.proxy.headerReadTimeoutSeconds == 10 && defaults.proxy.idleTimeoutSeconds == 60)
        #expect(defaults.proxy.maxConnections == 16_384)
        #expect(defaults.proxy.maxConcurrentPerKey == 128 && defaults.proxy.maxConcurrentPerCustomer == 256)
        #expect(defaults.proxy.maxMeterEventBytes == 16 << 20 && defaults.proxy.maxMeterDecodedBytes == 256 << 20)
        #expect(defaults.proxy.maxRequestBodyBytes(path: "/v1/audio/transcriptions", api: .openAITranscriptions) == 32 << 20)
        let config = try resolve(
            """
            proxy:
              header_read_timeout_s: 5
              idle_timeout_s: 30
              max_connections: 20000
              max_concurrent_per_key: 4
              max_concurrent_per_customer: 8
              customer_concurrency: {acme: 2}
              max_meter_event_bytes: 65536
              max_meter_decoded_bytes: 1048576
              max_request_body_bytes: 1048576
              max_request_body_bytes_by_route: {openai.transcriptions: 67108864, /v1/files: 134217728, openai.chat: 65536}
            providers:
              acme:
                forward_headers: [OpenAI-Organization, x-trace-*]
                return_headers: [x-acme-region]
                ratelimit_headers: pass
            """)
        #expect(config.proxy.headerReadTimeoutSeconds == 5 && config.proxy.idleTimeoutSeconds == 30)
        #expect(config.proxy.maxConnections == 20000)
        #expect(config.proxy.concurrencyLimit(customer: "acme") == 2 && config.proxy.concurrencyLimit(customer: "other") == 8)
        #expect(config.proxy.maxMeterEventBytes == 65536 && config.proxy.maxMeterDecodedBytes == 1 << 20)
        #expect(config.proxy.maxRequestBodyBytes(path: "/v1/audio/transcriptions", api: .openAITranscriptions) == 64 << 20)
        #expect(config.proxy.maxRequestBodyBytes(path: "/v1/files", api: nil) == 128 << 20)
        #expect(config.proxy.maxRequestBodyBytes(path: "/v1/chat/completions", api: .openAIChat) == 65536)
        #expect(config.proxy.maxRequestBodyBytes(path: "/v1/embeddings", api: .openAIEmbeddings) == 1 << 20)
        let rules = try #require(config.providers["acme"]).headers
        #expect(rules.forwards("openai-organization") && rules.forwards("x-trace-id") && !rules.forwards("openai-project"))
        #expect(rules.returns("x-acme-region") && rules.returns("x-ratelimit-remaining-tokens") && !rules.returns("openai-organization"))
        #expect(rules.rateLimitHeaders == .pass)
        #expect(throws: ConfigError.self) { try resolve("providers:\n  acme: {ratelimit_headers: customer}\n") }
        #expect(throws: ConfigError.self) { try resolve("providers:\n  acme: {forward_headers: [\"bad header\"]}\n") }
        #expect(throws: ConfigError.self) { try resolve("proxy: {max_request_body_bytes_by_route: {nope: 2048}}\n") }
    }
}

// MARK: - Pricing

/// Price books as price-books/*.yaml would hold them: `standard` always in force, `enterprise` in two versions. Both
/// mark up costs, so they are in EUR, the currency of the providers of configs with `pricing.currency: EUR`.
private func books() throws -> [String: PriceBook] {
    let standard = try PriceBookFile.parse(yaml: "currency: EUR\nmarkup: \"1.5\"\n", file: "price-books/standard.yaml", name: "standard")
    let enterprise = try PriceBookFile.parse(
        yaml: """
            currency: EUR
            effective: 2026-01-01
            markup: "1.2"
            versions:
              - effective: 2026-06-01
                markup: "1.3"
            """, file: "price-books/enterprise.yaml", name: "enterprise")
    return ["standard": standard, "enterprise": enterprise]
}

/// The `pricing:` section: the markup and currency for customers without a book, where price books are, the default
/// book, and customers' terms; and the checks that every book and held version named exists.
@Suite("Config pricing")
struct ConfigPricingTests {
    static let full = """
        pricing:
          markup: "1.25"
          currency: EUR
          price_books: [books/standard.yaml, books/enterprise]
          default_price_book: standard
          customers:
            acme:
              price_book: enterprise
              hold: {version: 2026-01-01, until: 2026-12-01}
              discounts:
                - {percent: "10", from: 2026-03-01, until: 2026-04-01}
                - percent: "12.5"
              markup: "1.1"
              rates:
                gpt-4o: {input: "2.00", output: "8.00"}
            globex: {}
        """

    @Test("every pricing setting and every customer term is read")
    func full() throws {
        let config = try resolve(Self.full, priceBooks: try books())
        let pricing = config.pricing
        #expect(pricing.markup == DecimalRatio("1.25"))
        #expect(pricing.currency == "EUR")
        #expect(pricing.priceBookPaths == ["books/standard.yaml", "books/enterprise"])
        #expect(pricing.defaultPriceBook == "standard")
        #expect(pricing.priceBooks.keys.sorted() == ["enterprise", "standard"])
        #expect(pricing.customers.keys.sorted() == ["acme", "globex"])
        let acme = try #require(pricing.customers["acme"])
        #expect(acme.priceBook == "enterprise")
        #expect(acme.hold == CustomerPricing.Hold(versionEffectiveMs: at("2026-01-01"), untilMs: at("2026-12-01")))
        #expect(
            acme.discounts == [
                try CustomerPricing.Discount(percent: "10", fromMs: at("2026-03-01"), untilMs: at("2026-04-01")),
                try CustomerPricing.Discount(percent: "12.5"),
            ])
        #expect(acme.markup == DecimalRatio("1.1"))
        #expect(acme.rates == PriceTable(models: ["gpt-4o": ModelPrice(input: perMillion("2"), output: perMillion("8"))]))
        #expect(pricing.customers["globex"] == CustomerPricing(), "an empty entry is a customer on the defaults")

        let rules = config.pricingRules
        #expect(rules.defaultPriceBook == "standard")
        #expect(rules.markup == DecimalRatio("1.25") && rules.currency == "EUR")
        // Inactive providers' catalogs price too (a CLI without the provider keys rates like the server).
        #expect(rules.catalogs.keys.sorted() == Set(config.providers.keys).union(config.inactiveProviders.keys).sorted())
        #expect(rules.priceBook(for: "globex", at: 0)?.book.name == "standard")
        #expect(rules.priceBook(for: "acme", at: at("2026-07-01"))?.version.effectiveMs == at("2026-01-01"), "held")
    }

    @Test("price_books may name one file or folder instead of a list")
    func oneBookPath() throws {
        let document = try ConfigLoader.parse(yaml: "pricing: {price_books: plans}\n", file: configFile)
        #expect(document.config.pricing.priceBookPaths == ["plans"])
        #expect(try ConfigLoader.parse(yaml: "log_level: info\n", file: configFile).config.pricing.priceBookPaths == nil)
    }

    @Test("without a pricing section: markup 1, USD, no books, no customers")
    func defaults() throws {
        let pricing = try resolve("log_level: info\n").pricing
        #expect(pricing == PricingSettings())
        #expect(pricing.markup == .one && pricing.currency == "USD" && pricing.defaultPriceBook == nil && pricing.customers.isEmpty)
    }

    /// A config whose pricing names something that does not exist, the line at fault and what the message says.
    struct Unresolved: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let yaml: String
        let withBooks: Bool
        let line: Int
        let mentions: [String]
    }

    static let unresolved: [Unresolved] = [
        Unresolved(
            testDescription: "unknown default book",
            yaml: """
                pricing:
                  markup: "1.1"
                  default_price_book: gold
                """, withBooks: true, line: 3,
            mentions: ["pricing.default_price_book", "no price book named 'gold'", "(known: enterprise, standard)"]),
        Unresolved(
            testDescription: "a default book with no books at all",
            yaml: """
                pricing:
                  default_price_book: standard
                """, withBooks: false, line: 2, mentions: ["'standard'", "none; put books in price-books/"]),
        Unresolved(
            testDescription: "unknown customer book (block)",
            yaml: """
                pricing:
                  default_price_book: standard
                  customers:
                    acme:
                      price_book: gold
                """, withBooks: true, line: 5, mentions: ["pricing.customers.acme", "no price book named 'gold'"]),
        Unresolved(
            testDescription: "unknown customer book (flow)",
            yaml: """
                pricing:
                  customers:
                    globex: {}
                    acme: {price_book: gold, markup: "1.1"}
                """, withBooks: true, line: 4, mentions: ["pricing.customers.acme", "'gold'"]),
        Unresolved(
            testDescription: "a held version that the book does not have",
            yaml: """
                pricing:
                  customers:
                    acme:
                      price_book: enterprise
                      hold:
                        version: 2026-02-01
                        until: 2026-12-01
                """, withBooks: true, line: 6,
            mentions: [
                "pricing.customers.acme.hold.version", "'enterprise' has no version effective at 2026-02-01T00:00:00Z",
                "2026-01-01T00:00:00Z, 2026-06-01T00:00:00Z",
            ]),
        Unresolved(
            testDescription: "a held version of a book always in force",
            yaml: """
                pricing:
                  default_price_book: standard
                  customers:
                    acme: {hold: {version: 2026-01-01, until: 2026-12-01}}
                """, withBooks: true, line: 4, mentions: ["'standard' has no version effective", "(initial)"]),
        Unresolved(
            testDescription: "a hold without any book",
            yaml: """
                pricing:
                  customers:
                    acme:
                      markup: "1.1"
                      hold: {version: 2026-01-01, until: 2026-12-01}
                """, withBooks: true, line: 5, mentions: ["pricing.customers.acme.hold", "no price book to hold a version of"]),
    ]

    @Test("a price book or held version that does not exist is refused with file and line", arguments: unresolved)
    func unresolvedNames(_ row: Unresolved) throws {
        let books = row.withBooks ? try books() : [:]
        let error = try #require(throws: ConfigError.self) { try resolve(row.yaml, priceBooks: books) }
        #expect(error.file == configFile)
        #expect(error.line == row.line, "\(error)")
        for text in row.mentions { #expect(error.message.contains(text), "\(error)") }
    }

    @Test("a customer without a book of its own is checked against the default book, and may hold its versions")
    func holdOnDefault() throws {
        let config = try resolve(
            """
            pricing:
              currency: EUR
              default_price_book: enterprise
              customers:
                acme: {hold: {version: 2026-01-01, until: 2026-12-01}}
            """, priceBooks: try books())
        #expect(config.pricingRules.priceBook(for: "acme", at: at("2026-07-01"))?.version.markup == DecimalRatio("1.2"))
        #expect(config.pricingRules.priceBook(for: "other", at: at("2026-07-01"))?.version.markup == DecimalRatio("1.3"))
    }

    static let broken: [(yaml: String, line: Int, mentions: String)] = [
        ("pricing:\n  markups: \"1.2\"\n", 2, "unknown key 'pricing.markups'"),
        ("pricing:\n  markup: \"-1\"\n", 2, "'-1'"),
        ("pricing:\n  currency: dollars\n", 2, "three-letter currency code"),
        ("pricing:\n  customers:\n    acme: {pricebook: gold}\n", 3, "unknown key 'pricing.customers.acme.pricebook'"),
        ("pricing:\n  customers:\n    acme:\n      hold: {version: 2026-01-01}\n", 4, "a hold needs 'version'"),
        ("pricing:\n  customers:\n    acme:\n      hold: {version: 2026-01-01, until: someday}\n", 4, "'someday'"),
        ("pricing:\n  customers:\n    acme:\n      discounts:\n        - {percent: \"150\"}\n", 5, "between 0 and 100"),
        ("pricing:\n  customers:\n    acme:\n      discounts:\n        - {until: 2026-04-01}\n", 5, "a discount needs 'percent'"),
        (
            "pricing:\n  customers:\n    acme:\n      discounts:\n        - {percent: \"10\", from: 2026-04-01, until: 2026-03-01}\n", 5,
            "'until' must be after its 'from'"
        ),
        ("pricing:\n  customers:\n    acme:\n      rates:\n        gpt-4o: {input: free}\n", 5, "'free'"),
    ]

    @Test("a broken pricing section is refused by the parser with the line at fault", arguments: broken)
    func brokenPricing(_ row: (yaml: String, line: Int, mentions: String)) throws {
        let error = try #require(throws: ConfigError.self) { try ConfigLoader.parse(yaml: row.yaml, file: configFile) }
        #expect(error.file == configFile)
        #expect(error.line == row.line, "\(error)")
        #expect(error.message.contains(row.mentions), "\(error)")
    }

    @Test("a book that marks up costs must be in the providers' currency; a book with only its own rates need not be")
    func bookCurrency() throws {
        let error = try #require(throws: ConfigError.self) {
            try resolve("pricing:\n  default_price_book: standard\n", priceBooks: try books())
        }
        #expect(error.file == configFile)
        #expect(
            error.message.contains("'enterprise' is in EUR and marks up costs") || error.message.contains("'standard' is in EUR and marks up costs"),
            "\(error)")
        #expect(error.message.contains("prices in USD"), "\(error)")

        let card = try PriceBookFile.parse(
            yaml: "currency: JPY\nrates:\n  gpt-4o: {input: \"400\", output: \"1600\"}\n", file: "price-books/yen.yaml", name: "yen")
        let config = try resolve("pricing:\n  default_price_book: yen\n", priceBooks: ["yen": card])
        let rating = config.pricingRules.rate(
            provider: "openai", customer: "c", usage: TokenUsage(inputTokens: 1_000_000), servedModel: "gpt-4o", requestedModel: nil,
            serviceTier: nil, at: 0)
        #expect(rating.currency == "USD" && rating.cost == Money("2.5"))
        #expect(rating.priceCurrency == "JPY" && rating.price == Money("400"))
    }

    @Test("a provider's dated prices reach the rules: an event is costed by the version in force at its time")
    func datedProviderPrices() throws {
        let config = try resolve(
            """
            providers:
              local:
                base_url: http://127.0.0.1:11434
                prices:
                  llama3: {input: "1", output: "2"}
                price_versions:
                  - effective: 2026-12-01
                    prices:
                      llama3: {input: "0.5", output: "1"}
            """)
        let catalog = try #require(config.providers["local"]).prices
        #expect(catalog.currency == "USD")
        #expect(catalog.versions.count == 2)
        let usage = TokenUsage(inputTokens: 1_000_000, outputTokens: 1_000_000)
        func cost(_ time: String) -> Money {
            config.pricingRules.rate(
                provider: "local", customer: "c", usage: usage, servedModel: "llama3", requestedModel: nil, serviceTier: nil, at: at(time)
            ).cost
        }
        #expect(cost("2026-11-30T23:59:59.999Z") == Money("3"))
        #expect(cost("2026-12-01T00:00:00Z") == Money("1.5"))
    }
}
