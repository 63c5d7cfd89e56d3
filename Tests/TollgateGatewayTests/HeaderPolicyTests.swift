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
        let sent = HeaderPolicy.client(from: upstream, bodyRewritten: rewritten, bodyDecoded: decoded)
        var expected: [String: [String]] = [
            "content-type": ["application/json"], "x-request-id": ["req_1"], "openai-processing-ms": ["42"], "set-cookie": ["a=1", "b=2"],
        ]
        if !rewritten { expected["content-length"] = ["123"] }
        if !decoded { expected["content-encoding"] = ["gzip"] }
        #expect(sent.byName == expected)
    }

    @Test("dimension tags are trimmed, bounded to 200 characters, and absent when blank")
    func dimensions() {
        let fields = clientFields([
            "x-tollgate-feature": "  search  ", "x-tollgate-project": "   ", "x-tollgate-end-user": String(repeating: "u", count: 300),
        ])
        #expect(HeaderPolicy.dimension("x-tollgate-feature", in: fields) == "search")
        #expect(HeaderPolicy.dimension("x-tollgate-project", in: fields) == nil)
        #expect(HeaderPolicy.dimension("x-tollgate-end-user", in: fields) == String(repeating: "u", count: 200))
        #expect(HeaderPolicy.dimension("idempotency-key", in: fields) == nil)
    }
}
