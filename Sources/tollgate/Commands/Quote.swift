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

            With --cases FILE (JSON Lines, `-` for stdin), prices many usages in one run: each line is an object with \
            "model" and any of "input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning", \
            "input_audio", "output_audio", "web_search", "tier"; one JSON result per line is printed (the object \
            --format json prints, or {"error": ..., "case": N} for a case that cannot be priced; the exit status is \
            then 1).
            """)

    @OptionGroup var options: ConfigOption
    @Option(help: "A catalog file (a provider file, or one written by `tollgate rates import-litellm`).") var catalog: String?
    @Option(help: "Provider whose catalog prices the model.") var provider: String?
    @Option(help: "Model name.") var model: String?
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
    @Option(help: FormatOption.tableOrJSON.help(), transform: FormatOption.tableOrJSON.read)
    var format = FormatOption.tableOrJSON.defaultFormat
    @Option(help: "Price every case of a JSON Lines file (`-`: stdin), one JSON result per line.") var cases: String?

    /// One usage to price.
    struct Case {
        var model: String
        var usage: TokenUsage
        var tier: String?
    }

    /// Where the prices come from, resolved once per run.
    struct Pricing {
        var rules: PricingRules
        var config: TollgateConfig
        /// The catalog name in `rules` when --catalog or --provider chose it.
        var fixedProvider: String?
        var timestampMs: Int64
    }

    func run() async throws {
        if cases != nil, model != nil { throw ValidationError("give --model or --cases, not both") }
        let timestampMs = try at.map { try parseTimeMs($0, option: "--at") } ?? Timestamps.nowMs()
        let config = try loadConfig(options.config)
        var rules = config.pricingRules
        var fixedProvider: String?
        if let catalog {
            fixedProvider = "catalog"
            rules.catalogs = ["catalog": try loadCatalog(catalog)]
        } else if let provider {
            guard rules.catalogs[provider] != nil else {
                throw ValidationError("no provider '\(provider)' (configured: \(rules.catalogs.keys.sorted().joined(separator: ", ")))")
            }
            fixedProvider = provider
        }
        let pricing = Pricing(rules: rules, config: config, fixedProvider: fixedProvider, timestampMs: timestampMs)
        if let cases {
            try runCases(cases, pricing: pricing)
            return
        }
        guard let model else { throw ValidationError("--model is required (or --cases FILE)") }
        for (name, value) in [
            ("--input", input), ("--output", output), ("--cache-read", cacheRead), ("--cache-write", cacheWrite), ("--cache-write-1h", cacheWrite1h),
            ("--reasoning", reasoning), ("--input-audio", inputAudio), ("--output-audio", outputAudio), ("--web-search", webSearch),
        ] where value < 0 {
            throw ValidationError("\(name) cannot be negative")
        }
        guard reasoning <= output else { throw ValidationError("--reasoning is part of --output and cannot exceed it") }
        let usage = TokenUsage(
            inputTokens: input, cacheReadTokens: cacheRead, cacheWriteTokens: max(cacheWrite, cacheWrite1h), cacheWrite1hTokens: cacheWrite1h,
            outputTokens: output, reasoningTokens: reasoning, inputAudioTokens: inputAudio, outputAudioTokens: outputAudio,
            webSearchRequests: webSearch)
        let quoted = try quote(Case(model: model, usage: usage, tier: tier), pricing: pricing)
        if format == .json {
            print(try jsonLine(quoted.object))
            return
        }
        let (breakdown, currency, pricedAs, providerName, priced) = quoted.parts
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

    /// Prices one case: the object `--format json` prints, and its parts for the table.
    private func quote(
        _ item: Case, pricing: Pricing
    ) throws -> (
        object: [String: Any],
        parts: (
            breakdown: PriceBreakdown, currency: String, pricedAs: String, provider: String,
            priced: (price: Money, currency: String, label: String, pricedByRateCard: Bool)
        )
    ) {
        let rules = pricing.rules
        let providerName: String
        if let fixed = pricing.fixedProvider {
            providerName = fixed
        } else {
            let order = [pricing.config.defaultProvider] + rules.catalogs.keys.sorted().filter { $0 != pricing.config.defaultProvider }
            guard let found = order.first(where: { rules.catalogs[$0]?.price(for: item.model, at: pricing.timestampMs) != nil }) else {
                throw ValidationError("no price for model '\(item.model)' in the catalogs of \(order.joined(separator: ", ")) (try --catalog FILE)")
            }
            providerName = found
        }
        guard
            let (breakdown, currency, pricedAs) = rules.cost(
                provider: providerName, usage: item.usage, models: [item.model], serviceTier: item.tier, at: pricing.timestampMs, billable: true)
        else {
            throw ValidationError("no price for model '\(item.model)' in \(catalog ?? "the catalog of \(providerName)")")
        }
        let priced = rules.price(
            customer: customer ?? "", usage: item.usage, cost: breakdown.total, costCurrency: currency, models: [item.model], serviceTier: item.tier,
            at: pricing.timestampMs, billable: true)
        let lines: [[String: Any]] = breakdown.lines.map { line in
            var object: [String: Any] = [
                "class": line.priceClass.rawValue, "quantity": line.quantity, "rate": line.rate.description, "amount": line.amount.description,
            ]
            if line.priceClass.isTokenClass { object["rate_per_million"] = line.rate.perMillionDescription }
            if let source = line.rateFrom { object["rate_from"] = source.rawValue }
            return object
        }
        var object: [String: Any] = [
            "model": item.model, "priced_as": pricedAs, "provider": catalog == nil ? providerName : NSNull(), "cost": breakdown.total.description,
            "currency": currency, "price": priced.price.description, "price_currency": priced.currency, "price_book": priced.label,
            "margin": (priced.currency == currency ? (priced.price - breakdown.total).description : NSNull()) as Any, "lines": lines,
            "at": Timestamps.iso8601(pricing.timestampMs), "service_tier": breakdown.serviceTier ?? "standard",
        ]
        if let threshold = breakdown.longContextThreshold { object["long_context_above"] = threshold }
        return (object, (breakdown, currency, pricedAs, providerName, priced))
    }

    private func jsonLine(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    static let caseKeys: Set<String> = [
        "model", "input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning", "input_audio", "output_audio", "web_search",
        "tier",
    ]

    /// Reads one line of a cases file.
    static func parseCase(_ line: String) throws -> Case {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw ValidationError("not a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !caseKeys.contains($0) }) {
            throw ValidationError("unknown key '\(unknown)' (known: \(caseKeys.sorted().joined(separator: ", ")))")
        }
        guard let model = object["model"] as? String, !model.isEmpty else { throw ValidationError("'model' (a string) is required") }
        func count(_ key: String) throws -> Int {
            guard let value = object[key], !(value is NSNull) else { return 0 }
            guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue), int >= 0,
                String(cString: number.objCType) != "c"
            else { throw ValidationError("'\(key)' must be a whole number of tokens, not \(value)") }
            return int
        }
        let output = try count("output")
        let reasoning = try count("reasoning")
        guard reasoning <= output else { throw ValidationError("'reasoning' is part of 'output' and cannot exceed it") }
        let cacheWrite1h = try count("cache_write_1h")
        var tier: String?
        if let value = object["tier"], !(value is NSNull) {
            guard let text = value as? String else { throw ValidationError("'tier' must be a string") }
            tier = text
        }
        let usage = TokenUsage(
            inputTokens: try count("input"), cacheReadTokens: try count("cache_read"), cacheWriteTokens: max(try count("cache_write"), cacheWrite1h),
            cacheWrite1hTokens: cacheWrite1h, outputTokens: output, reasoningTokens: reasoning, inputAudioTokens: try count("input_audio"),
            outputAudioTokens: try count("output_audio"), webSearchRequests: try count("web_search"))
        return Case(model: model, usage: usage, tier: tier)
    }

    /// `--cases FILE`: one JSON result per non-empty line.
    private func runCases(_ path: String, pricing: Pricing) throws {
        let data: Data?
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            data = FileManager.default.contents(atPath: path)
        }
        guard let data else { throw ValidationError("cannot read the cases file \(path)") }
        var failures = 0
        var number = 0
        var output = ""
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { continue }
            number += 1
            do {
                output += try jsonLine(try quote(try Self.parseCase(text), pricing: pricing).object) + "\n"
            } catch {
                failures += 1
                let message = (error as? ValidationError)?.message ?? "\(error)"
                output += try jsonLine(["case": number, "error": message]) + "\n"
            }
            if output.utf8.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(output.utf8))
                output = ""
            }
        }
        FileHandle.standardOutput.write(Data(output.utf8))
        if failures > 0 { throw refusal("\(failures) of \(number) cases could not be priced") }
    }
}
