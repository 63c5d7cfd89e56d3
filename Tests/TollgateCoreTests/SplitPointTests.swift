import Testing
import TollgateCore

/// A response body read in pieces of any size gives exactly the reading (and client bytes) of the whole body:
/// every two-piece split, one byte at a time, and seeded random three-piece splits of streams, for every recorded and
/// hand-made body of every wire format.
@Suite("Split points")
struct SplitPointTests {
    static let cases = RecordedCase.all + RecordedCase.handmadeCases
    static let streams = cases.filter(\.stream)

    @Test("every two-piece split and one byte at a time", .tags(.exhaustive), arguments: cases)
    func readingAtEverySplit(_ recorded: RecordedCase) throws {
        let request = try recorded.prepare()
        let whole = recorded.meter(for: request).run(recorded.body)
        #expect(TokenClasses(whole.reading.usage) == recorded.expected.classes)
        expectSplitInvariant(recorded.body, equals: whole) { recorded.meter(for: request) }
    }

    @Test("seeded random three-piece splits of streams", arguments: streams)
    func randomThreeWaySplits(_ recorded: RecordedCase) throws {
        let request = try recorded.prepare()
        let whole = recorded.meter(for: request).run(recorded.body)
        var generator = SeededGenerator(seed: 0x7011_6A7E ^ UInt64(recorded.body.count))
        for _ in 0..<300 {
            let cuts = [Int.random(in: 0...recorded.body.count, using: &generator), Int.random(in: 0...recorded.body.count, using: &generator)]
                .sorted()
            let run = recorded.meter(for: request).run(recorded.body.pieces(cutAt: cuts))
            #expect(run == whole, "cut at \(cuts)")
            if run != whole { break }
        }
    }

    @Test("a stream split into many random pieces", arguments: streams)
    func randomManyPieces(_ recorded: RecordedCase) throws {
        let request = try recorded.prepare()
        let whole = recorded.meter(for: request).run(recorded.body)
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<20 {
            let count = Int.random(in: 2...64, using: &generator)
            let cuts = (0..<count).map { _ in Int.random(in: 0...recorded.body.count, using: &generator) }.sorted()
            #expect(recorded.meter(for: request).run(recorded.body.pieces(cutAt: cuts)) == whole, "cut at \(cuts)")
        }
    }
}
