import Logging
import TollgateCore
import TollgateStore

/// Hands finished events to the meter writer under the configured durability promise.
public struct EventRecorder: Sendable {
    let writer: EventWriter
    let durability: Durability
    let pricing: PricingState
    /// Admission control, to charge tokens-per-minute limits with the actual tokens.
    let admission: AdmissionControl?
    let logger: Logger

    /// Creates a recorder handing events to `writer`, rated by the rules in `pricing`.
    public init(writer: EventWriter, durability: Durability, pricing: PricingState, admission: AdmissionControl?, logger: Logger) {
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
        logger.debug(
            "inference",
            metadata: [
                "event_id": "\(event.id)", "customer": "\(event.customer)", "model": "\(event.servedModel ?? "-")",
                "status": "\(event.status)", "input": "\(event.usage.inputTokens)", "output": "\(event.usage.outputTokens)",
            ])
        let reservation = context.ticket?.reservationID ?? (context.spendsUnreserved ? MeterStore.unreservedSpend : nil)
        let write = MeterWrite(
            event, settling: reservation,
            idempotency: context.idempotency.map { ($0.key, $0.resolution(outcome, nowMs: Timestamps.nowMs())) })
        if strict {
            try await writer.record(write)
        } else {
            writer.submit(write)
        }
        if let ticket = context.ticket {
            admission?.chargeTokens(ticket, tokens: event.usage.totalTokens, nowMs: event.timestampMs)
        }
    }
}
