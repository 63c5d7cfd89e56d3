extension APIName {
    /// Bedrock Converse (`/model/ID/converse`).
    public static let bedrockConverse = APIName(declaring: "bedrock.converse")
    /// Bedrock ConverseStream (`/model/ID/converse-stream`, binary event stream).
    public static let bedrockConverseStream = APIName(declaring: "bedrock.converseStream")
    /// Bedrock InvokeModel with an Anthropic Messages body (`/model/ID/invoke`).
    public static let bedrockInvoke = APIName(declaring: "bedrock.invoke")
    /// Bedrock InvokeModelWithResponseStream with an Anthropic Messages body (`/model/ID/invoke-with-response-stream`).
    public static let bedrockInvokeStream = APIName(declaring: "bedrock.invokeStream")
}

extension WireFamily {
    /// AWS Bedrock runtime.
    public static let bedrock = WireFamily(
        name: "bedrock",
        apis: [
            (.bedrockConverse, BedrockFormat(api: .bedrockConverse)), (.bedrockConverseStream, BedrockFormat(api: .bedrockConverseStream)),
            (.bedrockInvoke, BedrockFormat(api: .bedrockInvoke)), (.bedrockInvokeStream, BedrockFormat(api: .bedrockInvokeStream)),
        ],
        defaultRoutes: [
            RouteRule(pattern: PathPattern("/model/*/converse"), api: .bedrockConverse),
            RouteRule(pattern: PathPattern("/model/*/converse-stream"), api: .bedrockConverseStream),
            RouteRule(pattern: PathPattern("/model/*/invoke"), api: .bedrockInvoke),
            RouteRule(pattern: PathPattern("/model/*/invoke-with-response-stream"), api: .bedrockInvokeStream),
        ],
        // The runtime endpoint has nothing read-only worth passing (model lists are on the control-plane host).
        passThroughRoutes: [],
        // A Bedrock API key is a bearer token; an AWS SDK signs with the virtual key as its access key id.
        keyLocations: [.bearer, .awsAccessKeyID],
        // `x-amz-security-token`: an AWS client's session token, sent next to its own signature.
        credentialHeaders: ["authorization", "x-amz-security-token"],
        requestIDHeaders: ["x-amzn-requestid"],
        // Guardrails, tracing and latency options; the client's own SigV4 headers are never forwarded (Tollgate signs).
        forwardedHeaders: ["x-amzn-bedrock-*"],
        // boto reads the error code from `x-amzn-errortype`; Bedrock reports token counts in `x-amzn-bedrock-*`.
        returnedHeaders: ["x-amzn-errortype", "x-amzn-bedrock-*"],
        modelInPath: true,
        telemetryName: "aws.bedrock",
        errorShape: AmazonErrorShape())
}

/// `{"message"}`, with the exception's name in `x-amzn-errortype`, where botocore reads it.
struct AmazonErrorShape: WireErrorShape {
    func object(for error: WireError) -> JSONValue { MessageErrorShape().object(for: error) }

    func headers(for error: WireError) -> [(name: String, value: String)] { [("x-amzn-errortype", Self.exception(error.status))] }

    /// The exception names Bedrock runtime answers with.
    static func exception(_ status: Int) -> String {
        switch status {
        case 400, 413: return "ValidationException"
        case 401: return "UnrecognizedClientException"
        case 402, 403: return "AccessDeniedException"
        case 404: return "ResourceNotFoundException"
        case 429: return "ThrottlingException"
        case 502, 503: return "ServiceUnavailableException"
        case 504: return "ModelTimeoutException"
        default: return "InternalServerException"
        }
    }
}
