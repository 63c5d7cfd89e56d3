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
private func resolve(_ yaml: String, environment: [String: String] = [:]) throws(ConfigError) -> TollgateConfig {
    let document = try ConfigLoader.parse(yaml: yaml, file: configFile)
    var definitions: [String: ProviderSpec] = [:]
    for (name, text) in definitionTexts { definitions[name] = try ProviderSpec.parse(yaml: text, file: "providers/\(name).yaml") }
    return try ConfigLoader.resolve(document, definitions: definitions, environment: environment)
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
                        api: ollama.chat
                """, line: 6, mentions: "'ollama.chat'"),
    ]

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
    @Test("an entry named like a definition overrides base_url and keeps the rest, prices included")
    func sameNameOverride() throws {
        let definition = try resolve("").providers["openai"]
        let config = try resolve("providers:\n  openai:\n    base_url: http://127.0.0.1:9000/\n", environment: ["OPENAI_API_KEY": "sk-1"])
        #expect(config.providers.keys.sorted() == ["openai"])
        let openAI = try #require(config.providers["openai"])
        #expect(openAI.baseURL == "http://127.0.0.1:9000")
        #expect(openAI.prices == definition?.prices)
        #expect(
            openAI.prices.models["gpt-4o"]
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
        let prices = try #require(config.providers["openai"]).prices.models
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
        #expect(europe.prices.models.keys.sorted() == ["gpt-4o", "gpt-4o-mini"])
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
        #expect(groq.prices == PriceTable(models: [:], currency: "GBP"))
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

    @Test("with no providers in the config every definition is active, as defined")
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
    }

    @Test("every setting of a full config is read")
    func fullConfig() throws {
        let config = try resolve(
            """
            listen: "[::1]:9090"
            meter: {path: /var/lib/tollgate/meter.db, durability: relaxed, relaxed_window_ms: 50, max_batch: 64}
            default_provider: acme
            pricing: {markup: "1.25", currency: EUR}
            proxy: {max_request_body_bytes: 2048, connect_timeout_s: 2.5, read_timeout_s: 60}
            log_level: debug
            """)
        #expect(config.listen == ListenAddress(host: "::1", port: 9090))
        #expect(config.meter.path == "/var/lib/tollgate/meter.db")
        #expect(config.meter.durability == .relaxed(maxDelayMilliseconds: 50))
        #expect(config.meter.maxBatch == 64)
        #expect(config.defaultProvider == "acme")
        #expect(config.pricing.markup == DecimalRatio("1.25"))
        #expect(config.proxy.maxRequestBodyBytes == 2048)
        #expect(config.proxy.connectTimeoutSeconds == 2.5 && config.proxy.readTimeoutSeconds == 60)
        #expect(config.logLevel == "debug")
    }
}
