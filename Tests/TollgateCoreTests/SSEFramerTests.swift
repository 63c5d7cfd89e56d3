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
