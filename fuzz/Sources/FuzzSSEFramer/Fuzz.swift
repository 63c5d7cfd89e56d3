import FuzzSupport
import TollgateCore

/// The SSE framer: the body fed whole and in pieces gives the same events, and the events' raw bytes put together
/// are the body, byte for byte (a rewriting meter sends them on in place of the stream).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = FuzzInput(start, count, controlCount: 3)
    let whole = events(input.body, in: [0..<input.body.count])
    let cut = events(input.body, in: input.pieces())
    require(whole == cut, "events differ when the body is cut: \(whole.count) whole, \(cut.count) cut")
    let raw = whole.flatMap(\.raw)
    require(raw == input.body, "the events' raw bytes (\(raw.count)) are not the body (\(input.body.count))")
    for event in whole {
        require(event.data.count <= event.raw.count, "an event's data is longer than its raw bytes")
    }
    return 0
}

private func events(_ body: [UInt8], in ranges: [Range<Int>]) -> [SSEEvent] {
    var framer = SSEFramer()
    var events: [SSEEvent] = []
    Chunking.feed(body, in: ranges) { piece in framer.feed(piece) { events.append($0) } }
    framer.finish { events.append($0) }
    return events
}
