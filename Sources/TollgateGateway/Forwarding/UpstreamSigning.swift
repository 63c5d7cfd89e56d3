import Foundation
import NIOCore
import TollgateCore

/// Signs a request that goes to an `auth: sigv4` provider (Bedrock) with the operator's AWS credentials, after every
/// other header is final (the client's own `authorization` and `x-amz-*` signature headers were dropped or are
/// replaced here).
enum UpstreamSigning {
    /// Sets the SigV4 headers on `request`, which goes to `baseURL` + `path` (+ `?query`) with `body`.
    static func sign(
        _ request: inout UpstreamRequest, baseURL: String, path: String, query: String?, body: ByteBuffer, credentials: AWSCredentials,
        date: Date = Date()
    ) {
        guard let url = URL(string: baseURL), let host = url.host else { return }
        let defaultPort = url.scheme == "https" ? 443 : 80
        let hostHeader = url.port.map { $0 == defaultPort ? host : "\(host):\($0)" } ?? host
        // The path exactly as sent: the base URL's own path prefix (rare) and the client's path, escapes kept.
        let prefix = baseURL.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" }
        for name in ["x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "authorization"] { request.headers.remove(name: name) }
        let signed = SigV4Signer(credentials: credentials).sign(
            method: request.method.rawValue, host: hostHeader, path: String(prefix) + path, query: query,
            headers: request.headers.map { ($0.name, $0.value) }, body: Array(body.readableBytesView), date: date)
        for (name, value) in signed { request.headers.replaceOrAdd(name: name, value: value) }
    }
}
