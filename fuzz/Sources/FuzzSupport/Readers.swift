import TollgateCore

/// What a meter made of a response body: the reading, whether it saw the end, and the bytes the client received.
public struct MeterRun: Equatable, CustomStringConvertible {
    public var reading: UsageReading
    public var reachedEnd: Bool
    public var rewrites: Bool
    public var client: [UInt8]

    public var description: String {
        "\(reading) reachedEnd=\(reachedEnd) rewrites=\(rewrites) client=\(client.count) bytes"
    }
}

/// Meters `body`, cut into `ranges`, with a fresh reader from `make`; the client gets each piece as it is when
/// `observe` returns `nil`, else the bytes it returns, then the tail `finish` returns.
public func meter(_ body: [UInt8], in ranges: [Range<Int>], _ make: () -> any ResponseReader) -> MeterRun {
    var reader = make()
    var client: [UInt8] = []
    Chunking.feed(body, in: ranges) { piece in
        if let replacement = reader.observe(piece) {
            require(reader.rewrites, "a meter that does not rewrite replaced a piece")
            client += replacement
        } else {
            client += Array(piece)
        }
    }
    let (reading, tail) = reader.finish()
    if let tail { client += tail }
    return MeterRun(reading: reading, reachedEnd: reader.reachedEnd, rewrites: reader.rewrites, client: client)
}

/// The invariants every meter keeps: the body metered whole and cut into `ranges` gives the same reading, the same
/// end and the same bytes to the client; a meter that does not rewrite hands the client the body unchanged; counts
/// are never negative.
public func checkMeter(_ body: [UInt8], cut ranges: [Range<Int>], label: String, _ make: () -> any ResponseReader) {
    let whole = meter(body, in: body.isEmpty ? [] : [0..<body.count], make)
    let cut = meter(body, in: ranges, make)
    require(whole == cut, "\(label): the reading differs when the body is cut:\n\(whole)\n\(cut)")
    if !whole.rewrites { require(whole.client == body, "\(label): the client did not get the body unchanged") }
    require(whole.reading.contentEvents >= 0, "\(label): negative content events")
    if let usage = whole.reading.usage {
        let mirror = Mirror(reflecting: usage)
        for child in mirror.children {
            if let count = child.value as? Int { require(count >= 0, "\(label): negative \(child.label ?? "count") \(count)") }
        }
    }
}
