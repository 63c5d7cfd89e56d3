import Foundation

/// One inference as the meter keeps it: who asked, what ran, how much, how fast, what it cost and what it is billed.
///
/// Failed and refused requests are events too (with their status and zero or partial usage). The id is stable, so
/// writing the same event twice keeps one row.
public struct UsageEvent: Sendable, Equatable, Codable {
    /// Stable unique id (`evt_` + a time-ordered UUID).
    public var id: String
    /// When the request arrived (milliseconds since 1970, UTC).
    public var timestampMs: Int64
    /// Customer the virtual key belongs to.
    public var customer: String
    /// The virtual key's id (never the key).
    public var keyID: String
    /// `x-tollgate-feature` request header.
    public var feature: String?
    /// `x-tollgate-end-user` request header.
    public var endUser: String?
    /// `x-tollgate-project` request header.
    public var project: String?
    /// Provider name.
    public var provider: String
    /// The API the request spoke (`openai.chat`).
    public var route: String
    /// The request path as the client sent it (without query).
    public var path: String
    /// Model the client asked for.
    public var model: String?
    /// Model the provider says served it.
    public var servedModel: String?
    /// HTTP status the client got (499 when the client went away first).
    public var status: Int
    /// Whether the response was a stream.
    public var stream: Bool
    /// Token classes.
    public var usage: TokenUsage
    /// The provider's usage object as received (JSON text).
    public var rawUsage: String?
    /// Service tier the provider used.
    public var serviceTier: String?
    /// Request arrival to last byte, in milliseconds.
    public var latencyMs: Double
    /// Request arrival to first response byte sent to the client, in milliseconds.
    public var ttfbMs: Double?
    /// Time spent waiting on the upstream (dispatch to end of its body), in milliseconds.
    public var upstreamMs: Double?
    /// What the provider charges us.
    public var cost: Money
    /// What the customer is charged.
    public var price: Money
    /// Currency of the cost (and of the price, unless ``priceCurrency`` says otherwise).
    public var currency: String
    /// Currency of the price when the customer's price book uses another one than the provider's.
    public var priceCurrency: String?
    /// Whether the usage is an estimate (no usage was reported).
    public var estimated: Bool
    /// Whether a price was found for the model (false: cost and price are zero and must be re-rated).
    public var priced: Bool
    /// What went wrong or what is special, for an operator.
    public var note: String?
    /// The client's `Idempotency-Key` header, if sent.
    public var idempotencyKey: String?
    /// The price book (and version) that set ``price``: `standard@2026-01-01T00:00:00Z`, or `markup` without one.
    public var priceBook: String?
    /// The provider's id for the request (its `x-request-id`, `request-id` or `x-amzn-requestid` response header):
    /// what the client's SDK logs, and what the provider's own records name.
    public var requestID: String?
    /// For the event of an idempotent replay (a retry answered with the stored response of an earlier request with the
    /// same `Idempotency-Key`): the id of the original event, which carries the usage and the charge. A replay itself
    /// carries no tokens and costs nothing.
    public var replayOf: String?

    /// Creates an event.
    public init(
        id: String, timestampMs: Int64, customer: String, keyID: String, feature: String? = nil, endUser: String? = nil,
        project: String? = nil, provider: String, route: String, path: String, model: String?, servedModel: String?,
        status: Int, stream: Bool, usage: TokenUsage, rawUsage: String? = nil, serviceTier: String? = nil, latencyMs: Double,
        ttfbMs: Double?, upstreamMs: Double?, cost: Money, price: Money, currency: String, estimated: Bool, priced: Bool,
        note: String? = nil, idempotencyKey: String? = nil, priceBook: String? = nil, priceCurrency: String? = nil,
        requestID: String? = nil, replayOf: String? = nil
    ) {
        self.id = id
        self.timestampMs = timestampMs
        self.customer = customer
        self.keyID = keyID
        self.feature = feature
        self.endUser = endUser
        self.project = project
        self.provider = provider
        self.route = route
        self.path = path
        self.model = model
        self.servedModel = servedModel
        self.status = status
        self.stream = stream
        self.usage = usage
        self.rawUsage = rawUsage
        self.serviceTier = serviceTier
        self.latencyMs = latencyMs
        self.ttfbMs = ttfbMs
        self.upstreamMs = upstreamMs
        self.cost = cost
        self.price = price
        self.currency = currency
        self.estimated = estimated
        self.priced = priced
        self.note = note
        self.idempotencyKey = idempotencyKey
        self.priceBook = priceBook
        self.priceCurrency = priceCurrency
        self.requestID = requestID
        self.replayOf = replayOf
    }

    /// The currency the price is in.
    public var effectivePriceCurrency: String { priceCurrency ?? currency }

    /// A new time-ordered event id (UUIDv7 layout: sortable by creation time).
    public static func newID(at date: Date = Date()) -> String {
        let millis = UInt64(date.timeIntervalSince1970 * 1000)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - index))) }
        bytes.replaceSubrange(6..<16, with: RandomPool.bytes(10))
        return id(bytes, version: 0x70)
    }

    /// `evt_` and the 16 bytes in hex, with the UUID version (`0x70`: v7, `0x80`: v8) and variant bits set.
    public static func id(_ uuid: [UInt8], version: UInt8) -> String {
        let marked = uuid.indices.lazy.map { position -> UInt8 in
            switch position {
            case 6: (uuid[position] & 0x0F) | version
            case 8: (uuid[position] & 0x3F) | 0x80
            default: uuid[position]
            }
        }
        return Hex.lowercase(marked, prefix: "evt_")
    }
}
