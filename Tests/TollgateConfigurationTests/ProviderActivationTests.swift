import Foundation
import Testing
import TollgateCore

@testable import TollgateConfiguration

/// Safe defaults: with no `providers:` in the config, a bundled provider is active only when its credentials are set,
/// and one that needs no authentication (Ollama, vLLM) only when the config lists it; requests for the others are
/// refused with a message saying how to activate them.
@Suite("Provider activation")
struct ProviderActivationTests {
    /// The repository's providers/ folder with `yaml` as the config and `environment` as the process's.
    static func load(_ yaml: String = "", environment: [String: String]) throws -> TollgateConfig {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("tollgate.yaml").path
            let text = "providers_dir: \(repositoryRoot.appendingPathComponent("providers").path)\n" + yaml
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return try ConfigFiles.load(path: path, environment: environment)
        }
    }

    @Test("without providers:, the bundled providers whose credentials are set are active; local servers without auth are not")
    func credentialsActivate() throws {
        let config = try Self.load(
            environment: [
                "OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s",
                "AWS_REGION": "eu-west-3",
            ])
        #expect(config.providers.keys.sorted() == ["anthropic", "bedrock", "openai"])
        #expect(config.activation["openai"] == .credentials("OPENAI_API_KEY set"))
        #expect(config.activation["bedrock"]?.isActive == true)
        #expect(config.activation["ollama"] == .unauthenticated && config.activation["vllm"] == .unauthenticated)
        #expect(config.activation["gemini"] == .missingCredentials("GEMINI_API_KEY"))
        #expect(config.inactiveProviders["ollama"] != nil && config.inactiveProviders["gemini"] != nil)
        #expect(Set(config.providers.keys).isDisjoint(with: config.inactiveProviders.keys))
        // An inactive provider's catalog still prices events: a CLI run without the provider keys rates alike.
        #expect(config.pricingRules.catalogs["gemini"]?.modelCount ?? 0 > 0)
        let summary = config.activationSummary
        #expect(summary.hasPrefix("providers active: anthropic (ANTHROPIC_API_KEY set), bedrock (AWS credentials set (SigV4 in "))
        #expect(summary.contains("openai (OPENAI_API_KEY set); inactive: azure (AZURE_OPENAI_API_KEY unset), "))
        #expect(
            summary.contains("gemini (GEMINI_API_KEY unset)")
                && summary.contains("ollama (no authentication: used only when listed under providers:)"))
    }

    @Test("an empty key is no key; a key with control characters is still refused")
    func emptyKey() throws {
        let config = try Self.load(environment: ["OPENAI_API_KEY": "  \n"])
        #expect(config.providers["openai"] == nil && config.activation["openai"] == .missingCredentials("OPENAI_API_KEY"))
        #expect(throws: ConfigError.self) { try Self.load(environment: ["OPENAI_API_KEY": "sk-\u{7}x"]) }
    }

    @Test("what goes out in a provider's request line and headers is refused at load if it could break them")
    func outgoingValuesRefused() throws {
        let aws = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-3"]
        #expect(throws: Never.self) { try Self.load(environment: aws) }
        for (name, bad) in [("AWS_SESSION_TOKEN", "token\r\nx-amz-evil: 1"), ("AWS_ACCESS_KEY_ID", "AK\u{0}ID")] {
            var environment = aws
            environment[name] = bad
            #expect(throws: ConfigError.self, "\(name)") { try Self.load(environment: environment) }
        }
        let region = "providers:\n  bedrock: {region: \"eu\\nwest\"}\n"
        #expect(throws: ConfigError.self) { try Self.load(region, environment: aws) }
        let refused: [(yaml: String, says: String)] = [
            ("providers:\n  local: {base_url: \"http://127.0.0.1:9000/v1\\r\\nX-Evil: 1\"}\n", "no spaces or control characters"),
            ("providers:\n  local: {base_url: \"http://127.0.0.1:9000/a b\"}\n", "no spaces or control characters"),
            ("providers:\n  local: {base_url: \"http://127.0.0.1:9000\", auth: \"header:x api key\"}\n", "header:NAME"),
            ("providers:\n  local: {base_url: \"http://127.0.0.1:9000\", auth: \"header:\"}\n", "header:NAME"),
        ]
        for (yaml, says) in refused {
            let error = #expect(throws: ConfigError.self) { try Self.load(yaml, environment: [:]) }
            #expect(error?.description.contains(says) == true, "\(error.map { "\($0)" } ?? "")")
        }
        let custom = try Self.load(
            "providers:\n  local: {base_url: \"http://127.0.0.1:9000\", auth: \"header:X-Api-Key\", api_key: k}\n", environment: [:])
        #expect(custom.providers["local"]?.auth == .header("x-api-key"))
    }

    @Test("with providers:, exactly the listed ones are active, keyless and local ones included")
    func listedActivate() throws {
        let config = try Self.load("providers:\n  ollama:\n  groq: {}\n", environment: ["OPENAI_API_KEY": "sk-o"])
        #expect(config.providers.keys.sorted() == ["groq", "ollama"])
        #expect(config.activation["ollama"] == .listed && config.activation["groq"] == .listed)
        #expect(config.inactiveProviders.isEmpty)
    }

    @Test("the embedded defaults with no key: nothing is active, the summary says how to activate, the server can still start")
    func nothingActive() throws {
        let config = try ConfigFiles.load(path: nil, environment: [:])
        #expect(config.providers.isEmpty)
        #expect(config.inactiveProviders["openai"] != nil)
        #expect(config.activationSummary.hasPrefix("providers active: none; inactive: "))
        #expect(config.activationSummary.contains("openai (OPENAI_API_KEY unset)"))
        #expect(config.activationSummary.contains("every proxied request is refused"))
    }

    @Test("requests for an inactive provider are recognised, by prefix, native path, the default /v1 and aliases")
    func inactiveRoutes() throws {
        let config = try Self.load("models:\n  fast: {provider: groq, model: llama-3.1-8b-instant}\n", environment: ["OPENAI_API_KEY": "sk-o"])
        let routes = RouteResolver(config: config)
        #expect(routes.resolve(path: "/ollama/api/chat") == nil)
        let ollama = try #require(routes.inactiveProvider(for: "/ollama/api/chat"))
        #expect(ollama.provider.name == "ollama" && ollama.hint.contains("lists it under providers: (ollama: {})"))
        #expect(routes.family(guessedFrom: "/ollama/api/chat").name == "ollama")
        // Anthropic's native path is not sent to OpenAI (the default provider) while Anthropic is inactive.
        #expect(routes.resolve(path: "/v1/messages") == nil)
        let anthropic = try #require(routes.inactiveProvider(for: "/v1/messages"))
        #expect(anthropic.provider.name == "anthropic" && anthropic.hint.contains("set ANTHROPIC_API_KEY"))
        #expect(routes.inactiveProvider(for: "/v1beta/models/gemini-2.5-flash:generateContent")?.provider.name == "gemini")
        #expect(routes.resolve(path: "/v1/chat/completions")?.provider.name == "openai")
        #expect(routes.inactiveProvider(for: "/nowhere/v1/chat") == nil)
        // A model alias may name an inactive provider: its requests are refused, never sent to the default provider.
        let target = try #require(routes.resolve(path: "/v1/chat/completions"))
        #expect(routes.inactiveAliasProvider(for: target, model: "fast")?.provider.name == "groq")
        #expect(routes.inactiveAliasProvider(for: target, model: "gpt-4o") == nil)

        let keyless = RouteResolver(config: try Self.load(environment: [:]))
        #expect(keyless.resolve(path: "/v1/chat/completions") == nil)
        #expect(keyless.inactiveProvider(for: "/v1/chat/completions")?.hint.contains("set OPENAI_API_KEY") == true)
    }
}
