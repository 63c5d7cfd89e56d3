import Foundation
import Testing
import TollgateCore

@testable import TollgateGateway

/// AWS Signature Version 4: AWS's published test-suite vectors, and Bedrock requests signed by botocore at a fixed
/// time (the reference implementation the AWS SDK for Python uses).
///
/// The botocore vectors were produced with botocore 1.44.5 in a throwaway virtualenv: `SigV4Auth(Credentials(key,
/// secret, token), "bedrock", region).add_auth(AWSRequest(method, url, headers, data))` with
/// `botocore.auth.get_current_datetime` patched to return the fixed time, the request carrying exactly the headers
/// listed (botocore signs every header it is given); the canonical request is `SigV4Auth.canonical_request` of the
/// same request before its Authorization header was added.
@Suite("SigV4")
struct SigV4SignerTests {
    // MARK: - AWS test suite (aws-sig-v4-test-suite, 2015-08-30)

    /// The test suite's credentials and scope: AKIDEXAMPLE in us-east-1 for the service named `service`.
    static let suiteSigner = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "us-east-1"),
        service: "service"
    )
    /// 2015-08-30T12:36:00Z.
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)
    static let suiteCredential = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date"

    @Test("get-vanilla: canonical request, string to sign and signature")
    func getVanilla() {
        let signing = Self.suiteSigner.signing(
            method: "GET", host: "example.amazonaws.com", path: "/", query: nil, headers: [], body: [], date: Self.suiteDate)
        #expect(
            signing.canonicalRequest
                == "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            signing.stringToSign
                == "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
                + "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63")
        #expect(signing.signature == "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        #expect(signing.headers.map(\.0) == ["x-amz-date", "authorization"])
        #expect(signing.headers.first?.1 == "20150830T123600Z")
        #expect(signing.headers.last?.1 == Self.suiteCredential + ", Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }

    @Test(
        "get-vanilla-query-order-key-case and post-vanilla",
        arguments: [
            ("GET", "Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
            ("POST", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ])
    func suiteVectors(method: String, query: String, signature: String) {
        let headers = Self.suiteSigner.sign(
            method: method, host: "example.amazonaws.com", path: "/", query: query, headers: [], body: [], date: Self.suiteDate)
        #expect(headers.last?.1 == Self.suiteCredential + ", Signature=\(signature)")
    }

    // MARK: - Bedrock, as botocore signs it

    static let bedrockCredentials = (id: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    static let sessionToken = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQEXAMPLETOKEN="
    static let converseBody = Array(#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":64}}"#.utf8)

    /// Converse on a path with `%3A`, temporary credentials, 2026-01-15T10:20:30Z, us-east-1.
    static func converseSigning(extraHeaders: [(String, String)] = []) -> SigV4Signer.Signing {
        let signer = SigV4Signer(
            credentials: AWSCredentials(
                accessKeyID: bedrockCredentials.id, secretAccessKey: bedrockCredentials.secret, sessionToken: sessionToken, region: "us-east-1"))
        return signer.signing(
            method: "POST", host: "bedrock-runtime.us-east-1.amazonaws.com", path: "/model/us.amazon.nova-pro-v1%3A0/converse",
            query: nil, headers: [("Content-Type", "application/json")] + extraHeaders, body: converseBody,
            date: Date(timeIntervalSince1970: 1_768_472_430))
    }

    @Test("Converse with a session token: the path's %3A is signed as %253A; botocore's headers and signature")
    func converseWithSessionToken() {
        let signing = Self.converseSigning()
        #expect(
            signing.canonicalRequest
                == """
                POST
                /model/us.amazon.nova-pro-v1%253A0/converse

                content-type:application/json
                host:bedrock-runtime.us-east-1.amazonaws.com
                x-amz-date:20260115T102030Z
                x-amz-security-token:\(Self.sessionToken)

                content-type;host;x-amz-date;x-amz-security-token
                f5b802cc64a01910fd197a46e9e959f3a5795f7728fa5710fb28f1ec3019f545
                """)
        #expect(signing.headers.map(\.0) == ["x-amz-date", "x-amz-security-token", "authorization"])
        #expect(signing.headers[0].1 == "20260115T102030Z")
        #expect(signing.headers[1].1 == Self.sessionToken)
        #expect(
            signing.headers[2].1
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260115/us-east-1/bedrock/aws4_request, "
                + "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
                + "Signature=f8f72d7456c353f7240a953badb747999b1d9f45ef400f7376ff9fd0d1be1ef9")
    }

    @Test("the client's own signature headers are ignored, and headers outside the signed set change nothing")
    func clientHeadersIgnored() {
        let plain = Self.converseSigning()
        let withClientHeaders = Self.converseSigning(extraHeaders: [
            ("Authorization", "AWS4-HMAC-SHA256 Credential=tollgate-virtual-key/20260115/us-east-1/bedrock/aws4_request, Signature=0"),
            ("X-Amz-Date", "20200101T000000Z"), ("X-Amz-Security-Token", "client-token"), ("Host", "localhost:8080"),
            ("Accept", "application/json"), ("User-Agent", "Boto3/1.40"), ("X-Amzn-Bedrock-Trace", "ENABLED"),
        ])
        #expect(withClientHeaders.signature == plain.signature)
        #expect(withClientHeaders.canonicalRequest == plain.canonicalRequest)
    }

    @Test("InvokeModelWithResponseStream with a query and x-amz-content-sha256 (recomputed), no session token, eu-west-1")
    func invokeStreamWithQuery() {
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: Self.bedrockCredentials.id, secretAccessKey: Self.bedrockCredentials.secret, region: "eu-west-1")
        )
        let body = Array(#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":256,"messages":[{"role":"user","content":"Hi"}]}"#.utf8)
        let hash = "9ff463588bcf8c162c0550153df2fecd196757944dfd3611980fb1b3e6d60482"
        let signing = signer.signing(
            method: "post", host: "bedrock-runtime.eu-west-1.amazonaws.com",
            path: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream", query: "tag=b%2Fc&tag=a&empty=",
            headers: [("content-type", "application/json"), ("x-amz-content-sha256", "stale-value-from-the-client")], body: body,
            date: Date(timeIntervalSince1970: 1_767_225_599.75))
        #expect(
            signing.canonicalRequest
                == """
                POST
                /model/anthropic.claude-3-haiku-20240307-v1%253A0/invoke-with-response-stream
                empty=&tag=a&tag=b%2Fc
                content-type:application/json
                host:bedrock-runtime.eu-west-1.amazonaws.com
                x-amz-content-sha256:\(hash)
                x-amz-date:20251231T235959Z

                content-type;host;x-amz-content-sha256;x-amz-date
                \(hash)
                """)
        #expect(signing.headers.map(\.0) == ["x-amz-date", "x-amz-content-sha256", "authorization"])
        #expect(signing.headers[1].1 == hash)
        #expect(signing.signature == "89ae1aa2ee1de97798d10de99270e24eb6f2c16c8c04c256e1f540a8555b3a4f")
    }

    // MARK: - Canonical forms

    @Test(
        "canonical URI: each segment encoded again",
        arguments: [
            ("", "/"), ("/", "/"), ("/model/us.amazon.nova-pro-v1%3A0/converse", "/model/us.amazon.nova-pro-v1%253A0/converse"),
            (
                "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fx/invoke",
                "/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123%253Ainference-profile%252Fx/invoke"
            ),
            ("/a b/c~d_e.f-g/ü", "/a%20b/c~d_e.f-g/%C3%BC"),
        ])
    func canonicalURI(path: String, canonical: String) {
        #expect(SigV4Signer.canonicalURI(path) == canonical)
    }

    @Test(
        "canonical query: decoded, RFC 3986-encoded, sorted by name then value",
        arguments: [
            (nil, ""), ("", ""), ("b=2&a=1", "a=1&b=2"), ("a=2&a=1&A=3", "A=3&a=1&a=2"), ("flag&x=", "flag=&x="),
            ("q=a%20b+c&k=%7e%2F", "k=~%2F&q=a%20b%2Bc"), ("p=%zz", "p=%25zz"),
        ] as [(String?, String)])
    func canonicalQuery(query: String?, canonical: String) {
        #expect(SigV4Signer.canonicalQuery(query) == canonical)
    }

    @Test("header values are trimmed and inner runs of spaces become one")
    func headerValues() {
        #expect(SigV4Signer.trimmedHeaderValue("  application/json;   charset=utf-8 ") == "application/json; charset=utf-8")
    }

    @Test(
        "x-amz-date is the UTC second, leap days and dates before 1970 included",
        arguments: [
            (1_440_938_160.0, "20150830T123600Z"), (1_709_164_801.999, "20240229T000001Z"), (951_868_800, "20000301T000000Z"),
            (-1, "19691231T235959Z"), (0, "19700101T000000Z"),
        ])
    func timestamps(seconds: Double, text: String) {
        #expect(SigV4Signer.timestamp(Date(timeIntervalSince1970: seconds)) == text)
    }
}
