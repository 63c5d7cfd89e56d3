import Foundation
import TollgateCore

/// Reads the config file and the provider definitions from disk and resolves them into a ``TollgateConfig``.
///
/// Provider definitions come from, in order of precedence: the folder named by `providers_dir` (relative to the
/// config file), else `providers/` beside the config file, else `providers/` in the working directory; the
/// definitions compiled into the binary fill in any name none of those has. A relative meter path (and a file sink's
/// path) is taken relative to the config file's folder (the working directory when there is no file).
///
/// Price books come from `pricing.price_books` (files or folders, relative to the config file), else
/// `price-books/` beside the config file, else `price-books/` in the working directory.
public enum ConfigFiles {
    /// Loads `path`, or the embedded defaults when `path` is `nil`.
    public static func load(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> TollgateConfig {
        let fileManager = FileManager.default
        var document = ConfigLoader.Document()
        var baseDirectory = fileManager.currentDirectoryPath
        if let path {
            guard let data = fileManager.contents(atPath: path) else {
                throw ConfigError(file: path, line: nil, message: "cannot read the config file (does it exist?)")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ConfigError(file: path, line: nil, message: "the config file is not UTF-8 text")
            }
            document = try ConfigLoader.parse(yaml: text, file: path)
            baseDirectory = (absolute(path, in: baseDirectory) as NSString).deletingLastPathComponent
        }
        let definitions = try loadDefinitions(document: document, baseDirectory: baseDirectory)
        let priceBooks = try loadPriceBooks(document: document, baseDirectory: baseDirectory)
        var config = try ConfigLoader.resolve(document, definitions: definitions, priceBooks: priceBooks, environment: environment)
        config.meter.path = absolute(config.meter.path, in: baseDirectory)
        if let file = config.meter.passwordFile, config.meter.password == nil {
            let path = absolute(file, in: baseDirectory)
            guard let data = fileManager.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigError(file: path, line: nil, message: "cannot read meter.password_file (does it exist, is it readable?)")
            }
            config.meter.password = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        for (name, sink) in config.sinks {
            if let path = sink.path, !path.hasPrefix("~") { config.sinks[name]?.path = absolute(path, in: baseDirectory) }
        }
        return config
    }

    /// The files and folders a config is read from (the config file, provider and price-book folders and files):
    /// what a reload watches.
    public static func sources(path: String?) -> [String] {
        let workingDirectory = FileManager.default.currentDirectoryPath
        var baseDirectory = workingDirectory
        var paths: [String] = []
        var document = ConfigLoader.Document()
        if let path {
            let file = absolute(path, in: workingDirectory)
            paths.append(file)
            baseDirectory = (file as NSString).deletingLastPathComponent
            if let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8),
                let parsed = try? ConfigLoader.parse(yaml: text, file: path)
            {
                document = parsed
            }
        }
        let providerFolders =
            document.providersDirectory.map { [absolute($0, in: baseDirectory)] }
            ?? [absolute("providers", in: baseDirectory), absolute("providers", in: workingDirectory)]
        let bookPaths =
            document.config.pricing.priceBookPaths?.map { absolute($0, in: baseDirectory) }
            ?? [absolute("price-books", in: baseDirectory), absolute("price-books", in: workingDirectory)]
        for folder in providerFolders + bookPaths where !paths.contains(folder) {
            paths.append(folder)
            paths += yamlFiles(in: folder)
        }
        return paths
    }

    /// The price books a config document names (or the default folder holds), by name.
    static func loadPriceBooks(document: ConfigLoader.Document, baseDirectory: String) throws(ConfigError) -> [String: PriceBook] {
        var files: [String] = []
        if let named = document.config.pricing.priceBookPaths {
            for entry in named {
                let path = absolute(entry, in: baseDirectory)
                if isDirectory(path) {
                    files += yamlFiles(in: path)
                } else if FileManager.default.fileExists(atPath: path) {
                    files.append(path)
                } else {
                    throw ConfigError(file: document.file, line: nil, message: "pricing.price_books: '\(entry)' is neither a file nor a folder")
                }
            }
        } else if let folder = [absolute("price-books", in: baseDirectory), absolute("price-books", in: FileManager.default.currentDirectoryPath)]
            .first(where: { isDirectory($0) })
        {
            files = yamlFiles(in: folder)
        }
        var books: [String: PriceBook] = [:]
        for path in files {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigError(file: path, line: nil, message: "cannot read the price book")
            }
            let book = try PriceBookFile.parse(yaml: text, file: path, name: ((path as NSString).lastPathComponent as NSString).deletingPathExtension)
            if books[book.name] != nil { throw ConfigError(file: path, line: nil, message: "a second price book named '\(book.name)'") }
            books[book.name] = book
        }
        return books
    }

    private static func yamlFiles(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            .map { (folder as NSString).appendingPathComponent($0) }
    }

    /// The provider definitions that apply to a config document.
    static func loadDefinitions(document: ConfigLoader.Document, baseDirectory: String) throws(ConfigError) -> [String: ProviderSpec] {
        var definitions: [String: ProviderSpec] = [:]
        for (name, text) in BuiltinProviders.definitions {
            definitions[name] = try ProviderSpec.parse(yaml: text, file: "<built-in \(name).yaml>")
        }
        let candidates: [String]
        if let named = document.providersDirectory {
            let directory = absolute(named, in: baseDirectory)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ConfigError(file: document.file, line: nil, message: "providers_dir '\(named)' is not a folder")
            }
            candidates = [directory]
        } else {
            candidates = [absolute("providers", in: baseDirectory), absolute("providers", in: FileManager.default.currentDirectoryPath)]
        }
        guard let directory = candidates.first(where: { isDirectory($0) }) else { return definitions }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            $0.hasSuffix(".yaml") || $0.hasSuffix(".yml")
        }
        for file in files.sorted() {
            let path = (directory as NSString).appendingPathComponent(file)
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ConfigError(file: path, line: nil, message: "cannot read the provider file")
            }
            definitions[(file as NSString).deletingPathExtension] = try ProviderSpec.parse(yaml: text, file: path)
        }
        return definitions
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private static func absolute(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
    }
}
