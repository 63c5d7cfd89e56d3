import HTTPTypes
import NIOHTTP1
import TollgateCore

/// Which headers cross the proxy, in each direction.
///
/// Hop-by-hop headers (RFC 9110 §7.6.1, plus any named in `Connection`) belong to one connection and are dropped.
/// Both directions are allow-lists, the provider's ``HeaderRules`` (its family's lists plus the entry's
/// `forward_headers` / `return_headers`): toward the provider, only the headers its API needs go (never the client's
/// credentials, Tollgate's own `x-tollgate-*` headers, nor `OpenAI-Organization` unless the operator lists it), and
/// the provider key is added; toward the client, only content, caching and request-id headers return, not the
/// operator's account details (`openai-organization`, `anthropic-organization-id`, `set-cookie`) nor its shared
/// quota (`x-ratelimit-*`, unless `ratelimit_headers: pass`).
enum HeaderPolicy {
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authorization", "proxy-authenticate",
    ]
    /// Headers a client may carry its credentials in (each family's, ``WireFamilies/credentialHeaders``); none of them
    /// reaches a provider.
    static let credentials: Set<String> = WireFamilies.credentialHeaders
    /// Headers the proxy sets itself toward the provider.
    static let recomputed: Set<String> = ["host", "content-length"]

    /// The headers sent to the provider.
    static func upstream(from client: HTTPFields, provider: Provider, forceIdentityEncoding: Bool) -> HTTPHeaders {
        var dropped = droppedByConnection(client)
        // A client header of the same name as the provider's key header would travel next to the provider key.
        if case .header(let name) = provider.auth { dropped.insert(name) }
        var headers = HTTPHeaders()
        headers.reserveCapacity(client.count + 1)
        for field in client {
            let name = field.name.canonicalName
            // The allow-list first: most of what an SDK sends is not on it.
            if !provider.headers.forwards(name) || hopByHop.contains(name) || credentials.contains(name) || recomputed.contains(name)
                || dropped.contains(name) || name.hasPrefix("x-tollgate-")
            {
                continue
            }
            if name == "accept-encoding" {
                // Only codings the meter can decode are offered: a client must not be able to make usage unreadable.
                if !forceIdentityEncoding { headers.add(name: field.name.rawName, value: ContentDecoders.readableAcceptEncoding(field.value)) }
                continue
            }
            headers.add(name: field.name.rawName, value: field.value)
        }
        if forceIdentityEncoding { headers.add(name: "accept-encoding", value: "identity") }
        if let key = provider.apiKey {
            switch provider.auth {
            // A Bedrock API key travels as a bearer token; without one the request is signed after this (SigV4).
            case .bearer, .sigv4: headers.add(name: "authorization", value: "Bearer \(key)")
            case .header(let name): headers.add(name: name, value: key)
            case .none: break
            }
        }
        return headers
    }

    /// The headers sent back to the client; `bodyRewritten` drops those that describe the provider's bytes.
    static func client(from upstream: HTTPHeaders, provider: Provider, bodyRewritten: Bool, bodyDecoded: Bool) -> HTTPFields {
        let rules = provider.headers
        // The few names `Connection` lists, apart: adding them to a copy of the hop-by-hop set copied and rehashed it
        // for every response (`Connection: keep-alive` is on most).
        var named: [String] = []
        for value in upstream["connection"] {
            for token in value.split(separator: ",") { named.append(token.trimmingASCIISpaces.lowercased()) }
        }
        var fields = HTTPFields()
        fields.reserveCapacity(upstream.count)
        for (name, value) in upstream {
            // The field's name lowercases it (its canonical name) while checking it: no second lowercasing.
            guard let fieldName = HTTPField.Name(name) else { continue }
            let lower = fieldName.canonicalName
            if hopByHop.contains(lower) || named.contains(lower) || !rules.returns(lower) { continue }
            if lower == "content-length" && bodyRewritten { continue }
            if lower == "content-encoding" && bodyDecoded { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        return fields
    }

    private static func droppedByConnection(_ fields: HTTPFields) -> Set<String> {
        guard let connection = fields.value(of: .connection) else { return [] }
        return Set(connection.split(separator: ",").map { $0.trimmingASCIISpaces.lowercased() })
    }

    /// A dimension tag from the client's `x-tollgate-*` header, trimmed and bounded.
    static func dimension(_ name: HTTPField.Name, in fields: HTTPFields) -> String? {
        guard let value = fields.value(of: name)?.trimmingASCIISpaces, !value.isEmpty else { return nil }
        return String(value.prefix(200))
    }

    /// The headers a client tags a request with (`x-tollgate-feature` …) and its `Idempotency-Key`.
    static let feature = HTTPField.Name("x-tollgate-feature")!
    static let endUser = HTTPField.Name("x-tollgate-end-user")!
    static let project = HTTPField.Name("x-tollgate-project")!
    static let idempotencyKey = HTTPField.Name("idempotency-key")!
}
