/// Which model answers a request: OpenAI replies with a dated snapshot name for its aliases, and the proxy
/// must record that served name, so the simulator does the same for the common ones.
enum ModelCatalog {
    /// Alias → served snapshot, as OpenAI resolved them when the table was written.
    static let snapshots: [String: String] = [
        "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
        "gpt-4o": "gpt-4o-2024-08-06",
        "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
        "gpt-5-nano": "gpt-5-nano-2025-08-07",
        "gpt-5-mini": "gpt-5-mini-2025-08-07",
    ]

    /// Models listed by GET /v1/models beyond the aliases and their snapshots.
    static let others = ["o4-mini", "text-embedding-3-small", "text-embedding-3-large", "babbage-002"]

    /// Everything GET /v1/models lists, sorted for a stable order.
    static let listed: [String] = (Array(snapshots.keys) + Array(snapshots.values) + others).sorted()

    /// Fixed creation time reported for every model and object, so bodies never depend on the clock.
    static let created = 1_763_700_000

    /// Reasoning tokens a reasoning model spends on every request.
    static let reasoningTokens = 16

    /// The model name the response reports for a requested model.
    static func served(_ requested: String) -> String {
        snapshots[requested] ?? requested
    }

    /// Whether `model` is a reasoning model, which bills hidden reasoning tokens inside its output.
    static func isReasoning(_ model: String) -> Bool {
        ["o1", "o3", "o4", "gpt-5"].contains { model.hasPrefix($0) }
    }

    /// One entry of the models list.
    static func entry(_ id: String) -> JSON {
        ["id": .string(id), "object": "model", "created": .int(created), "owned_by": "system"]
    }

    /// GET /v1/models.
    static func list() -> JSON {
        ["object": "list", "data": .array(listed.map(entry))]
    }
}
