import ArgumentParser
import Foundation
import TollgateCore

/// `tollgate quote`: prices a hypothetical usage with a class-by-class breakdown.
struct Quote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Price a hypothetical usage: provider cost and customer price, class by class.",
        discussion: """
            Token classes are disjoint, as on events: --input counts prompt tokens neither read from nor written to a \
            cache; --cache-read and --cache-write are apart from it (--cache-write-1h is the 1-hour part of \
            --cache-write); --reasoning is the part of --output that is reasoning. The long-context threshold compares \
            input + cache reads + cache writes. Without --catalog, the prices of the config's providers are used \
            (--provider picks one; otherwise the first that prices the model, the default provider first).
            """)

    @OptionGroup var options: ConfigOption
    @Option(help: "A catalog file (a provider file, or one written by `tollgate rates import-litellm`).") var catalog: String?
    @Option(help: "Provider whose catalog prices the model.") var provider: String?
    @Option(help: "Model name.") var model: String
    @Option(help: "Uncached input tokens.") var input: Int = 0
    @Option(help: "Output tokens (reasoning included).") var output: Int = 0
    @Option(name: .customLong("cache-read"), help: "Tokens read from a cache.") var cacheRead: Int = 0
    @Option(name: .customLong("cache-write"), help: "Tokens written to a cache (all lifetimes).") var cacheWrite: Int = 0
    @Option(name: .customLong("cache-write-1h"), help: "The 1-hour part of --cache-write (added to it when larger).")
    var cacheWrite1h: Int = 0
    @Option(help: "The reasoning part of --output.") var reasoning: Int = 0
    @Option(name: .customLong("input-audio"), help: "Audio tokens inside --input.") var inputAudio: Int = 0
    @Option(name: .customLong("output-audio"), help: "Audio tokens inside --output.") var outputAudio: Int = 0
    @Option(name: .customLong("web-search"), help: "Server-side web searches.") var webSearch: Int = 0
    @Option(help: "Service tier: batch, flex, priority (default: standard).") var tier: String?
    @Option(help: "Price for this customer's terms (default: the default price book, else the markup).") var customer: String?
    @Option(help: "Price as of this time (ISO 8601; default: now).") var at: String?
    @Option(help: "table or json.") var format: String = "table"

    func run() async throws {
        guard ["table", "json"].contains(format) else { throw ValidationError("--format is table or json") }
        for (name, value) in [
            ("--input", input), ("--output", output), ("--cache-read", cacheRead), ("--cache-write", cacheWrite), ("--cache-write-1h", cacheWrite1h),
            ("--reasoning", reasoning), ("--input-audio", inputAudio), ("--output-audio", outputAudio), ("--web-search", webSearch),
        ] where value < 0 {
            throw ValidationError("\(name) cannot be negative")
        }
        guard reasoning <= output else { throw ValidationError("--reasoning is part of --output and cannot exceed it") }
        let timestampMs =
            try at.map { try parseTime($0, option: "--at") }.map { Int64($0.timeIntervalSince1970 * 1000) }
            ?? Int64(Date().timeIntervalSince1970 * 1000)
        let config = try loadConfig(options.config)
        var rules = config.pricingRules
        let providerName: String
        if let catalog {
            providerName = "catalog"
            rules.catalogs = [providerName: try loadCatalog(catalog)]
        } else if let provider {
            guard rules.catalogs[provider] != nil else {
                throw ValidationError("no provider '\(provider)' (configured: \(rules.catalogs.keys.sorted().joined(separator: ", ")))")
            }
            providerName = provider
        } else {
            let order = [config.defaultProvider] + rules.catalogs.keys.sorted().filter { $0 != config.defaultProvider }
            guard let found = order.first(where: { rules.catalogs[$0]?.price(for: model, at: timestampMs) != nil }) else {
                throw ValidationError("no price for model '\(model)' in the catalogs of \(order.joined(separator: ", ")) (try --catalog FILE)")
            }
            providerName = found
        }
        let usage = TokenUsage(
            inputTokens: input, cacheReadTokens: cacheRead, cacheWriteTokens: max(cacheWrite, cacheWrite1h), cacheWrite1hTokens: cacheWrite1h,
            outputTokens: output, reasoningTokens: reasoning, inputAudioTokens: inputAudio, outputAudioTokens: outputAudio,
            webSearchRequests: webSearch)
        guard
            let (breakdown, currency, pricedAs) = rules.cost(
                provider: providerName, usage: usage, models: [model], serviceTier: tier, at: timestampMs, billable: true)
        else {
            throw ValidationError("no price for model '\(model)' in \(catalog ?? "the catalog of \(providerName)")")
        }
        let priced = rules.price(
            customer: customer ?? "", usage: usage, cost: breakdown.total, models: [model], serviceTier: tier, at: timestampMs, billable: true)
        if format == "json" {
            let lines: [[String: Any]] = breakdown.lines.map { line in
                var object: [String: Any] = [
                    "class": line.priceClass.rawValue, "quantity": line.quantity, "rate": line.rate.description, "amount": line.amount.description,
                ]
                if line.priceClass.isTokenClass { object["rate_per_million"] = line.rate.perMillionDescription }
                if let source = line.rateFrom { object["rate_from"] = source.rawValue }
                return object
            }
            var object: [String: Any] = [
                "model": model, "priced_as": pricedAs, "provider": catalog == nil ? providerName : NSNull(), "cost": breakdown.total.description,
                "currency": currency, "price": priced.price.description, "price_currency": priced.currency, "price_book": priced.label,
                "margin": (priced.currency == currency ? (priced.price - breakdown.total).description : NSNull()) as Any, "lines": lines,
                "at": Timestamps.iso8601(timestampMs), "service_tier": breakdown.serviceTier ?? "standard",
            ]
            if let threshold = breakdown.longContextThreshold { object["long_context_above"] = threshold }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(
            "\(model) priced as \(pricedAs) (\(catalog ?? providerName)), \(breakdown.serviceTier ?? "standard") tier"
                + (breakdown.longContextThreshold.map { ", long context above \($0) tokens" } ?? ""))
        printTable(
            header: ["class", "quantity", "rate / 1M or unit", "amount"],
            rows: breakdown.lines.map { line in
                [
                    line.priceClass.rawValue + (line.rateFrom.map { " (at \($0.rawValue) rate)" } ?? ""), String(line.quantity),
                    line.priceClass.isTokenClass ? line.rate.perMillionDescription : line.rate.description, line.amount.description,
                ]
            })
        print("cost:   \(breakdown.total) \(currency)")
        print("price:  \(priced.price) \(priced.currency) (\(priced.label))")
        if priced.currency == currency { print("margin: \(priced.price - breakdown.total) \(currency)") }
    }
}

/// Reads a catalog file: a provider file or a catalog written by `tollgate rates import-litellm`.
func loadCatalog(_ path: String) throws -> PriceCatalog {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ValidationError("cannot read the catalog \(path)")
    }
    do {
        return try ProviderSpec.parse(yaml: text, file: path).catalog(currency: "USD")
    } catch {
        FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
        throw ExitCode(2)
    }
}
