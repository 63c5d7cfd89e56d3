import ArgumentParser
import Foundation
import TollgateConfiguration
import TollgateCore

/// `tollgate rates`: price catalogs: import LiteLLM's table, show a catalog's prices.
struct Rates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import and inspect price catalogs.", subcommands: [ImportLiteLLM.self, Show.self])

    /// `tollgate rates import-litellm FILE --out PATH`.
    struct ImportLiteLLM: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-litellm",
            abstract: "Convert LiteLLM's price table (model_prices_and_context_window.json) into a Tollgate catalog.",
            discussion: """
                Writes a catalog usable with `tollgate quote --catalog PATH` or as a provider's prices. Rates become exact \
                decimals per million tokens (rounded half to even past 9 decimals, and reported). Entries without a \
                per-token price (per image, per second, per character...) are left out and listed; suspicious prices \
                are kept and flagged. The summary goes to stdout, the flagged and unmapped lists to stderr.
                """)

        @Argument(help: "LiteLLM's model_prices_and_context_window.json.") var file: String
        @Option(help: "Where to write the catalog (YAML).") var out: String
        @Option(help: "Also write the full report (unmapped, flagged, rounded, adjusted, ignored keys) as JSON here.")
        var report: String?
        @Flag(help: "List every flagged and unmapped entry (default: the first \(listLimit) of each).") var verbose = false

        static let listLimit = 20

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                fail("cannot read \(file)")
            }
            let output: LiteLLMImport.Output
            do {
                output = try LiteLLMImport.convert(data, sourceName: URL(fileURLWithPath: file).lastPathComponent)
            } catch {
                fail("\(file): \(error.description)")
            }
            do {
                _ = try ProviderSpec.parse(yaml: output.yaml, file: out).catalog(currency: "USD")
            } catch {
                fail("the catalog written from \(file) does not load (a bug in the import, please report it): \(error.description)", code: 3)
            }
            do {
                try Data(output.yaml.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            } catch {
                fail("cannot write \(out): \(error.localizedDescription)")
            }
            let summary = output.report
            if let report {
                let encoder = JSONEncoder()
                encoder.keyEncodingStrategy = .convertToSnakeCase
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                do {
                    try encoder.encode(summary).write(to: URL(fileURLWithPath: report), options: .atomic)
                } catch {
                    fail("cannot write the report \(report): \(error.localizedDescription)")
                }
            }
            let limit = verbose ? Int.max : Self.listLimit
            if !summary.flagged.isEmpty {
                standardError("flagged (kept in the catalog):")
                for entry in summary.flagged.prefix(limit) {
                    standardError("  \(entry.model)\(entry.provider.map { " [\($0)]" } ?? ""): \(entry.issues.joined(separator: "; "))")
                }
                if summary.flagged.count > limit {
                    standardError("  ... and \(summary.flagged.count - limit) more (--verbose or --report FILE lists them all)")
                }
            }
            if !summary.unmapped.isEmpty {
                standardError("unmapped (left out):")
                for entry in summary.unmapped.prefix(limit) {
                    standardError("  \(entry.model)\(entry.provider.map { " [\($0)]" } ?? ""): \(entry.reason)")
                }
                if summary.unmapped.count > limit {
                    standardError("  ... and \(summary.unmapped.count - limit) more (--verbose or --report FILE lists them all)")
                }
            }
            print("read \(summary.entries) entries from \(file)")
            print(
                "mapped \(summary.mapped), unmapped \(summary.unmapped.count), flagged \(summary.flagged.count), "
                    + "rounded \(summary.roundedEntries)"
                    + (summary.adjusted.isEmpty ? "" : ", adjusted to LiteLLM's billing rules \(summary.adjusted.count)"))
            print("wrote \(out)" + (report.map { " and \($0)" } ?? ""))
        }

        private func fail(_ message: String, code: Int32 = 2) -> Never {
            standardError("error: \(message)")
            Foundation.exit(code)
        }
    }

    /// `tollgate rates show`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the prices of a catalog, per million tokens.",
            discussion: """
                Without --model, one line per model with its standard rates (blank: billed at its fallback's rate, \
                e.g. cache reads at the input rate) and what else it prices. With --model, the rates every service tier \
                and long-context tier bills each class at, fallbacks resolved. Without --catalog or --provider, every \
                configured provider's catalog.
                """)

        @OptionGroup var options: ConfigOption
        @Option(help: "A catalog file (a provider file, or one written by `tollgate rates import-litellm`).") var catalog: String?
        @Option(help: "A configured provider whose catalog to show.") var provider: String?
        @Option(help: "Only this model (found as a quote finds it: snapshots, patterns, provider prefixes).") var model: String?

        func run() async throws {
            guard catalog == nil || provider == nil else { throw ValidationError("give --catalog or --provider, not both") }
            let nowMs = Timestamps.nowMs()
            var catalogs: [(name: String, catalog: PriceCatalog)] = []
            if let catalog {
                catalogs = [(catalog, try loadCatalog(catalog))]
            } else {
                let rules = try loadConfig(options.config).pricingRules
                if let provider {
                    guard let found = rules.catalogs[provider] else {
                        throw ValidationError("no provider '\(provider)' (configured: \(rules.catalogs.keys.sorted().joined(separator: ", ")))")
                    }
                    catalogs = [(provider, found)]
                } else {
                    catalogs = rules.catalogs.keys.sorted().map { ($0, rules.catalogs[$0]!) }
                }
            }
            if let model {
                var found = false
                for (name, catalog) in catalogs {
                    guard let (pricedAs, price) = catalog.price(for: model, at: nowMs) else { continue }
                    if found { print("") }
                    found = true
                    showModel(model, pricedAs: pricedAs, price: price, catalog: name, currency: catalog.currency)
                }
                if !found {
                    throw ValidationError("no price for model '\(model)' in \(catalogs.map(\.name).joined(separator: ", "))")
                }
                return
            }
            for (index, (name, catalog)) in catalogs.enumerated() {
                if index > 0 { print("") }
                let table = catalog.table(at: nowMs)
                print("\(name): \(table.models.count) models, \(catalog.currency) per million tokens (per request / per search for units)")
                showTable(table)
            }
        }

        static let columns: [PriceClass] = [.input, .output, .cacheRead, .cacheWrite, .cacheWrite1h, .reasoning]

        private func rateText(_ priceClass: PriceClass, _ rate: Money) -> String {
            priceClass.isTokenClass ? rate.perMillionDescription : rate.description
        }

        private func showTable(_ table: PriceTable) {
            let rows: [[String]] = table.models.keys.sorted().map { name in
                let price = table.models[name]!
                var cells = [name]
                for priceClass in Self.columns { cells.append(price.rates[priceClass].map { rateText(priceClass, $0) } ?? "") }
                var other: [String] = PriceClass.allCases.filter { !Self.columns.contains($0) }.compactMap { priceClass in
                    price.rates[priceClass].map { "\(priceClass.rawValue) \(rateText(priceClass, $0))" }
                }
                if !price.longContext.isEmpty {
                    other.append(
                        "long context " + price.longContext.map { ($0.inclusive ? "≥" : ">") + String($0.threshold) }.joined(separator: ", "))
                }
                if !price.serviceTiers.isEmpty { other.append("tiers " + price.serviceTiers.keys.sorted().joined(separator: ", ")) }
                cells.append(other.joined(separator: "; "))
                return cells
            }
            printTable(header: ["model"] + Self.columns.map(\.rawValue) + ["other"], rows: rows)
        }

        private func showModel(_ model: String, pricedAs: String, price: ModelPrice, catalog: String, currency: String) {
            var header = "\(model)" + (pricedAs == model ? "" : " priced as \(pricedAs)") + " (\(catalog)), \(currency) per million tokens"
            if let maxInput = price.maxInputTokens { header += ", max input \(maxInput)" }
            if let maxOutput = price.maxOutputTokens { header += ", max output \(maxOutput)" }
            print(header)
            var classes = Set(price.rates.values.keys)
            for tier in price.longContext { classes.formUnion(tier.rates.values.keys) }
            for tier in price.serviceTiers.values {
                classes.formUnion(tier.rates.values.keys)
                for long in tier.longContext { classes.formUnion(long.rates.values.keys) }
            }
            classes.formUnion(Self.columns.prefix(2))
            let shown = PriceClass.allCases.filter { classes.contains($0) }
            var rows: [[String]] = []
            for tier in [nil] + price.serviceTiers.keys.sorted() {
                var thresholds: [(label: String, prompt: Int)] = [("", 0)]
                let long = price.longContext + (tier.flatMap { price.serviceTiers[$0]?.longContext } ?? [])
                for threshold in Set(long.map(\.threshold)).sorted() {
                    let inclusive = long.contains { $0.threshold == threshold && $0.inclusive }
                    thresholds.append(((inclusive ? "≥" : ">") + String(threshold), inclusive ? threshold : threshold + 1))
                }
                for (label, prompt) in thresholds {
                    let resolved = price.rates(for: TokenUsage(inputTokens: prompt), serviceTier: tier).rates
                    var cells = [tier ?? "standard", label]
                    for priceClass in shown {
                        let rate = rateText(priceClass, resolved.effective(priceClass))
                        let source = resolved.source(of: priceClass)
                        cells.append(source == nil || source == priceClass || !priceClass.isTokenClass ? rate : "\(rate) (=\(source!.rawValue))")
                    }
                    rows.append(cells)
                }
            }
            printTable(header: ["tier", "prompt"] + shown.map(\.rawValue), rows: rows)
        }
    }
}
