import TollgateCore

/// A customer's consumption of one model over a time range, summed from the events.
public struct ModelConsumption: Sendable, Equatable, Codable {
    /// The model that served the requests (the requested one when the provider did not say).
    public var model: String
    /// Requests that reached a provider.
    public var requests: Int
    /// Prompt tokens neither read from nor written to a cache.
    public var inputTokens: Int
    /// Prompt tokens read from a cache.
    public var cacheReadTokens: Int
    /// Prompt tokens written to a cache (5-minute and 1-hour writes).
    public var cacheWriteTokens: Int
    /// Generated tokens, reasoning included.
    public var outputTokens: Int
    /// What the customer is charged.
    public var price: Money

    enum CodingKeys: String, CodingKey {
        case model, requests, price
        case inputTokens = "input_tokens"
        case cacheReadTokens = "cache_read_tokens"
        case cacheWriteTokens = "cache_write_tokens"
        case outputTokens = "output_tokens"
    }
}

extension MeterStore {
    /// A customer's consumption by model in [from, to), largest price first. Requests Tollgate refused itself
    /// (admission, unreadable bodies) are left out.
    public func consumption(customer: String, fromMs: Int64, toMs: Int64) async throws(MeterError) -> [ModelConsumption] {
        do {
            return try await database.read { db in
                let rows = try SQLRow.fetchCursor(
                    db,
                    sql: """
                        SELECT COALESCE(served_model, model, '(none)') AS name, input_tokens, cache_read_tokens,
                            cache_write_tokens + cache_write_1h_tokens AS cache_write, output_tokens, price
                        FROM events WHERE customer_id = ? AND ts_ms >= ? AND ts_ms < ? AND (note IS NULL OR note NOT LIKE 'refused:%')
                        """, arguments: [customer, fromMs, toMs])
                var byModel: [String: ModelConsumption] = [:]
                while let row = try rows.next() {
                    let name: String = row["name"]
                    var line =
                        byModel[name]
                        ?? ModelConsumption(
                            model: name, requests: 0, inputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 0, price: .zero)
                    line.requests += 1
                    line.inputTokens += row["input_tokens"] as Int
                    line.cacheReadTokens += row["cache_read_tokens"] as Int
                    line.cacheWriteTokens += row["cache_write"] as Int
                    line.outputTokens += row["output_tokens"] as Int
                    line.price += Money(row["price"] as String) ?? .zero
                    byModel[name] = line
                }
                return byModel.values.sorted { $0.price != $1.price ? $0.price > $1.price : $0.model < $1.model }
            }
        } catch {
            throw MeterError.readFailed("\(error)")
        }
    }
}
