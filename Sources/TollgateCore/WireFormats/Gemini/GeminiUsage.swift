/// Maps Gemini `usageMetadata` objects onto ``TokenUsage``.
///
/// Gemini counts the cache inside the prompt and the thoughts outside the answer: `promptTokenCount` includes
/// `cachedContentTokenCount`, `toolUsePromptTokenCount` (the results of tools Gemini ran, such as code execution or
/// search, fed back as prompt) stands beside it, and `thoughtsTokenCount` is not inside `candidatesTokenCount`. So:
///
/// - input = promptTokenCount − cachedContentTokenCount + toolUsePromptTokenCount
/// - cache read = cachedContentTokenCount
/// - output = candidatesTokenCount + thoughtsTokenCount, reasoning = thoughtsTokenCount
///
/// The per-modality lists (`promptTokensDetails`, `cacheTokensDetails`, `toolUsePromptTokensDetails`,
/// `candidatesTokensDetails`: `[{"modality":"AUDIO","tokenCount":n}]`) give the audio and image parts, which
/// ``TokenUsage`` counts inside input and output: input audio is the prompt's audio less the cached audio plus the
/// tool prompt's audio; output audio and image are the answer's (thoughts are text). A part is never more than its
/// whole. Embeddings report `promptTokenCount` only (some models nothing at all), and spell the prompt's list
/// `promptTokenDetails`.
public enum GeminiUsage {
    /// Every member read, by its key path inside `usageMetadata`.
    enum Field: Int, CaseIterable {
        case promptTokens, cachedContentTokens, candidatesTokens, thoughtsTokens, toolUsePromptTokens
        case promptDetails, embeddingPromptDetails, cacheDetails, candidatesDetails, toolUsePromptDetails
        case serviceTier

        var path: [String] {
            switch self {
            case .promptTokens: return ["promptTokenCount"]
            case .cachedContentTokens: return ["cachedContentTokenCount"]
            case .candidatesTokens: return ["candidatesTokenCount"]
            case .thoughtsTokens: return ["thoughtsTokenCount"]
            case .toolUsePromptTokens: return ["toolUsePromptTokenCount"]
            case .promptDetails: return ["promptTokensDetails"]
            case .embeddingPromptDetails: return ["promptTokenDetails"]
            case .cacheDetails: return ["cacheTokensDetails"]
            case .candidatesDetails: return ["candidatesTokensDetails"]
            case .toolUsePromptDetails: return ["toolUsePromptTokensDetails"]
            case .serviceTier: return ["serviceTier"]
            }
        }

        /// The token counts: a usage object with none of them reports no usage.
        static let counts: [Field] = [.promptTokens, .cachedContentTokens, .candidatesTokens, .thoughtsTokens, .toolUsePromptTokens]
    }

    private static let paths = JSONFieldScanner.KeyPaths(Field.allCases.map(\.path))
    private static let detailPaths = JSONFieldScanner.KeyPaths([["modality"], ["tokenCount"]])

    /// Audio and image tokens of one per-modality list.
    struct ModalityCounts: Sendable, Equatable {
        /// Tokens of modality `AUDIO`.
        var audio = 0
        /// Tokens of modality `IMAGE`.
        var image = 0

        /// The counts of a list's JSON text; entries that are not `{"modality":…,"tokenCount":n}` count nothing.
        init(_ list: [UInt8]?) {
            guard let list, let entries = JSONArraySplitter.elements(of: list) else { return }
            for entry in entries {
                guard let scanner = JSONFieldScanner.scanWhole(Array(entry), paths: GeminiUsage.detailPaths),
                    let tokens = GeminiUsage.wholeNumber(scanner.value(at: 1))
                else { continue }
                switch scanner.value(at: 0).flatMap(decodeJSONString) {
                case "AUDIO": audio = audio.addingSaturated(tokens)
                case "IMAGE": image = image.addingSaturated(tokens)
                default: break
                }
            }
        }
    }

    /// The canonical classes of one usage object (its JSON text), or `nil` when it carries no token counts.
    ///
    /// Read with the same scanner as the body: only whole-number members count; a missing, null or non-integer
    /// member counts as zero.
    public static func canonical(_ usage: [UInt8]) -> TokenUsage? {
        parse(usage).usage
    }

    /// The canonical classes (`nil` without token counts) and the service tier of one usage object.
    static func parse(_ usage: [UInt8]) -> (usage: TokenUsage?, serviceTier: String?) {
        var scanner = JSONFieldScanner(paths: paths)
        scanner.feed(usage)
        scanner.finish()
        let tier = scanner.value(at: Field.serviceTier.rawValue).flatMap(decodeJSONString)
        let counts = Field.counts.map { wholeNumber(scanner.value(at: $0.rawValue)) }
        guard counts.contains(where: { $0 != nil }) else { return (nil, tier) }
        func count(_ field: Field) -> Int { wholeNumber(scanner.value(at: field.rawValue)) ?? 0 }
        func details(_ field: Field) -> ModalityCounts { ModalityCounts(scanner.value(at: field.rawValue)) }

        let cached = count(.cachedContentTokens)
        let input = max(0, count(.promptTokens) - cached) + count(.toolUsePromptTokens)
        let candidates = count(.candidatesTokens)
        let thoughts = count(.thoughtsTokens)
        let prompt = scanner.value(at: Field.promptDetails.rawValue) != nil ? details(.promptDetails) : details(.embeddingPromptDetails)
        let cache = details(.cacheDetails)
        let toolUse = details(.toolUsePromptDetails)
        let answer = details(.candidatesDetails)
        let inputAudio = min(input, max(0, prompt.audio - cache.audio) + toolUse.audio)
        let inputImage = min(input - inputAudio, max(0, prompt.image - cache.image) + toolUse.image)
        let outputAudio = min(candidates, answer.audio)
        let outputImage = min(candidates - outputAudio, answer.image)
        let canonical = TokenUsage(
            inputTokens: input, cacheReadTokens: cached, outputTokens: candidates + thoughts, reasoningTokens: thoughts,
            inputAudioTokens: inputAudio, outputAudioTokens: outputAudio, inputImageTokens: inputImage, outputImageTokens: outputImage
        )
        return (canonical, tier)
    }

    /// Fills the reading from one captured `usageMetadata` value: a later object replaces an earlier one whole
    /// (stream chunks carry running totals), `null` or a non-object changes nothing, and an object without token
    /// counts is noted and leaves the earlier usage in place. The raw usage is the object verbatim, on one line.
    static func read(usage: [UInt8]?, into reading: inout UsageReading) {
        guard let usage, usage.first == UInt8(ascii: "{") else { return }
        let (canonical, tier) = parse(usage)
        if let tier { reading.serviceTier = tier }
        guard let canonical else {
            reading.note = "usage object without token counts"
            return
        }
        reading.usage = canonical
        reading.rawUsage = String(decoding: JSONEdit.compacted(usage), as: UTF8.self)
    }

    /// A count written as a whole, non-negative JSON number (`12`); anything else (`null`, `"12"`, `1.5`, `-3`)
    /// is not a count.
    static func wholeNumber(_ bytes: [UInt8]?) -> Int? {
        guard let bytes, !bytes.isEmpty, bytes.count < 16,
            bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int(String(decoding: bytes, as: UTF8.self))
    }
}
