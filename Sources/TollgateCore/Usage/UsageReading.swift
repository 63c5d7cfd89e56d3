/// What a wire format read out of one response: usage, the model that served it, and the provider's own words.
public struct UsageReading: Sendable, Equatable {
    /// The canonical token classes, or `nil` when the response reported no usage.
    public var usage: TokenUsage?
    /// The model the provider says served the request (often a dated snapshot of the requested one).
    public var servedModel: String?
    /// The provider's usage object exactly as received (JSON text), kept for re-rating and disputes.
    public var rawUsage: String?
    /// The service tier the provider reports having used (`default`, `flex`, `priority`, …).
    public var serviceTier: String?
    /// Whether the response reached its natural end (a terminal event, or a complete JSON body).
    public var completed: Bool
    /// Something the reader noticed that an operator should see on the event (malformed data, a cut stream).
    public var note: String?
    /// Number of content-bearing stream events seen: the basis of an output estimate when no usage arrives.
    public var contentEvents: Int
    /// Whether ``usage`` is the format's own estimate rather than the provider's report (a transcription answered as
    /// plain text carries no usage; its format estimates it from the request): the event is marked `estimated`.
    public var estimated: Bool = false

    /// Creates a reading.
    public init(
        usage: TokenUsage? = nil, servedModel: String? = nil, rawUsage: String? = nil, serviceTier: String? = nil,
        completed: Bool = false, note: String? = nil, contentEvents: Int = 0
    ) {
        self.usage = usage
        self.servedModel = servedModel
        self.rawUsage = rawUsage
        self.serviceTier = serviceTier
        self.completed = completed
        self.note = note
        self.contentEvents = contentEvents
    }
}
