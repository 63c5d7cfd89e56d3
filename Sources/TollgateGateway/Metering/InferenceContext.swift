import Foundation
import TollgateCore
import TollgateStore
import Tracing

/// Everything known about one inference before its response: who, where, what was asked, when it started.
struct InferenceContext: Sendable {
    /// What is fixed once the request has been read, behind one reference that every copy of the context shares: a
    /// context is copied into the relay, the tasks that end it and the recording of its event, and these thirteen
    /// values used to be copied with it each time.
    private let fixed: Box

    private final class Box: Sendable {
        let fields: Fixed
        init(_ fields: Fixed) { self.fields = fields }
    }

    private struct Fixed: Sendable {
        let id: String
        let arrival: Date
        let started: ContinuousClock.Instant
        let key: VirtualKey
        let provider: Provider
        let route: String
        let path: String
        let prepared: PreparedRequest
        let requestBytes: Int
        let feature: String?
        let endUser: String?
        let project: String?
        let idempotencyKey: String?
    }

    init(
        id: String, arrival: Date, started: ContinuousClock.Instant, key: VirtualKey, provider: Provider, route: String, metered: Bool,
        path: String, request: PreparedRequest, requestBytes: Int, feature: String?, endUser: String?, project: String?,
        idempotencyKey: String?
    ) {
        fixed = Box(
            Fixed(
                id: id, arrival: arrival, started: started, key: key, provider: provider, route: route, path: path, prepared: request,
                requestBytes: requestBytes, feature: feature, endUser: endUser, project: project, idempotencyKey: idempotencyKey))
        self.metered = metered
    }

    /// The event's id.
    var id: String { fixed.fields.id }
    var arrival: Date { fixed.fields.arrival }
    var started: ContinuousClock.Instant { fixed.fields.started }
    var key: VirtualKey { fixed.fields.key }
    var provider: Provider { fixed.fields.provider }
    /// The metered API (`openai.chat`), or `pass_through` for a path an operator allowed through unmetered.
    var route: String { fixed.fields.route }
    var path: String { fixed.fields.path }
    /// What the request asked for: its model, whether it streams.
    var request: PreparedRequest { fixed.fields.prepared }
    var requestBytes: Int { fixed.fields.requestBytes }
    var feature: String? { fixed.fields.feature }
    var endUser: String? { fixed.fields.endUser }
    var project: String? { fixed.fields.project }
    var idempotencyKey: String? { fixed.fields.idempotencyKey }

    /// Whether the response is read for usage; a pass-through is recorded with its status and no tokens.
    var metered: Bool
    /// The reservation admission took for it, settled with its event.
    var ticket: AdmissionTicket? = nil
    /// Whether its price is spent from a prepaid account when its event is stored, with no reservation (a batch's
    /// result line, a background response billed when it is retrieved finished).
    var spendsUnreserved = false
    /// The request's admission worst case: what a completed answer without usage is billed.
    var worstCase: TokenUsage? = nil
    /// How a completed answer without usage is billed (`pricing.missing_usage`).
    var missingUsage = MissingUsageBilling.worstCase
    /// The provider's id for the request, from its response headers.
    var requestID: String? = nil
    /// The `Idempotency-Key` the request claimed, resolved with its event.
    var idempotency: IdempotentRequest? = nil
    /// For a retry answered with a stored response: the event of the request that was answered first.
    var replayOf: String? = nil
    /// The request's span, when tracing is on: ended with the event's attributes once it is recorded.
    var span: (any Span)? = nil
}

/// How the response phase went, for the event.
struct ResponseOutcome: Sendable {
    var status: Int
    var reading = UsageReading()
    var ttfb: Duration?
    var upstreamStarted: ContinuousClock.Instant?
    var upstreamEnded: ContinuousClock.Instant?
    var clientGone = false
    var upstreamFailure: String?
    /// Whether the body came in a content coding the meter could not decode (its end and usage unseen).
    var undecodable = false
    /// The response as the client received it, for an idempotent request (kept to replay to its retries).
    var captured: ResponseCapture?
}

extension InferenceContext {
    /// The event for this inference once its outcome is known, rated.
    func event(outcome: ResponseOutcome, rules: PricingRules, now: ContinuousClock.Instant = .now) -> UsageEvent {
        var usage = outcome.reading.usage ?? .zero
        // A format's own estimate (a transcription answered as plain text) counts only for a successful answer.
        var estimated = outcome.reading.estimated && outcome.reading.usage != nil && (200..<300).contains(outcome.status)
        var notes: [String] = []
        if let note = outcome.reading.note { notes.append(note) }
        if let failure = outcome.upstreamFailure { notes.append(failure) }
        // Only a successful answer is billed without usage; a failed one (even if the client left) carries no tokens.
        // A complete answer is billed its worst case (unless the operator chose estimates): a client cannot pay less
        // by making its usage go missing. An answer cut short is billed by estimate.
        if metered, outcome.reading.usage == nil, (200..<300).contains(outcome.status), outcome.upstreamStarted != nil {
            let complete = (outcome.reading.completed || outcome.undecodable) && !outcome.clientGone && outcome.upstreamFailure == nil
            if complete, missingUsage == .worstCase, let worstCase {
                usage = worstCase
                notes.append("the complete answer reported no usage; billed the request's worst case")
            } else {
                usage = UsageEstimate.estimate(requestBytes: requestBytes, contentEvents: outcome.reading.contentEvents)
                notes.append("no usage reported; estimated")
            }
            estimated = true
        }
        if outcome.clientGone { notes.append("client disconnected before the end of the response") }
        if let replayOf { notes.append("idempotent retry answered with the response of event \(replayOf); not charged again") }
        let timestampMs = Int64(arrival.timeIntervalSince1970 * 1000)
        let status = outcome.clientGone ? 499 : outcome.status
        let rating = rules.rate(
            provider: provider.name, customer: key.customer, usage: usage, servedModel: outcome.reading.servedModel,
            requestedModel: request.model, serviceTier: outcome.reading.serviceTier, at: timestampMs,
            billable: UsageEvent.isBillable(status: status, usage: usage))
        if !rating.priced, usage.totalTokens > 0 || usage.hasUnits {
            notes.append("no price for model \(outcome.reading.servedModel ?? request.model ?? "?")")
        }
        return UsageEvent(
            id: id, timestampMs: timestampMs, customer: key.customer, keyID: key.id, feature: feature,
            endUser: endUser, project: project, provider: provider.name, route: route, path: path, model: request.model,
            servedModel: outcome.reading.servedModel ?? request.model, status: status,
            stream: request.stream, usage: usage, rawUsage: outcome.reading.rawUsage, serviceTier: outcome.reading.serviceTier,
            latencyMs: milliseconds(now - started), ttfbMs: outcome.ttfb.map(milliseconds),
            upstreamMs: outcome.upstreamStarted.map { milliseconds((outcome.upstreamEnded ?? now) - $0) }, cost: rating.cost,
            price: rating.price, currency: rating.currency, estimated: estimated, priced: rating.priced,
            note: notes.isEmpty ? nil : notes.joined(separator: "; "), idempotencyKey: idempotencyKey, priceBook: rating.priceBook,
            priceCurrency: rating.priceCurrency == rating.currency ? nil : rating.priceCurrency, requestID: requestID,
            replayOf: replayOf
        )
    }
}

/// A duration in milliseconds with microsecond resolution.
func milliseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    let microseconds = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    return Double(microseconds) / 1000
}
