import TollgateCore
import TollgateStore

extension Admitter {
    /// The worst case of a media request (images, speech, transcription, moderation), `nil` for any other: the
    /// request's ``MediaRequest/worstCase(price:promptTokens:defaultMaxOutputTokens:)`` (n images at the size and
    /// quality asked or the model's most expensive, every character of speech, a bound of the audio's duration),
    /// priced like an event at the customer's rates.
    func mediaWorstCase(
        _ principal: Principal, provider: Provider, request: PreparedRequest, requestBytes: Int, rules: PricingRules, nowMs: Int64
    ) -> (usage: TokenUsage, price: (amount: Money, currency: String))? {
        guard let media = request.media else { return nil }
        let price = request.model.flatMap { rules.catalogs[provider.name]?.price(for: $0, at: nowMs)?.price }
        let promptTokens = (requestBytes + settings.promptBytesPerToken - 1) / settings.promptBytesPerToken
        let usage = media.worstCase(price: price, promptTokens: promptTokens, defaultMaxOutputTokens: settings.defaultMaxOutputTokens)
        let rating = rules.rate(
            provider: provider.name, customer: principal.customer, usage: usage, servedModel: nil, requestedModel: request.model, serviceTier: nil,
            at: nowMs)
        return (usage, (rating.price, rating.priceCurrency))
    }
}
