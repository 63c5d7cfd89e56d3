import TollgateCore

/// How a system wants a batch of events in a request body.
enum BatchShape {
    /// A bare JSON array of events (`[{...}, ...]`).
    case array
    /// An object with the array under `events` (`{"events": [{...}, ...]}`).
    case eventsMember
}

/// One billing system's event API: what differs between Lago, Metronome, OpenMeter and Orb. The sending, batching,
/// follow-up rounds and the usual reading of an answer are ``EventBatchSink``'s, the same for all of them.
protocol EventWire {
    /// The system's name in reasons (`Lago refused the event …`).
    static var system: String { get }
    /// The request path below the sink's `base_url`.
    static var path: String { get }
    /// The request's `Content-Type`; `application/json` unless the system says otherwise.
    static var contentType: String { get }
    /// How the events of a request are wrapped.
    static var batchShape: BatchShape { get }
    /// One line as the system's event (its dedupe field the line's key), under the sink's `event_name`.
    static func event(_ outbound: OutboundLine, eventName: String) -> [String: Any]
    /// What an answer says about each event of the request, in order; `nil`: not ingested because of another event,
    /// to send again (``SinkWire/sendInRounds(_:system:post:read:)``). This is where a system's way of reporting a
    /// duplicate is recognised as sent.
    static func reading(_ reply: HTTPReply, of batch: [OutboundLine]) -> [SendOutcome?]
}

extension EventWire {
    static var contentType: String { "application/json" }

    /// The request body of a batch: the events in order, wrapped as ``batchShape`` says, keys sorted.
    static func body(_ lines: [OutboundLine], eventName: String) -> [UInt8] {
        let events = lines.map { event($0, eventName: eventName) }
        switch batchShape {
        case .array: return SinkHTTP.json(events)
        case .eventsMember: return SinkHTTP.json(["events": events])
        }
    }

    /// The reading of systems that take a repeated key with a 2xx and refuse a whole request over its first bad event,
    /// naming it (``SinkWire/readingIndexedRefusal(_:count:system:)``).
    static func reading(_ reply: HTTPReply, of batch: [OutboundLine]) -> [SendOutcome?] {
        SinkWire.readingIndexedRefusal(reply, count: batch.count, system: system)
    }
}

/// An API sink that sends lines as JSON events, up to ``SinkWire/batchLimit`` a request, in the format of `Wire`.
///
/// Every event needs the customer's id in the system; a line without one is refused without a request. Events an
/// answer leaves undecided go again in a follow-up request within the same ``send(_:)``; no answer is a retry.
struct EventBatchSink<Wire: EventWire>: BillingSink {
    var http: SinkHTTP

    /// A sink with its settings.
    init(settings: SinkSettings) { http = SinkHTTP(settings: settings) }

    var settings: SinkSettings { http.settings }
    var batchLimit: Int { SinkWire.batchLimit }
    var needsCustomerID: Bool { true }

    func send(_ lines: [OutboundLine]) async -> [SendOutcome] {
        await SinkWire.sendInRounds(lines, system: Wire.system) { batch throws(SinkTransportError) in
            try await http.post(path: Wire.path, contentType: Wire.contentType, body: Wire.body(batch, eventName: settings.eventName))
        } read: { reply, batch in
            Wire.reading(reply, of: batch)
        }
    }
}

/// Lago's events (``LagoWire``).
typealias LagoSink = EventBatchSink<LagoWire>
/// Metronome's events (``MetronomeWire``).
typealias MetronomeSink = EventBatchSink<MetronomeWire>
/// OpenMeter's CloudEvents (``OpenMeterWire``).
typealias OpenMeterSink = EventBatchSink<OpenMeterWire>
/// Orb's events (``OrbWire``).
typealias OrbSink = EventBatchSink<OrbWire>
