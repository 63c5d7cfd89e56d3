import Testing

@testable import TollgateCore

/// Path patterns: literal segments, `*` for exactly one segment, `**` for any number of segments (none included).
@Suite("Path patterns")
struct PathPatternTests {
    @Test(
        "patterns match whole paths segment by segment",
        arguments: [
            ("/**/chat/completions", "/v1/chat/completions", true),
            ("/**/chat/completions", "/openai/v1/chat/completions", true),
            ("/**/chat/completions", "/chat/completions", true),
            ("/**/chat/completions", "/v1/chat/completions/extra", false),
            ("/**/chat/completions", "/v1/completions", false),
            ("/**/chat/completions", "/v1/chat/completionsx", false),
            ("/openai/deployments/*/chat/completions", "/openai/deployments/gpt-4o/chat/completions", true),
            ("/openai/deployments/*/chat/completions", "/openai/deployments/chat/completions", false),
            ("/openai/deployments/*/chat/completions", "/openai/deployments/a/b/chat/completions", false),
            ("/v1/*", "/v1/models", true),
            ("/v1/*", "/v1", false),
            ("/v1/*", "/v1/models/gpt-4o", false),
            ("/v1/embeddings", "/v1/embeddings", true),
            ("/v1/embeddings", "/v2/embeddings", false),
            ("/v1/embeddings", "/openai/v1/embeddings", false),
        ])
    func matches(pattern: String, path: String, expected: Bool) {
        #expect(PathPattern(pattern).matches(path) == expected)
    }

    @Test(
        "only a pattern without wildcards has a literal path",
        arguments: [
            ("/v1/chat/completions", "/v1/chat/completions"), ("/**/chat/completions", nil), ("/deployments/*/embeddings", nil),
        ] as [(String, String?)])
    func literalPath(pattern: String, literal: String?) {
        #expect(PathPattern(pattern).literalPath == literal)
    }

    @Test(
        "OpenAI-compatible routes tell chat completions from completions",
        arguments: [
            ("/v1/chat/completions", APIName.openAIChat), ("/openai/v1/chat/completions", .openAIChat),
            ("/v1/completions", .openAICompletions), ("/v1/embeddings", .openAIEmbeddings), ("/api/v1/responses", .openAIResponses),
            ("/v1/models", nil), ("/v1/responses/resp_123", nil),
        ] as [(String, APIName?)])
    func openAICompatible(path: String, api: APIName?) {
        #expect(Provider(name: "any", baseURL: "http://127.0.0.1:8000").api(forPath: path) == api)
    }
}

/// Where a client path goes: `/v1/...` to the default provider unchanged, `/NAME/rest` to provider NAME as `/rest`,
/// and, for `/v1/...` inferences only, a model alias moves the request to its provider and model.
@Suite("Route resolver")
struct RouteResolverTests {
    static let resolver: RouteResolver = {
        var config = TollgateConfig()
        let openAIRoutes = [
            RouteRule(pattern: PathPattern("/v1/chat/completions"), api: .openAIChat),
            RouteRule(pattern: PathPattern("/v1/embeddings"), api: .openAIEmbeddings),
        ]
        let azureRoutes = [RouteRule(pattern: PathPattern("/openai/deployments/gpt-4o/chat/completions"), api: .openAIChat)]
        config.providers = [
            "openai": Provider(name: "openai", baseURL: "https://api.openai.com", routes: openAIRoutes),
            "groq": Provider(name: "groq", baseURL: "https://api.groq.com"),
            "azure": Provider(name: "azure", baseURL: "https://example.openai.azure.com", auth: .header("api-key"), routes: azureRoutes),
        ]
        config.modelAliases = [
            "fast": ModelAlias(provider: "groq", model: "llama-3.1-8b-instant"),
            "enterprise": ModelAlias(provider: "azure", model: nil),
        ]
        return RouteResolver(config: config)
    }()

    @Test(
        "a path resolves to a provider, its own path, and the API it meters as",
        arguments: [
            ("/v1/chat/completions", "openai", "/v1/chat/completions", APIName.openAIChat, true),
            ("/v1/models", "openai", "/v1/models", nil, true),
            ("/openai/v1/embeddings", "openai", "/v1/embeddings", .openAIEmbeddings, false),
            ("/groq/openai/v1/chat/completions", "groq", "/openai/v1/chat/completions", .openAIChat, false),
            ("/groq/openai/v1/models", "groq", "/openai/v1/models", nil, false),
            ("/groq", "groq", "/", nil, false),
            ("/azure/openai/deployments/gpt-4o/chat/completions", "azure", "/openai/deployments/gpt-4o/chat/completions", .openAIChat, false),
        ] as [(String, String, String, APIName?, Bool)])
    func resolves(path: String, provider: String, upstreamPath: String, api: APIName?, viaDefault: Bool) throws {
        let target = try #require(Self.resolver.resolve(path: path))
        #expect(target.provider.name == provider)
        #expect(target.upstreamPath == upstreamPath)
        #expect(target.api == api)
        #expect(target.viaDefault == viaDefault)
    }

    @Test("a path no provider serves resolves to nothing", arguments: ["/", "", "/v2/chat/completions", "/anthropic/v1/messages"])
    func unknown(path: String) {
        #expect(Self.resolver.resolve(path: path) == nil)
    }

    @Test("without the default provider configured, /v1 paths resolve to nothing")
    func noDefaultProvider() {
        var config = TollgateConfig()
        config.providers["groq"] = Provider(name: "groq", baseURL: "https://api.groq.com")
        #expect(RouteResolver(config: config).resolve(path: "/v1/chat/completions") == nil)
    }

    @Test("an alias moves a /v1 inference to its provider and model")
    func aliasMovesProviderAndModel() throws {
        let target = try #require(Self.resolver.resolve(path: "/v1/chat/completions"))
        let (moved, model) = Self.resolver.applyingAlias(to: target, model: "fast")
        #expect(moved.provider.name == "groq")
        #expect(moved.upstreamPath == "/v1/chat/completions", "groq's routes are patterns: the client's path is kept")
        #expect(moved.api == .openAIChat)
        #expect(!moved.viaDefault)
        #expect(model == "llama-3.1-8b-instant")
    }

    @Test("an alias to a provider with a literal route uses that route, and may keep the model name")
    func aliasToLiteralRoute() throws {
        let target = try #require(Self.resolver.resolve(path: "/v1/chat/completions"))
        let (moved, model) = Self.resolver.applyingAlias(to: target, model: "enterprise")
        #expect(moved.provider.name == "azure")
        #expect(moved.upstreamPath == "/openai/deployments/gpt-4o/chat/completions")
        #expect(model == nil)
    }

    @Test(
        "no alias applies off /v1, to pass-through paths, or to models without one",
        arguments: [
            ("/groq/openai/v1/chat/completions", "fast" as String?), ("/openai/v1/chat/completions", "fast"), ("/v1/models", "fast"),
            ("/v1/chat/completions", "gpt-4o"), ("/v1/chat/completions", nil),
        ])
    func aliasNotApplied(path: String, model: String?) throws {
        let target = try #require(Self.resolver.resolve(path: path))
        let (kept, upstreamModel) = Self.resolver.applyingAlias(to: target, model: model)
        #expect(kept.provider.name == target.provider.name)
        #expect(kept.upstreamPath == target.upstreamPath)
        #expect(upstreamModel == nil)
    }
}

/// Paths are put in canonical form before routing, so no spelling of an inference path escapes metering.
@Suite("Canonical paths")
struct CanonicalPathTests {
    @Test(
        "escapes of unreserved characters are decoded; others are kept, upper-cased",
        arguments: [
            ("/v1/chat/completions", "/v1/chat/completions"), ("/v1/chat/completion%73", "/v1/chat/completions"),
            ("/v1/%63hat/completions", "/v1/chat/completions"), ("/v1/models/a%20b", "/v1/models/a%20b"),
            ("/v1/models/x%3a", "/v1/models/x%3A"), ("/v1/%7e", "/v1/~"),
        ])
    func decoded(raw: String, canonical: String) {
        #expect(RouteResolver.canonicalPath(raw) == canonical)
    }

    @Test(
        "escaped slashes, dot segments and bad escapes are refused",
        arguments: [
            "/v1%2Fchat/completions", "/v1/%2fx", "/v1/%5Cx", "/v1/../admin", "/v1/./chat/completions", "/v1/%2e%2e/x", "/v1/%zz", "/v1/%4", "v1/x",
            "/bedrock/model/a/b%2Fc/converse", "/bedrock/models/a%2Fb/converse", "/bedrock/model/a%5Cb/converse",
        ])
    func refused(raw: String) {
        #expect(RouteResolver.canonicalPath(raw) == nil)
    }

    @Test("a Bedrock model ARN keeps its escaped slash in the model segment, and meters as that one segment")
    func bedrockARN() {
        let raw = "/bedrock/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2fabc123/converse"
        let path = RouteResolver.canonicalPath(raw)
        #expect(path == "/bedrock/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123/converse")
        #expect(PathPattern("/bedrock/model/*/converse").matches(path ?? ""))
        #expect(
            BedrockFormat.modelID(inPath: "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aapplication-inference-profile%2Fabc/converse")
                == "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc")
    }
}
