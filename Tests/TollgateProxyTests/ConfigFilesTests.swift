import Foundation
import Testing
import TollgateCore

@testable import TollgateProxy

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
        #expect(openAI.prices.price(for: "gpt-4o-mini")?.name == "gpt-4o-mini")
        #expect(config.meter.path.hasPrefix("/") && config.meter.path.hasSuffix("/tollgate.db"))
    }

    @Test("the key comes from the environment passed, not the process's", arguments: [[:], ["OPENAI_API_KEY": ""]])
    func keyOnlyFromEnvironmentPassed(_ environment: [String: String]) throws {
        let config = try ConfigFiles.load(path: nil, environment: environment)
        #expect(try #require(config.providers["openai"]).apiKey == nil)
    }

    @Test("a config file's relative meter path is taken from the file's folder")
    func configFile() throws {
        try withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("tollgate.yaml").path
            let yaml = """
                listen: "0.0.0.0:9999"
                meter: {path: data/meter.db}
                providers:
                  openai: {base_url: "http://127.0.0.1:9000/"}
                """
            try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
            let config = try ConfigFiles.load(path: path, environment: [:])
            #expect(config.listen == ListenAddress(host: "0.0.0.0", port: 9999))
            #expect(config.meter.path == directory.appendingPathComponent("data/meter.db").path)
            #expect(config.providers["openai"]?.baseURL == "http://127.0.0.1:9000")
            #expect(config.providers["openai"]?.prices.price(for: "gpt-4o")?.name == "gpt-4o", "prices kept from the definition")
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
}
