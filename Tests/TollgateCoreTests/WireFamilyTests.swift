import Foundation
import Testing

@testable import TollgateCore

/// Each wire family is described once, in its folder: these tests hold the descriptors together and keep the rest of
/// the code from listing families again.
@Suite("Wire families")
struct WireFamilyTests {
    /// The repository root (this file is Tests/TollgateCoreTests/WireFamilyTests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The folder of a family's files under Sources/TollgateCore/WireFormats, named like its `*Family.swift`.
    static func folder(of family: WireFamily) throws -> URL {
        let formats = root.appendingPathComponent("Sources/TollgateCore/WireFormats")
        for name in try FileManager.default.contentsOfDirectory(atPath: formats.path) {
            let file = formats.appendingPathComponent(name).appendingPathComponent("\(name)Family.swift")
            guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
            if text.contains("name: \"\(family.name)\"") { return formats.appendingPathComponent(name) }
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no folder describes family \(family.name)"])
    }

    /// Every Swift file under Sources, less the simulator (a stand-in for the providers, not part of Tollgate).
    static func sourceFiles() -> [URL] {
        let sources = root.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return files.filter { $0.pathExtension == "swift" && !$0.path.contains("/TollgateSimulator/") }
    }

    /// The code of a file without its comments (line comments only: the sources use no block comments).
    static func code(_ file: URL) throws -> String {
        try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in
                guard let range = line.range(of: "//") else { return String(line) }
                return String(line[..<range.lowerBound])
            }
            .joined(separator: "\n")
    }

    @Test("every family has a folder with its descriptor, and a unique name")
    func folders() throws {
        #expect(Set(WireFamilies.all.map(\.name)).count == WireFamilies.all.count)
        for family in WireFamilies.all { _ = try Self.folder(of: family) }
    }

    @Test("every API is declared by exactly one family, parses from its name, and routes of a family name its APIs")
    func apis() {
        let names = WireFamilies.all.flatMap { $0.apis.map(\.name.rawValue) }
        #expect(Set(names).count == names.count)
        for family in WireFamilies.all {
            for api in family.apis {
                #expect(APIName(rawValue: api.name.rawValue) == api.name)
                #expect(api.name.family == family)
                #expect(api.format.api == api.name, "\(api.name)'s format reads \(api.format.api)")
            }
            #expect(!family.defaultRoutes.isEmpty)
        }
        #expect(APIName(rawValue: "openai.realtime") == nil)
        #expect(WireFamily.named("soap") == nil)
    }

    @Test("key locations and credential headers are the union of the families', Authorization forms first")
    func keyLocations() {
        let locations = WireFamilies.keyLocations
        #expect(locations.prefix(2) == [.bearer, .awsAccessKeyID])
        #expect(Set(locations) == Set(WireFamilies.all.flatMap(\.keyLocations)))
        #expect(WireFamilies.credentialHeaders.isSuperset(of: ["authorization", "x-api-key", "api-key", "x-goog-api-key"]))
        for family in WireFamilies.all {
            for case .header(let name) in family.keyLocations {
                #expect(family.credentialHeaders.contains(name), "\(family.name) accepts a key in \(name) but would forward it")
            }
        }
    }

    /// What a file outside a family's folder may not name: the family constant and its API constants.
    static func identifiers(of family: WireFamily, in folder: URL) throws -> [String] {
        let text = try String(contentsOf: folder.appendingPathComponent("\(folder.lastPathComponent)Family.swift"), encoding: .utf8)
        let declared = try NSRegularExpression(pattern: #"static let (\w+) = APIName\(declaring:"#)
        let apis = declared.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
        return [family.name] + apis
    }

    @Test("no file outside a family's folder and the registry names the family or its APIs")
    func noOtherFileListsFamilies() throws {
        let registry = Self.root.appendingPathComponent("Sources/TollgateCore/WireFormats/WireFamilies.swift").standardizedFileURL.path
        var offenders: [String] = []
        for family in WireFamilies.all {
            let folder = try Self.folder(of: family).standardizedFileURL.path + "/"
            let names = try Self.identifiers(of: family, in: URL(fileURLWithPath: folder))
            let pattern = try NSRegularExpression(pattern: #"\.(\#(names.joined(separator: "|")))\b"#)
            for file in Self.sourceFiles() {
                let path = file.standardizedFileURL.path
                if path.hasPrefix(folder) || path == registry { continue }
                let code = try Self.code(file)
                for match in pattern.matches(in: code, range: NSRange(code.startIndex..., in: code)) {
                    guard let range = Range(match.range, in: code) else { continue }
                    // `.openai.com` in a URL string is not the family.
                    let after = code[range.upperBound...].first
                    if after == "." || after == "-" { continue }
                    offenders.append("\(file.lastPathComponent): \(code[range])")
                }
            }
        }
        #expect(offenders.isEmpty, "families named outside their folder: \(offenders)")
    }
}

/// Which provider paths may go through unmetered.
@Suite("Pass-through")
struct PassThroughTests {
    @Test(
        "a provider lets through only its family's read-only paths, and what the operator allowed",
        arguments: [
            ("GET", "/v1/models", Passage.free), ("GET", "/v1/models/gpt-4o", .free), ("POST", "/v1/models", .denied),
            ("POST", "/v1/images/generations", .denied), ("GET", "/v1/files", .denied), ("GET", "/v1/files/f1", .recorded),
            ("DELETE", "/v1/files/f1", .denied),
        ] as [(String, String, Passage)])
    func openAI(method: String, path: String, passage: Passage) {
        let provider = Provider(
            name: "openai", baseURL: "http://127.0.0.1:1", allowedPassThrough: [PassThroughRule(["GET"], "/v1/files/*")])
        #expect(provider.passage(method: method, path: path) == passage)
    }

    @Test("token counting is free for Anthropic and Gemini; Bedrock lets nothing through")
    func families() {
        let anthropic = Provider(name: "anthropic", baseURL: "http://127.0.0.1:1", family: .anthropic)
        #expect(anthropic.passage(method: "POST", path: "/v1/messages/count_tokens") == .free)
        #expect(anthropic.passage(method: "POST", path: "/v1/messages/batches") == .denied)
        let gemini = Provider(name: "gemini", baseURL: "http://127.0.0.1:1", family: .gemini)
        #expect(gemini.passage(method: "POST", path: "/v1beta/models/gemini-2.5-flash:countTokens") == .free)
        #expect(gemini.passage(method: "POST", path: "/v1beta/cachedContents") == .denied)
        let bedrock = Provider(name: "bedrock", baseURL: "http://127.0.0.1:1", family: .bedrock)
        #expect(bedrock.passage(method: "GET", path: "/foundation-models") == .denied)
    }

    @Test("pass_through in a provider entry: paths with methods (GET by default), checked")
    func parsing() throws {
        let spec = try ProviderSpec.parse(
            yaml: """
                base_url: http://127.0.0.1:9
                pass_through:
                  - {path: /v1/files/**}
                  - {path: /v1/batches, methods: [GET, post]}
                """, file: "test.yaml")
        #expect(spec.passThrough == [PassThroughRule(["GET"], "/v1/files/**"), PassThroughRule(["GET", "POST"], "/v1/batches")])
        #expect(throws: ConfigError.self) {
            try ProviderSpec.parse(yaml: "base_url: http://127.0.0.1:9\npass_through: [{path: /x, methods: [FETCH]}]", file: "t.yaml")
        }
    }
}
