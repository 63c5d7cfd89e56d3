import ArgumentParser
import TollgateCore

/// `tollgate check`: validates a config and its provider files without starting anything.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a config file and the provider definitions it uses.",
        discussion: "Prints FILE:LINE: message and exits 2 on the first problem; prints a summary and exits 0 otherwise.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try loadConfig(options.config)
        print("ok: \(options.config ?? "embedded defaults")")
        print("  listen:    \(config.listen)")
        print("  meter:     \(config.meter.location) (\(config.meter.durability == .strict ? "strict" : "relaxed"))")
        print("  markup:    \(config.pricing.markup)")
        for provider in config.providers.values.sorted(by: { $0.name < $1.name }) {
            let key: String
            if provider.apiKey != nil {
                key = "key set"
            } else if let aws = provider.aws {
                key = "SigV4 signing in \(aws.region)"
            } else if provider.auth == .none {
                key = "no key needed"
            } else if provider.auth == .sigv4 {
                key = "NO CREDENTIALS (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, or \(provider.apiKeyEnv ?? "api_key"))"
            } else {
                key = "NO KEY (\(provider.apiKeyEnv ?? "set api_key"))"
            }
            let why = config.activation[provider.name].map { $0 == .listed ? "" : ", active: \($0)" } ?? ""
            print(
                "  provider:  \(provider.name) → \(provider.baseURL) (\(provider.routes.count) routes, \(provider.prices.modelCount) priced models, \(key)\(why))"
            )
        }
        for provider in config.inactiveProviders.values.sorted(by: { $0.name < $1.name }) {
            let why = config.activation[provider.name]?.description ?? "inactive"
            print("  inactive:  \(provider.name) → \(provider.baseURL) (\(why))")
        }
        for book in config.pricing.priceBooks.values.sorted(by: { $0.name < $1.name }) {
            let versions = book.versions.map { $0.effectiveMs == .min ? "always" : "from \(Timestamps.iso8601($0.effectiveMs))" }
            let isDefault = book.name == config.pricing.defaultPriceBook ? ", default" : ""
            print("  book:      \(book.name) (\(book.currency)\(isDefault); \(versions.joined(separator: ", ")))")
        }
        for (customer, terms) in config.pricing.customers.sorted(by: { $0.key < $1.key }) {
            var parts = ["book \(terms.priceBook ?? config.pricing.defaultPriceBook ?? "none (markup)")"]
            if let hold = terms.hold {
                parts.append("held on \(Timestamps.iso8601(hold.versionEffectiveMs)) until \(Timestamps.iso8601(hold.untilMs))")
            }
            if !terms.discounts.isEmpty { parts.append("\(terms.discounts.count) discount(s)") }
            if !terms.rates.models.isEmpty { parts.append("\(terms.rates.models.count) own rate(s)") }
            print("  customer:  \(customer): \(parts.joined(separator: ", "))")
        }
        for (model, alias) in config.modelAliases.sorted(by: { $0.key < $1.key }) {
            print("  alias:     \(model) → \(alias.provider)\(alias.model.map { "/\($0)" } ?? "")")
        }
    }
}
