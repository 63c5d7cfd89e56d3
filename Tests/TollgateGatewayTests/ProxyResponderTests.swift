import HTTPTypes
import Testing

@testable import TollgateGateway

/// How the responder finds the virtual key a client presents, and how it shows a key in an error message without
/// revealing it.
@Suite("Proxy responder keys")
struct ProxyResponderTests {
    /// Client headers and the key the responder must take from them.
    struct Presented: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let fields: HTTPFields
        var query: String? = nil
        let key: String?
        var inQuery = false
    }

    static let presented: [Presented] = [
        Presented(testDescription: "bearer", fields: clientFields(["Authorization": "Bearer tg_abc"]), key: "tg_abc"),
        Presented(testDescription: "bearer, any case, spaces", fields: clientFields(["authorization": "bearer   tg_abc  "]), key: "tg_abc"),
        Presented(testDescription: "BEARER, upper case", fields: clientFields(["Authorization": "BEARER tg_abc"]), key: "tg_abc"),
        Presented(
            testDescription: "bearer, a token past ASCII", fields: clientFields(["Authorization": "Bearer tg_\u{e9}t\u{e9}"]), key: "tg_\u{e9}t\u{e9}"
        ),
        Presented(testDescription: "bearer, a tab after the token", fields: clientFields(["Authorization": "Bearer tg_abc\t"]), key: "tg_abc"),
        Presented(testDescription: "x-api-key", fields: clientFields(["X-Api-Key": "tg_xyz"]), key: "tg_xyz"),
        Presented(testDescription: "api-key", fields: clientFields(["api-key": "tg_azure"]), key: "tg_azure"),
        Presented(
            testDescription: "bearer wins over x-api-key",
            fields: clientFields(["x-api-key": "tg_second", "Authorization": "Bearer tg_first"]), key: "tg_first"),
        Presented(
            testDescription: "headers in family order: api-key (OpenAI's Azure clients) before x-api-key (Anthropic's)",
            fields: clientFields(["x-api-key": "tg_second", "api-key": "tg_first"]), key: "tg_first"),
        Presented(
            testDescription: "not bearer: falls back to x-api-key",
            fields: clientFields(["Authorization": "Basic dXNlcjpwdw==", "x-api-key": "tg_xyz"]), key: "tg_xyz"),
        Presented(testDescription: "bare Bearer", fields: clientFields(["Authorization": "Bearer"]), key: nil),
        Presented(testDescription: "basic only", fields: clientFields(["Authorization": "Basic dXNlcjpwdw=="]), key: nil),
        Presented(testDescription: "no credentials", fields: clientFields(["Content-Type": "application/json"]), key: nil),
        Presented(testDescription: "x-goog-api-key", fields: clientFields(["x-goog-api-key": "tg_gem"]), key: "tg_gem"),
        Presented(testDescription: "?key=", fields: clientFields([:]), query: "alt=sse&key=tg_q%5Fa", key: "tg_q_a", inQuery: true),
        Presented(
            testDescription: "a header wins over ?key=", fields: clientFields(["x-goog-api-key": "tg_head"]), query: "key=tg_query",
            key: "tg_head"),
        Presented(testDescription: "empty ?key=", fields: clientFields([:]), query: "key=", key: nil),
        Presented(
            testDescription: "AWS SigV4 access key id",
            fields: clientFields([
                "Authorization":
                    "AWS4-HMAC-SHA256 Credential=tg_aws/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00"
            ]), key: "tg_aws"),
    ]

    @Test(
        "the presented key comes from Authorization, then the families' key headers, then ?key=",
        arguments: presented)
    func presentedKey(_ case: Presented) {
        let found = ProxyResponder.presentedKey(`case`.fields, query: `case`.query)
        #expect(found?.secret == `case`.key)
        #expect((found?.inQuery ?? false) == `case`.inQuery)
    }

    @Test(
        "a key presented in the query is taken out of what goes upstream",
        arguments: [
            ("key=tg_a", nil), ("alt=sse&key=tg_a", "alt=sse"), ("key=tg_a&alt=sse&keys=1", "alt=sse&keys=1"), ("key", nil),
        ] as [(String, String?)])
    func removingKey(query: String, upstream: String?) {
        #expect(ProxyResponder.removingKey(from: query) == upstream)
    }

    @Test(
        "a key is shown by its first six and last three characters, or not at all when short",
        arguments: [
            ("tg_abcdefghijklmnopqrstuvwxyz", "tg_abc…xyz"),
            ("tg_abcdefgh", "tg_abc…fgh"),
            ("tg_abcdefg", "***"),
            ("short", "***"),
            ("", "***"),
        ])
    func redacted(secret: String, shown: String) {
        #expect(ProxyResponder.redacted(secret) == shown)
    }
}
