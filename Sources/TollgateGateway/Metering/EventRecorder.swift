import Logging
import TollgateCore
import TollgateStore
import Tracing

/// Hands finished events to the meter writer under the configured durability promise.
public struct EventRecorder: Sendable {
    let writer: EventWriter
    let durability: Durability
    let pricing: PricingState
    /// Admission control, to charge tokens-per-minute limits with the actual tokens.
    let admission: AdmissionControl?
    let logger: Logger
    /// Metrics, the request log line and the span of each event.
    let observer: RequestObserver
    /// The requests in flight: an event recorded while no other request is may be committed on the caller's thread.
    let limiter: ConcurrencyLimiter?

    /// Creates a recorder handing events to `writer`, rated by the rules in `pricing`.
    public init(
        writer: EventWriter, durability: Durability, pricing: PricingState, admission: AdmissionControl?, logger: Logger,
        observer: RequestObserver = RequestObserver(), limiter: ConcurrencyLimiter? = nil
    ) {
        self.observer = observer
        self.limiter = limiter
        self.writer = writer
        self.durability = durability
        self.pricing = pricing
        self.admission = admission
        self.logger = logger
    }

    /// Why the meter cannot write events right now, or `nil` when it can.
    public var meterFailure: String? { writer.failure }

    /// Whether the last bytes of a response wait for the event's commit.
    var strict: Bool { durability == .strict }

    /// Rates and records the event of `context` (settling its reservation in the same transaction); with strict
    /// durability, returns only once it is committed.
    func record(_ context: InferenceContext, _ outcome: ResponseOutcome) async throws {
        let event = context.event(outcome: outcome, rules: pricing.rules)
        let reservation = context.ticket?.reservationID ?? (context.spendsUnreserved ? MeterStore.unreservedSpend : nil)
        let write = MeterWrite(
            event, settling: reservation,
            idempotency: context.idempotency.map { ($0.key, $0.resolution(outcome, nowMs: Timestamps.nowMs())) })
        if strict {
            do {
                try await writer.record(write, alone: limiter?.isAlone ?? false)
            } catch {
                context.span?.setStatus(SpanStatus(code: .error, message: "the meter could not record the event"))
                context.span?.end()
                throw error
            }
        } else {
            writer.submit(write)
        }
        observer.observe(event, span: context.span, provider: context.provider)
        if let ticket = context.ticket {
            do {
                try await admission?.chargeTokens(ticket, tokens: event.usage.totalTokens, nowMs: event.timestampMs)
            } catch {
                logger.warning("tokens-per-minute limits not charged", metadata: ["event_id": "\(event.id)", "error": "\(error)"])
            }
        }
    }
}
