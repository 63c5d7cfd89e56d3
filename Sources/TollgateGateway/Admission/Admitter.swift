import Foundation
import HTTPTypes
import TollgateCore
import TollgateStore

/// The admission step of a request: the plan's models, then (for customers with credits or limits) a reservation of
/// the request's worst case. Customers with neither pass without touching the meter.
public struct Admitter: Sendable {
    let control: AdmissionControl
    let pricing: PricingState
    let settings: CreditSettings

    /// Creates the admission step over `control`, pricing worst cases with the rules in `pricing`.
    public init(control: AdmissionControl, pricing: PricingState, settings: CreditSettings) {
        self.control = control
        self.pricing = pricing
        self.settings = settings
    }

    /// Admits the request or throws the refusal; returns the ticket to settle with the event (`nil`: nothing held).
    func admit(
        _ principal: Principal, provider: Provider, request: PreparedRequest, requestBytes: Int, nowMs: Int64
    ) async throws(Refusal) -> AdmissionTicket? {
        if let models = principal.models, let model = request.model, !models.contains(where: { PriceTable.glob($0, matches: model) }) {
            throw Refusal(
                reason: .model,
                message:
                    "The plan of customer \(principal.customer) does not include model \(model) (included: \(models.joined(separator: ", "))).")
        }
        guard principal.controlled else { return nil }
        let rules = pricing.rules
        let (usage, price) = worstCase(principal, provider: provider, request: request, requestBytes: requestBytes, rules: rules, nowMs: nowMs)
        let admission: Result<AdmissionTicket, Refusal>
        do {
            admission = try await control.admit(
                AdmissionRequest(
                    principal: principal, model: request.model, worstCasePrice: price.amount, currency: price.currency,
                    worstCaseTokens: usage.totalTokens, nowMs: nowMs))
        } catch {
            // The meter cannot hold the reservation: refusing is the only way a cap can hold.
            throw Refusal(reason: .credits, message: "Credits and limits cannot be checked right now (the meter is unavailable); retry shortly.")
        }
        switch admission {
        case .success(let ticket): return ticket
        case .failure(let refusal): throw refusal
        }
    }

    /// The request's worst case: every prompt byte a token (`prompt_bytes_per_token`), and the output limit the
    /// request sets, else the model's, else `default_max_output_tokens`; priced like an event at the customer's rates.
    func worstCase(
        _ principal: Principal, provider: Provider, request: PreparedRequest, requestBytes: Int, rules: PricingRules, nowMs: Int64
    ) -> (usage: TokenUsage, price: (amount: Money, currency: String)) {
        if let media = mediaWorstCase(principal, provider: provider, request: request, requestBytes: requestBytes, rules: rules, nowMs: nowMs) {
            return media
        }
        let modelLimit = request.model.flatMap { rules.catalogs[provider.name]?.price(for: $0, at: nowMs)?.price.maxOutputTokens }
        let output = [request.maxOutputTokens, modelLimit].compactMap { $0 }.min() ?? settings.defaultMaxOutputTokens
        let input = (requestBytes + settings.promptBytesPerToken - 1) / settings.promptBytesPerToken
        let usage = TokenUsage(inputTokens: input, outputTokens: max(0, output))
        let rating = rules.rate(
            provider: provider.name, customer: principal.customer, usage: usage, servedModel: nil, requestedModel: request.model, serviceTier: nil,
            at: nowMs)
        return (usage, (rating.price, rating.priceCurrency))
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
        }
        var response = ErrorResponse(status: HTTPResponse.Status(code: reason.status), message: message, type: type, code: reason.rawValue)
        if let seconds = retryAfterSeconds { response.headers[.retryAfter] = "\(seconds)" }
        return response
    }
}
