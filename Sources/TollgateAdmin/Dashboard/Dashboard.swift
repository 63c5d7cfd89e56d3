import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TollgateBilling
import TollgateCore
import TollgateStore

/// The finance dashboard on the admin listener: revenue, cost and margin over time, top customers and models,
/// margin by customer, spend against caps and remaining credits, a page per customer and its events.
///
/// Server-rendered HTML with inline CSS and SVG charts drawn here: no script, nothing fetched from anywhere, every
/// page refreshes itself every minute. Every figure comes from ``MeterStore/marginReport(_:)`` (the same sums as
/// `tollgate report margin`), the limits' status and the credit balances; money cells carry the exact decimal in
/// `data-value`. docs/DASHBOARD.md describes the pages.
///
/// The admin token protects it like the API (``AdminTokenMiddleware``): as a bearer header, or through the login
/// form, which sets a signed session cookie with an expiry that logout revokes (``DashboardSession``); failed logins
/// are throttled (``LoginThrottle``).
///
/// ```swift
/// let router = api.makeRouter()
/// Dashboard(meter: meter, token: token, currency: "USD", logger: logger).addRoutes(to: router)
/// let responder = router.buildResponder()
/// ```
public struct Dashboard: Sendable {
    let meter: MeterStore
    let session: DashboardSession
    let throttle: LoginThrottle
    let currency: String
    let logger: Logger
    /// The current time (milliseconds since 1970); a test passes a fixed one.
    let now: @Sendable () -> Int64
    /// The pricing rules statements are rated with (the proxy's current ones); `nil`: no statements.
    let rules: (@Sendable () -> PricingRules)?

    /// The largest login form read.
    static let maxFormBytes = 16 * 1024
    /// Events per page on a customer's events page.
    static let eventsPerPage = 50
    /// The most rows a table shows (the rest are summed in the totals and counted in a note).
    static let maxTableRows = 200

    /// A dashboard over `meter`. `token` is the admin token (the login form checks it; the session cookie derives
    /// from it), `currency` the pricing currency (`pricing.currency`): the one the chart and the caps are in;
    /// `sessions` are the session settings (the same as the ``AdminAPI``'s), `throttle` counts failed logins.
    public init(
        meter: MeterStore, token: String, currency: String, logger: Logger, rules: (@Sendable () -> PricingRules)? = nil,
        sessions: DashboardSessionSettings = DashboardSessionSettings(), now: @escaping @Sendable () -> Int64 = Timestamps.nowMs
    ) {
        self.init(
            meter: meter, token: token, currency: currency, logger: logger, rules: rules, sessions: sessions, throttle: LoginThrottle(), now: now)
    }

    init(
        meter: MeterStore, token: String, currency: String, logger: Logger, rules: (@Sendable () -> PricingRules)?,
        sessions: DashboardSessionSettings, throttle: LoginThrottle, now: @escaping @Sendable () -> Int64
    ) {
        self.rules = rules
        self.meter = meter
        self.session = DashboardSession(token: token, meter: meter, settings: sessions)
        self.throttle = throttle
        self.currency = currency
        self.logger = logger
        self.now = now
    }

    /// Adds the dashboard's routes to the admin router (made by ``AdminAPI/makeRouter()``, whose token middleware
    /// also guards these).
    public func addRoutes(to router: Router<AdminRequestContext>) {
        router.get(RouterPath(DashboardSession.root)) { request, _ -> Response in
            await page { try await overview(request) }
        }
        router.get(RouterPath(DashboardSession.loginPath)) { request, _ -> Response in
            if await session.session(of: request) != nil {
                return DashboardSession.redirect(to: returnPath(request.uri.queryParameters["next"].map(String.init)))
            }
            return DashboardPages.response(DashboardPages.login(error: nil, next: request.uri.queryParameters["next"].map(String.init)))
        }
        router.post(RouterPath(DashboardSession.loginPath)) { request, context -> Response in
            try await login(request, peer: context.peerAddress)
        }
        router.post(RouterPath(DashboardSession.logoutPath)) { request, context -> Response in
            await logout(request, peer: context.peerAddress)
        }
        router.get(RouterPath(DashboardSession.root + "/customers/{id}")) { request, context -> Response in
            let id = context.parameters.get("id").map(PercentDecoding.decoded) ?? ""
            return await page { try await customer(id, request) }
        }
        router.get(RouterPath(DashboardSession.root + "/customers/{id}/events")) { request, context -> Response in
            let id = context.parameters.get("id").map(PercentDecoding.decoded) ?? ""
            return await page { try await events(id, request) }
        }
        router.get(RouterPath(DashboardSession.root + "/customers/{id}/statement")) { request, context -> Response in
            await statement(context.parameters.get("id").map(PercentDecoding.decoded) ?? "", request, csv: false)
        }
        router.get(RouterPath(DashboardSession.root + "/customers/{id}/statement.csv")) { request, context -> Response in
            await statement(context.parameters.get("id").map(PercentDecoding.decoded) ?? "", request, csv: true)
        }
    }

    /// A customer's statement for `?period=YYYY-MM` (default: this month): the printable HTML page, or with `.csv` its
    /// lines (`&events=1`: the events behind them) as CSV (docs/STATEMENTS.md).
    func statement(_ customer: String, _ request: Request, csv: Bool) async -> Response {
        let period = request.uri.queryParameters["period"].map(String.init) ?? Timestamps.monthName(of: now())
        guard let rules, let range = Timestamps.month(period) else {
            let message = rules == nil ? "Statements are not available here." : "period must be a month such as 2026-11, not '\(period)'."
            return DashboardPages.response(
                DashboardPages.error(DashboardError.badRequest(message), nowMs: now()), status: rules == nil ? .notFound : .badRequest)
        }
        do {
            if csv {
                let text = try await statementCSV(
                    meter: meter, rules: rules(), customer: customer, startMs: range.startMs, endMs: range.endMs,
                    events: request.uri.queryParameters["events"] == "1")
                var headers = HTTPFields()
                headers[.contentType] = "text/csv; charset=utf-8"
                headers[.contentDisposition] = "attachment; filename=\"statement-\(customer)-\(period).csv\""
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
            }
            let page = try await statementPage(
                meter: meter, rules: rules(), customer: customer, startMs: range.startMs, endMs: range.endMs,
                csvHref: "statement.csv?period=\(period)", eventsCSVHref: "statement.csv?period=\(period)&events=1")
            var headers = HTTPFields()
            headers[.contentType] = "text/html; charset=utf-8"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
        } catch let error as MeterError {
            switch error {
            case .notFound, .rejected:
                return DashboardPages.response(
                    DashboardPages.error(DashboardError(status: .notFound, message: error.description), nowMs: now()), status: .notFound)
            case .conflict, .cannotOpen, .writeFailed, .readFailed, .closed:
                return await page { throw error }
            }
        } catch {
            return await page { throw error }
        }
    }

    /// Renders a page, answering a bad request or a meter failure with an error page of its own.
    func page(_ render: () async throws -> HTML) async -> Response {
        do {
            return DashboardPages.response(try await render())
        } catch let error as DashboardError {
            return DashboardPages.response(DashboardPages.error(error, nowMs: now()), status: error.status)
        } catch {
            logger.error("dashboard page failed", metadata: ["error": "\(error)"])
            let failure = DashboardError(status: .internalServerError, message: "The meter could not be read: \(error)")
            return DashboardPages.response(DashboardPages.error(failure, nowMs: now()), status: .internalServerError)
        }
    }

    /// Where to go after signing in: the page asked for, if it is a dashboard page, else the overview.
    func returnPath(_ next: String?) -> String {
        next.flatMap(DashboardSession.safeReturnPath) ?? DashboardSession.root
    }

    /// `POST /dashboard/login` with `token=…` (form-encoded): the right token starts a session (sets its cookie) and
    /// goes back to the page asked for; a wrong one shows the form again with 401. A client past the failed-login
    /// limit gets 429 with `Retry-After`, the token not even compared.
    func login(_ request: Request, peer: String?) async throws -> Response {
        let client = session.clientAddress(request, peer: peer)
        let body = try await request.body.collect(upTo: Self.maxFormBytes)
        let form = FormFields(String(decoding: body.readableBytesView, as: UTF8.self))
        let next = form["next"]
        if let wait = throttle.retryAfter(client: client, nowMs: session.settings.now()) {
            logger.warning("dashboard: login throttled after repeated failures", metadata: ["client": "\(client)"])
            var response = DashboardPages.response(
                DashboardPages.login(error: "Too many failed sign-ins. Try again in \(wait) s.", next: next), status: .tooManyRequests)
            response.headers[.retryAfter] = String(wait)
            return response
        }
        guard let token = form["token"], session.accepts(token: token) else {
            throttle.recordFailure(client: client, nowMs: session.settings.now())
            logger.notice("dashboard: a login with a wrong admin token was refused", metadata: ["client": "\(client)"])
            return DashboardPages.response(
                DashboardPages.login(error: "That is not the admin token.", next: next), status: .unauthorized)
        }
        throttle.recordSuccess(client: client)
        let (value, _) = session.issue()
        return DashboardSession.redirect(to: returnPath(next), cookie: session.signInCookie(value, secure: session.isSecure(request, peer: peer)))
    }

    /// `POST /dashboard/logout`: revokes the request's session (when it carries a valid one) and clears the cookie.
    func logout(_ request: Request, peer: String?) async -> Response {
        let cookie = DashboardSession.signOutCookie(secure: session.isSecure(request, peer: peer))
        if let value = request.cookies[DashboardSession.cookieName]?.value, let claims = session.claims(value) {
            do {
                try await session.revoke(claims)
            } catch {
                logger.error("dashboard: a session could not be revoked", metadata: ["error": "\(error)"])
                var response = DashboardPages.response(
                    DashboardPages.error(
                        DashboardError(
                            status: .serviceUnavailable, message: "The session could not be revoked (the meter cannot be written): \(error)"),
                        nowMs: now()),
                    status: .serviceUnavailable)
                response.headers[.setCookie] = cookie
                return response
            }
        }
        return DashboardSession.redirect(to: DashboardSession.loginPath, cookie: cookie)
    }
}

// MARK: - Input

/// A request the dashboard cannot answer, shown as an error page.
struct DashboardError: Error {
    let status: HTTPResponse.Status
    let message: String

    static func badRequest(_ message: String) -> DashboardError { DashboardError(status: .badRequest, message: message) }
}

/// The fields of an `application/x-www-form-urlencoded` body (`+` is a space; the first of a repeated name wins).
struct FormFields {
    private var values: [String: String] = [:]

    init(_ body: String) {
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(parts[0])
            if values[name] == nil { values[name] = parts.count > 1 ? Self.decode(parts[1]) : "" }
        }
    }

    subscript(_ name: String) -> String? { values[name] }

    private static func decode(_ text: Substring) -> String {
        PercentDecoding.decoded(text.replacingOccurrences(of: "+", with: " "))
    }
}

/// The time range a page covers: the last hours or days (`range=24h`, `7d`, `30d`, `90d`: whole hours or days,
/// the current one included) or `from`/`to` (ISO 8601 times or dates, `to` exclusive and open when left out).
struct DashboardRange: Sendable, Equatable {
    /// How the chart buckets time.
    enum Grain: String, Sendable {
        case hour, day, month

        var dimension: ReportDimension {
            switch self {
            case .hour: .hour
            case .day: .day
            case .month: .month
            }
        }
    }

    /// Start, inclusive.
    var fromMs: Int64
    /// End, exclusive; `nil`: up to now (and any event stamped later).
    var toMs: Int64?
    /// The preset (`30d`), if it is one.
    var preset: String?
    /// The chart's buckets.
    var grain: Grain
    /// The end of the chart: the bucket holding this time is its last.
    var chartEndMs: Int64

    /// The presets offered as links.
    static let presets = ["24h", "7d", "30d", "90d"]
    /// The range of a page without one.
    static let defaultPreset = "30d"

    static let hourMs: Int64 = 3_600_000
    static let dayMs: Int64 = 86_400_000

    /// Reads `range`, or `from` and `to`, from a query.
    static func parse(range: String?, from: String?, to: String?, nowMs: Int64) throws(DashboardError) -> DashboardRange {
        if let from, !from.isEmpty {
            guard let fromMs = Timestamps.parse(from) else {
                throw .badRequest("from: expected an ISO 8601 time or a date such as 2026-11-01 (got “\(from)”)")
            }
            var toMs: Int64?
            if let to, !to.isEmpty {
                guard let end = Timestamps.parse(to) else {
                    throw .badRequest("to: expected an ISO 8601 time or a date such as 2026-12-01 (got “\(to)”)")
                }
                guard end > fromMs else { throw .badRequest("to must be after from") }
                toMs = end
            }
            let end = toMs ?? max(nowMs, fromMs + 1)
            return DashboardRange(fromMs: fromMs, toMs: toMs, preset: nil, grain: grain(spanMs: end - fromMs), chartEndMs: end - 1)
        }
        let name = (range?.isEmpty ?? true) ? defaultPreset : range ?? defaultPreset
        guard let unit = name.last, unit == "h" || unit == "d", let count = Int64(name.dropLast()), count >= 1,
            count <= (unit == "h" ? 24 * 90 : 366 * 5)
        else {
            throw .badRequest("range: expected a number of hours or days such as 24h, 7d or 90d (got “\(name)”)")
        }
        let grainMs = unit == "h" ? hourMs : dayMs
        let fromMs = nowMs - nowMs.floorModulo(grainMs) - (count - 1) * grainMs
        return DashboardRange(fromMs: fromMs, toMs: nil, preset: name, grain: grain(spanMs: nowMs - fromMs), chartEndMs: nowMs)
    }

    /// Hours up to two days, days up to about thirteen months, months beyond.
    static func grain(spanMs: Int64) -> Grain {
        spanMs <= 48 * hourMs ? .hour : spanMs <= 400 * dayMs ? .day : .month
    }

    /// The query that selects this range, for links.
    var query: [(String, String?)] {
        if let preset { return [("range", preset)] }
        return [("from", Timestamps.iso8601(fromMs)), ("to", toMs.map(Timestamps.iso8601))]
    }

    /// What the page says it covers.
    var title: String {
        if let preset, let count = Int(preset.dropLast()) {
            let unit = preset.hasSuffix("h") ? (count == 1 ? "hour" : "hours") : (count == 1 ? "day" : "days")
            return "Last \(count) \(unit)"
        }
        return "\(Figures.time(fromMs)) to \(toMs.map(Figures.time) ?? "now")"
    }

    /// The label of every bucket of the chart, in order (as the margin report writes them).
    var bucketLabels: [String] {
        var labels: [String] = []
        switch grain {
        case .hour:
            var time = fromMs - fromMs.floorModulo(Self.hourMs)
            while time <= chartEndMs && labels.count < 24 * 400 {
                labels.append(Timestamps.iso8601(time))
                time += Self.hourMs
            }
        case .day:
            var time = fromMs - fromMs.floorModulo(Self.dayMs)
            while time <= chartEndMs && labels.count < 800 {
                labels.append(Timestamps.date(of: time))
                time += Self.dayMs
            }
        case .month:
            var time = fromMs - fromMs.floorModulo(Self.dayMs)
            while time <= chartEndMs && labels.count < 1200 {
                let month = Timestamps.monthName(of: time)
                if labels.last != month { labels.append(month) }
                time += Self.dayMs
            }
        }
        return labels
    }

}

/// How a table is ordered: `sort=<column>&dir=asc|desc` in the page's query.
struct TableOrder: Sendable, Equatable {
    /// A sortable column of the margin tables.
    enum Column: String, Sendable, CaseIterable {
        case name, requests, errors, input, cached, output, revenue, cost, margin
        case marginPercent = "margin_pct"

        /// Text sorts A to Z first, figures largest first.
        var defaultDescending: Bool { self != .name }
    }

    var column: Column
    var descending: Bool

    /// By revenue, largest first.
    static let byRevenue = TableOrder(column: .revenue, descending: true)

    /// Reads `sort` and `dir`; an unknown value falls back to the default.
    init(sort: String?, direction: String?) {
        let column = sort.flatMap(Column.init(rawValue:)) ?? .revenue
        self.column = column
        switch direction {
        case "asc": descending = false
        case "desc": descending = true
        default: descending = column.defaultDescending
        }
    }

    init(column: Column, descending: Bool) {
        self.column = column
        self.descending = descending
    }

    /// The rows in this order; ties keep the report's order (by name).
    func sorted(_ rows: [MarginRow], name: (MarginRow) -> String) -> [MarginRow] {
        let indexed = Array(rows.enumerated())
        return indexed.sorted { lhs, rhs in
            let order = compare(lhs.element, rhs.element, name: name)
            if order == 0 { return lhs.offset < rhs.offset }
            return descending ? order > 0 : order < 0
        }.map(\.element)
    }

    /// -1, 0 or 1.
    private func compare(_ lhs: MarginRow, _ rhs: MarginRow, name: (MarginRow) -> String) -> Int {
        func sign<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : a > b ? 1 : 0 }
        let (a, b) = (lhs.totals, rhs.totals)
        switch column {
        case .name: return sign(name(lhs), name(rhs))
        case .requests: return sign(a.requests, b.requests)
        case .errors: return sign(a.errors, b.errors)
        case .input: return sign(a.inputTokens, b.inputTokens)
        case .cached: return sign(a.cacheReadTokens, b.cacheReadTokens)
        case .output: return sign(a.outputTokens, b.outputTokens)
        case .revenue: return sign(a.revenue, b.revenue)
        case .cost: return sign(a.cost, b.cost)
        case .margin: return sign(Self.comparableMargin(lhs), Self.comparableMargin(rhs))
        case .marginPercent: return sign(Self.marginHundredths(lhs), Self.marginHundredths(rhs))
        }
    }

    /// The margin, lowest possible when it has no meaning (revenue and cost in different currencies).
    private static func comparableMargin(_ row: MarginRow) -> Int128 {
        row.currency == row.costCurrency ? row.totals.margin.raw : Int128.min
    }

    /// The margin percentage in hundredths (lowest possible without one).
    private static func marginHundredths(_ row: MarginRow) -> Int128 {
        guard row.currency == row.costCurrency, let text = row.totals.marginPercent else { return Int128.min }
        return Money(text).map { $0.raw / (Money.scale / 100) } ?? Int128.min
    }
}

// MARK: - What the pages show

/// A cap (or soft limit) and where it stands this period.
struct CapRow: Sendable {
    var status: LimitStatus
    /// The amount and the use as integers of the metric's unit (money in raw fixed-point units).
    var amount: Int128
    var used: Int128
}

/// A credit account and the customers drawing from it.
struct AccountRow: Sendable {
    var balance: CreditBalance
    var customers: [String]
}

/// Everything the overview shows.
struct OverviewData: Sendable {
    var range: DashboardRange
    var nowMs: Int64
    var currency: String
    /// Totals per currency pair (one, normally).
    var totals: [MarginRow]
    /// The chart's buckets in the main currency.
    var series: [ChartPoint]
    /// Rows in other currencies are left out of the chart and the top lists.
    var otherCurrencies: Bool
    var customers: [MarginRow]
    var models: [MarginRow]
    var order: TableOrder
    var caps: [CapRow]
    var accounts: [AccountRow]
    /// Accounts not read (more customers than the page shows).
    var accountsLeftOut: Int
}

/// Everything a customer's page shows.
struct CustomerData: Sendable {
    var id: String
    var record: CustomerRecord?
    var range: DashboardRange
    var nowMs: Int64
    var currency: String
    var totals: [MarginRow]
    var series: [ChartPoint]
    var otherCurrencies: Bool
    var models: [MarginRow]
    var order: TableOrder
    var caps: [CapRow]
    var account: AccountRow?
}

/// One page of a customer's events, newest first.
struct EventsData: Sendable {
    var id: String
    var nowMs: Int64
    var events: [UsageEvent]
    /// The cursor of the next (older) page, if there is one.
    var older: String?
    /// Whether this is not the newest page.
    var paged: Bool
}

extension Dashboard {
    /// The overview's figures.
    func overview(_ request: Request) async throws -> HTML {
        let query = request.uri.queryParameters
        let nowMs = now()
        let range = try DashboardRange.parse(
            range: query["range"].map(String.init), from: query["from"].map(String.init), to: query["to"].map(String.init), nowMs: nowMs)
        let order = TableOrder(sort: query["sort"].map(String.init), direction: query["dir"].map(String.init))
        let byCustomer = try await meter.marginReport(MarginQuery(fromMs: range.fromMs, toMs: range.toMs, by: [.customer]))
        let byModel = try await meter.marginReport(MarginQuery(fromMs: range.fromMs, toMs: range.toMs, by: [.model]))
        let (series, other) = try await series(range: range, customer: nil, totals: byCustomer.totals)
        let customers = try await meter.customers()
        let caps = try await capRows(meter.limits(), nowMs: nowMs)
        var accounts: [String: [String]] = [:]
        for customer in customers { accounts[customer.creditAccount, default: []].append(customer.id) }
        var balances: [AccountRow] = []
        let names = accounts.keys.sorted()
        for account in names.prefix(Self.maxTableRows) {
            guard let balance = try? await meter.balance(account: account, currency: currency, nowMs: nowMs) else { continue }
            if balance.granted != .zero || balance.overdraft != .zero || balance.reserved != .zero {
                balances.append(AccountRow(balance: balance, customers: accounts[account] ?? []))
            }
        }
        balances.sort { ($0.balance.available, $0.balance.account) < ($1.balance.available, $1.balance.account) }
        let data = OverviewData(
            range: range, nowMs: nowMs, currency: currency, totals: byCustomer.totals, series: series, otherCurrencies: other,
            customers: byCustomer.rows, models: byModel.rows, order: order, caps: caps, accounts: balances,
            accountsLeftOut: max(0, names.count - Self.maxTableRows))
        return DashboardPages.overview(data)
    }

    /// A customer's figures.
    func customer(_ id: String, _ request: Request) async throws -> HTML {
        let query = request.uri.queryParameters
        let nowMs = now()
        let range = try DashboardRange.parse(
            range: query["range"].map(String.init), from: query["from"].map(String.init), to: query["to"].map(String.init), nowMs: nowMs)
        let order = TableOrder(sort: query["sort"].map(String.init), direction: query["dir"].map(String.init))
        let record = try await requireCustomer(id)
        let byModel = try await meter.marginReport(MarginQuery(fromMs: range.fromMs, toMs: range.toMs, by: [.model], customer: id))
        let (series, other) = try await series(range: range, customer: id, totals: byModel.totals)
        let keyIDs = Set(try await meter.keys(customer: id).map(\.id))
        let applicable = try await meter.limits().filter { limit in
            switch limit.scope {
            case .customer: limit.scopeID == id
            case .team: record?.team != nil && limit.scopeID == record?.team
            case .key: keyIDs.contains(limit.scopeID)
            }
        }
        let caps = try await capRows(applicable, nowMs: nowMs)
        var account: AccountRow?
        let accountName = record?.creditAccount ?? CreditAccountOwner.customer.account(id)
        if let balance = try? await meter.balance(account: accountName, currency: currency, nowMs: nowMs) {
            account = AccountRow(balance: balance, customers: [id])
        }
        return DashboardPages.customer(
            CustomerData(
                id: id, record: record, range: range, nowMs: nowMs, currency: currency, totals: byModel.totals, series: series,
                otherCurrencies: other, models: byModel.rows, order: order, caps: caps, account: account))
    }

    /// A page of a customer's events, newest first, older than the `before` cursor (`<ms>.<event id>`).
    func events(_ id: String, _ request: Request) async throws -> HTML {
        let nowMs = now()
        _ = try await requireCustomer(id)
        var cursor: (ms: Int64, id: String)?
        if let text = request.uri.queryParameters["before"].map(String.init), !text.isEmpty {
            let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard let ms = Int64(parts[0]) else { throw DashboardError.badRequest("before: expected a cursor from an “older” link (got “\(text)”)") }
            cursor = (ms, parts.count > 1 ? String(parts[1]) : "")
        }
        let (events, more) = try await recentEvents(customer: id, before: cursor, limit: Self.eventsPerPage, nowMs: nowMs)
        let older = more ? events.last.map { "\($0.timestampMs).\($0.id)" } : nil
        return DashboardPages.events(EventsData(id: id, nowMs: nowMs, events: events, older: older, paged: cursor != nil))
    }

    /// The customer's record; 404 when the meter knows neither a customer nor any event of that id.
    func requireCustomer(_ id: String) async throws -> CustomerRecord? {
        let record = try await meter.customer(id: id)
        if record == nil, try await meter.events(customer: id, limit: 1).isEmpty {
            throw DashboardError(status: .notFound, message: "No customer “\(id)”: the meter has neither a customer nor an event of that id.")
        }
        return record
    }

    /// The chart's buckets in the main currency (the pricing currency, else the first the report has), and whether
    /// the report has rows in other currencies.
    func series(range: DashboardRange, customer: String?, totals: [MarginRow]) async throws -> ([ChartPoint], Bool) {
        let main = Self.mainCurrencies(totals, pricing: currency)
        let report = try await meter.marginReport(
            MarginQuery(fromMs: range.fromMs, toMs: range.toMs, by: [range.grain.dimension], customer: customer))
        var byLabel: [String: ChartPoint] = [:]
        for row in report.rows where row.currency == main.revenue && row.costCurrency == main.cost {
            let label = row.group[range.grain.dimension] ?? ""
            byLabel[label, default: ChartPoint(label: label, revenue: .zero, cost: .zero)].revenue += row.totals.revenue
            byLabel[label]?.cost += row.totals.cost
        }
        var labels = range.bucketLabels
        let known = Set(labels)
        labels += byLabel.keys.filter { !known.contains($0) }.sorted()  // events stamped after now
        let points = labels.map { byLabel[$0] ?? ChartPoint(label: $0, revenue: .zero, cost: .zero) }
        return (points, totals.count > 1)
    }

    /// The revenue and cost currency the chart and the top lists use: the pricing currency's pair when the report
    /// has it, else the largest by requests.
    static func mainCurrencies(_ totals: [MarginRow], pricing: String) -> (revenue: String, cost: String) {
        if let row = totals.first(where: { $0.currency == pricing && $0.costCurrency == pricing }) { return (row.currency, row.costCurrency) }
        if let row = totals.max(by: { $0.totals.requests < $1.totals.requests }) { return (row.currency, row.costCurrency) }
        return (pricing, pricing)
    }

    /// The caps and soft limits (not the per-minute rate limits) with their use this period, fullest first.
    func capRows(_ limits: [LimitRecord], nowMs: Int64) async throws -> [CapRow] {
        var rows: [CapRow] = []
        for limit in limits where !limit.isRateLimit {
            let status = try await meter.limitStatus(limit, nowMs: nowMs)
            rows.append(
                CapRow(
                    status: status, amount: Self.quantity(limit.amount, metric: limit.metric), used: Self.quantity(status.used, metric: limit.metric))
            )
        }
        return rows.sorted { lhs, rhs in
            let (a, b) = (Figures.shareTenths(lhs.used, of: lhs.amount), Figures.shareTenths(rhs.used, of: rhs.amount))
            return a != b ? a > b : (lhs.status.limit.scopeID, lhs.status.limit.id) < (rhs.status.limit.scopeID, rhs.status.limit.id)
        }
    }

    /// A limit's amount or use as an integer of its unit: money in raw fixed-point units.
    static func quantity(_ text: String, metric: LimitMetric) -> Int128 {
        metric == .money ? Money(text)?.raw ?? 0 : Int128(Int(text) ?? 0)
    }

    /// The customer's events older than `before` (all when `nil`), newest first, at most `limit`, and whether there
    /// are more. Reads windows growing sixteenfold back from the cursor until it has enough: a page reads about as
    /// many events as it shows, however long the history.
    func recentEvents(customer: String, before: (ms: Int64, id: String)?, limit: Int, nowMs: Int64) async throws -> ([UsageEvent], Bool) {
        let anchor = before?.ms ?? nowMs
        // A little past the cursor: `MeterStore.events` takes `Date`s, whose milliseconds may round down; the filter below
        // is what keeps the page exact.
        let until = before.map { Date(timeIntervalSince1970: Double($0.ms + 2) / 1000) }
        var span: Int64? = 60_000
        while true {
            let since = span.map { Date(timeIntervalSince1970: Double(anchor - $0 - 1) / 1000) }
            var found = try await meter.events(customer: customer, since: since, until: until)
            if let before { found = found.filter { ($0.timestampMs, $0.id) < (before.ms, before.id) } }
            if found.count > limit || span == nil {
                found.sort { ($0.timestampMs, $0.id) > ($1.timestampMs, $1.id) }
                return (Array(found.prefix(limit)), found.count > limit)
            }
            span = span.flatMap { $0 < 5 * 366 * DashboardRange.dayMs ? $0 * 16 : nil }
        }
    }
}
