import Crypto
import Foundation
import TollgateCore

/// Signs requests with AWS Signature Version 4, as Bedrock requires of every request the proxy forwards with the
/// operator's credentials (the client's own signature, made with a virtual key, is dropped).
///
/// ```swift
/// let signer = SigV4Signer(credentials: provider.aws, service: "bedrock")
/// for (name, value) in signer.sign(
///     method: "POST", host: "bedrock-runtime.us-east-1.amazonaws.com", path: "/model/us.amazon.nova-pro-v1%3A0/converse",
///     query: nil, headers: [("content-type", "application/json")], body: body, date: Date())
/// {
///     request.headers.replaceOrAdd(name: name, value: value)
/// }
/// ```
///
/// What is signed: the method; the path with every segment URI-encoded once more (for services other than S3 AWS
/// encodes the already-encoded path again, so `%3A` is signed as `%253A`); the query, decoded, re-encoded as
/// RFC 3986 says and sorted by name then value; the headers `host`, `content-type`, every `x-amz-*` header the
/// request carries, and the `x-amz-date` and `x-amz-security-token` the signer adds; the SHA-256 of the body.
public struct SigV4Signer: Sendable {
    /// The key, secret, optional session token and region signed with.
    public let credentials: AWSCredentials
    /// The service signed for (`bedrock`).
    public let service: String

    /// A signer for `service` in the credentials' region.
    public init(credentials: AWSCredentials, service: String = "bedrock") {
        self.credentials = credentials
        self.service = service
    }

    /// The headers to set on the request, replacing any of the same name: `x-amz-date`, `x-amz-security-token`
    /// (temporary credentials only), `x-amz-content-sha256` (only when `headers` had one: its value is recomputed),
    /// and `authorization`.
    ///
    /// - Parameters:
    ///   - method: The HTTP method (`POST`).
    ///   - host: The `Host` header exactly as sent (with the port when it is not the scheme's default).
    ///   - path: The path exactly as sent, percent-escapes kept (`/model/us.amazon.nova-pro-v1%3A0/converse`).
    ///   - query: The query as sent, without `?`, if any.
    ///   - headers: The other headers the request goes with; `content-type` and `x-amz-*` ones are signed, the
    ///     signer's own (`authorization`, `x-amz-date`, `x-amz-security-token`) are ignored.
    ///   - body: The body exactly as sent.
    ///   - date: The signing time (AWS refuses signatures more than 5 minutes off).
    public func sign(
        method: String, host: String, path: String, query: String?, headers: [(String, String)], body: [UInt8], date: Date
    ) -> [(String, String)] {
        signing(method: method, host: host, path: path, query: query, headers: headers, body: body, date: date).headers
    }

    /// Every step of one signature, for tests and diagnostics.
    struct Signing {
        /// The canonical request, lines joined with `\n`.
        var canonicalRequest: String
        /// The string to sign.
        var stringToSign: String
        /// The signature, lowercase hex.
        var signature: String
        /// The headers to set on the request.
        var headers: [(String, String)]
    }

    /// Computes the signature and the headers that carry it.
    func signing(
        method: String, host: String, path: String, query: String?, headers: [(String, String)], body: [UInt8], date: Date
    ) -> Signing {
        let timestamp = Self.timestamp(date)
        let day = String(timestamp.prefix(8))
        let payloadHash = Self.hex(SHA256.hash(data: body))

        var added: [(String, String)] = [("x-amz-date", timestamp)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        let own: Set<String> = ["authorization", "x-amz-date", "x-amz-security-token", "host"]
        var signed: [String: [String]] = ["host": [host]]
        for (name, value) in headers {
            let lower = name.lowercased()
            guard !own.contains(lower), lower == "content-type" || lower.hasPrefix("x-amz-") else { continue }
            signed[lower, default: []].append(value)
        }
        if signed["x-amz-content-sha256"] != nil {
            signed["x-amz-content-sha256"] = [payloadHash]
            added.append(("x-amz-content-sha256", payloadHash))
        }
        for (name, value) in added { signed[name] = [value] }

        let names = signed.keys.sorted()
        let signedHeaders = names.joined(separator: ";")
        let canonicalHeaders = names.map { name in
            "\(name):" + (signed[name] ?? []).map(Self.trimmedHeaderValue).joined(separator: ",") + "\n"
        }.joined()
        let canonicalRequest = [
            method.uppercased(), Self.canonicalURI(path), Self.canonicalQuery(query), canonicalHeaders, signedHeaders, payloadHash,
        ].joined(separator: "\n")

        let scope = "\(day)/\(credentials.region)/\(service)/aws4_request"
        let stringToSign = [
            "AWS4-HMAC-SHA256", timestamp, scope, Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, credentials.region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signing(
            canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
            headers: added + [("authorization", authorization)]
        )
    }

    // MARK: - Canonical forms

    /// The path with each segment URI-encoded again (AWS's rule for every service but S3); `/` when empty.
    static func canonicalURI(_ path: String) -> String {
        guard !path.isEmpty else { return "/" }
        return path.split(separator: "/", omittingEmptySubsequences: false).map { uriEncoded(Array($0.utf8)) }.joined(separator: "/")
    }

    /// The query's parameters, decoded then RFC 3986-encoded, sorted by name then value, joined with `&`; a
    /// parameter without `=` has an empty value.
    static func canonicalQuery(_ query: String?) -> String {
        guard let query, !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&").map { parameter -> (String, String) in
            let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = uriEncoded(percentDecoded(parts[0]))
            return (name, parts.count > 1 ? uriEncoded(percentDecoded(parts[1])) : "")
        }
        return pairs.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// The bytes with everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) written `%XX`
    /// (uppercase hex).
    static func uriEncoded(_ bytes: [UInt8]) -> String {
        var encoded = ""
        encoded.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return encoded
    }

    /// The bytes of `text` with `%XX` escapes decoded (a `%` not followed by two hex digits stays as it is).
    static func percentDecoded(_ text: Substring) -> [UInt8] {
        let bytes = Array(text.utf8)
        var decoded: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let value = UInt8(String(decoding: bytes[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)
            {
                decoded.append(value)
                index += 3
            } else {
                decoded.append(bytes[index])
                index += 1
            }
        }
        return decoded
    }

    /// A header value with its ends trimmed and inner runs of spaces reduced to one, as AWS canonicalizes it.
    static func trimmedHeaderValue(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `20150830T123600Z`: the UTC time to the second.
    static func timestamp(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let civil = CivilDate(days: seconds.floorDivided(by: 86_400))
        let secondOfDay = seconds.floorModulo(86_400)
        func padded(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return padded(civil.year, 4) + padded(civil.month, 2) + padded(civil.day, 2) + "T" + padded(secondOfDay / 3600, 2)
            + padded(secondOfDay % 3600 / 60, 2) + padded(secondOfDay % 60, 2) + "Z"
    }

    /// Lowercase hex of a digest or MAC.
    static func hex(_ bytes: some Sequence<UInt8>) -> String { Hex.lowercase(Array(bytes)) }
}
