import Foundation

/// A provider API family and everything Tollgate knows of it outside its wire formats: its APIs, the routes of its
/// native API, the root paths it claims, where its SDKs send their key, the headers that carry credentials, and the
/// shape of its errors.
///
/// Each family is described once, in its own folder (`WireFormats/Anthropic/AnthropicFamily.swift`), and listed in
/// ``WireFamilies/all``. A provider file names its family in `wire_format`; an entry without one speaks OpenAI's.
/// Adding a family is one folder and one provider file: no other code lists families (a test checks it).
///
/// A family is a reference, its fields all constants: each request reaches its family several times (its route's,
/// its API's, its provider's), and a copy of the fifteen fields cost as many reference-count operations each time.
public final class WireFamily: Sendable, Hashable, CustomStringConvertible {
    /// The name provider files use in `wire_format` (`anthropic`).
    public let name: String
    /// The family's APIs and the wire format that reads each.
    public let apis: [(name: APIName, format: any WireFormat)]
    /// The routes of the native API, for a provider entry that names this family and lists no routes.
    public let defaultRoutes: [RouteRule]
    /// Read-only, non-billable paths of the native API that go through unmetered (model lists, token counting);
    /// every other path that is not a route is refused.
    public let passThroughRoutes: [PassThroughRule]
    /// Paths refused with their own reason rather than the generic 404 (OpenAI's realtime sessions and client secrets):
    /// things Tollgate knows of and does not meter yet.
    public let refusedRoutes: [RefusedRoute]
    /// The provider objects of the native API (files, batches, stored responses) and the routes that reach them:
    /// each customer reaches only its own.
    public let objects: ObjectRoutes
    /// Root path prefixes whose errors take this family's shape even when no route matches (`/v1beta/` for Gemini).
    public let claimedPathPrefixes: [String]
    /// Where the family's SDKs send their key, as Tollgate accepts the virtual key there.
    public let keyLocations: [KeyLocation]
    /// Client headers that carry credentials of this family's SDKs (lowercase): never forwarded to a provider.
    public let credentialHeaders: [String]
    /// Response headers in which the provider names its request id (`x-request-id`), lowercase.
    public let requestIDHeaders: [String]
    /// Client headers the family's API needs besides the common ones (``HeaderRules/commonForwarded``), lowercase;
    /// `*` ends a prefix. Nothing else a client sends reaches the provider (``HeaderRules``).
    public let forwardedHeaders: [String]
    /// Provider headers returned to the client besides the common ones and the request id, lowercase; `*` ends a
    /// prefix. The operator's account details and shared-quota counters are not among them.
    public let returnedHeaders: [String]
    /// Whether the model is named in the path rather than the body: a model alias cannot move such a request, and the
    /// format reads the requested model from ``RequestOptions/path``.
    public let modelInPath: Bool
    /// The body and headers of an error Tollgate answers itself on this family's routes.
    public let errorShape: any WireErrorShape
    /// The family's name in OpenTelemetry's GenAI conventions (`gen_ai.provider.name`: `gcp.gemini`), its own name
    /// unless the conventions spell it otherwise.
    public let telemetryName: String

    /// Describes a family.
    public init(
        name: String, apis: [(name: APIName, format: any WireFormat)], defaultRoutes: [RouteRule], passThroughRoutes: [PassThroughRule],
        refusedRoutes: [RefusedRoute] = [], objects: ObjectRoutes = .none, claimedPathPrefixes: [String] = [],
        keyLocations: [KeyLocation], credentialHeaders: [String], requestIDHeaders: [String] = [], forwardedHeaders: [String] = [],
        returnedHeaders: [String] = [], modelInPath: Bool = false, telemetryName: String? = nil,
        errorShape: any WireErrorShape
    ) {
        self.telemetryName = telemetryName ?? name
        self.name = name
        self.apis = apis
        self.defaultRoutes = defaultRoutes
        self.passThroughRoutes = passThroughRoutes
        self.refusedRoutes = refusedRoutes
        self.objects = objects
        self.claimedPathPrefixes = claimedPathPrefixes
        self.keyLocations = keyLocations
        self.credentialHeaders = credentialHeaders
        self.requestIDHeaders = requestIDHeaders
        self.forwardedHeaders = forwardedHeaders
        self.returnedHeaders = returnedHeaders
        self.modelInPath = modelInPath
        self.errorShape = errorShape
    }

    /// The family named `name` in a provider file, if known.
    public static func named(_ name: String) -> WireFamily? { WireFamilies.byName[name] }

    /// The name.
    public var description: String { name }

    public static func == (lhs: WireFamily, rhs: WireFamily) -> Bool { lhs.name == rhs.name }

    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}

/// The name of an API Tollgate meters, as written in provider files (`anthropic.messages`). Each family declares its
/// own names (`APIName.anthropicMessages` in `AnthropicFamily.swift`).
public struct APIName: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
    /// `family.api`.
    public let rawValue: String

    /// The API of that name, if a family declares it.
    public init?(rawValue: String) {
        guard WireFamilies.apis[rawValue] != nil else { return nil }
        self.rawValue = rawValue
    }

    /// Declares a name; used by the family files only.
    init(declaring name: String) { rawValue = name }

    /// Every API of every family, in ``WireFamilies/all`` order.
    public static var allCases: [APIName] { WireFamilies.all.flatMap { $0.apis.map(\.name) } }

    /// The wire format that implements this API.
    public var wireFormat: any WireFormat { entry.format }

    /// The family whose error shape and conventions the API follows.
    public var family: WireFamily { entry.family }

    /// Whether the model is named in the path (Gemini, Bedrock) rather than the body.
    public var modelInPath: Bool { entry.family.modelInPath }

    /// The name.
    public var description: String { rawValue }

    private var entry: (family: WireFamily, format: any WireFormat) {
        guard let entry = WireFamilies.apis[rawValue] else { preconditionFailure("API \(rawValue) is declared by no family") }
        return entry
    }
}

/// Where a client may put its key.
public enum KeyLocation: Sendable, Hashable {
    /// `Authorization: Bearer KEY`.
    case bearer
    /// The access key id of an AWS SigV4 `Authorization` header (`Credential=KEY/DATE/REGION/SERVICE/…`): an AWS SDK
    /// given the virtual key as its access key id. The signature cannot be checked (its secret is the provider's).
    case awsAccessKeyID
    /// The whole value of a header (`x-api-key`).
    case header(String)
    /// A query parameter (`?key=`), which never reaches the provider.
    case query(String)
}

/// An error Tollgate answers itself, before a family gives it its shape.
public struct WireError: Sendable, Equatable {
    /// The HTTP status.
    public var status: Int
    /// A message a client developer can act on.
    public var message: String
    /// OpenAI's error `type`; other families derive theirs from the status.
    public var type: String
    /// Tollgate's machine-readable reason (OpenAI's `code`).
    public var code: String

    /// Creates an error.
    public init(status: Int, message: String, type: String, code: String) {
        self.status = status
        self.message = message
        self.type = type
        self.code = code
    }
}

/// How a family's API writes its errors, so that each official SDK raises its usual exception for Tollgate's own.
public protocol WireErrorShape: Sendable {
    /// The JSON object of the body.
    func object(for error: WireError) -> JSONValue
    /// Headers the family's clients read the error from (Bedrock's `x-amzn-errortype`), besides the content type.
    func headers(for error: WireError) -> [(name: String, value: String)]
}

extension WireErrorShape {
    /// No extra headers.
    public func headers(for error: WireError) -> [(name: String, value: String)] { [] }

    /// The body's bytes: compact JSON, keys sorted.
    public func body(for error: WireError) -> [UInt8] { object(for: error).text }
}

/// `{"message": "…"}`: the body of Bedrock's and Cohere's errors.
public struct MessageErrorShape: WireErrorShape {
    /// Creates the shape.
    public init() {}

    public func object(for error: WireError) -> JSONValue { ["message": .string(error.message)] }
}
