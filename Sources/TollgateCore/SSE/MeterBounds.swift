import Synchronization

/// How much of a response the meter keeps or decodes, whatever the provider sends (`proxy.max_meter_event_bytes`,
/// `proxy.max_meter_decoded_bytes`): set once from the config when the server starts, read by each new reader.
///
/// Past a bound the client still gets every byte untouched; the meter stops reading what is over it and the event is
/// metered as estimated, with a note saying why.
public enum MeterBounds {
    private static let eventBytes = Atomic<Int>(16 << 20)
    private static let decodedBytes = Atomic<Int>(256 << 20)

    /// The most bytes of one stream event (an SSE event) the meter buffers: 16 MiB by default.
    public static var maxEventBytes: Int {
        get { eventBytes.load(ordering: .relaxed) }
        set { eventBytes.store(newValue, ordering: .relaxed) }
    }

    /// The most bytes of a compressed response the meter decodes: 256 MiB by default.
    public static var maxDecodedBytes: Int {
        get { decodedBytes.load(ordering: .relaxed) }
        set { decodedBytes.store(newValue, ordering: .relaxed) }
    }
}
