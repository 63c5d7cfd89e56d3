extension ObjectRoutes {
    /// Anthropic's Message Batches and Files (beta).
    static let anthropic = ObjectRoutes(
        routes: [
            ObjectRoute(["POST"], "/**/v1/messages/batches", .batch, .create, notFound: notFound),
            ObjectRoute(["GET"], "/**/v1/messages/batches", .batch, .list, notFound: notFound),
            ObjectRoute(["GET"], "/**/v1/messages/batches/*", .batch, .retrieve, idFromEnd: 0, notFound: notFound),
            ObjectRoute(["DELETE"], "/**/v1/messages/batches/*", .batch, .delete, idFromEnd: 0, notFound: notFound),
            ObjectRoute(["POST"], "/**/v1/messages/batches/*/cancel", .batch, .cancel, idFromEnd: 1, notFound: notFound),
            ObjectRoute(
                ["GET"], "/**/v1/messages/batches/*/results", .batch, .content, idFromEnd: 1, results: .anthropicBatch, notFound: notFound),
            ObjectRoute(["POST"], "/**/v1/files", .file, .create, notFound: notFound),
            ObjectRoute(["GET"], "/**/v1/files", .file, .list, notFound: notFound),
            ObjectRoute(["GET"], "/**/v1/files/*", .file, .retrieve, idFromEnd: 0, notFound: notFound),
            ObjectRoute(["DELETE"], "/**/v1/files/*", .file, .delete, idFromEnd: 0, notFound: notFound),
            ObjectRoute(["GET"], "/**/v1/files/*/content", .file, .content, idFromEnd: 1, notFound: notFound),
        ],
        listHasObjectMember: false)

    private static let notFound: @Sendable (String) -> String = { "No object with id '\($0)'." }
}

extension BatchResultLayout {
    /// A line of a Message Batch's results: `{"custom_id", "result": {"type": "succeeded", "message": {…, "model",
    /// "usage"}}}`; errored, canceled and expired requests bill nothing.
    static let anthropicBatch = BatchResultLayout(
        paths: [["custom_id"], ["result", "type"], ["result", "message", "model"], ["result", "message", "usage"]]
    ) { value in
        guard value(1).flatMap(decodeJSONString) == "succeeded", let usage = value(3) else { return nil }
        var reading = UsageReading(completed: true)
        if let model = value(2), let name = decodeJSONString(model) { reading.servedModel = name }
        var report = AnthropicUsage.Report()
        AnthropicUsage.read(usage: usage, into: &report, reading: &reading)
        return reading
    }
}
