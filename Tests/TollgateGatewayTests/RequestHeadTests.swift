import HTTPTypes
import NIOHTTP1
import NIOHTTPTypesHTTP1
import Testing

@testable import TollgateGateway

/// The proxy listener turns NIO's request heads into HTTPTypes' itself: to the same result as NIOHTTPTypesHTTP1.
@Suite("Request heads")
struct RequestHeadTests {
    @Test(
        "the same request as NIOHTTPTypesHTTP1 makes, for every kind of target",
        arguments: [
            "/v1/chat/completions", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=tg_x", "/", "//double/slash",
            "/with%20escapes?q=a%2Fb", "/a b", "http://127.0.0.1:8787/v1/models?x=1", "*", "relative",
        ])
    func sameAsNIO(target: String) throws {
        var headers = HTTPHeaders([("Host", "127.0.0.1:8787"), ("Authorization", "Bearer tg_x"), ("X-Many", "1"), ("x-many", "2")])
        headers.add(name: "host", value: "second.example")
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target, headers: headers)
        let ours = try ProxyConnection.request(head)
        let theirs = try HTTPRequest(head, secure: false, splitCookie: false)
        #expect(ours == theirs)
        #expect(ours.path == theirs.path)
        #expect(ours.authority == "127.0.0.1:8787")
    }

    @Test("an unknown method is kept, as NIOHTTPTypesHTTP1 keeps it")
    func methods() throws {
        for method in [HTTPMethod.GET, .DELETE, .RAW(value: "BREW")] {
            let head = HTTPRequestHead(version: .http1_1, method: method, uri: "/v1/files")
            #expect(try ProxyConnection.request(head) == (try HTTPRequest(head, secure: false, splitCookie: false)))
        }
    }
}
