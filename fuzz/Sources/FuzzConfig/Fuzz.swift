import Foundation
import FuzzSupport
import TollgateCore

/// The config loader and its YAML reading: a config file (parsed, then resolved against the repository's provider
/// definitions and price books), a provider file, or a price book file, as the first control byte says. Whatever
/// the text, loading ends in a value or a `ConfigError` naming the file, never a crash; the loaded config's
/// providers each have a base URL and routes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count, controlCount: 1)
    let text = String(decoding: input.body, as: UTF8.self)
    do {
        switch input.control[0] % 3 {
        case 0:
            let document = try ConfigLoader.parse(yaml: text, file: "fuzz.yaml")
            let config = try ConfigLoader.resolve(document, definitions: definitions, priceBooks: priceBooks, environment: environment)
            for provider in config.providers.values {
                require(!provider.name.isEmpty, "a provider without a name")
            }
        case 1:
            _ = try ProviderSpec.parse(yaml: text, file: "fuzz-provider.yaml")
        default:
            _ = try PriceBookFile.parse(yaml: text, file: "fuzz-book.yaml", name: "fuzz")
        }
    } catch {
        require(error.file.hasPrefix("fuzz") || !error.file.isEmpty, "an error without a file")
    }
    return 0
}

/// The repository's folder, found from this file's place (fuzz/Sources/FuzzConfig/Fuzz.swift).
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

private func yamlFiles(_ folder: String) -> [(name: String, path: String, text: String)] {
    let directory = repository.appendingPathComponent(folder).path
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
    return names.compactMap { name in
        let path = directory + "/" + name
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return (String(name.dropLast(".yaml".count)), path, text)
    }
}

/// The provider definitions of providers/.
private let definitions: [String: ProviderSpec] = {
    var table: [String: ProviderSpec] = [:]
    for file in yamlFiles("providers") {
        guard let spec = try? ProviderSpec.parse(yaml: file.text, file: file.path) else { fatalError("cannot read \(file.path)") }
        table[file.name] = spec
    }
    precondition(!table.isEmpty, "no provider definitions under \(repository.path)/providers")
    return table
}()

/// The price books of config/price-books/.
private let priceBooks: [String: PriceBook] = {
    var table: [String: PriceBook] = [:]
    for file in yamlFiles("config/price-books") {
        guard let book = try? PriceBookFile.parse(yaml: file.text, file: file.path, name: file.name) else { fatalError("cannot read \(file.path)") }
        table[book.name] = book
    }
    return table
}()

private let environment = [
    "OPENAI_API_KEY": "sk-fuzz", "ANTHROPIC_API_KEY": "sk-ant-fuzz", "TOLLGATE_ADMIN_TOKEN": String(repeating: "t", count: 40),
    "AWS_ACCESS_KEY_ID": "AKIAFUZZ", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1",
]
