import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing
import TollgateCore

@testable import TollgateAdmin
@testable import TollgateStore

/// The finance dashboard over a meter of fixture events, through the admin router in Hummingbird's test mode: who
/// gets in (bearer token, login form, session cookie, redirects), that the pages show exactly the margin report's
/// figures, the chart, sorting, paging of events, and that user-controlled ids are escaped.
@Suite("Dashboard")
struct DashboardTests {
    static let token = "dashboard-token-for-tests-0123"
    /// 2026-11-21T12:30:00Z: the dashboard's clock in these tests.
    static let now: Int64 = 1_795_264_200_000
    static let hour: Int64 = 3_600_000
    static let day: Int64 = 86_400_000
    /// A customer id that would be markup if it were not escaped.
    static let hostile = #"<b>x"&'y</b>"#

    // MARK: - Access

    @Test("a browser without a session is sent to the login form; the bearer token or a session cookie let it in")
    func access() async throws {
        try await withDashboard { client, _ in
            let anonymous = try await client.get("/dashboard?range=7d", token: nil)
            #expect(anonymous.status == .seeOther)
            #expect(anonymous.headers[.location] == "/dashboard/login?next=%2Fdashboard%3Frange%3D7d")
            let nested = try await client.get("/dashboard/customers/acme", token: nil)
            #expect(nested.status == .seeOther && nested.headers[.location]?.hasPrefix("/dashboard/login") == true)

            let bearer = try await client.get("/dashboard")
            #expect(bearer.status == .ok)
            #expect(bearer.headers[.contentType] == "text/html; charset=utf-8")
            #expect(bearer.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(bearer.text.contains("<meta http-equiv=\"refresh\" content=\"60\">"))
            #expect(bearer.text.contains("updated at <time datetime=\"2026-11-21T12:30:00Z\" id=\"updated-at\">2026-11-21 12:30:00 UTC</time>"))

            let wrong = try await client.get("/dashboard", token: Self.token + "x")
            #expect(wrong.status == .unauthorized)

            let cookie = try await client.signIn()
            let signedIn = try await client.get("/dashboard", token: nil, headers: [.cookie: cookie])
            #expect(signedIn.status == .ok && signedIn.text.contains("id=\"margin-by-customer\""))
            let forged = try await client.get("/dashboard", token: nil, headers: [.cookie: "tollgate_dashboard=\(Self.token)"])
            #expect(forged.status == .seeOther)
            // The cookie opens the dashboard only, never the API.
            let api = try await client.get("/admin/v1/customers", token: nil, headers: [.cookie: cookie])
            #expect(api.status == .unauthorized)
        }
    }

    @Test("the login form: the right token sets an HttpOnly, SameSite=Strict session cookie that is not the token; a wrong one shows the form again")
    func loginForm() async throws {
        try await withDashboard { client, _ in
            let form = try await client.get("/dashboard/login?next=%2Fdashboard%2Fcustomers%2Facme", token: nil)
            #expect(form.status == .ok)
            #expect(form.text.contains("<form class=\"login\" method=\"post\" action=\"/dashboard/login\">"))
            #expect(form.text.contains("name=\"next\" value=\"/dashboard/customers/acme\""))
            #expect(!form.text.contains("http-equiv=\"refresh\""))

            let wrong = try await client.post("/dashboard/login", form: "token=nope")
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text.contains("That is not the admin token.") && wrong.text.contains("name=\"token\""))
            #expect(wrong.headers[.setCookie] == nil)

            let right = try await client.post("/dashboard/login", form: "token=\(Self.token)&next=%2Fdashboard%2Fcustomers%2Facme")
            #expect(right.status == .seeOther)
            #expect(right.headers[.location] == "/dashboard/customers/acme")
            let setCookie = try #require(right.headers[.setCookie])
            // ID.EXPIRY.MAC: 32 hex digits, the second the session ends (12 hours on), 64 hex digits.
            let value = try #require(setCookie.split(separator: ";").first?.split(separator: "=", maxSplits: 1).last.map(String.init))
            let parts = value.split(separator: ".")
            #expect(parts.count == 3 && parts[0].count == 32 && parts[2].count == 64)
            #expect(Int64(parts[1]) == Self.now / 1000 + 12 * 3600)
            #expect(setCookie.hasSuffix("; Path=/dashboard; Max-Age=43200; HttpOnly; SameSite=Strict"))
            #expect(!setCookie.contains(Self.token) && !setCookie.contains("Secure"))
            // Every login is a session of its own.
            let second = try await client.signIn()
            #expect(second != "tollgate_dashboard=\(value)")

            // Signed in already: the form sends the browser on.
            let again = try await client.get("/dashboard/login", token: nil, headers: [.cookie: "tollgate_dashboard=\(value)"])
            #expect(again.status == .seeOther && again.headers[.location] == "/dashboard")

            // The form never sends a browser off the dashboard.
            for next in [
                "https%3A%2F%2Fevil.example%2F", "%2F%2Fevil.example", "%2Fadmin%2Fv1%2Fcustomers", "%2Fdashboard%5C..%5Cx",
                "%2Fdashboard%2F..%2Fadmin",
            ] {
                let away = try await client.post("/dashboard/login", form: "token=\(Self.token)&next=\(next)")
                #expect(away.headers[.location] == "/dashboard", "next=\(next)")
            }

            let out = try await client.post("/dashboard/logout", form: "")
            #expect(out.status == .seeOther && out.headers[.location] == "/dashboard/login")
            #expect(out.headers[.setCookie]?.hasPrefix("tollgate_dashboard=; Path=/dashboard; Max-Age=0;") == true)
            #expect(out.headers[.setCookie]?.contains("HttpOnly; SameSite=Strict") == true)
        }
    }

    @Test("a session expires after admin.session_ttl_s: the browser is sent back to the login form")
    func sessionExpiry() async throws {
        let clock = TestClock(Self.now)
        try await withDashboard(sessions: DashboardSessionSettings(ttlSeconds: 600, now: clock.read)) { client, _ in
            let cookie = try await client.signIn()
            clock.advance(by: 599_000)
            #expect(try await client.get("/dashboard", token: nil, headers: [.cookie: cookie]).status == .ok)
            clock.advance(by: 1_000)
            let expired = try await client.get("/dashboard", token: nil, headers: [.cookie: cookie])
            #expect(expired.status == .seeOther && expired.headers[.location]?.hasPrefix("/dashboard/login") == true)
            // The login form no longer takes it as signed in either.
            #expect(try await client.get("/dashboard/login", token: nil, headers: [.cookie: cookie]).status == .ok)
        }
    }

    @Test("logout revokes the session server-side: a copy of the cookie is refused afterwards, by every replica of the meter")
    func logoutRevokes() async throws {
        try await withDashboard { client, meter in
            let kept = try await client.signIn()
            let other = try await client.signIn()
            #expect(try await client.get("/dashboard", token: nil, headers: [.cookie: kept]).status == .ok)
            let out = try await client.post("/dashboard/logout", form: "", headers: [.cookie: kept])
            #expect(out.status == .seeOther && out.headers[.setCookie]?.contains("Max-Age=0") == true)
            let replayed = try await client.get("/dashboard", token: nil, headers: [.cookie: kept])
            #expect(replayed.status == .seeOther && replayed.headers[.location]?.hasPrefix("/dashboard/login") == true)
            // Another session of the same token is untouched.
            #expect(try await client.get("/dashboard", token: nil, headers: [.cookie: other]).status == .ok)
            // Another process sharing the meter refuses the revoked cookie too.
            try await withRouter(meter: meter) { (replica: DashboardClient) async throws in
                #expect(try await replica.get("/dashboard", token: nil, headers: [.cookie: kept]).status == .seeOther)
                #expect(try await replica.get("/dashboard", token: nil, headers: [.cookie: other]).status == .ok)
            }
            let value = String(kept.dropFirst("tollgate_dashboard=".count))
            let id = String(value.prefix(32))
            #expect(try await meter.isDashboardSessionRevoked(id: id))
        }
    }

    @Test("a cookie whose id or expiry was changed, or signed under another admin token, is refused")
    func tamperedCookies() async throws {
        try await withDashboard { client, meter in
            let cookie = try await client.signIn()
            let parts = cookie.dropFirst("tollgate_dashboard=".count).split(separator: ".").map(String.init)
            let later = "tollgate_dashboard=\(parts[0]).\(Int64(parts[1])! + 86_400).\(parts[2])"
            let otherID = "tollgate_dashboard=\(String(repeating: "0", count: 32)).\(parts[1]).\(parts[2])"
            for forged in [later, otherID, "tollgate_dashboard=\(parts[0]).\(parts[1])", "tollgate_dashboard=a.b.c"] {
                #expect(try await client.get("/dashboard", token: nil, headers: [.cookie: forged]).status == .seeOther, "\(forged)")
            }
            let foreign = DashboardSession(
                token: "another-admin-token-0123456789", meter: meter, settings: DashboardSessionSettings(now: { Self.now }))
            let own = DashboardSession(token: Self.token, meter: meter, settings: DashboardSessionSettings(now: { Self.now }))
            let (value, claims) = foreign.issue()
            #expect(foreign.claims(value) == claims)
            #expect(own.claims(value) == nil)
            #expect(try await client.get("/dashboard", token: nil, headers: [.cookie: "tollgate_dashboard=\(value)"]).status == .seeOther)
        }
    }

    @Test("the cookie is Secure with admin.secure_cookies, or when a trusted proxy forwarded the request from HTTPS")
    func secureCookies() async throws {
        try await withDashboard(sessions: DashboardSessionSettings(secureCookies: true, now: { Self.now })) { client, _ in
            let right = try await client.post("/dashboard/login", form: "token=\(Self.token)")
            #expect(right.headers[.setCookie]?.hasSuffix("; HttpOnly; SameSite=Strict; Secure") == true)
            let out = try await client.post("/dashboard/logout", form: "")
            #expect(out.headers[.setCookie]?.hasSuffix("; Secure") == true)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-session-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let meter = try MeterStore(path: directory.appendingPathComponent("meter.db").path)
        let session = DashboardSession(token: Self.token, meter: meter, settings: DashboardSessionSettings(trustedProxies: ["10.0.0.2"]))
        func request(_ headers: HTTPFields) -> Request {
            Request(
                head: HTTPRequest(method: .post, scheme: "http", authority: "admin", path: "/dashboard/login", headerFields: headers),
                body: RequestBody(buffer: ByteBuffer()))
        }
        let https = request([HTTPField.Name("X-Forwarded-Proto")!: "https", HTTPField.Name("X-Forwarded-For")!: "203.0.113.7, 10.0.0.2"])
        #expect(session.isSecure(https, peer: "10.0.0.2"))
        #expect(session.clientAddress(https, peer: "10.0.0.2") == "203.0.113.7")
        // Anyone else's forwarded headers are not believed.
        #expect(!session.isSecure(https, peer: "198.51.100.9"))
        #expect(session.clientAddress(https, peer: "198.51.100.9") == "198.51.100.9")
        #expect(!session.isSecure(request([HTTPField.Name("X-Forwarded-Proto")!: "http"]), peer: "10.0.0.2"))
        #expect(session.clientAddress(request([:]), peer: "10.0.0.2") == "10.0.0.2")
        #expect(session.clientAddress(request([:]), peer: nil) == "unknown")
    }

    @Test("failed logins are throttled per client: past the limit 429 with Retry-After, even for the right token, until the window passes")
    func loginThrottling() async throws {
        let clock = TestClock(Self.now)
        let throttle = LoginThrottle(perClient: 3, global: 100, windowSeconds: 60)
        try await withDashboard(sessions: DashboardSessionSettings(now: clock.read), throttle: throttle) { client, _ in
            for _ in 0..<3 {
                #expect(try await client.post("/dashboard/login", form: "token=guess").status == .unauthorized)
                clock.advance(by: 1_000)
            }
            let throttled = try await client.post("/dashboard/login", form: "token=\(Self.token)")
            #expect(throttled.status == .tooManyRequests)
            #expect(throttled.headers[.retryAfter] == "57")
            #expect(throttled.headers[.setCookie] == nil && throttled.text.contains("Too many failed sign-ins"))
            clock.advance(by: 57_000)
            let right = try await client.post("/dashboard/login", form: "token=\(Self.token)")
            #expect(right.status == .seeOther && right.headers[.setCookie] != nil)
        }
    }

    @Test("the login throttle counts each client and all clients together, and forgets a client that signed in")
    func throttleLimits() {
        let throttle = LoginThrottle(perClient: 2, global: 3, windowSeconds: 10)
        throttle.recordFailure(client: "a", nowMs: 0)
        #expect(throttle.retryAfter(client: "a", nowMs: 0) == nil)
        throttle.recordFailure(client: "a", nowMs: 1_000)
        #expect(throttle.retryAfter(client: "a", nowMs: 1_000) == 9)
        #expect(throttle.retryAfter(client: "b", nowMs: 1_000) == nil)
        throttle.recordFailure(client: "b", nowMs: 2_000)
        // Three failures in all: everyone waits for the oldest to leave the window.
        #expect(throttle.retryAfter(client: "c", nowMs: 2_000) == 8)
        #expect(throttle.retryAfter(client: "a", nowMs: 9_000) == 1)
        #expect(throttle.retryAfter(client: "c", nowMs: 10_000) == nil)
        #expect(throttle.retryAfter(client: "a", nowMs: 10_000) == nil)

        let forgiving = LoginThrottle(perClient: 2, global: 100, windowSeconds: 10)
        forgiving.recordFailure(client: "a", nowMs: 0)
        forgiving.recordFailure(client: "a", nowMs: 0)
        #expect(forgiving.retryAfter(client: "a", nowMs: 0) == 10)
        forgiving.recordSuccess(client: "a")
        #expect(forgiving.retryAfter(client: "a", nowMs: 0) == nil)
    }

    // MARK: - Figures

    @Test("the overview shows the margin report's figures: tiles, chart buckets, top lists and the margin table")
    func overviewFigures() async throws {
        try await withDashboard { client, meter in
            let page = try await client.get("/dashboard?range=30d")
            #expect(page.status == .ok)
            let query = MarginQuery(fromMs: Self.now - Self.now % Self.day - 29 * Self.day, by: [.customer])
            let report = try await meter.marginReport(query)
            let rows = page.rows(table: "margin-by-customer", key: "customer")
            #expect(rows.count == report.rows.count && rows.count == 3)
            for row in report.rows {
                let shown = try #require(rows[row.group[.customer] ?? ""])
                #expect(shown["revenue"] == row.totals.revenue.description)
                #expect(shown["cost"] == row.totals.cost.description)
                #expect(shown["margin"] == row.totals.margin.description)
                #expect(shown["requests"] == String(row.totals.requests))
                #expect(shown["margin_pct"] == (row.totals.marginPercent ?? ""))
            }
            // Hand-computed: acme 2 × 0.30 + 0.000000000000001 revenue, 3 × 0.10 cost (one a 500 with no price).
            #expect(rows["acme"]?["revenue"] == "0.600000000000001")
            #expect(rows["acme"]?["cost"] == "0.3")
            #expect(rows["acme"]?["margin"] == "0.300000000000001")
            #expect(rows["acme"]?["errors"] == "1")
            #expect(rows["beta"]?["revenue"] == "2" && rows["beta"]?["cost"] == "2.5" && rows["beta"]?["margin"] == "-0.5")
            #expect(rows["beta"]?["margin_pct"] == "-25.00")

            let total = try #require(report.totals.first)
            #expect(page.attribute("data-value", of: "<div class=\"tile\" data-field=\"revenue\"") == total.totals.revenue.description)
            #expect(page.attribute("data-value", of: "<div class=\"tile\" data-field=\"margin\"") == total.totals.margin.description)
            #expect(page.attribute("data-value", of: "<div class=\"tile\" data-field=\"requests\"") == String(total.totals.requests))
            #expect(total.totals.revenue.description == "2.900000000000001" && page.text.contains(">2.90</div>"))

            // The chart: an SVG with one bucket per day, summing to the totals.
            #expect(page.text.contains("<svg class=\"chart\""))
            let buckets = page.matches(#"<g class="bucket" data-label="([^"]*)" data-revenue="([^"]*)" data-cost="([^"]*)""#)
            #expect(buckets.count == 30)
            #expect(buckets.last?[0] == "2026-11-21" && buckets.first?[0] == "2026-10-23")
            #expect(buckets.map { Money($0[1]) ?? .zero }.reduce(.zero, +) == total.totals.revenue)
            #expect(buckets.map { Money($0[2]) ?? .zero }.reduce(.zero, +) == total.totals.cost)

            let models = page.rows(table: "top-models", key: "model")
            let byModel = try await meter.marginReport(MarginQuery(fromMs: query.fromMs, by: [.model]))
            #expect(models.count == byModel.rows.count)
            for row in byModel.rows { #expect(models[row.group[.model] ?? ""]?["revenue"] == row.totals.revenue.description) }
            #expect(page.rows(table: "top-customers", key: "customer").count == 3)

            // Caps and credits.
            let caps = page.rows(table: "caps", key: "scope-id")
            #expect(caps["acme"]?["used"] == "0.600000000000001" && caps["acme"]?["amount"] == "1")
            #expect(page.text.contains("<span class=\"bar\" title=\"60.0 %\"><span style=\"width:60.0%\"></span></span>"))
            let credits = page.rows(table: "credits", key: "account")
            #expect(credits["customer:acme"]?["granted"] == "25" && credits["customer:acme"]?["available"] == "25")
        }
    }

    @Test("24 hours are charted by hour, 90 days include the older event, from/to covers exactly that range")
    func ranges() async throws {
        try await withDashboard { client, meter in
            let hours = try await client.get("/dashboard?range=24h")
            let hourBuckets = hours.matches(#"<g class="bucket" data-label="([^"]*)""#)
            #expect(hourBuckets.count == 24 && hourBuckets.last?[0] == "2026-11-21T12:00:00Z")
            #expect(hours.text.contains("Revenue, cost and margin by hour"))

            let quarter = try await client.get("/dashboard?range=90d")
            #expect(quarter.rows(table: "margin-by-customer", key: "customer")["acme"]?["requests"] == "4")

            let custom = try await client.get("/dashboard?from=2026-11-20&to=2026-11-21")
            let report = try await meter.marginReport(
                MarginQuery(fromMs: Timestamps.parse("2026-11-20"), toMs: Timestamps.parse("2026-11-21"), by: [.customer]))
            let rows = custom.rows(table: "margin-by-customer", key: "customer")
            #expect(rows.count == report.rows.count)
            for row in report.rows { #expect(rows[row.group[.customer] ?? ""]?["revenue"] == row.totals.revenue.description) }
            #expect(custom.matches(#"<g class="bucket" data-label="([^"]*)""#).count == 24)

            let bad = try await client.get("/dashboard?range=forever")
            #expect(bad.status == .badRequest && bad.text.contains("range: expected a number of hours or days"))
            #expect(try await client.get("/dashboard?from=2026-11-21&to=2026-11-20").status == .badRequest)
        }
    }

    @Test("the margin table sorts by any column through its header links")
    func sorting() async throws {
        try await withDashboard { client, _ in
            func order(_ query: String) async throws -> [String] {
                try await client.get("/dashboard?range=30d\(query)").matches(#"<tr data-customer="([^"]*)" data-currency"#).map { $0[0] }
            }
            let escaped = "&lt;b&gt;x&quot;&amp;&#39;y&lt;/b&gt;"
            #expect(try await order("") == ["beta", "acme", escaped])
            #expect(try await order("&sort=cost&dir=asc") == [escaped, "acme", "beta"])
            #expect(try await order("&sort=margin") == ["acme", escaped, "beta"])
            #expect(try await order("&sort=name&dir=asc").first == escaped)
            #expect(try await order("&sort=margin_pct&dir=desc") == [escaped, "acme", "beta"])
            #expect(try await order("&sort=requests&dir=asc").last == "acme")
            let page = try await client.get("/dashboard?range=30d&sort=cost&dir=asc")
            #expect(page.text.contains("href=\"/dashboard?range=30d&amp;sort=cost&amp;dir=desc\">Cost ▲</a>"))
        }
    }

    @Test("a customer's page: its figures by model, its limits and balance, links to its events and statement")
    func customerPage() async throws {
        try await withDashboard { client, meter in
            let page = try await client.get("/dashboard/customers/acme?range=30d")
            #expect(page.status == .ok)
            let report = try await meter.marginReport(
                MarginQuery(fromMs: Self.now - Self.now % Self.day - 29 * Self.day, by: [.model], customer: "acme"))
            let rows = page.rows(table: "margin-by-model", key: "model")
            #expect(rows.count == report.rows.count && rows.count == 2)
            for row in report.rows {
                #expect(rows[row.group[.model] ?? ""]?["revenue"] == row.totals.revenue.description)
                #expect(rows[row.group[.model] ?? ""]?["cost"] == row.totals.cost.description)
            }
            #expect(page.text.contains("<svg class=\"chart\""))
            #expect(page.text.contains("id=\"events-link\" href=\"/dashboard/customers/acme/events\""))
            #expect(page.text.contains("id=\"statement-link\" href=\"/dashboard/customers/acme/statement?period=2026-11\""))
            #expect(page.text.contains("/dashboard/customers/acme/statement?period=2026-10"))
            #expect(page.rows(table: "caps", key: "scope-id")["acme"]?["remaining"] == "0.399999999999999")
            #expect(page.text.contains("data-field=\"available\" data-value=\"25\""))

            let missing = try await client.get("/dashboard/customers/nobody")
            #expect(missing.status == .notFound && missing.text.contains("No customer “nobody”"))
        }
    }

    @Test("a customer's statement: the HTML page and its CSVs, behind the token; unknown customers and bad periods refused")
    func statement() async throws {
        try await withDashboard { client, _ in
            let page = try await client.get("/dashboard/customers/acme/statement?period=2026-11")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.text.contains("acme") && page.text.contains("statement.csv?period=2026-11"))
            let csv = try await client.get("/dashboard/customers/acme/statement.csv?period=2026-11")
            #expect(csv.status == .ok && csv.headers[.contentType] == "text/csv; charset=utf-8")
            let events = try await client.get("/dashboard/customers/acme/statement.csv?period=2026-11&events=1")
            #expect(events.status == .ok && events.text.contains("evt_"))
            #expect(try await client.get("/dashboard/customers/nobody/statement?period=2026-11").status == .notFound)
            #expect(try await client.get("/dashboard/customers/acme/statement?period=2026-13").status == .badRequest)
            #expect(try await client.get("/dashboard/customers/acme/statement?period=2026-11", token: nil).status == .seeOther)
        }
    }

    @Test("events page newest first, paged with an older link that neither skips nor repeats an event")
    func eventsPaging() async throws {
        try await withDashboard { client, meter in
            // 60 more events of one customer, some sharing a millisecond.
            let events = (0..<60).map { index in
                Self.event(
                    id: "evt_page_\(String(format: "%03d", index))", customer: "paged", ms: Self.now - 5 * Self.day + Int64(index / 2) * 1000,
                    model: "gpt-4o", cost: "0.01", price: "0.02")
            }
            try await meter.insert(events)
            let first = try await client.get("/dashboard/customers/paged/events")
            #expect(first.status == .ok)
            let firstIDs = first.matches(#"<tr data-event="([^"]*)""#).map { $0[0] }
            #expect(firstIDs.count == Dashboard.eventsPerPage)
            #expect(firstIDs.first == "evt_page_059" && firstIDs[1] == "evt_page_058")
            let older = try #require(first.matches(#"id="older" href="([^"]*)""#).first?[0])
            let second = try await client.get(older.replacingOccurrences(of: "&amp;", with: "&"))
            let secondIDs = second.matches(#"<tr data-event="([^"]*)""#).map { $0[0] }
            #expect(secondIDs.count == 10 && secondIDs.last == "evt_page_000")
            #expect(Set(firstIDs + secondIDs).count == 60)
            #expect(second.matches(#"id="older""#).isEmpty && second.text.contains("← Newest"))
            #expect(first.text.contains("data-field=\"price\" data-value=\"0.02\""))

            let acme = try await client.get("/dashboard/customers/acme/events")
            #expect(acme.text.contains("upstream error") && acme.text.contains(">500<"))
        }
    }

    @Test("customer ids are escaped everywhere and percent-encoded in links")
    func escaping() async throws {
        try await withDashboard { client, _ in
            let overview = try await client.get("/dashboard")
            #expect(!overview.text.contains(Self.hostile))
            #expect(!overview.text.contains("<b>x"))
            #expect(overview.text.contains("&lt;b&gt;x&quot;&amp;&#39;y&lt;/b&gt;"))
            let encoded = DashboardURL.component(Self.hostile)
            #expect(encoded == "%3Cb%3Ex%22%26%27y%3C%2Fb%3E")
            #expect(overview.text.contains("href=\"/dashboard/customers/\(encoded)?range=30d\""))

            let page = try await client.get("/dashboard/customers/\(encoded)")
            #expect(page.status == .ok)
            #expect(!page.text.contains("<b>x") && page.text.contains("<h1>&lt;b&gt;x&quot;&amp;&#39;y&lt;/b&gt;<small>"))
            let events = try await client.get("/dashboard/customers/\(encoded)/events")
            #expect(events.status == .ok && !events.text.contains("<b>x"))
        }
    }

    @Test("HTML escapes text in literals, figures are formatted on integers, the chart's axis is round")
    func helpers() {
        let name = "<script>alert('x')</script>"
        let html: HTML = "<td title=\"\(name)\">\(name)</td>"
        #expect(
            html.description == "<td title=\"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</td>")
        #expect(Figures.rounded(Money("1234567.895")!, digits: 2) == "1,234,567.90")
        #expect(Figures.rounded(Money("-0.5")!, digits: 2) == "-0.50")
        #expect(Figures.tile(Money("0.000123456")!) == "0.000123")
        #expect(Figures.tile(Money("12")!) == "12.00")
        #expect(Figures.count(1_234_567) == "1,234,567")
        #expect(SVGChart.niceStep(Money("0.6")!.raw / 4) == Money("0.2")!.raw)
        let chart = SVGChart(points: [ChartPoint(label: "2026-11-21", revenue: Money("2.6")!, cost: Money("2.8")!)], currency: "USD", grain: "day")
        let axis = chart.axis()
        #expect(axis.low == Money("-1")!.raw && axis.high == Money("3")!.raw && axis.step == Money("1")!.raw)
        #expect(SVGChart.shortLabel("2026-11-21T10:00:00Z") == "10:00" && SVGChart.shortLabel("2026-11-21") == "11-21")
        #expect(FormFields("token=a%2Bb+c&next=%2Fdashboard&token=second")["token"] == "a+b c")
    }

    // MARK: - Fixtures

    static func event(
        id: String, customer: String, ms: Int64, model: String, cost: String, price: String, status: Int = 200, note: String? = nil
    ) -> UsageEvent {
        UsageEvent(
            id: id, timestampMs: ms, customer: customer, keyID: "key_\(customer.count)", provider: "openai", route: APIName.openAIChat.rawValue,
            path: "/v1/chat/completions", model: model, servedModel: model + "-2026-01-01", status: status, stream: false,
            usage: TokenUsage(inputTokens: 100, cacheReadTokens: 10, outputTokens: 20), latencyMs: 12.5, ttfbMs: nil, upstreamMs: nil,
            cost: Money(cost)!, price: Money(price)!, currency: "USD", estimated: false, priced: true, note: note)
    }

    /// acme: two gpt-4o requests and a failed one today and yesterday, one gpt-4o-mini 51 days ago; beta: one
    /// gpt-4o-mini at a loss; the hostile id: one gpt-4o. A monthly cap of 1 USD and 25 USD of credit for acme.
    static func fixture(_ meter: MeterStore) async throws {
        try await meter.insert([
            event(id: "evt_a1", customer: "acme", ms: now - 2 * hour, model: "gpt-4o", cost: "0.1", price: "0.3"),
            event(id: "evt_a2", customer: "acme", ms: now - day - hour, model: "gpt-4o", cost: "0.1", price: "0.300000000000001"),
            event(
                id: "evt_a3", customer: "acme", ms: now - 3 * hour, model: "gpt-4o-mini", cost: "0.1", price: "0", status: 500,
                note: "upstream error"),
            event(id: "evt_a4", customer: "acme", ms: now - 51 * day, model: "gpt-4o-mini", cost: "1", price: "3"),
            event(id: "evt_b1", customer: "beta", ms: now - 5 * hour, model: "gpt-4o-mini", cost: "2.5", price: "2"),
            event(id: "evt_h1", customer: hostile, ms: now - 6 * hour, model: "gpt-4o", cost: "0.05", price: "0.3"),
        ])
        _ = try await meter.setCustomer(id: "acme", name: "Acme Corp")
        _ = try await meter.setCustomer(id: "beta")
        _ = try await meter.addLimit(scope: .customer, scopeID: "acme", metric: .money, period: .month, amount: "1")
        _ = try await meter.addLimit(scope: .customer, scopeID: "beta", metric: .requests, period: .minute, amount: "100")
        _ = try await meter.grantCredits(account: "customer:acme", amount: Money("25")!, currency: "USD", effectiveMs: now - 10 * day)
    }
}

// MARK: - Test support

/// Runs `test` with a client of the admin router (API and dashboard) over a meter holding ``DashboardTests/fixture(_:)``,
/// the dashboard's clock at ``DashboardTests/now``.
private func withDashboard(
    sessions: DashboardSessionSettings = DashboardSessionSettings(now: { DashboardTests.now }), throttle: LoginThrottle = LoginThrottle(),
    _ test: @escaping @Sendable (DashboardClient, MeterStore) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tollgate-dashboard-tests-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let meter = try MeterStore(path: directory.appendingPathComponent("meter.db").path)
    try await DashboardTests.fixture(meter)
    try await withRouter(meter: meter, sessions: sessions, throttle: throttle) { client in try await test(client, meter) }
}

/// Runs `test` with a client of an admin router (API and dashboard) over `meter`.
private func withRouter(
    meter: MeterStore, sessions: DashboardSessionSettings = DashboardSessionSettings(now: { DashboardTests.now }),
    throttle: LoginThrottle = LoginThrottle(), _ test: @escaping @Sendable (DashboardClient) async throws -> Void
) async throws {
    let logger = Logger(label: "dashboard-tests")
    let api = AdminAPI(meter: meter, token: DashboardTests.token, currency: "USD", creditUnit: nil, logger: logger, sessions: sessions)
    let router = api.makeRouter()
    let rules = PricingRules()
    Dashboard(
        meter: meter, token: DashboardTests.token, currency: "USD", logger: logger, rules: { rules }, sessions: sessions, throttle: throttle,
        now: { DashboardTests.now }
    )
    .addRoutes(to: router)
    try await Application(responder: router.buildResponder()).test(.router) { client in
        try await test(DashboardClient(client: client))
    }
}

/// A clock a test moves forward.
private final class TestClock: Sendable {
    private let ms: Mutex<Int64>
    init(_ ms: Int64) { self.ms = Mutex(ms) }
    var read: @Sendable () -> Int64 { { self.ms.withLock { $0 } } }
    func advance(by delta: Int64) { ms.withLock { $0 += delta } }
}

/// Sends dashboard requests, with the bearer token unless told otherwise.
private struct DashboardClient: Sendable {
    let client: any TestClientProtocol

    func get(_ uri: String, token: String? = DashboardTests.token, headers: HTTPFields = [:]) async throws -> Page {
        var fields = headers
        if let token { fields[.authorization] = "Bearer \(token)" }
        let response = try await client.executeRequest(uri: uri, method: .get, headers: fields, body: nil)
        return Page(status: response.status, headers: response.headers, text: String(buffer: response.body))
    }

    /// Signs in with the admin token; the `Cookie` header value of the new session.
    func signIn() async throws -> String {
        let response = try await post("/dashboard/login", form: "token=\(DashboardTests.token)")
        let setCookie = try #require(response.headers[.setCookie])
        return String(try #require(setCookie.split(separator: ";").first))
    }

    func post(_ uri: String, form: String, token: String? = nil, headers: HTTPFields = [:]) async throws -> Page {
        var fields = headers
        fields[.contentType] = "application/x-www-form-urlencoded"
        if let token { fields[.authorization] = "Bearer \(token)" }
        let response = try await client.executeRequest(uri: uri, method: .post, headers: fields, body: ByteBuffer(string: form))
        return Page(status: response.status, headers: response.headers, text: String(buffer: response.body))
    }
}

/// A page as served, read the way the e2e test reads it in a browser: tables by id, rows by key, figures by field.
private struct Page {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String

    /// The capture groups of every match of `pattern`.
    func matches(_ pattern: String) -> [[String]] {
        guard let expression = try? NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators]) else { return [] }
        let source = text as NSString
        return expression.matches(in: text, range: NSRange(location: 0, length: source.length)).map { match in
            (1..<match.numberOfRanges).map { source.substring(with: match.range(at: $0)) }
        }
    }

    /// The body rows of table `id` keyed by their `data-<key>` (unescaped), each as field → `data-value`.
    func rows(table id: String, key: String) -> [String: [String: String]] {
        guard let start = text.range(of: "id=\"\(id)\""), let end = text[start.upperBound...].range(of: "</tbody>") else { return [:] }
        let body = Page(status: status, headers: headers, text: String(text[start.upperBound..<end.lowerBound]))
        var rows: [String: [String: String]] = [:]
        for row in body.matches(#"<tr data-\#(key)="([^"]*)"(.*?)</tr>"#) {
            let fields = Page(status: status, headers: headers, text: row[1]).matches(#"data-field="([^"]*)" data-value="([^"]*)""#)
            rows[Self.unescape(row[0])] = Dictionary(fields.map { ($0[0], Self.unescape($0[1])) }, uniquingKeysWith: { first, _ in first })
        }
        return rows
    }

    /// The value of `attribute` in the first tag starting with `prefix`.
    func attribute(_ attribute: String, of prefix: String) -> String? {
        guard let start = text.range(of: prefix), let end = text[start.upperBound...].range(of: ">") else { return nil }
        let tag = Page(status: status, headers: headers, text: String(text[start.lowerBound..<end.lowerBound]))
        return tag.matches(#"\#(attribute)="([^"]*)""#).first?[0]
    }

    static func unescape(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
    }
}
