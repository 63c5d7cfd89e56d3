import Foundation
import HTTPTypes
import TollgateCore
import TollgateStore

/// The admission step of a request: the plan's models, a price for the model, then (for customers with credits or
/// limits) a reservation of the request's worst case. Customers with neither pass without touching the meter.
public struct Admitter: Sendable {
    let control: AdmissionControl
    let pricing: PricingState
    let settings: CreditSettings
    /// The requests in flight: a request admitted while no other is may be decided on the caller's thread.
    let limiter: ConcurrencyLimiter?

    /// Creates the admission step over `control`, pricing worst cases with the rules in `pricing`.
    public init(control: AdmissionControl, pricing: PricingState, settings: CreditSettings, limiter: ConcurrencyLimiter? = nil) {
        self.control = control
        self.limiter = limiter
        self.pricing = pricing
        self.settings = settings
    }

    /// What admission decided: the reservation to settle with the event (`nil`: nothing held) and the request's worst
    /// case, which is also what a completed answer without usage is billed.
    struct Admission: Sendable {
        var ticket: AdmissionTicket?
        var worstCase: TokenUsage
    }

    /// Admits the request or throws the refusal.
    func admit(
        _ principal: Principal, provider: Provider, request: PreparedRequest, requestBytes: Int, nowMs: Int64
    ) async throws(Refusal) -> Admission {
        if let models = principal.models {
            guard let model = request.model else {
                throw Refusal(
                    reason: .model,
                    message: "The plan of customer \(principal.customer) includes only some models (\(models.joined(separator: ", "))): name one.")
            }
            guard models.contains(where: { PriceTable.glob($0, matches: model) }) else {
                throw Refusal(
                    reason: .model,
                    message:
                        "The plan of customer \(principal.customer) does not include model \(model) (included: \(models.joined(separator: ", "))).")
            }
        }
        let worst = worstCase(principal, provider: provider, request: request, requestBytes: requestBytes, rules: pricing.rules, nowMs: nowMs)
        // A model nothing prices (and no fallback rate) would cost and bill zero: refused, not served.
        guard worst.priced else { throw Self.unpriced(model: request.model, provider: provider) }
        guard principal.controlled else { return Admission(ticket: nil, worstCase: worst.usage) }
        let admission: Result<AdmissionTicket, Refusal>
        do {
            admission = try await control.admit(
                AdmissionRequest(
                    principal: principal, model: request.model, worstCasePrice: worst.price, currency: worst.currency,
                    worstCaseTokens: worst.usage.totalTokens, nowMs: nowMs),
                alone: limiter?.isAlone ?? false)
        } catch {
            // The meter cannot hold the reservation: refusing is the only way a cap can hold.
            throw Refusal(reason: .credits, message: "Credits and limits cannot be checked right now (the meter is unavailable); retry shortly.")
        }
        switch admission {
        case .success(let ticket): return Admission(ticket: ticket, worstCase: worst.usage)
        case .failure(let refusal): throw refusal
        }
    }

    private static func unpriced(model: String?, provider: Provider) -> Refusal {
        guard let model else {
            return Refusal(
                reason: .unpriced,
                message: "The request names no model, so Tollgate cannot price it; name the model (provider '\(provider.name)').")
        }
        return Refusal(
            reason: .unpriced,
            message:
                "Model \(model) has no price at provider '\(provider.name)', so Tollgate does not serve it: add it to the provider's "
                + "catalog (or set pricing.unpriced_models.fallback).")
    }

    /// The request's worst case, priced like an event at the customer's rates (in the service tier it asks for), and
    /// whether anything prices it. A media request's is its ``MediaRequest/worstCase(price:promptTokens:defaultMaxOutputTokens:)``;
    /// a token request's:
    /// - input: every prompt byte a token (`prompt_bytes_per_token`), plus each image at its provider's largest image
    ///   formula; a request whose prompt the body does not bound (stored content, documents, retrieval tools) reserves
    ///   the model's whole input limit (else `default_max_input_tokens`);
    /// - output: the largest limit the request sets, capped by the model's (else the model's, else
    ///   `default_max_output_tokens`), times the answers it asks for (`n`, `best_of`, `candidateCount`).
    func worstCase(
        _ principal: Principal, provider: Provider, request: PreparedRequest, requestBytes: Int, rules: PricingRules, nowMs: Int64
    ) -> (usage: TokenUsage, price: Money, currency: String, priced: Bool) {
        let modelPrice = request.model.flatMap { rules.catalogs[provider.name]?.price(for: $0, at: nowMs)?.price }
        let promptTokens = (requestBytes + settings.promptBytesPerToken - 1) / settings.promptBytesPerToken
        let usage: TokenUsage
        if let media = request.media {
            usage = media.worstCase(price: modelPrice, promptTokens: promptTokens, defaultMaxOutputTokens: settings.defaultMaxOutputTokens)
        } else {
            // Saturating: a hostile limit must price as "too much", never trap. Each side stays under Int.max / 4, so
            // their sums in TokenUsage cannot overflow either.
            let cap = Int.max / 4
            let limit = [request.maxOutputTokens, modelPrice?.maxOutputTokens].compactMap { $0 }.min() ?? settings.defaultMaxOutputTokens
            let (output, overflow) = max(0, limit).multipliedReportingOverflow(by: max(1, request.choices))
            var input = min(cap, promptTokens.addingSaturated(request.imageInputTokens))
            if request.unboundedInput != nil { input = max(input, modelPrice?.maxInputTokens ?? settings.defaultMaxInputTokens) }
            usage = TokenUsage(inputTokens: min(cap, input), outputTokens: overflow ? cap : min(cap, output))
        }
        let rating = rules.rate(
            provider: provider.name, customer: principal.customer, usage: usage, servedModel: nil, requestedModel: request.model,
            serviceTier: request.serviceTier, at: nowMs)
        return (usage, rating.price, rating.priceCurrency, rating.priced)
    }
}

extension Refusal {
    /// The refusal as Tollgate's answer, in the route's family shape: 402, 429 with Retry-After, or 403.
    var errorResponse: ErrorResponse {
        let type: String
        switch reason {
        case .credits, .cap: type = "insufficient_quota"
        case .rateLimit: type = "rate_limit_exceeded"
        case .model: type = "permission_error"
        case .unpriced: type = "invalid_request_error"
        }
        var response = ErrorResponse(status: HTTPResponse.Status(code: reason.status), message: message, type: type, code: reason.rawValue)
        if let seconds = retryAfterSeconds { response.headers[.retryAfter] = "\(seconds)" }
        return response
    }
}
