import Foundation
import Testing
import TollgateCore

// Shared helpers of the TollgateCore tests: the recorded-fixture loader, a meter driver that collects what the
// client would receive, split-point checks and a seeded random number generator.

// MARK: - Tags

extension Tag {
    /// Tests that re-run a meter at every byte position of recorded bodies: quadratic, most of the suite's time.
    /// Their functions are named `…AtEverySplit`, so `swift test --skip AtEverySplit` leaves them out while iterating.
    @Tag static var exhaustive: Self
}

// MARK: - Bytes

extension Array where Element == UInt8 {
    /// The bytes of a string's UTF-8 form.
    init(utf8 text: String) { self = Array(text.utf8) }

    /// The bytes cut at the given offsets (ascending, each in `0...count`), empty pieces included.
    func pieces(cutAt offsets: [Int]) -> [ArraySlice<UInt8>] {
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        for offset in offsets {
            pieces.append(self[start..<offset])
            start = offset
        }
        pieces.append(self[start...])
        return pieces
    }

    /// One piece per byte.
    var bytewise: [ArraySlice<UInt8>] { indices.map { self[$0..<($0 + 1)] } }
}

extension Collection where Element == UInt8 {
    /// The bytes decoded as UTF-8 (for messages and string-level expectations).
    var text: String { String(decoding: self, as: UTF8.self) }
}

// MARK: - Token classes

/// The five billing classes the fixtures' `expected` names, compared as one value.
struct TokenClasses: Equatable, Sendable, CustomStringConvertible {
    var input = 0
    var cacheRead = 0
    var cacheWrite = 0
    var output = 0
    var reasoning = 0

    static let zero = TokenClasses()

    init(input: Int = 0, cacheRead: Int = 0, cacheWrite: Int = 0, output: Int = 0, reasoning: Int = 0) {
        self.input = input
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
        self.output = output
        self.reasoning = reasoning
    }

    /// The classes of a reading's usage; a reading without usage counts as zero in every class.
    init(_ usage: TokenUsage?) {
        let usage = usage ?? .zero
        self.init(
            input: usage.inputTokens, cacheRead: usage.cacheReadTokens, cacheWrite: usage.cacheWriteTokens,
            output: usage.outputTokens, reasoning: usage.reasoningTokens
        )
    }

    var description: String {
        "input \(input), cache_read \(cacheRead), cache_write \(cacheWrite), output \(output), reasoning \(reasoning)"
    }
}

// MARK: - Recorded fixtures

/// One recorded provider response (Fixtures/recorded/<id>/case.json + response.body), as the fixture README
/// describes it. Loaded from the test bundle, never from outside the repository.
struct RecordedCase: Sendable, CustomTestStringConvertible {
    /// The `expected` object: served model and canonical token classes.
    struct Expected: Sendable {
        var model: String
        var classes: TokenClasses
    }

    let id: String
    let api: APIName
    let stream: Bool
    /// The recorded request body, re-serialized from case.json (compact, keys sorted).
    let requestBody: [UInt8]
    /// The recorded request body as decoded JSON members.
    let requestMembers: [String: SendableJSON]
    /// The recorded request path, without its query.
    let requestPath: String
    /// The recorded query string (without `?`), if any.
    let requestQuery: String?
    let status: Int
    let contentType: String
    let expected: Expected
    /// The response body, byte-exact.
    let body: [UInt8]

    var testDescription: String { id }

    /// The wire format of the case's API.
    var format: any WireFormat { api.wireFormat }

    /// Every copied case, sorted by id.
    static let all: [RecordedCase] = loadAll(from: "Fixtures/recorded")

    /// Every hand-made case (Fixtures/handmade/<id>/, laid out as the recorded ones), sorted by id: wire formats with
    /// no recording, built from their official documentation (each case's `notes` says where from).
    static let handmadeCases: [RecordedCase] = loadAll(from: "Fixtures/handmade")

    /// The hand-made case with the given id.
    static func handmade(_ id: String) -> RecordedCase {
        guard let found = handmadeCases.first(where: { $0.id == id }) else { fatalError("no hand-made case \(id)") }
        return found
    }

    /// The streaming cases.
    static var streams: [RecordedCase] { all.filter(\.stream) }

    /// The case with the given id (a missing fixture is a broken test set, not a test failure).
    static func named(_ id: String) -> RecordedCase {
        guard let found = all.first(where: { $0.id == id }) else { fatalError("no recorded case \(id)") }
        return found
    }

    /// Prepares the recorded request the way the proxy does for a provider that accepts the usage opt-in.
    func prepare(acceptsStreamUsageOption: Bool = true) throws -> PreparedRequest {
        try format.prepare(
            body: requestBody,
            options: RequestOptions(acceptsStreamUsageOption: acceptsStreamUsageOption, path: requestPath, query: requestQuery))
    }

    /// A fresh meter for the response to `request`, chosen by the recorded content type.
    func meter(for request: PreparedRequest) -> any ResponseReader {
        format.makeReader(for: request, contentType: contentType)
    }

    /// The recorded request body without one top-level member, re-serialized (compact, keys sorted).
    func requestBody(without key: String) -> [UInt8] {
        var members = requestMembers
        members[key] = nil
        return serializeJSON(members)
    }

    private static func loadAll(from folder: String) -> [RecordedCase] {
        guard let base = Bundle.module.resourceURL?.appendingPathComponent(folder) else {
            fatalError("test bundle has no resources")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: base.path)) ?? []
        return names.sorted().compactMap { name in
            let folder = base.appendingPathComponent(name)
            guard let caseData = FileManager.default.contents(atPath: folder.appendingPathComponent("case.json").path) else {
                return nil
            }
            return load(caseData, folder: folder)
        }
    }

    private static func load(_ caseData: Data, folder: URL) -> RecordedCase {
        guard let json = try? JSONSerialization.jsonObject(with: caseData) as? [String: Any],
            let id = json["id"] as? String,
            let api = (json["api"] as? String).flatMap(APIName.init(rawValue:)),
            let stream = json["stream"] as? Bool,
            let request = json["request"] as? [String: Any],
            let requestBody = request["body"] as? [String: Any],
            let fullPath = request["path"] as? String,
            let response = json["response"] as? [String: Any],
            let status = response["status"] as? Int,
            let contentType = response["content_type"] as? String,
            let bodyFile = response["body_file"] as? String,
            let expected = json["expected"] as? [String: Any],
            let model = expected["model"] as? String,
            let body = FileManager.default.contents(atPath: folder.appendingPathComponent(bodyFile).path)
        else { fatalError("unreadable case in \(folder.path)") }
        func count(_ key: String) -> Int {
            guard let value = expected[key] as? Int else { fatalError("\(id): expected.\(key) missing") }
            return value
        }
        let classes = TokenClasses(
            input: count("input_tokens"), cacheRead: count("cache_read_tokens"), cacheWrite: count("cache_write_tokens"),
            output: count("output_tokens"), reasoning: count("reasoning_tokens")
        )
        return RecordedCase(
            id: id, api: api, stream: stream, requestBody: serializeJSON(requestBody),
            requestMembers: requestBody.mapValues { SendableJSON(value: $0) },
            requestPath: String(fullPath.prefix { $0 != "?" }),
            requestQuery: fullPath.firstIndex(of: "?").map { String(fullPath[fullPath.index(after: $0)...]) },
            status: status, contentType: contentType,
            expected: Expected(model: model, classes: classes), body: Array(body)
        )
    }
}

/// A decoded JSON value carried across concurrency domains (JSONSerialization output is immutable).
struct SendableJSON: @unchecked Sendable {
    let value: Any
}

/// Compact JSON text with sorted keys (values may be wrapped in ``SendableJSON``).
func serializeJSON(_ members: [String: Any]) -> [UInt8] {
    let plain = members.mapValues { ($0 as? SendableJSON)?.value ?? $0 }
    guard let data = try? JSONSerialization.data(withJSONObject: plain, options: [.sortedKeys, .withoutEscapingSlashes]) else {
        fatalError("not serializable: \(plain)")
    }
    return Array(data)
}

/// Decodes JSON text as an object, for checks made independently of the scanner under test.
func parseJSONObject(_ bytes: [UInt8]) -> [String: Any]? {
    try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
}

/// Whether two JSON texts decode to the same value (member order and layout aside).
func sameJSON(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    func canonical(_ bytes: [UInt8]) -> Data? {
        guard let value = try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed) else { return nil }
        return try? JSONSerialization.data(withJSONObject: ["v": value], options: [.sortedKeys])
    }
    guard let left = canonical(lhs), let right = canonical(rhs) else { return false }
    return left == right
}

// MARK: - Driving a meter

/// What one metered response produced: the reading and the bytes the client received.
struct ReaderRun: Equatable {
    var reading: UsageReading
    /// What the client receives: each piece as `observe` returned it (`nil` = the piece unchanged), then the tail.
    var clientBytes: [UInt8]
}

extension ResponseReader {
    /// Feeds `pieces` through a copy of this (fresh) meter and finishes it.
    func run(_ pieces: [ArraySlice<UInt8>]) -> ReaderRun {
        var meter = self
        var client: [UInt8] = []
        for piece in pieces {
            if let replacement = piece.withUnsafeBytes({ meter.observe($0) }) {
                client.append(contentsOf: replacement)
            } else {
                client.append(contentsOf: piece)
            }
        }
        let (reading, tail) = meter.finish()
        if let tail { client.append(contentsOf: tail) }
        return ReaderRun(reading: reading, clientBytes: client)
    }

    /// Feeds the whole body as one piece.
    func run(_ body: [UInt8]) -> ReaderRun { run([body[...]]) }
}

/// Runs `makeReader()` fresh over `body` split in two at every byte position, and one byte at a time, and expects
/// each run to equal `expected` (reading and client bytes). Stops reporting after the first mismatches.
func expectSplitInvariant(
    _ body: [UInt8], equals expected: ReaderRun, _ makeReader: () -> any ResponseReader,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var mismatches: [Int] = []
    var first: ReaderRun?
    for cut in 0...body.count {
        let run = makeReader().run(body.pieces(cutAt: [cut]))
        if run != expected {
            mismatches.append(cut)
            if first == nil { first = run }
            if mismatches.count >= 5 { break }
        }
    }
    #expect(
        mismatches.isEmpty,
        "two-piece splits at \(mismatches) differ; first: \(String(describing: first?.reading)) client \(first?.clientBytes.text ?? "")",
        sourceLocation: sourceLocation
    )
    let bytewise = makeReader().run(body.bytewise)
    #expect(bytewise.reading == expected.reading, "one byte at a time", sourceLocation: sourceLocation)
    #expect(bytewise.clientBytes == expected.clientBytes, "one byte at a time: client bytes", sourceLocation: sourceLocation)
}

// MARK: - Synthetic streams

/// A chat meter for a synthetic stream, as if the proxy had (`rewriting`) or had not added the usage opt-in.
func chatStreamReader(rewriting: Bool = false) -> any ResponseReader {
    APIName.openAIChat.wireFormat.makeReader(
        for: PreparedRequest(model: "gpt-4o-mini", stream: true, injectedStreamUsage: rewriting),
        contentType: "text/event-stream"
    )
}

/// A chat meter for a synthetic plain JSON body.
func chatJSONReader() -> any ResponseReader {
    APIName.openAIChat.wireFormat.makeReader(for: PreparedRequest(model: "gpt-4o-mini", stream: false), contentType: "application/json")
}

/// An SSE stream with one `data:` event per payload, each ended by a blank line, using `lineEnd`.
func sseStream(_ payloads: [String], lineEnd: String = "\n") -> [UInt8] {
    Array(utf8: payloads.map { "data: \($0)\(lineEnd)\(lineEnd)" }.joined())
}

/// A minimal chat chunk; `usage` is the raw JSON of its usage member, or nil to leave the member out.
func chatChunk(content: String?, usage: String? = nil, choicesEmpty: Bool = false, model: String = "gpt-4o-mini-2024-07-18") -> String {
    let choices = choicesEmpty ? "[]" : #"[{"index":0,"delta":{"content":"\#(content ?? "")"},"finish_reason":null}]"#
    let usageMember = usage.map { #","usage":\#($0)"# } ?? ""
    return #"{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"\#(model)","choices":\#(choices)\#(usageMember)}"#
}

/// A usage object in chat style.
func chatUsage(prompt: Int, completion: Int, cached: Int = 0, reasoning: Int = 0) -> String {
    #"{"prompt_tokens":\#(prompt),"completion_tokens":\#(completion),"total_tokens":\#(prompt + completion),"#
        + #""prompt_tokens_details":{"cached_tokens":\#(cached)},"completion_tokens_details":{"reasoning_tokens":\#(reasoning)}}"#
}

// MARK: - Randomness

/// SplitMix64: a small, seeded generator so that random tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// An exact amount from a decimal literal written in a test.
func money(_ text: String) -> Money {
    guard let value = Money(text) else { preconditionFailure("'\(text)' is not a decimal amount") }
    return value
}

/// A per-token rate from its per-million text.
func perMillion(_ text: String) -> Money {
    guard let value = Money.perMillionTokens(text) else { preconditionFailure("'\(text)' is not a rate per million") }
    return value
}
