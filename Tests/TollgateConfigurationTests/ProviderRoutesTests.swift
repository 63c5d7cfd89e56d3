import Foundation
import Testing
import TollgateCore

@testable import TollgateConfiguration

/// Every provider of providers/ under its own prefix, the native paths that do not clash, and the per-provider
/// request rules (Azure's api-version gate and deployments, keys in the query).
@Suite("Provider routes")
struct ProviderRoutesTests {
    /// The repository's config with every provider of providers/ active (each listed under `providers:`), or only
    /// those of `extra`'s own `providers:`.
    static func allProviders(extra: String = "") throws -> TollgateConfig {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("tollgate.yaml").path
            let folder = repositoryRoot.appendingPathComponent("providers").path
            let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }
            let listing = extra.contains("providers:") ? "" : "providers:\n" + names.sorted().map { "  \($0):\n" }.joined()
            let yaml = "providers_dir: \(folder)\n" + listing + extra
            try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
            return try ConfigFiles.load(path: path, environment: [:])
        }
    }

    @Test("the providers the issue names all have a definition")
    func names() throws {
        let config = try Self.allProviders()
        let expected = [
            "openai", "anthropic", "gemini", "azure", "bedrock", "cohere", "ollama", "mistral", "groq", "deepseek", "xai", "openrouter",
            "together", "fireworks", "cerebras", "huggingface",
        ]
        #expect(Set(expected).isSubset(of: Set(config.providers.keys)))
    }

    @Test(
        "paths reach their provider and API",
        arguments: [
            ("/v1/chat/completions", "openai", "/v1/chat/completions", APIName?.some(.openAIChat)),
            ("/v1/messages", "anthropic", "/v1/messages", .anthropicMessages),
            ("/v1/messages/count_tokens", "anthropic", "/v1/messages/count_tokens", nil),
            ("/anthropic/v1/messages", "anthropic", "/v1/messages", .anthropicMessages),
            ("/anthropic/v1/chat/completions", "anthropic", "/v1/chat/completions", .openAIChat),
            ("/v1beta/models/gemini-2.5-flash:generateContent", "gemini", "/v1beta/models/gemini-2.5-flash:generateContent", .geminiGenerateContent),
            (
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent", "gemini", "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
                .geminiStreamGenerateContent
            ),
            ("/gemini/v1beta/models/gemini-2.5-flash:countTokens", "gemini", "/v1beta/models/gemini-2.5-flash:countTokens", nil),
            ("/gemini/v1/models/gemini-2.5-flash:generateContent", "gemini", "/v1/models/gemini-2.5-flash:generateContent", .geminiGenerateContent),
            (
                "/gemini/v1beta/models/gemini-embedding-001:batchEmbedContents", "gemini", "/v1beta/models/gemini-embedding-001:batchEmbedContents",
                .geminiBatchEmbedContents
            ),
            ("/gemini/v1beta/openai/chat/completions", "gemini", "/v1beta/openai/chat/completions", .openAIChat),
            ("/v1beta/models", "gemini", "/v1beta/models", nil),
            // google-genai's default API version: the model methods under /v1 are Gemini's, the rest OpenAI's.
            ("/v1/models/gemini-2.5-flash:generateContent", "gemini", "/v1/models/gemini-2.5-flash:generateContent", .geminiGenerateContent),
            ("/v1/models/gemini-2.5-flash:countTokens", "gemini", "/v1/models/gemini-2.5-flash:countTokens", nil),
            ("/v1/models/gpt-4o", "openai", "/v1/models/gpt-4o", nil),
            ("/v1/models", "openai", "/v1/models", nil),
            // An escaped colon is the same path to Google: it must not escape metering.
            (
                "/v1beta/models/gemini-2.5-flash%3AgenerateContent", "gemini", "/v1beta/models/gemini-2.5-flash%3AgenerateContent",
                .geminiGenerateContent
            ),
            (
                "/gemini/v1beta/models/gemini-2.5-flash%3astreamGenerateContent", "gemini", "/v1beta/models/gemini-2.5-flash%3astreamGenerateContent",
                .geminiStreamGenerateContent
            ),
            ("/bedrock/model/us.amazon.nova-pro-v1%3A0/converse", "bedrock", "/model/us.amazon.nova-pro-v1%3A0/converse", .bedrockConverse),
            ("/bedrock/model/m/converse-stream", "bedrock", "/model/m/converse-stream", .bedrockConverseStream),
            ("/bedrock/model/m/invoke", "bedrock", "/model/m/invoke", .bedrockInvoke),
            ("/bedrock/model/m/invoke-with-response-stream", "bedrock", "/model/m/invoke-with-response-stream", .bedrockInvokeStream),
            ("/bedrock/openai/v1/chat/completions", "bedrock", "/openai/v1/chat/completions", .openAIChat),
            ("/azure/openai/deployments/prod-4o/chat/completions", "azure", "/openai/deployments/prod-4o/chat/completions", .openAIChat),
            ("/azure/openai/v1/responses", "azure", "/openai/v1/responses", .openAIResponses),
            ("/cohere/v2/chat", "cohere", "/v2/chat", .cohereChat),
            ("/ollama/api/chat", "ollama", "/api/chat", .ollamaChat),
            ("/ollama/api/generate", "ollama", "/api/generate", .ollamaGenerate),
            ("/ollama/api/tags", "ollama", "/api/tags", nil),
            ("/ollama/v1/chat/completions", "ollama", "/v1/chat/completions", .openAIChat),
            ("/openrouter/api/v1/chat/completions", "openrouter", "/api/v1/chat/completions", .openAIChat),
            ("/huggingface/v1/chat/completions", "huggingface", "/v1/chat/completions", .openAIChat),
            ("/huggingface/together/v1/chat/completions", "huggingface", "/together/v1/chat/completions", .openAIChat),
            ("/mistral/v1/chat/completions", "mistral", "/v1/chat/completions", .openAIChat),
            ("/groq/openai/v1/chat/completions", "groq", "/openai/v1/chat/completions", .openAIChat),
            ("/vllm/v1/completions", "vllm", "/v1/completions", .openAICompletions),
        ] as [(String, String, String, APIName?)])
    func route(path: String, provider: String, upstreamPath: String, api: APIName?) throws {
        let target = try #require(RouteResolver(config: try Self.allProviders()).resolve(path: path))
        #expect(target.provider.name == provider)
        #expect(target.upstreamPath == upstreamPath)
        #expect(target.api == api)
    }

    @Test("an entry with no definition speaks OpenAI's format; one naming another family gets that family's routes")
    func undefinedEntries() throws {
        let config = try Self.allProviders(
            extra: """
                providers:
                  openai: {api_key: k}
                  llamacpp: {base_url: "http://127.0.0.1:8080"}
                  claude-proxy: {base_url: "http://127.0.0.1:9001", wire_format: anthropic, auth: "header:x-api-key", api_key: k}
                """)
        let routes = RouteResolver(config: config)
        let llama = try #require(routes.resolve(path: "/llamacpp/v1/chat/completions"))
        #expect(llama.api == .openAIChat)
        #expect(llama.provider.family == .openai)
        let claude = try #require(routes.resolve(path: "/claude-proxy/v1/messages"))
        #expect(claude.api == .anthropicMessages)
        #expect(claude.provider.family == .anthropic)
        // Native paths belong to configured providers only: without an anthropic entry, /v1/messages is OpenAI's.
        #expect(routes.resolve(path: "/v1/messages")?.provider.name == "openai")
    }

    @Test(
        "Azure: stream_options only from api-version 2024-09-01 on, or without a dated version",
        arguments: [
            ("api-version=2024-06-01", false), ("api-version=2024-08-01-preview", false), ("api-version=2024-09-01-preview", true),
            ("api-version=2024-10-21", true), ("api-version=2025-04-01-preview", true), ("api-version=preview", true), (nil, true),
            ("foo=1&api-version=2023-05-15", false),
        ] as [(String?, Bool)])
    func azureStreamOptions(query: String?, accepted: Bool) throws {
        let azure = try #require(try Self.allProviders().providers["azure"])
        #expect(azure.acceptsStreamUsageOption(query: query) == accepted)
        let openAI = try #require(try Self.allProviders().providers["openai"])
        #expect(openAI.acceptsStreamUsageOption(query: query))
    }

    @Test("Azure: a deployment path prices as its deployment's model, the deployment name otherwise")
    func azureDeployments() throws {
        let config = try Self.allProviders(
            extra: """
                providers:
                  azure: {base_url: "https://example.openai.azure.com", api_key: k, deployments: {prod-4o: gpt-4o-2024-08-06}}
                """)
        let azure = try #require(config.providers["azure"])
        #expect(azure.modelFromPath("/openai/deployments/prod-4o/chat/completions") == "gpt-4o-2024-08-06")
        #expect(azure.modelFromPath("/openai/deployments/gpt-4o-mini/chat/completions") == "gpt-4o-mini")
        #expect(azure.modelFromPath("/openai/v1/chat/completions") == nil)
        // Azure takes OpenAI's list prices.
        #expect(azure.prices.latest.price(for: "gpt-4o-2024-08-06") != nil)
        #expect(azure.auth == .header("api-key"))
    }

    @Test("Bedrock: signing credentials from the environment, or a bearer API key, or a clear message")
    func bedrockCredentials() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("tollgate.yaml").path
            let yaml = "providers_dir: \(repositoryRoot.appendingPathComponent("providers").path)\nproviders:\n  bedrock: {region: eu-west-3}\n"
            try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
            let signed = try ConfigFiles.load(
                path: path, environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"])
            let bedrock = try #require(signed.providers["bedrock"])
            #expect(bedrock.aws == AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret", sessionToken: "token", region: "eu-west-3"))
            #expect(bedrock.hasCredentials)
            let keyed = try #require(try ConfigFiles.load(path: path, environment: ["AWS_BEARER_TOKEN_BEDROCK": "bedrock-key"]).providers["bedrock"])
            #expect(keyed.aws == nil && keyed.apiKey == "bedrock-key" && keyed.hasCredentials)
            let none = try #require(try ConfigFiles.load(path: path, environment: [:]).providers["bedrock"])
            #expect(!none.hasCredentials)
            #expect(throws: ConfigError.self) { try ConfigFiles.load(path: path, environment: ["AWS_ACCESS_KEY_ID": "AKID"]) }
        }
    }
}
