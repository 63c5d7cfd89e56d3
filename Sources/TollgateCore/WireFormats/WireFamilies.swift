/// The wire families Tollgate speaks: the one list of them in the code.
///
/// Everything else about a family is in its folder; everything else in the code asks these tables (key locations,
/// credential headers, the family of an API) rather than naming families.
public enum WireFamilies {
    /// Every family, in the order their names are listed to people.
    public static let all: [WireFamily] = [.openai, .anthropic, .gemini, .bedrock, .cohere, .ollama]

    /// The family of a provider entry that names none: OpenAI's, which most servers speak.
    public static let `default`: WireFamily = .openai

    /// Families by provider-file name.
    static let byName: [String: WireFamily] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// Each API's family and wire format, by name.
    static let apis: [String: (family: WireFamily, format: any WireFormat)] = {
        var table: [String: (family: WireFamily, format: any WireFormat)] = [:]
        for family in all {
            for api in family.apis {
                precondition(table[api.name.rawValue] == nil, "API \(api.name) is declared twice")
                table[api.name.rawValue] = (family, api.format)
            }
        }
        return table
    }()

    /// Every place some family's SDK sends its key, each once: `Authorization` forms first, then headers, then query
    /// parameters, each in family order.
    public static let keyLocations: [KeyLocation] = {
        var seen: Set<KeyLocation> = []
        let unique = all.flatMap(\.keyLocations).filter { seen.insert($0).inserted }
        func rank(_ location: KeyLocation) -> Int {
            switch location {
            case .bearer, .awsAccessKeyID: return 0
            case .header: return 1
            case .query: return 2
            }
        }
        return unique.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
    }()

    /// Every client header that carries some family's credentials (lowercase).
    public static let credentialHeaders: Set<String> = Set(all.flatMap(\.credentialHeaders))

    /// Response headers carrying the provider's request id (the id its SDK logs), each once, in family order.
    public static let requestIDHeaders: [String] = {
        var seen: Set<String> = []
        return all.flatMap(\.requestIDHeaders).filter { seen.insert($0).inserted }
    }()

    /// The names of every family, for messages (`openai, anthropic, …`).
    public static var names: String { all.map(\.name).joined(separator: ", ") }

    /// The family whose root path prefix `path` starts with, if any.
    public static func claiming(_ path: String) -> WireFamily? {
        all.first { family in family.claimedPathPrefixes.contains { path.hasPrefix($0) } }
    }
}
