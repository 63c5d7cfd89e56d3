import Testing

@testable import TollgateCore

/// ``JSONCounts`` reads a captured usage object's counts as ``JSONFieldScanner`` read them before it.
@Suite("JSON counts")
struct JSONCountsTests {
    static let paths = [
        ["prompt_tokens"], ["completion_tokens"], ["total_tokens"], ["prompt_tokens_details", "cached_tokens"],
        ["prompt_tokens_details", "audio_tokens"], ["completion_tokens_details", "reasoning_tokens"], ["cached_tokens"],
        ["service_tier"],
    ]

    /// What the scanner reads: the reference.
    private func scanned(_ object: [UInt8]) -> [Int?] {
        var scanner = JSONFieldScanner(paths: Self.paths)
        scanner.feed(object)
        scanner.finish()
        return Self.paths.indices.map { scanner.tokenCount(at: $0) }
    }

    @Test(
        "the same counts as the scanner",
        arguments: [
            #"{"prompt_tokens":12,"completion_tokens":100,"total_tokens":112,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":100,"audio_tokens":0}}"#,
            #" { "prompt_tokens" : 12 , "completion_tokens":7 } "#,
            #"{"prompt_tokens":1,"prompt_tokens":2}"#,
            #"{"prompt_tokens":1,"prompt_tokens":null}"#,
            #"{"prompt_tokens":-1,"completion_tokens":2.5,"total_tokens":"3","cached_tokens":1e3}"#,
            #"{"prompt_tokens":1234567890123456,"completion_tokens":123456789012345}"#,
            #"{"prompt_tokens_details":{"cached_tokens":4},"prompt_tokens_details":{"audio_tokens":5}}"#,
            #"{"prompt_tokens_details":null,"completion_tokens_details":[{"reasoning_tokens":9}]}"#,
            #"{"x":{"prompt_tokens":9},"y":[{"prompt_tokens":8}],"prompt_tokens":7}"#,
            #"{"pro\u006dpt_tokens":5,"s":"}{\"prompt_tokens\":6","completion_tokens":{"a":1}}"#,
            #"{"prompt_tokens_details":{"cached_tokens":{"deep":1},"audio_tokens":[1,2]},"total_tokens":0}"#,
            #"{"cached_tokens":11,"x_groq":{"usage":{"prompt_tokens":1}}}"#,
            #"{"\ud800":0,"prompt_tokens":5,"x\ud800y":{"a":1},"completion_tokens":6}"#,
            #"[{"prompt_tokens":1}]"#, "null", "", "{}",
        ])
    func sameAsScanner(_ text: String) {
        let object = Array(text.utf8)
        #expect(JSONCounts(Self.paths).read(object) == scanned(object))
    }

    /// The values the scanner captures, as text: the reference for ``JSONCounts/ranges(in:)``.
    private func captured(_ object: [UInt8]) -> [[UInt8]?] {
        var scanner = JSONFieldScanner(paths: Self.paths)
        scanner.feed(object)
        scanner.finish()
        return Self.paths.indices.map { scanner.value(at: $0) }
    }

    @Test("1,000 random usage objects: the same counts and values as the scanner; every prefix read without a crash")
    func random() {
        var random = SeededGenerator(seed: 17)
        let keys = [
            "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "audio_tokens", "reasoning_tokens", "other", "service_tier",
        ]
        let parents = ["prompt_tokens_details", "completion_tokens_details", "extra"]
        let values = [
            "0", "7", "123", "-4", "1.5", "null", "true", "\"9\"", "[1,{\"prompt_tokens\":3}]", "{}", "99999999999999999", "\"default\"",
            #""a\"b,}""#,
        ]
        func space() -> String { ["", " ", "\n", "\t "].randomElement(using: &random)! }
        func member(depth: Int) -> String {
            if depth == 0, Int.random(in: 0..<4, using: &random) == 0 {
                let inner = (0..<Int.random(in: 0...3, using: &random)).map { _ in member(depth: 1) }
                return "\"\(parents.randomElement(using: &random)!)\"\(space()):\(space()){\(inner.joined(separator: ","))}"
            }
            return "\"\(keys.randomElement(using: &random)!)\"\(space()):\(space())\(values.randomElement(using: &random)!)\(space())"
        }
        let reader = JSONCounts(Self.paths)
        for _ in 0..<1_000 {
            let members = (0..<Int.random(in: 0...8, using: &random)).map { _ in member(depth: 0) }
            let object = Array("\(space()){\(space())\(members.joined(separator: ","))}\(space())".utf8)
            #expect(reader.read(object) == scanned(object), "\(String(decoding: object, as: UTF8.self))")
            #expect(reader.ranges(in: object).map { $0.map { Array(object[$0]) } } == captured(object))
            for cut in 0..<object.count { _ = reader.read(Array(object[..<cut])) }
        }
    }
}
