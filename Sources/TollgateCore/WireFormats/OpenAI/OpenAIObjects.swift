extension ObjectRoutes {
    /// OpenAI's stored objects: files, batches, stored responses and stored chat completions, whatever prefix the
    /// server uses (`/v1`, `/openai/v1`).
    static let openAI = ObjectRoutes(
        routes: [
            ObjectRoute(["POST"], "/**/files", .file, .create, notFound: fileNotFound),
            ObjectRoute(["GET"], "/**/files", .file, .list, notFound: fileNotFound),
            ObjectRoute(["GET"], "/**/files/*", .file, .retrieve, idFromEnd: 0, notFound: fileNotFound),
            ObjectRoute(["DELETE"], "/**/files/*", .file, .delete, idFromEnd: 0, notFound: fileNotFound),
            ObjectRoute(["GET"], "/**/files/*/content", .file, .content, idFromEnd: 1, results: .openAIBatch, notFound: fileNotFound),
            ObjectRoute(["POST"], "/**/batches", .batch, .create, notFound: batchNotFound),
            ObjectRoute(["GET"], "/**/batches", .batch, .list, notFound: batchNotFound),
            ObjectRoute(["GET"], "/**/batches/*", .batch, .retrieve, idFromEnd: 0, notFound: batchNotFound),
            ObjectRoute(["POST"], "/**/batches/*/cancel", .batch, .cancel, idFromEnd: 1, notFound: batchNotFound),
            ObjectRoute(["GET"], "/**/responses/*", .response, .retrieve, idFromEnd: 0, notFound: responseNotFound),
            ObjectRoute(["DELETE"], "/**/responses/*", .response, .delete, idFromEnd: 0, notFound: responseNotFound),
            ObjectRoute(["GET"], "/**/responses/*/input_items", .response, .content, idFromEnd: 1, notFound: responseNotFound),
            ObjectRoute(["POST"], "/**/responses/*/cancel", .response, .cancel, idFromEnd: 1, notFound: responseNotFound),
            ObjectRoute(["GET"], "/**/chat/completions", .chatCompletion, .list, notFound: completionNotFound),
            ObjectRoute(["GET"], "/**/chat/completions/*", .chatCompletion, .retrieve, idFromEnd: 0, notFound: completionNotFound),
            ObjectRoute(["POST"], "/**/chat/completions/*", .chatCompletion, .update, idFromEnd: 0, notFound: completionNotFound),
            ObjectRoute(["DELETE"], "/**/chat/completions/*", .chatCompletion, .delete, idFromEnd: 0, notFound: completionNotFound),
            ObjectRoute(["GET"], "/**/chat/completions/*/messages", .chatCompletion, .content, idFromEnd: 1, notFound: completionNotFound),
        ],
        createdByInference: [.openAIResponses: .response, .openAIChat: .chatCompletion])

    private static let fileNotFound: @Sendable (String) -> String = { "No such File object: \($0)" }
    private static let batchNotFound: @Sendable (String) -> String = { "No batch found with id '\($0)'." }
    private static let responseNotFound: @Sendable (String) -> String = { "Response with id '\($0)' not found." }
    private static let completionNotFound: @Sendable (String) -> String = { "Chat completion with id '\($0)' not found." }
}

extension BatchResultLayout {
    /// A line of an OpenAI batch's output file:
    /// `{"id", "custom_id", "response": {"status_code", "request_id", "body": {…, "model", "usage"}}, "error"}`. The
    /// body is the endpoint's own answer (chat, completions, embeddings or responses), its usage read as the endpoint's.
    /// A line without a response (an error) bills nothing.
    static let openAIBatch = BatchResultLayout(
        paths: [
            ["custom_id"], ["response", "status_code"], ["response", "body", "model"], ["response", "body", "usage"],
            ["response", "body", "service_tier"],
        ]
    ) { value in
        guard let body = value(3), body.first == UInt8(ascii: "{") else { return nil }
        var reading = UsageReading(completed: true)
        OpenAIUsage.read(usage: body, model: value(2), serviceTier: nil, into: &reading)
        return reading
    }
}
