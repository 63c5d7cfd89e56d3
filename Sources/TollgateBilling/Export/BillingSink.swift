import TollgateCore
import TollgateStore

/// A rated line on its way to a sink, with the customer's id in the sink's system when it has one.
public struct OutboundLine: Sendable, Equatable {
    /// The staged line (its key is the idempotency key to send).
    public var line: ExportLine
    /// The customer's id in the sink's billing system (`cus_123`); `nil` when the customer has none.
    public var externalCustomerID: String?
}

/// How sending one line went.
public enum SendOutcome: Sendable, Equatable {
    /// The sink has it (now, or from an earlier attempt: a duplicate key counts as sent).
    case sent
    /// Try again later: a 5xx, a 429 (with the wait it asked for, seconds), a timeout, a dropped connection.
    case retry(String, retryAfterSeconds: Int?)
    /// The sink refuses it for good (a 4xx about its content): the line goes dead with this reason.
    case rejected(String)
    /// The sink has no way to carry this line (a base fee as a Stripe meter event): held with the reason, which says
    /// what to configure instead; not an error, and the export still succeeds.
    case held(String)
}

/// One billing system or file format: turns lines into its requests (or file rows) and says how each went.
///
/// A sink never decides retries or states: ``Exporter`` does, from the outcomes. Every send of a line carries the
/// line's key as the system's idempotency key, so sending twice is harmless.
public protocol BillingSink: Sendable {
    /// The sink's settings.
    var settings: SinkSettings { get }
    /// The most lines one ``send(_:)`` takes (the API's batch limit).
    var batchLimit: Int { get }
    /// Whether a line can only go out with the customer's id in the sink's system (APIs do; files do not).
    var needsCustomerID: Bool { get }
    /// Sends lines (at most ``batchLimit``); returns one outcome per line, in order.
    func send(_ lines: [OutboundLine]) async -> [SendOutcome]
}
