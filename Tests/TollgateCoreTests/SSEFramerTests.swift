import Testing
import TollgateCore

/// `SSEFramer` splits a byte stream into events the same way at any split, keeping every byte in the events' raw text.
@Suite("SSEFramer")
struct SSEFramerTests {
    /// The events of `stream` fed in the given pieces, then finished.
    private func events(_ stream: [UInt8], cutAt cuts: [Int] = []) -> [SSEEvent] {
        var framer = SSEFramer()
        var events: [SSEEvent] = []
        for piece in stream.pieces(cutAt: cuts) { framer.feed(Array(piece)) { events.append($0) } }
        framer.finish { events.append($0) }
        return events
    }

    @Test("fields, multi-line data, comments and names", arguments: ["\n", "\r\n", "\r"])
    func fields(lineEnd: String) {
        let stream = Array(
            utf8: [
                ": comment", "event: delta", "data: {\"a\":", "data:1}", "id: 7", "", "data", "", "data:  two spaces", "", "",
            ].joined(separator: lineEnd))
        let data = events(stream).filter(\.hasData)
        #expect(data.map(\.data.text) == [#"{"a":"# + "\n" + "1}", "", " two spaces"])
        #expect(data.map(\.name) == ["delta", nil, nil])
        #expect(events(stream).flatMap(\.raw) == stream, "no byte is lost")
    }

    @Test("the same events at every split", arguments: ["\n", "\r\n", "\r"])
    func splitInvariant(lineEnd: String) {
        let stream = Array(
            utf8: ["event: a", ": c", "data: 1", "", "data: 2", "data: 3", "", ": only a comment", "", "data: [DONE]", ""]
                .joined(separator: lineEnd))
        let whole = events(stream)
        for cut in 0...stream.count { #expect(events(stream, cutAt: [cut]) == whole, "cut at \(cut)") }
        #expect(events(stream, cutAt: Array(0...stream.count)) == whole)
    }

    @Test("finish delivers an event whose blank line never came")
    func finishDelivers() {
        #expect(events(Array(utf8: "data: x")).map(\.data.text) == ["x"])
        #expect(events(Array(utf8: "data: x\n")).map(\.data.text) == ["x"])
        #expect(events([]).isEmpty)
    }
}

/// An event over the framer's bound is not kept: its bytes are handed on as they come, the events around it are
/// untouched, and a reader meters the stream as estimated, with a note.
@Suite("SSE event bound")
struct SSEEventBoundTests {
    static let stream = Array(
        ("data: {\"a\":1}\n\n" + "event: big\ndata: " + String(repeating: "x", count: 5000) + "\ndata: more\n\n" + "data: {\"b\":2}\n\n").utf8)

    @Test("an oversized event is handed on, never kept; the others are whole, at any split", arguments: [1, 7, 100, 4096, 100_000])
    func oversized(pieceSize: Int) {
        var framer = SSEFramer(maxEventBytes: 1024)
        var events: [SSEEvent] = []
        var passed: [UInt8] = []
        var start = 0
        while start < Self.stream.count {
            let piece = Array(Self.stream[start..<min(start + pieceSize, Self.stream.count)])
            piece.withUnsafeBytes { bytes in
                framer.feed(
                    bytes,
                    onEvent: { event in
                        events.append(event)
                        passed += event.raw
                    }, onOversized: { passed += $0 })
            }
            start += pieceSize
        }
        framer.finish { events.append($0) }
        #expect(events.map(\.oversized) == [false, true, false])
        #expect(events.map(\.data.text) == [#"{"a":1}"#, "", #"{"b":2}"#])
        #expect(passed == Self.stream, "every byte is passed on once, in order")
        #expect(events.allSatisfy { $0.raw.count <= 1024 + pieceSize })
    }

    @Test("a stream that ends inside an oversized event still delivers it")
    func endsInside() {
        var framer = SSEFramer(maxEventBytes: 16)
        var events: [SSEEvent] = []
        framer.feed(Array("data: \(String(repeating: "y", count: 100))".utf8)) { events.append($0) }
        framer.finish { events.append($0) }
        #expect(events.map(\.oversized) == [true])
    }

    /// Counts data events; its stream ends at `[DONE]`.
    struct CountingReader: SSEUsageReader {
        var reading = UsageReading()
        var reachedEnd = false
        mutating func read(_ event: SSEEvent, rewriting: Bool) -> SSEAction {
            if event.data.text == "[DONE]" { reachedEnd = true } else { reading.contentEvents += 1 }
            return .keep
        }
    }

    @Test("a reader over an oversized event meters as estimated, with a note; a rewriting one passes its bytes on", arguments: [false, true])
    func bodyReader(rewriting: Bool) {
        var reader = SSEBodyReader(reader: CountingReader(), rewrites: rewriting, maxEventBytes: 1024)
        var output: [UInt8] = []
        let stream = Self.stream + Array("data: [DONE]\n\n".utf8)
        for start in stride(from: 0, to: stream.count, by: 300) {
            let piece = Array(stream[start..<min(start + 300, stream.count)])
            let replaced = piece.withUnsafeBytes { reader.observe($0) }
            output += replaced ?? piece
        }
        let (reading, tail) = reader.finish()
        output += tail ?? []
        #expect(output == stream, "the client gets the bytes untouched")
        #expect(reading.estimated)
        #expect(reading.contentEvents == 2)
        #expect(reading.note?.contains("1 stream event over 1024 bytes") == true)
        #expect(reader.reachedEnd)
    }
}

/// Strict durability holds a stream's terminal event until its commit, not the events before it in the same piece:
/// the reader says where, in what the client gets of a piece, the terminal event begins, at any split.
@Suite("SSE terminal event start")
struct SSETerminalEventStartTests {
    /// Ends at `[DONE]`; when rewriting, leaves out the events whose data is `usage`.
    struct DroppingReader: SSEUsageReader {
        var reading = UsageReading()
        var reachedEnd = false
        mutating func read(_ event: SSEEvent, rewriting: Bool) -> SSEAction {
            if event.data.text == "[DONE]" { reachedEnd = true }
            return rewriting && event.data.text == "usage" ? .drop : .keep
        }
    }

    @Test("offset of the terminal event in the client's bytes, in the one piece that completes it", arguments: [false, true], ["\n", "\r\n"])
    func offsets(rewriting: Bool, lineEnd: String) {
        let lines = ["data: 1", "", ": comment", "", "data: usage", "", "data: [DONE]", "", ": after", "", ""]
        let stream = Array(lines.joined(separator: lineEnd).utf8)
        let client = Array(
            lines.enumerated().filter { !rewriting || ($0.offset != 4 && $0.offset != 5) }.map(\.element).joined(separator: lineEnd).utf8)
        // After a CR, the framer counts the LF that completes it as the next event's first byte.
        let terminal = client.firstRange(of: Array("data: [DONE]".utf8))!.lowerBound - (lineEnd == "\r\n" ? 1 : 0)
        let splits = (0...stream.count).map { [$0] } + [Array(1..<stream.count)]
        for cuts in splits {
            var reader = SSEBodyReader(reader: DroppingReader(), rewrites: rewriting)
            var output: [UInt8] = []
            var starts: [Int] = []
            for piece in stream.pieces(cutAt: cuts) {
                let replaced = piece.withUnsafeBytes { reader.observe($0) }
                if let start = reader.terminalEventStart {
                    starts.append(start)
                    #expect(output.count + start == max(terminal, output.count), "cuts \(cuts.prefix(3)): start \(start)")
                }
                output += replaced ?? Array(piece)
            }
            output += reader.finish().tail ?? []
            #expect(output == client)
            #expect(starts.count == 1, "one piece holds the terminal event's end, cuts \(cuts.prefix(3))")
        }
    }
}
