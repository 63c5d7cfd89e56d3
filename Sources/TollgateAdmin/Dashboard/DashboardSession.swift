import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TollgateCore
import TollgateStore

/// How the dashboard's browser sessions are kept: their lifetime, when the cookie is `Secure`, and which proxies are
/// believed about the client (`admin.session_ttl_s`, `admin.secure_cookies`, `admin.trusted_proxies`).
public struct DashboardSessionSettings: Sendable {
    /// How long a login lasts, in seconds (12 hours by default).
    public var ttlSeconds: Double
    /// `Secure` on every cookie (a dashboard only reached over HTTPS).
    public var secureCookies: Bool
    /// Peer addresses whose `X-Forwarded-Proto` and `X-Forwarded-For` are believed.
    public var trustedProxies: Set<String>
    /// The current time in milliseconds since 1970 (a test passes its own clock).
    public var now: @Sendable () -> Int64

    /// The settings of a config's `admin:` section.
    public init(_ admin: AdminSettings, now: @escaping @Sendable () -> Int64 = Timestamps.nowMs) {
        self.init(ttlSeconds: admin.sessionTTLSeconds, secureCookies: admin.secureCookies, trustedProxies: admin.trustedProxies, now: now)
    }

    /// Settings; the defaults are a config's.
    public init(
        ttlSeconds: Double = AdminSettings().sessionTTLSeconds, secureCookies: Bool = false, trustedProxies: [String] = [],
        now: @escaping @Sendable () -> Int64 = Timestamps.nowMs
    ) {
        self.ttlSeconds = ttlSeconds
        self.secureCookies = secureCookies
        self.trustedProxies = Set(trustedProxies)
        self.now = now
    }
}

/// How a browser stays signed in to the dashboard: after the login form accepted the admin token, a signed session
/// cookie `ID.EXPIRY.MAC`, never the token itself.
///
/// - `ID` is 128 random bits, `EXPIRY` the second (Unix time) the session ends (`admin.session_ttl_s` after the
///   login, 12 hours by default), `MAC` HMAC-SHA256 of both under a key derived (HKDF) from the admin token: nothing
///   else makes a valid cookie, an expired one sends the browser back to the login form, and changing `admin.token`
///   signs every browser out.
/// - Logout revokes the session id server-side: the id goes into the meter's `dashboard_revoked_sessions` until its
///   expiry, so a copy of the cookie is refused afterwards, across restarts and by every replica sharing the meter.
/// - The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page or form sends it: no
///   cross-site request forgery), scoped to `/dashboard` (the admin API keeps asking for the bearer token), has a
///   `Max-Age` of the session's lifetime, and is `Secure` with `admin.secure_cookies` or when a trusted proxy says the
///   request came over HTTPS (the admin listener itself speaks plain HTTP).
///
/// ``AdminTokenMiddleware`` asks it whether a dashboard request may pass; the login and logout routes use it to set,
/// revoke and clear the cookie.
struct DashboardSession: Sendable {
    /// The cookie's name.
    static let cookieName = "tollgate_dashboard"
    /// The dashboard's root path; the cookie's `Path`.
    static let root = "/dashboard"
    /// The login form (open to everyone).
    static let loginPath = "/dashboard/login"
    /// Signs out (open to everyone: it revokes only a session the request proves it holds).
    static let logoutPath = "/dashboard/logout"
    /// What the signing key is derived for (HKDF `info`).
    static let keyLabel = "tollgate-dashboard-session-v1"

    /// A session a valid cookie carries.
    struct Claims: Sendable, Equatable {
        /// 32 hex digits.
        var id: String
        /// When it ends, in seconds since 1970.
        var expiresSeconds: Int64
    }

    /// SHA-256 of the admin token, compared in constant time.
    private let tokenDigest: [UInt8]
    /// The HMAC key's bytes, derived from the admin token.
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    let settings: DashboardSessionSettings
    /// Where revocations are kept.
    let meter: MeterStore

    /// The sessions of the admin token `token`.
    init(token: String, meter: MeterStore, settings: DashboardSessionSettings = DashboardSessionSettings()) {
        tokenDigest = Array(SHA256.hash(data: Data(token.utf8)))
        keyBytes = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(token.utf8)), info: Data(Self.keyLabel.utf8), outputByteCount: 32
        ).withUnsafeBytes { Array($0) }
        self.settings = settings
        self.meter = meter
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

    // MARK: Cookies

    /// A new session from now: the cookie's value and what it carries.
    func issue() -> (value: String, claims: Claims) {
        var generator = SystemRandomNumberGenerator()
        let id = Hex.lowercase((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let expires = settings.now() / 1000 + Int64(settings.ttlSeconds.rounded(.up))
        let claims = Claims(id: id, expiresSeconds: expires)
        return ("\(id).\(expires).\(Hex.lowercase(mac(claims)))", claims)
    }

    /// What a cookie value carries, when its signature is right and it has not expired (its revocation is not
    /// checked here).
    func claims(_ value: String) -> Claims? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 32, parts[0].allSatisfy(\.isHexDigit), parts[1].count <= 12,
            parts[1].allSatisfy({ $0 >= "0" && $0 <= "9" }), let expires = Int64(parts[1]), let code = Self.bytes(hex: parts[2]), code.count == 32
        else { return nil }
        let claims = Claims(id: String(parts[0]), expiresSeconds: expires)
        guard HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Self.signed(claims), using: key) else { return nil }
        guard expires * 1000 > settings.now() else { return nil }
        return claims
    }

    /// The session a request's cookie carries, when valid and not revoked. A meter that cannot be read counts as a
    /// revocation (fails closed).
    func session(of request: Request) async -> Claims? {
        guard let value = request.cookies[Self.cookieName]?.value, let claims = claims(value) else { return nil }
        guard let revoked = try? await meter.isDashboardSessionRevoked(id: claims.id), !revoked else { return nil }
        return claims
    }

    /// Revokes a session until it would have expired.
    func revoke(_ claims: Claims) async throws(MeterError) {
        try await meter.revokeDashboardSession(id: claims.id, expiresMs: claims.expiresSeconds * 1000, nowMs: settings.now())
    }

    /// The `Set-Cookie` value that signs a browser in with `value`.
    func signInCookie(_ value: String, secure: Bool) -> String {
        "\(Self.cookieName)=\(value); Path=\(Self.root); Max-Age=\(Int64(settings.ttlSeconds.rounded(.up))); HttpOnly; SameSite=Strict"
            + (secure ? "; Secure" : "")
    }

    /// The `Set-Cookie` value that signs a browser out.
    static func signOutCookie(secure: Bool) -> String {
        "\(cookieName)=; Path=\(root); Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    // MARK: The client

    /// Whether the cookie should be `Secure` for this request: always with `secure_cookies`, else when a trusted proxy
    /// forwarded it from HTTPS (`X-Forwarded-Proto: https`).
    func isSecure(_ request: Request, peer: String?) -> Bool {
        if settings.secureCookies { return true }
        guard let peer, settings.trustedProxies.contains(peer), let proto = request.headers[Self.forwardedProto] else { return false }
        return proto.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).lowercased() == "https"
    }

    /// The address a request comes from: the peer's, or behind trusted proxies the last `X-Forwarded-For` address
    /// that is not one of them. `unknown` without either.
    func clientAddress(_ request: Request, peer: String?) -> String {
        guard let peer else { return "unknown" }
        guard settings.trustedProxies.contains(peer) else { return peer }
        let hops = request.headers[values: Self.forwardedFor].flatMap { $0.split(separator: ",") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        return hops.last(where: { !$0.isEmpty && !settings.trustedProxies.contains($0) }) ?? peer
    }

    static let forwardedProto = HTTPField.Name("X-Forwarded-Proto")!
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    // MARK: Redirects

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

    // MARK: Signing

    private func mac(_ claims: Claims) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Self.signed(claims), using: key))
    }

    private static func signed(_ claims: Claims) -> Data {
        Data("v1.\(claims.id).\(claims.expiresSeconds)".utf8)
    }

    private static func bytes(hex: Substring) -> [UInt8]? {
        guard hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    private static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        lhs.count == rhs.count && zip(lhs, rhs).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0
    }
}

/// Failed dashboard logins, counted per client address and in all, in a sliding window: past the limit, the login
/// form answers 429 with `Retry-After` without looking at the token, until the oldest failure leaves the window.
///
/// Kept in memory, per process: a restart forgets them (the admin token is at least 16 characters, so the throttle
/// slows guessing rather than being what stops it). A successful login forgets its client's failures.
final class LoginThrottle: Sendable {
    /// Failures one client address may make in a window.
    let perClient: Int
    /// Failures all clients together may make in a window.
    let global: Int
    /// The window, in milliseconds.
    let windowMs: Int64
    /// The most client addresses remembered (the oldest are forgotten first; the global limit still counts them).
    static let maxClients = 10_000

    private struct State {
        var clients: [String: [Int64]] = [:]
        var all: [Int64] = []
    }
    private let state = Mutex(State())

    /// A throttle allowing `perClient` failures per address and `global` in all per `windowSeconds`.
    init(perClient: Int = 5, global: Int = 50, windowSeconds: Int64 = 60) {
        self.perClient = perClient
        self.global = global
        self.windowMs = windowSeconds * 1000
    }

    /// Seconds `client` must wait before its next attempt, or `nil` when it may try now.
    func retryAfter(client: String, nowMs: Int64) -> Int? {
        state.withLock { state in
            let since = nowMs - windowMs
            state.all.removeAll { $0 <= since }
            var waits: [Int64] = []
            if let times = state.clients[client] {
                let recent = times.filter { $0 > since }
                state.clients[client] = recent.isEmpty ? nil : recent
                if recent.count >= perClient { waits.append(recent[recent.count - perClient] + windowMs - nowMs) }
            }
            if state.all.count >= global { waits.append(state.all[state.all.count - global] + windowMs - nowMs) }
            guard let wait = waits.max() else { return nil }
            return Int(max(1, (wait + 999) / 1000))
        }
    }

    /// Counts a failed attempt of `client`.
    func recordFailure(client: String, nowMs: Int64) {
        state.withLock { state in
            if state.clients[client] == nil, state.clients.count >= Self.maxClients {
                let since = nowMs - windowMs
                state.clients = state.clients.filter { $0.value.last ?? 0 > since }
                if state.clients.count >= Self.maxClients, let oldest = state.clients.min(by: { ($0.value.last ?? 0) < ($1.value.last ?? 0) }) {
                    state.clients[oldest.key] = nil
                }
            }
            state.clients[client, default: []].append(nowMs)
            if state.clients[client]!.count > perClient { state.clients[client]!.removeFirst() }
            state.all.append(nowMs)
            if state.all.count > global { state.all.removeFirst(state.all.count - global) }
        }
    }

    /// Forgets `client`'s failures (it signed in).
    func recordSuccess(client: String) {
        state.withLock { state in state.clients[client] = nil }
    }
}
