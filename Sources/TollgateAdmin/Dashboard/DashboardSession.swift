import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// How a browser stays signed in to the dashboard: after the login form accepted the admin token, a cookie holding
/// HMAC-SHA256(key: token, "tollgate-dashboard-session") in hex, never the token itself.
///
/// The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page or form sends it: no
/// cross-site request forgery) and scoped to `/dashboard` (the admin API keeps asking for the bearer token). It stays
/// valid for as long as the token does: changing `admin.token` signs every browser out.
///
/// ``AdminTokenMiddleware`` asks it whether a dashboard request may pass; the login and logout routes use it to set
/// and clear the cookie.
struct DashboardSession: Sendable {
    /// The cookie's name.
    static let cookieName = "tollgate_dashboard"
    /// What the HMAC signs.
    static let label = "tollgate-dashboard-session"
    /// The dashboard's root path; the cookie's `Path`.
    static let root = "/dashboard"
    /// The login form (open to everyone).
    static let loginPath = "/dashboard/login"
    /// Signs out (open to everyone: clearing a cookie needs no proof).
    static let logoutPath = "/dashboard/logout"

    /// SHA-256 of the admin token, compared in constant time.
    private let tokenDigest: [UInt8]
    /// The cookie's value: HMAC-SHA256(key: token, ``label``) in lower-case hex.
    let cookieValue: String
    /// SHA-256 of ``cookieValue``, compared in constant time.
    private let cookieDigest: [UInt8]

    /// The session of the admin token `token`.
    init(token: String) {
        tokenDigest = Array(SHA256.hash(data: Data(token.utf8)))
        let code = HMAC<SHA256>.authenticationCode(for: Data(Self.label.utf8), using: SymmetricKey(data: Data(token.utf8)))
        cookieValue = code.map { String(format: "%02x", $0) }.joined()
        cookieDigest = Array(SHA256.hash(data: Data(cookieValue.utf8)))
    }

    /// Whether `path` is the dashboard's (and so answered with pages and redirects rather than JSON errors).
    static func covers(_ path: String) -> Bool {
        path == root || path.hasPrefix(root + "/")
    }

    /// Whether `path` needs no session: the login form and logout.
    static func isOpen(_ path: String) -> Bool {
        path == loginPath || path == logoutPath
    }

    /// Whether `presented` is the admin token (compared as SHA-256 digests in constant time, so neither the content
    /// nor the length of the token leaks through timing).
    func accepts(token presented: String) -> Bool {
        Self.equal(Array(SHA256.hash(data: Data(presented.utf8))), tokenDigest)
    }

    /// Whether the request carries the session cookie.
    func accepts(_ request: Request) -> Bool {
        guard let value = request.cookies[Self.cookieName]?.value else { return false }
        return Self.equal(Array(SHA256.hash(data: Data(value.utf8))), cookieDigest)
    }

    /// The `Set-Cookie` value that signs a browser in.
    var signInCookie: String {
        "\(Self.cookieName)=\(cookieValue); Path=\(Self.root); HttpOnly; SameSite=Strict"
    }

    /// The `Set-Cookie` value that signs a browser out.
    static let signOutCookie = "\(cookieName)=; Path=\(root); HttpOnly; SameSite=Strict; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"

    /// 303 to the login form, which sends the browser back to the page it asked for (a GET's) once signed in.
    static func loginRedirect(for request: Request) -> Response {
        var location = loginPath
        if request.method == .get || request.method == .head, let next = safeReturnPath(request.uri.description) {
            location = DashboardURL.make(loginPath, [("next", next)])
        }
        return redirect(to: location)
    }

    /// A 303 (See Other) to `location`, with the dashboard's headers.
    static func redirect(to location: String, cookie: String? = nil) -> Response {
        var headers = DashboardPages.headers
        headers[.location] = location
        if let cookie { headers[.setCookie] = cookie }
        return Response(status: .seeOther, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer()))
    }

    /// `path` when it is a dashboard page to return to after signing in: under `/dashboard`, not the login form,
    /// with no scheme, host, dot segment or control characters (so the form cannot be used to send a browser elsewhere).
    static func safeReturnPath(_ path: String) -> String? {
        guard covers(path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""),
            !path.hasPrefix(loginPath), !path.contains("\\"), !path.contains("//"), !path.contains(".."), !path.lowercased().contains("%2e"),
            path.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F })
        else { return nil }
        return path
    }

    private static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        lhs.count == rhs.count && zip(lhs, rhs).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0
    }
}
