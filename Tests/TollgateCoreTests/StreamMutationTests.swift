import Foundation
import Testing
import TollgateCore

/// Seeded fuzzing of every stream the tests know (recorded and hand-made, all wire formats): each is mutated many
/// times (a flipped byte, a range deleted or doubled, garbage inserted, a cut, an unknown event, a usage count made
/// null or a string) and fed to a fresh meter in random pieces. Whatever the bytes, the meter returns from every
/// call, reads the same at any split, leaves the client's bytes alone, keeps its reading small, never calls a cut
/// stream complete, and passes over an unknown event without a trace.
@Suite("Stream mutation", .timeLimit(.minutes(1)))
struct StreamMutationTests {
    /// Every stream body: the recorded ones, then the hand-made ones.
    static let streams = (RecordedCase.all + RecordedCase.handmadeCases).filter(\.stream)

    /// Mutations per stream; the whole suite stays within a few seconds in a debug build.
    static let mutationsPerStream = 40

    /// The longest note a reading may carry: notes are short sentences, never the garbage itself.
    static let maxNoteBytes = 512

    @Test("the stream set covers every streaming wire format the tests have")
    func coverage() {
        let apis = Set(Self.streams.map(\.api))
        #expect(apis.isSuperset(of: [.openAIChat, .openAIResponses, .anthropicMessages, .cohereChat, .ollamaChat, .ollamaGenerate]))
        #expect(Self.streams.allSatisfy { !$0.body.isEmpty })
    }

    @Test("seeded mutations fed in random pieces", arguments: Self.streams)
    func mutatedStreams(_ stream: RecordedCase) throws {
        let request = try stream.prepare()
        let original = stream.meter(for: request).run(stream.body).reading
        var generator = SeededGenerator(seed: stableSeed(stream.id))
        for index in 0..<Self.mutationsPerStream {
            let kind = StreamMutation.allCases[index % StreamMutation.allCases.count]
            let mutated = kind.apply(to: stream, using: &generator)
            let label = "\(stream.id) #\(index) \(mutated.description)"
            let pieces = mutated.body.pieces(cutAt: randomCuts(in: mutated.body.count, using: &generator))
            let meter = stream.meter(for: request)
            let run = meter.run(pieces)
            let whole = stream.meter(for: request).run(mutated.body)

            #expect(run == whole, "\(label): the reading depends on where the body was split")
            if !meter.rewrites { #expect(run.clientBytes == mutated.body, "\(label): the client's bytes were changed") }
            expectBounded(run.reading, bodyLength: mutated.body.count, label)
            switch mutated.expectation {
            case .anything:
                break
            case .notCompleted:
                #expect(!run.reading.completed, "\(label): a stream cut before its last event reads as completed")
            case .sameAsOriginal:
                #expect(TokenClasses(run.reading.usage) == TokenClasses(original.usage), "\(label)")
                #expect(run.reading.completed == original.completed, "\(label)")
                #expect(run.reading.servedModel == original.servedModel, "\(label)")
                #expect(run.reading.note == original.note, "\(label)")
            }
        }
    }

    @Test("a stream cut anywhere before its last byte never reads as completed", arguments: Self.streams)
    func cutsNeverComplete(_ stream: RecordedCase) throws {
        let request = try stream.prepare()
        #expect(stream.meter(for: request).run(stream.body).reading.completed, "the whole stream completes")
        let end = stream.body.lastSignificantOffset
        var generator = SeededGenerator(seed: stableSeed(stream.id) ^ 0xC07)
        for _ in 0..<Self.mutationsPerStream {
            let length = Int.random(in: 0..<end, using: &generator)
            let prefix = Array(stream.body[..<length])
            let reading = stream.meter(for: request).run(prefix.pieces(cutAt: randomCuts(in: length, using: &generator))).reading
            #expect(!reading.completed, "\(stream.id) cut at \(length) of \(stream.body.count)")
            expectBounded(reading, bodyLength: length, "\(stream.id) cut at \(length)")
        }
    }

    @Test("a quarter megabyte of garbage after the stream leaves its usage alone and its reading small", arguments: Self.streams)
    func trailingGarbage(_ stream: RecordedCase) throws {
        let request = try stream.prepare()
        let original = stream.meter(for: request).run(stream.body).reading
        var generator = SeededGenerator(seed: stableSeed(stream.id) ^ 0x6A7B)
        let garbage = (0..<(256 * 1024)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let body = stream.body + garbage
        let reading = stream.meter(for: request).run(body.pieces(cutAt: Array(stride(from: 0, to: body.count, by: 65_536)))).reading
        #expect(TokenClasses(reading.usage) == TokenClasses(original.usage))
        expectBounded(reading, bodyLength: stream.body.count, "\(stream.id) with garbage after it")
    }

    /// Whether every part of the reading stays within what the body could justify: garbage never accumulates.
    private func expectBounded(_ reading: UsageReading, bodyLength: Int, _ label: String) {
        #expect((reading.note?.utf8.count ?? 0) <= Self.maxNoteBytes, "\(label): note of \(reading.note?.utf8.count ?? 0) bytes")
        #expect((reading.rawUsage?.utf8.count ?? 0) <= max(bodyLength, 256), "\(label): raw usage grew")
        #expect((reading.servedModel?.utf8.count ?? 0) <= bodyLength, "\(label): served model grew")
        #expect((reading.serviceTier?.utf8.count ?? 0) <= bodyLength, "\(label): service tier grew")
        #expect(reading.contentEvents <= bodyLength, "\(label): more content events than bytes")
    }
}

// MARK: - Mutations

/// One way of damaging a stream.
enum StreamMutation: CaseIterable {
    case flipByte, deleteRange, duplicateRange, insertGarbage, truncate, injectUnknownEvent, corruptUsageCount

    /// A damaged body and what its reading must show.
    struct Result: CustomStringConvertible {
        /// What must hold of the damaged stream's reading beyond never crashing and staying bounded.
        enum Expectation { case anything, notCompleted, sameAsOriginal }

        var body: [UInt8]
        var expectation: Expectation
        var description: String
    }

    /// Applies the mutation to the stream's body.
    func apply(to stream: RecordedCase, using generator: inout SeededGenerator) -> Result {
        var body = stream.body
        let count = body.count
        switch self {
        case .flipByte:
            let offset = Int.random(in: 0..<count, using: &generator)
            let mask = UInt8.random(in: 1...255, using: &generator)
            body[offset] ^= mask
            return Result(body: body, expectation: .anything, description: "byte \(offset) xor \(mask)")
        case .deleteRange:
            let range = randomRange(in: count, maxLength: 64, using: &generator)
            body.removeSubrange(range)
            return Result(body: body, expectation: .anything, description: "deleted \(range)")
        case .duplicateRange:
            let range = randomRange(in: count, maxLength: 512, using: &generator)
            body.insert(contentsOf: body[range], at: range.upperBound)
            return Result(body: body, expectation: .anything, description: "doubled \(range)")
        case .insertGarbage:
            let offset = Int.random(in: 0...count, using: &generator)
            let (garbage, name) = Self.garbage(using: &generator)
            body.insert(contentsOf: garbage, at: offset)
            return Result(body: body, expectation: .anything, description: "\(garbage.count) bytes of \(name) at \(offset)")
        case .truncate:
            let length = Int.random(in: 0..<body.lastSignificantOffset, using: &generator)
            return Result(body: Array(body[..<length]), expectation: .notCompleted, description: "cut at \(length)")
        case .injectUnknownEvent:
            guard let (event, boundaries) = Self.unknownEvent(for: stream), let offset = boundaries.randomElement(using: &generator) else {
                return Self.insertGarbage.apply(to: stream, using: &generator)
            }
            body.insert(contentsOf: event, at: offset)
            return Result(body: body, expectation: .sameAsOriginal, description: "unknown event at \(offset)")
        case .corruptUsageCount:
            let counts = body.usageCountRanges
            guard let range = counts.randomElement(using: &generator) else { return Self.flipByte.apply(to: stream, using: &generator) }
            let replacement = Bool.random(using: &generator) ? "null" : "\"\(body[range].text)\""
            body.replaceSubrange(range, with: Array(utf8: replacement))
            return Result(body: body, expectation: .anything, description: "count at \(range) replaced by \(replacement)")
        }
    }

    /// A random non-empty range of at most `maxLength` bytes inside a body of `count` bytes.
    private func randomRange(in count: Int, maxLength: Int, using generator: inout SeededGenerator) -> Range<Int> {
        let start = Int.random(in: 0..<count, using: &generator)
        return start..<min(count, start + Int.random(in: 1...maxLength, using: &generator))
    }

    /// Bytes no well-behaved stream contains, of several shapes, each large enough to show a reading that grows.
    private static func garbage(using generator: inout SeededGenerator) -> ([UInt8], String) {
        switch Int.random(in: 0..<5, using: &generator) {
        case 0:
            return ((0..<Int.random(in: 1...4096, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }, "random bytes")
        case 1:
            return (Array(repeating: UInt8(ascii: "["), count: 20_000), "an unclosed nesting")
        case 2:
            return (Array(utf8: "data: " + String(repeating: "x", count: 40_000)), "a long line")
        case 3:
            let event = #"data: {"usage":{"prompt_tokens":"#
            return (Array(utf8: String(repeating: event, count: 200)), "cut usage objects")
        default:
            return (Array(utf8: "\n\n\r\n:\r\r\n\n"), "line ends")
        }
    }

    /// An event of a type no API defines, and the offsets where an event may begin, for the text stream framings.
    private static func unknownEvent(for stream: RecordedCase) -> ([UInt8], [Int])? {
        let type = stream.contentType.lowercased()
        if type.hasPrefix("text/event-stream") {
            let event = Array(utf8: "event: tollgate.unknown_event\ndata: {\"type\":\"tollgate.unknown_event\",\"detail\":{\"n\":1}}\n\n")
            return (event, [0] + stream.body.offsets(after: Array(utf8: "\n\n")) + stream.body.offsets(after: Array(utf8: "\r\n\r\n")))
        }
        if type.hasPrefix("application/x-ndjson") {
            return (Array(utf8: "{\"type\":\"tollgate.unknown_event\",\"detail\":{\"n\":1}}\n"), [0] + stream.body.offsets(after: [0x0A]))
        }
        return nil
    }
}

/// Random cut points for a body of `count` bytes: none, a few, or many.
private func randomCuts(in count: Int, using generator: inout SeededGenerator) -> [Int] {
    let pieces = [0, 1, 2, 5, 40].randomElement(using: &generator) ?? 0
    return (0..<pieces).map { _ in Int.random(in: 0...count, using: &generator) }.sorted()
}

/// A seed that depends only on the case id (Swift's hash values change from run to run): FNV-1a.
private func stableSeed(_ id: String) -> UInt64 {
    id.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
}

extension Array where Element == UInt8 {
    /// The offset just past the last byte that is not whitespace: a cut before it loses part of the last event.
    var lastSignificantOffset: Int {
        (lastIndex { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 } ?? -1) + 1
    }

    /// The offsets just past each occurrence of `needle`.
    func offsets(after needle: [UInt8]) -> [Int] {
        guard needle.count <= count else { return [] }
        return (0...(count - needle.count)).filter { self[$0..<($0 + needle.count)].elementsEqual(needle) }.map { $0 + needle.count }
    }

    /// The ranges of the digits of every member that looks like a token count (`"…tokens": 12`,
    /// `"…TokenCount":12`, `"…_count":12`), in any wire format's text.
    var usageCountRanges: [Range<Int>] {
        var ranges: [Range<Int>] = []
        var index = 0
        while let quote = self[index...].firstIndex(of: UInt8(ascii: "\"")) {
            guard let close = self[(quote + 1)...].firstIndex(of: UInt8(ascii: "\"")) else { break }
            let key = self[(quote + 1)..<close].text.lowercased()
            var value = close + 1
            if key.hasSuffix("tokens") || key.hasSuffix("count") {
                while value < count, self[value] == 0x20 { value += 1 }
                if value < count, self[value] == UInt8(ascii: ":") {
                    value += 1
                    while value < count, self[value] == 0x20 { value += 1 }
                    let digits = self[value...].prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
                    if digits > 0 { ranges.append(value..<(value + digits)) }
                }
            }
            index = close + 1
        }
        return ranges
    }
}

// MARK: - Hand-made fixtures

/// Reads a fixture's response as the proxy would and expects what the recorded-response tests expect of every
/// recording: the served model and token classes of `expected`, a completed reading without note, content events
/// only for streams, the client's bytes untouched and, when `rawUsageIsVerbatim`, the raw usage as the body's own
/// usage object on one line. Returns the run for further checks.
@discardableResult
func expectReadsAsExpected(
    _ fixture: RecordedCase, rawUsageIsVerbatim: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
) throws -> ReaderRun {
    let request = try fixture.prepare()
    #expect(request.stream == fixture.stream, sourceLocation: sourceLocation)
    let run = fixture.meter(for: request).run(fixture.body)
    let reading = run.reading
    #expect(reading.servedModel == fixture.expected.model, sourceLocation: sourceLocation)
    #expect(TokenClasses(reading.usage) == fixture.expected.classes, sourceLocation: sourceLocation)
    #expect((reading.usage == nil) == (reading.rawUsage == nil), sourceLocation: sourceLocation)
    #expect(reading.completed, sourceLocation: sourceLocation)
    #expect(reading.note == nil, sourceLocation: sourceLocation)
    #expect((reading.contentEvents > 0) == fixture.stream, sourceLocation: sourceLocation)
    #expect(run.clientBytes == fixture.body, sourceLocation: sourceLocation)
    if let raw = reading.rawUsage {
        #expect(!raw.contains("\n") && parseJSONObject(Array(utf8: raw)) != nil, sourceLocation: sourceLocation)
        if rawUsageIsVerbatim {
            #expect(JSONEdit.compacted(fixture.body).text.contains(raw), "raw usage \(raw)", sourceLocation: sourceLocation)
        }
    }
    return run
}
