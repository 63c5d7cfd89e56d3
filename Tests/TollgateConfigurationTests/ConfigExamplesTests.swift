import Foundation
import Testing
import TollgateCore

@testable import TollgateConfiguration

/// The example configs in config/ run as they are: each loads, with the providers and settings it promises.
@Suite("Config examples")
struct ConfigExamplesTests {
    private static let folder = repositoryRoot.appendingPathComponent("config")
    private static let environment = [
        "OPENAI_API_KEY": "sk-o", "GROQ_API_KEY": "sk-g", "DEEPSEEK_API_KEY": "sk-d", "TOLLGATE_ADMIN_TOKEN": "admin-token-0123456789",
    ]

    @Test(
        "every file in config/ loads",
        arguments: try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted())
    func loads(file: String) throws {
        let config = try ConfigFiles.load(path: Self.folder.appendingPathComponent(file).path, environment: Self.environment)
        #expect(config.providers["openai"] != nil)
        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 8787))
    }

    @Test("the credits example has an admin listener, a credit unit and signed alerts")
    func credits() throws {
        let path = Self.folder.appendingPathComponent("credits.yaml").path
        let config = try ConfigFiles.load(path: path, environment: Self.environment.merging(["TOLLGATE_ALERT_SECRET": "whsec"]) { $1 })
        #expect(config.admin.listen == ListenAddress(host: "127.0.0.1", port: 8788))
        #expect(config.admin.token == "admin-token-0123456789")
        #expect(config.credits.unitName == "credit" && config.credits.unitValue == Money("0.01"))
        #expect(config.alerts.secret == "whsec" && config.alerts.defaultThresholds == [50, 80, 100])
        var unset = Self.environment
        unset["TOLLGATE_ADMIN_TOKEN"] = nil
        let error = try #require(throws: ConfigError.self) { try ConfigFiles.load(path: path, environment: unset) }
        #expect(error.message.contains("TOLLGATE_ADMIN_TOKEN is unset"))
    }

    @Test("the export example configures every kind of sink and continuous export to the files")
    func export() throws {
        let path = Self.folder.appendingPathComponent("export.yaml").path
        let config = try ConfigFiles.load(path: path, environment: Self.environment.merging(["STRIPE_API_KEY": "sk_test_x"]) { $1 })
        #expect(Set(config.sinks.values.map(\.kind)) == [.csv, .stripe, .lago, .openmeter, .metronome, .orb])
        #expect(config.sinks["stripe"]?.apiKey == "sk_test_x" && config.sinks["stripe"]?.stripeMode == .invoiceItems)
        #expect(config.sinks["lago"]?.apiKey == nil && config.sinks["lago"]?.eventName == "llm_usage")
        #expect(config.sinks["files"]?.path == Self.folder.appendingPathComponent("exports/lines-{period}.csv").path)
        #expect(config.export.intervalSeconds == 3600 && config.export.sinks == ["files"])
    }

    @Test("the OpenAI-compatible example routes Groq by its own paths and by alias")
    func openAICompatible() throws {
        let config = try ConfigFiles.load(path: Self.folder.appendingPathComponent("openai-compatible.yaml").path, environment: Self.environment)
        let routes = RouteResolver(config: config)
        let groq = try #require(routes.resolve(path: "/groq/openai/v1/chat/completions"))
        #expect(groq.provider.baseURL == "https://api.groq.com")
        #expect(groq.upstreamPath == "/openai/v1/chat/completions")
        #expect(groq.api == .openAIChat)
        let aliased = routes.applyingAlias(to: try #require(routes.resolve(path: "/v1/chat/completions")), model: "llama-fast")
        #expect(aliased.target.provider.name == "groq")
        #expect(aliased.upstreamModel == "llama-3.1-8b-instant")
        #expect(aliased.target.upstreamPath == "/openai/v1/chat/completions")
        #expect(config.providers["vllm"]?.auth == ProviderAuth.none)
    }

    @Test("the pricing example assigns its books, holds and discounts")
    func pricing() throws {
        let config = try ConfigFiles.load(path: Self.folder.appendingPathComponent("pricing.yaml").path, environment: Self.environment)
        #expect(config.pricing.priceBooks.keys.sorted() == ["api-calls", "growth", "standard"])
        #expect(config.pricing.defaultPriceBook == "standard")
        let rules = config.pricingRules
        let held = try #require(rules.priceBook(for: "acme", at: Timestamps.parse("2027-03-01")!))
        #expect(held.version.markup == DecimalRatio("1.30"), "acme keeps the 2026 version until July 2027")
        let moved = try #require(rules.priceBook(for: "someone-else", at: Timestamps.parse("2027-03-01")!))
        #expect(moved.version.markup == DecimalRatio("1.25"))
        #expect(rules.priceBook(for: "initech", at: 0)?.book.currency == "EUR")
    }
}
