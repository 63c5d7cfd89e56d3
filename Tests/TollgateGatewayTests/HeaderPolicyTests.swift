import HTTPTypes
import NIOHTTP1
import Testing
import TollgateCore

@testable import TollgateGateway

/// Which headers cross the proxy: hop-by-hop and `Connection`-named headers never do; toward the provider the
/// client's credentials and `x-tollgate-*` tags are dropped and the provider key is added per auth scheme; toward
/// the client only the headers that describe bytes the client does not get are dropped.
@Suite("Header policy")
struct HeaderPolicyTests {
    static let providerKey = "sk-provider-secret"
    static let clientKey = "tg_client_secret_0123456789"

    private func provider(auth: ProviderAuth = .bearer, apiKey: String? = providerKey) -> Provider {
        Provider(name: "openai", baseURL: "https://api.openai.com", auth: auth, apiKey: apiKey)
    }

    @Test("a field's value is read as HTTPFields' subscript reads it: several joined, cookies with `; `, any case")
    func fieldValues() {
        var fields = HTTPFields()
        fields.append(HTTPField(name: .authorization, value: "Bearer tg_a"))
        fields.append(HTTPField(name: HTTPField.Name("X-Many")!, value: "1"))
        fields.append(HTTPField(name: HTTPField.Name("x-many")!, value: "2"))
        fields.append(HTTPField(name: .cookie, value: "a=1"))
        fields.append(HTTPField(name: .cookie, value: "b=2"))
        for name in [HTTPField.Name.authorization, HTTPField.Name("x-MANY")!, .cookie, .contentType, .connection] {
            #expect(fields.value(of: name) == fields[name], "\(name)")
        }
        #expect(fields.value(of: HTTPField.Name("x-many")!) == "1, 2")
        #expect(HTTPFields().value(of: .authorization) == nil)
    }

    @Test("toward the provider: hop-by-hop, Connection-named, host and content-length are dropped")
    func upstreamHopByHop() {
        let client = clientFields([
            "Connection": "keep-alive, X-Custom-Hop", "Connection": "X-Second-Hop", "Keep-Alive": "timeout=5",
            "Proxy-Connection": "keep-alive", "TE": "trailers", "Trailer": "x-checksum", "Transfer-Encoding": "chunked",
            "Upgrade": "h2c", "Proxy-Authorization": "Basic cHJveHk6cHc=", "X-Custom-Hop": "1", "x-second-hop": "2",
            "Host": "127.0.0.1:8787", "Content-Length": "42", "Content-Type": "application/json",
            "User-Agent": "OpenAI/Python 1.50.0", "OpenAI-Beta": "assistants=v2", "Accept": "text/event-stream",
        ])
        let sent = HeaderPolicy.upstream(from: client, provider: provider(), forceIdentityEncoding: false)
        #expect(
            sent.byName == [
                "content-type": ["application/json"], "user-agent": ["OpenAI/Python 1.50.0"], "openai-beta": ["assistants=v2"],
                "accept": ["text/event-stream"], "authorization": ["Bearer \(Self.providerKey)"],
            ])
    }

    /// An auth scheme and the credential headers the provider must receive with it.
    static let schemes: [(auth: ProviderAuth, expected: [String: [String]])] = [
        (.bearer, ["authorization": ["Bearer \(providerKey)"]]),
        (ProviderAuth("header:X-Api-Key")!, ["x-api-key": [providerKey]]),
        (ProviderAuth("header:api-key")!, ["api-key": [providerKey]]),
        (.none, [:]),
    ]

    @Test("the client's credentials and x-tollgate-* never reach the provider; its own key is added", arguments: schemes)
    func upstreamCredentials(_ scheme: (auth: ProviderAuth, expected: [String: [String]])) {
        let client = clientFields([
            "Authorization": "Bearer \(Self.clientKey)", "x-api-key": Self.clientKey, "Api-Key": Self.clientKey,
            "x-goog-api-key": Self.clientKey, "X-Tollgate-Feature": "search", "x-tollgate-end-user": "u-1",
            "X-TOLLGATE-PROJECT": "p", "x-tollgate-anything": "x", "Content-Type": "application/json",
        ])
        let sent = HeaderPolicy.upstream(from: client, provider: provider(auth: scheme.auth), forceIdentityEncoding: false)
        var expected = scheme.expected
        expected["content-type"] = ["application/json"]
        #expect(sent.byName == expected)
        #expect(!sent.contains { $0.value.contains(Self.clientKey) })
    }

    @Test("without a provider key no credential header is sent", arguments: [ProviderAuth.bearer, .header("x-api-key"), .none])
    func upstreamWithoutKey(_ auth: ProviderAuth) {
        let client = clientFields(["Authorization": "Bearer \(Self.clientKey)", "Accept": "application/json"])
        let sent = HeaderPolicy.upstream(from: client, provider: provider(auth: auth, apiKey: nil), forceIdentityEncoding: false)
        #expect(sent.byName == ["accept": ["application/json"]])
    }

    @Test(
        "accept-encoding: identity when asked, otherwise only the codings the meter can read",
        arguments: [
            (client: "gzip, deflate, br", force: true, sent: ["identity"]),
            (client: nil, force: true, sent: ["identity"]),
            (client: "gzip, deflate, br", force: false, sent: ["gzip, deflate, br"]),
            (client: nil, force: false, sent: nil),
            (client: "zstd, gzip;q=0.8, br;q=0.9", force: false, sent: ["gzip;q=0.8, br;q=0.9"]),
            (client: "zstd", force: false, sent: ["identity"]),
            (client: "*", force: false, sent: ["identity"]),
            (client: "GZIP, compress", force: false, sent: ["GZIP"]),
        ] as [(client: String?, force: Bool, sent: [String]?)])
    func acceptEncoding(_ row: (client: String?, force: Bool, sent: [String]?)) {
        var client = clientFields(["Accept": "text/event-stream"])
        if let value = row.client { client[.acceptEncoding] = value }
        let sent = HeaderPolicy.upstream(from: client, provider: provider(auth: .none), forceIdentityEncoding: row.force)
        #expect(sent.byName["accept-encoding"] == row.sent)
        #expect(sent.byName["accept"] == ["text/event-stream"])
    }

    @Test(
        "toward the client: hop-by-hop, Connection-named and date dropped; length and encoding only when stale",
        arguments: [false, true], [false, true])
    func clientHeaders(rewritten: Bool, decoded: Bool) {
        let upstream = HTTPHeaders([
            ("Connection", "close, X-Upstream-Hop"), ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"),
            ("X-Upstream-Hop", "1"), ("Proxy-Authenticate", "Basic"), ("Trailer", "x-checksum"), ("Upgrade", "h2c"),
            ("Date", "Tue, 01 Jul 2025 00:00:00 GMT"), ("Content-Type", "application/json"), ("Content-Length", "123"),
            ("Content-Encoding", "gzip"), ("x-request-id", "req_1"), ("openai-processing-ms", "42"),
            ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
        ])
        let sent = HeaderPolicy.client(from: upstream, provider: provider(), bodyRewritten: rewritten, bodyDecoded: decoded)
        var expected: [String: [String]] = [
            "content-type": ["application/json"], "x-request-id": ["req_1"], "openai-processing-ms": ["42"],
        ]
        if !rewritten { expected["content-length"] = ["123"] }
        if !decoded { expected["content-encoding"] = ["gzip"] }
        #expect(sent.byName == expected)
    }

    /// What OpenAI and Anthropic answer with: the operator's organization and project, its shared quota, cookies.
    static let accountHeaders: [(String, String)] = [
        ("openai-organization", "org-operator"), ("openai-project", "proj_operator"), ("anthropic-organization-id", "0b1c-operator"),
        ("x-ratelimit-limit-requests", "10000"), ("x-ratelimit-remaining-requests", "9999"), ("x-ratelimit-reset-tokens", "6ms"),
        ("anthropic-ratelimit-requests-remaining", "49"), ("anthropic-ratelimit-tokens-limit", "80000"), ("ratelimit-policy", "100;w=60"),
        ("set-cookie", "__cf_bm=abc; path=/"), ("cf-ray", "8f00-SJC"), ("cf-cache-status", "DYNAMIC"), ("server", "cloudflare"),
        ("alt-svc", "h3=\":443\""), ("x-envoy-upstream-service-time", "120"), ("strict-transport-security", "max-age=31536000"),
        ("x-goog-user-project", "operator-project"),
    ]

    @Test("toward the client: the operator's account, shared quota and edge headers are dropped by default", arguments: WireFamilies.all)
    func clientAccountHeaders(_ family: WireFamily) {
        let upstream = HTTPHeaders(
            Self.accountHeaders + [
                ("content-type", "text/event-stream"), ("x-request-id", "req_1"), ("request-id", "req_2"), ("retry-after", "3"),
                ("x-should-retry", "false"),
            ])
        let provider = Provider(name: "p", baseURL: "https://example.com", family: family)
        let sent = HeaderPolicy.client(from: upstream, provider: provider, bodyRewritten: false, bodyDecoded: false)
        #expect(
            sent.byName == [
                "content-type": ["text/event-stream"], "x-request-id": ["req_1"], "request-id": ["req_2"], "retry-after": ["3"],
                "x-should-retry": ["false"],
            ])
    }

    @Test("ratelimit_headers: pass returns the provider's rate-limit headers; return_headers adds names and prefixes")
    func clientOverrides() {
        let upstream = HTTPHeaders(Self.accountHeaders + [("x-custom-tag", "t"), ("x-other", "o")])
        let provider = Provider(
            name: "openai", baseURL: "https://api.openai.com",
            headers: HeaderRules(family: .openai, return: ["openai-organization", "x-custom-*"], rateLimitHeaders: .pass))
        let sent = HeaderPolicy.client(from: upstream, provider: provider, bodyRewritten: false, bodyDecoded: false)
        #expect(
            Set(sent.byName.keys) == [
                "openai-organization", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-tokens",
                "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-tokens-limit", "ratelimit-policy", "x-custom-tag",
            ])
    }

    @Test("toward the provider: only what the family's API needs; never the organization or project a client names")
    func upstreamAllowList() {
        let client = clientFields([
            "Content-Type": "application/json", "OpenAI-Organization": "org-victim", "OpenAI-Project": "proj_victim",
            "Idempotency-Key": "abc", "Cookie": "session=1", "X-Forwarded-For": "10.0.0.1", "X-Stainless-Retry-Count": "0",
            "Anthropic-Version": "2023-06-01", "X-Goog-User-Project": "other", "X-Amz-Date": "20250101T000000Z",
        ])
        let openai = HeaderPolicy.upstream(from: client, provider: provider(auth: .none), forceIdentityEncoding: false)
        #expect(openai.byName == ["content-type": ["application/json"], "x-stainless-retry-count": ["0"]])
        let anthropic = HeaderPolicy.upstream(
            from: client, provider: Provider(name: "anthropic", baseURL: "https://api.anthropic.com", auth: .none, family: .anthropic),
            forceIdentityEncoding: false)
        #expect(
            anthropic.byName == [
                "content-type": ["application/json"], "x-stainless-retry-count": ["0"], "anthropic-version": ["2023-06-01"],
            ])
        // An operator who wants its clients to pick the organization says so.
        let chosen = Provider(
            name: "openai", baseURL: "https://api.openai.com", auth: .none,
            headers: HeaderRules(family: .openai, forward: ["openai-organization", "x-forwarded-*"]))
        let forwarded = HeaderPolicy.upstream(from: client, provider: chosen, forceIdentityEncoding: false)
        #expect(forwarded.byName["openai-organization"] == ["org-victim"])
        #expect(forwarded.byName["x-forwarded-for"] == ["10.0.0.1"])
        #expect(forwarded.byName["openai-project"] == nil)
    }

    @Test("dimension tags are trimmed, bounded to 200 characters, and absent when blank")
    func dimensions() {
        let fields = clientFields([
            "x-tollgate-feature": "  search  ", "x-tollgate-project": "   ", "x-tollgate-end-user": String(repeating: "u", count: 300),
        ])
        #expect(HeaderPolicy.dimension(HeaderPolicy.feature, in: fields) == "search")
        #expect(HeaderPolicy.dimension(HeaderPolicy.project, in: fields) == nil)
        #expect(HeaderPolicy.dimension(HeaderPolicy.endUser, in: fields) == String(repeating: "u", count: 200))
        #expect(HeaderPolicy.dimension(HeaderPolicy.idempotencyKey, in: fields) == nil)
    }
}
