import Foundation
import Testing
import TollgateCore

@testable import TollgateConfiguration

/// Configuration from disk: the provider definitions compiled into the binary are the files of providers/, and
/// with no config file Tollgate listens on 127.0.0.1:8787 and forwards to OpenAI with the key from the environment.
@Suite("Config files")
struct ConfigFilesTests {
    /// providers/openai.yaml, read from the repository.
    private func openAIFile() throws -> Data {
        try Data(contentsOf: repositoryRoot.appendingPathComponent("providers/openai.yaml"))
    }

    @Test("the built-in OpenAI definition is byte-identical to providers/openai.yaml")
    func builtinIsTheFile() throws {
        #expect(Data(BuiltinProviders.openAI.utf8) == (try openAIFile()))
    }

    @Test("the built-in OpenAI definition has the text of providers/openai.yaml, newlines at the ends aside")
    func builtinHasTheText() throws {
        let file = String(decoding: try openAIFile(), as: UTF8.self)
        #expect(BuiltinProviders.openAI.trimmingCharacters(in: .newlines) == file.trimmingCharacters(in: .newlines))
        #expect(BuiltinProviders.definitions.keys.sorted() == ["openai"])
    }

    @Test("with no config file: 127.0.0.1:8787 and OpenAI keyed from the environment passed")
    func defaults() throws {
        let config = try ConfigFiles.load(path: nil, environment: ["OPENAI_API_KEY": "sk-from-environment"])
        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 8787))
        #expect(config.defaultProvider == "openai")
        let openAI = try #require(config.providers["openai"])
        #expect(openAI.apiKey == "sk-from-environment")
        #expect(openAI.apiKeyEnv == "OPENAI_API_KEY")
        #expect(openAI.baseURL == "https://api.openai.com")
        #expect(openAI.auth == .bearer)
        #expect(openAI.api(forPath: "/v1/chat/completions") == .openAIChat)
        #expect(openAI.prices.latest.price(for: "gpt-4o-mini")?.name == "gpt-4o-mini")
        #expect(config.meter.path.hasPrefix("/") && config.meter.path.hasSuffix("/tollgate.db"))
    }

    @Test("the key comes from the environment passed, not the process's", arguments: [[:], ["OPENAI_API_KEY": ""]])
    func keyOnlyFromEnvironmentPassed(_ environment: [String: String]) throws {
        let config = try ConfigFiles.load(path: nil, environment: environment)
        // No key: OpenAI is not active (a request for it gets 404 provider_inactive), and holds no key.
        #expect(config.providers["openai"] == nil)
        #expect(try #require(config.inactiveProviders["openai"]).apiKey == nil)
    }

    @Test("a config file's relative meter and file-sink paths are taken from the file's folder")
    func configFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("tollgate.yaml").path
            let yaml = """
                listen: "0.0.0.0:9999"
                meter: {path: data/meter.db}
                providers:
                  openai: {base_url: "http://127.0.0.1:9000/"}
                sinks:
                  files: {type: csv, path: "exports/lines-{period}.csv"}
                  absolute: {type: jsonl, path: "/var/exports/lines.jsonl"}
                """
            try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
            let config = try ConfigFiles.load(path: path, environment: [:])
            #expect(config.listen == ListenAddress(host: "0.0.0.0", port: 9999))
            #expect(config.meter.path == directory.appendingPathComponent("data/meter.db").path)
            #expect(config.sinks["files"]?.path == directory.appendingPathComponent("exports/lines-{period}.csv").path)
            #expect(config.sinks["absolute"]?.path == "/var/exports/lines.jsonl")
            #expect(config.providers["openai"]?.baseURL == "http://127.0.0.1:9000")
            #expect(config.providers["openai"]?.prices.price(for: "gpt-4o", at: 0)?.name == "gpt-4o", "prices kept from the definition")
        }
    }

    @Test("a missing config file is an error naming it")
    func missingFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("absent.yaml").path
            let error = #expect(throws: ConfigError.self) { try ConfigFiles.load(path: path, environment: [:]) }
            #expect(error?.file == path)
        }
    }

    // MARK: Price books on disk

    /// Writes `files` (relative path → text) under `directory`, making folders as needed.
    private func write(_ files: [String: String], in directory: URL) throws {
        for (path, text) in files {
            let url = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
    }

    /// A config with one local OpenAI-compatible provider (USD) and `pricing` as given.
    private func config(pricing: String) -> String {
        """
        providers:
          openai: {base_url: "http://127.0.0.1:9000"}
        pricing:
        \(pricing)
        """
    }

    @Test("price-books/ beside the config file is read by default; a book is named by its file")
    func defaultBookFolder() throws {
        try withTemporaryDirectory { directory in
            try write(
                [
                    "tollgate.yaml": config(pricing: "  default_price_book: standard"),
                    "price-books/standard.yaml": "markup: \"1.25\"\n",
                    "price-books/growth.yml": "markup: \"1.5\"\nversions:\n  - {effective: 2026-06-01, markup: \"1.6\"}\n",
                    "price-books/notes.txt": "not a book",
                ], in: directory)
            let loaded = try ConfigFiles.load(path: directory.appendingPathComponent("tollgate.yaml").path, environment: [:])
            #expect(loaded.pricing.priceBooks.keys.sorted() == ["growth", "standard"])
            #expect(loaded.pricing.priceBooks["growth"]?.versions.count == 2)
            let rating = loaded.pricingRules.rate(
                provider: "openai", customer: "c", usage: TokenUsage(inputTokens: 1_000_000), servedModel: "gpt-4o-mini", requestedModel: nil,
                serviceTier: nil, at: 0)
            #expect(rating.priceBook == "standard")
            #expect(rating.price == rating.cost.multiplied(by: DecimalRatio("1.25")!))
            #expect(rating.cost > .zero, "gpt-4o-mini is priced by the built-in catalog")
        }
    }

    @Test("pricing.price_books names files and folders relative to the config file; a book may name itself")
    func namedBookPaths() throws {
        try withTemporaryDirectory { directory in
            try write(
                [
                    "etc/tollgate.yaml": config(pricing: "  price_books: [plans/gold.yaml, more]\n  default_price_book: premium"),
                    "etc/plans/gold.yaml": "name: premium\ncurrency: EUR\nrates:\n  gpt-4o: {input: \"3\", output: \"12\"}\n",
                    "etc/plans/ignored.yaml": "markup: nonsense\n",
                    "etc/more/basic.yaml": "markup: \"1.1\"\n",
                    "etc/price-books/unused.yaml": "markup: \"9\"\n",
                ], in: directory)
            let loaded = try ConfigFiles.load(path: directory.appendingPathComponent("etc/tollgate.yaml").path, environment: [:])
            #expect(loaded.pricing.priceBooks.keys.sorted() == ["basic", "premium"], "only what price_books names")
            #expect(loaded.pricing.priceBooks["premium"]?.currency == "EUR")
            #expect(loaded.pricing.defaultPriceBook == "premium")
        }
    }

    @Test("a price_books entry that does not exist is an error naming the config file")
    func missingBookPath() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("tollgate.yaml").path
            try write(["tollgate.yaml": config(pricing: "  price_books: [nope]")], in: directory)
            let error = try #require(throws: ConfigError.self) { try ConfigFiles.load(path: path, environment: [:]) }
            #expect(error.file == path)
            #expect(error.message.contains("'nope' is neither a file nor a folder"), "\(error)")
        }
    }

    @Test("two price books with one name are refused, naming the second file")
    func duplicateBookName() throws {
        try withTemporaryDirectory { directory in
            try write(
                [
                    "tollgate.yaml": config(pricing: "  markup: \"1\""),
                    "price-books/a.yaml": "name: standard\nmarkup: \"1.1\"\n",
                    "price-books/standard.yaml": "markup: \"1.2\"\n",
                ], in: directory)
            let error = try #require(throws: ConfigError.self) {
                try ConfigFiles.load(path: directory.appendingPathComponent("tollgate.yaml").path, environment: [:])
            }
            #expect(error.file == directory.appendingPathComponent("price-books/standard.yaml").path)
            #expect(error.message.contains("a second price book named 'standard'"), "\(error)")
        }
    }

    @Test("a mistake inside a price book names the book file and line")
    func brokenBook() throws {
        try withTemporaryDirectory { directory in
            try write(
                [
                    "tollgate.yaml": config(pricing: "  default_price_book: standard"),
                    "price-books/standard.yaml":
                        "markup: \"1.2\"\ncharges:\n  - meter: requests\n    tiered:\n      - {unit_price: \"0.1\"}\n      - {up_to: 10, unit_price: \"0.2\"}\n",
                ], in: directory)
            let error = try #require(throws: ConfigError.self) {
                try ConfigFiles.load(path: directory.appendingPathComponent("tollgate.yaml").path, environment: [:])
            }
            #expect(error.file == directory.appendingPathComponent("price-books/standard.yaml").path)
            #expect(error.line == 5)
            #expect(error.message.contains("only the last tier may leave out 'up_to'"), "\(error)")
        }
    }

    @Test("a default book that is not on disk is an error at its line in the config file")
    func unknownDefaultBook() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("tollgate.yaml").path
            try write(
                ["tollgate.yaml": config(pricing: "  default_price_book: gold"), "price-books/standard.yaml": "markup: \"1\"\n"], in: directory)
            let error = try #require(throws: ConfigError.self) { try ConfigFiles.load(path: path, environment: [:]) }
            #expect(error.file == path)
            #expect(error.line == 4)
            #expect(error.message.contains("no price book named 'gold' (known: standard)"), "\(error)")
        }
    }

    @Test("the price-book folder and its files are among the sources a reload watches")
    func sourcesIncludeBooks() throws {
        try withTemporaryDirectory { directory in
            try write(["tollgate.yaml": config(pricing: "  markup: \"1\""), "price-books/standard.yaml": "markup: \"1\"\n"], in: directory)
            let sources = ConfigFiles.sources(path: directory.appendingPathComponent("tollgate.yaml").path)
            let resolved = sources.map { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path }
            let expected = directory.appendingPathComponent("price-books/standard.yaml").standardizedFileURL.resolvingSymlinksInPath().path
            #expect(resolved.contains(expected), "\(sources)")
            #expect(resolved.contains(directory.appendingPathComponent("tollgate.yaml").standardizedFileURL.resolvingSymlinksInPath().path))
        }
    }
}
