import Foundation

extension APIName {
    /// OpenAI Chat Completions.
    public static let openAIChat = APIName(declaring: "openai.chat")
    /// OpenAI legacy Completions.
    public static let openAICompletions = APIName(declaring: "openai.completions")
    /// OpenAI Embeddings.
    public static let openAIEmbeddings = APIName(declaring: "openai.embeddings")
    /// OpenAI Responses.
    public static let openAIResponses = APIName(declaring: "openai.responses")
    /// OpenAI Images generations (JSON body).
    public static let openAIImages = APIName(declaring: "openai.images")
    /// OpenAI Images edits (multipart body).
    public static let openAIImageEdits = APIName(declaring: "openai.image_edits")
    /// OpenAI text to speech.
    public static let openAISpeech = APIName(declaring: "openai.speech")
    /// OpenAI speech to text: transcriptions (multipart body).
    public static let openAITranscriptions = APIName(declaring: "openai.transcriptions")
    /// OpenAI speech to text: translations into English (multipart body).
    public static let openAITranslations = APIName(declaring: "openai.translations")
    /// OpenAI Moderations (free, one event each).
    public static let openAIModerations = APIName(declaring: "openai.moderations")
}

extension WireFamily {
    /// OpenAI and the OpenAI-compatible servers (Azure OpenAI, Groq, Mistral, DeepSeek, vLLM …).
    public static let openai = WireFamily(
        name: "openai",
        apis: [
            (.openAIChat, OpenAIChatFormat(api: .openAIChat)), (.openAICompletions, OpenAIChatFormat(api: .openAICompletions)),
            (.openAIEmbeddings, OpenAIChatFormat(api: .openAIEmbeddings)), (.openAIResponses, OpenAIResponsesFormat()),
            (.openAIImages, OpenAIImagesFormat(api: .openAIImages)), (.openAIImageEdits, OpenAIImagesFormat(api: .openAIImageEdits)),
            (.openAISpeech, OpenAISpeechFormat()), (.openAITranscriptions, OpenAITranscriptionFormat(api: .openAITranscriptions)),
            (.openAITranslations, OpenAITranscriptionFormat(api: .openAITranslations)), (.openAIModerations, OpenAIModerationsFormat()),
        ],
        defaultRoutes: RouteRule.openAICompatible,
        passThroughRoutes: PassThroughRule.openAIModelList,
        refusedRoutes: [.openAIRealtime],
        objects: .openAI,
        // `api-key`: Azure OpenAI's SDKs.
        keyLocations: [.bearer, .header("api-key")],
        credentialHeaders: ["authorization", "api-key"],
        requestIDHeaders: ["x-request-id"],
        // Not `openai-organization` / `openai-project`: they pick the operator's organization and project.
        forwardedHeaders: ["openai-beta", "x-stainless-*", "x-ms-client-request-id"],
        // Not `openai-organization` / `openai-project` (the operator's account) nor `x-ratelimit-*` (its shared quota).
        returnedHeaders: ["openai-processing-ms", "openai-version", "openai-model", "x-ms-client-request-id", "apim-request-id"],
        errorShape: OpenAIErrorShape())
}

extension RouteRule {
    /// The routes of an OpenAI-compatible server, whatever prefix it puts before them (`/v1`, `/openai/v1`). The first
    /// match wins: `/**/chat/completions` must stay before `/**/completions`, which would match it too.
    public static let openAICompatible: [RouteRule] = [
        RouteRule(pattern: PathPattern("/**/chat/completions"), api: .openAIChat),
        RouteRule(pattern: PathPattern("/**/completions"), api: .openAICompletions),
        RouteRule(pattern: PathPattern("/**/embeddings"), api: .openAIEmbeddings),
        RouteRule(pattern: PathPattern("/**/responses"), api: .openAIResponses),
        RouteRule(pattern: PathPattern("/**/images/generations"), api: .openAIImages),
        RouteRule(pattern: PathPattern("/**/images/edits"), api: .openAIImageEdits),
        RouteRule(pattern: PathPattern("/**/audio/speech"), api: .openAISpeech),
        RouteRule(pattern: PathPattern("/**/audio/transcriptions"), api: .openAITranscriptions),
        RouteRule(pattern: PathPattern("/**/audio/translations"), api: .openAITranslations),
        RouteRule(pattern: PathPattern("/**/moderations"), api: .openAIModerations),
    ]
}

extension PassThroughRule {
    /// The model list and one model (`GET /v1/models`, `GET /v1/models/ID`), whatever prefix the server uses.
    public static let openAIModelList = [PassThroughRule(["GET"], "/**/models"), PassThroughRule(["GET"], "/**/models/*")]
}

extension RefusedRoute {
    /// Realtime sessions (the WebSocket and WebRTC endpoints) and the ephemeral client secrets that let a browser
    /// open one straight at the provider: neither can be metered by a proxy that does not hold the session.
    public static let openAIRealtime = RefusedRoute(
        ["/**/realtime", "/**/realtime/**"], status: 403, code: "realtime_not_metered",
        message: "Realtime sessions and their ephemeral client secrets (/v1/realtime, /v1/realtime/sessions, "
            + "/v1/realtime/client_secrets, /v1/realtime/transcription_sessions) are refused: Tollgate does not meter "
            + "realtime usage yet, and a client secret would let a client reach the provider without Tollgate.")
}

/// `{"error": {"message", "type", "param", "code"}}` (OpenAI and the compatible servers).
struct OpenAIErrorShape: WireErrorShape {
    func object(for error: WireError) -> JSONValue {
        ["error": ["message": .string(error.message), "type": .string(error.type), "param": nil, "code": .string(error.code)]]
    }
}
