import TollgateCore

/// The mapping between ``UsageEvent`` and a row of the `events` table.
enum EventRow {
    static let columns = [
        "id", "ts_ms", "customer_id", "key_id", "feature", "end_user", "project", "provider", "route", "path", "model",
        "served_model", "status", "stream", "input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
        "output_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens", "raw_usage", "service_tier",
        "latency_ms", "ttfb_ms", "upstream_ms", "cost", "price", "currency", "estimated", "priced", "note", "idempotency_key",
        "input_image_tokens", "output_image_tokens", "web_search_requests", "web_fetch_requests", "price_book", "price_currency", "request_id",
        "images", "image_variant", "audio_seconds", "input_characters", "replay_of",
    ]

    /// Insert that keeps the stored row when the id is already there: a retried write never duplicates.
    static let insertSQL =
        "INSERT INTO events (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", "))) ON CONFLICT DO NOTHING"

    static func arguments(_ event: UsageEvent) -> SQLArguments {
        let usage = event.usage
        // Each value converted where its type is known: an array of optional existentials, converted after, cost more.
        let values: [SQLValue] = [
            event.id.sqlValue, event.timestampMs.sqlValue,
            event.customer.sqlValue, event.keyID.sqlValue, event.feature.sqlValue, event.endUser.sqlValue,
            event.project.sqlValue, event.provider.sqlValue, event.route.sqlValue, event.path.sqlValue,
            event.model.sqlValue, event.servedModel.sqlValue, event.status.sqlValue, event.stream.sqlValue,
            usage.inputTokens.sqlValue, usage.cacheReadTokens.sqlValue, usage.cacheWriteTokens.sqlValue,
            usage.cacheWrite1hTokens.sqlValue, usage.outputTokens.sqlValue, usage.reasoningTokens.sqlValue,
            usage.inputAudioTokens.sqlValue, usage.outputAudioTokens.sqlValue, event.rawUsage.sqlValue,
            event.serviceTier.sqlValue, event.latencyMs.sqlValue, event.ttfbMs.sqlValue, event.upstreamMs.sqlValue,
            event.cost.description.sqlValue, event.price.description.sqlValue, event.currency.sqlValue,
            event.estimated.sqlValue, event.priced.sqlValue, event.note.sqlValue, event.idempotencyKey.sqlValue,
            usage.inputImageTokens.sqlValue, usage.outputImageTokens.sqlValue, usage.webSearchRequests.sqlValue,
            usage.webFetchRequests.sqlValue, event.priceBook.sqlValue, event.priceCurrency.sqlValue,
            event.requestID.sqlValue, usage.images.sqlValue, usage.imageVariant.sqlValue, usage.audioSeconds.sqlValue,
            usage.inputCharacters.sqlValue, event.replayOf.sqlValue,
        ]
        return SQLArguments(values: values)
    }

    static func event(_ row: SQLRow) -> UsageEvent {
        UsageEvent(
            id: row["id"], timestampMs: row["ts_ms"], customer: row["customer_id"], keyID: row["key_id"], feature: row["feature"],
            endUser: row["end_user"], project: row["project"], provider: row["provider"], route: row["route"], path: row["path"],
            model: row["model"], servedModel: row["served_model"], status: row["status"], stream: row["stream"],
            usage: TokenUsage(
                inputTokens: row["input_tokens"], cacheReadTokens: row["cache_read_tokens"], cacheWriteTokens: row["cache_write_tokens"],
                cacheWrite1hTokens: row["cache_write_1h_tokens"], outputTokens: row["output_tokens"],
                reasoningTokens: row["reasoning_tokens"], inputAudioTokens: row["input_audio_tokens"],
                outputAudioTokens: row["output_audio_tokens"], inputImageTokens: row["input_image_tokens"],
                outputImageTokens: row["output_image_tokens"], webSearchRequests: row["web_search_requests"],
                webFetchRequests: row["web_fetch_requests"], images: row["images"], imageVariant: row["image_variant"],
                audioSeconds: row["audio_seconds"], inputCharacters: row["input_characters"]
            ),
            rawUsage: row["raw_usage"], serviceTier: row["service_tier"], latencyMs: row["latency_ms"], ttfbMs: row["ttfb_ms"],
            upstreamMs: row["upstream_ms"], cost: Money(row["cost"] as String) ?? .zero, price: Money(row["price"] as String) ?? .zero,
            currency: row["currency"], estimated: row["estimated"], priced: row["priced"], note: row["note"],
            idempotencyKey: row["idempotency_key"], priceBook: row["price_book"], priceCurrency: row["price_currency"], requestID: row["request_id"],
            replayOf: row["replay_of"]
        )
    }
}
