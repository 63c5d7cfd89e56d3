/// PLACEHOLDER while the format is written: reads the request like OpenAI's and meters nothing.
public struct CohereChatFormat: WireFormat {
    public var api: APIName { .cohereChat }
    public init() {}
    public func prepare(body: [UInt8], options: RequestOptions) throws(RequestError) -> PreparedRequest {
        try OpenAIRequest.prepareAsIs(body: body, options: options)
    }
    public func makeMeter(for request: PreparedRequest, contentType: String?) -> any ResponseMeter {
        JSONBodyMeter(layout: AnthropicMessagesFormat.plainLayout)
    }
}
