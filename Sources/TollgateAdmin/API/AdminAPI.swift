import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TollgateBilling
import TollgateCore
import TollgateStore

/// Tollgate's admin API: customers, teams, virtual keys, credit grants, balances, ledgers, limits and alerts over
/// HTTP, on a listener of its own behind a bearer token.
///
/// Every change goes straight to the meter, which admission reads on every request, so it applies to the very next
/// request (also in another process sharing the meter file). JSON in and out: snake_case keys, money as decimal
/// strings, times in ISO 8601. Errors are `{"error":{"message","code","field"}}` with the status that fits.
///
/// ```swift
/// let api = AdminAPI(meter: meter, token: token, currency: "USD", creditUnit: nil, logger: logger)
/// let admin = Application(responder: api.responder(), configuration: .init(address: .hostname("127.0.0.1", port: 8788)))
/// ```
///
/// The routes are ``AdminRoute/all``; `GET /admin/openapi.json` describes them, docs/ADMIN-API.md shows each
/// with curl.
public struct AdminAPI: Sendable {
    let meter: MeterStore
    let tokenDigest: [UInt8]
    /// The dashboard's browser session, which the token middleware accepts on `/dashboard` pages.
    let dashboardSession: DashboardSession
    let currency: String
    let creditUnit: (name: String, value: Money)?
    let logger: Logger
    /// The text of `GET /metrics` (Prometheus' exposition format), or `nil` when metrics are off.
    let metrics: (@Sendable () async -> String)?
    /// The pricing rules in force (customers' billing cycles).
    let rules: @Sendable () -> PricingRules

    /// The largest request body read (1 MiB); a larger one is answered with 413.
    static let maxBodyBytes = 1 << 20

    /// Creates the API over a meter. `token` is what `Authorization: Bearer …` must carry on every route but
    /// `GET /admin/healthz`; `currency` is the grants' currency (`pricing.currency`); `creditUnit`, when
    /// configured, lets grants be given as a number of credits worth `value` each; `sessions` are the dashboard's
    /// session settings (the same as the ``Dashboard``'s).
    public init(
        meter: MeterStore, token: String, currency: String, creditUnit: (name: String, value: Money)?, logger: Logger,
        sessions: DashboardSessionSettings = DashboardSessionSettings(), metrics: (@Sendable () async -> String)? = nil,
        rules: @escaping @Sendable () -> PricingRules = { PricingRules() }
    ) {
        self.metrics = metrics
        self.rules = rules
        self.meter = meter
        self.tokenDigest = Array(SHA256.hash(data: Data(token.utf8)))
        self.dashboardSession = DashboardSession(token: token, meter: meter, settings: sessions)
        self.currency = currency
        self.creditUnit = creditUnit
        self.logger = logger
    }

    /// The admin router: the error shape and the token check, then every route of ``AdminRoute/all`` (and a 405 for
    /// the other methods on their paths).
    ///
    /// Routes another feature adds to it afterwards (the dashboard) get the same error shape and token check; then
    /// call `buildResponder()` on it.
    public func makeRouter() -> Router<AdminRequestContext> {
        let router = Router(context: AdminRequestContext.self)
        router.add(middleware: AdminErrorMiddleware(logger: logger))
        router.add(
            middleware: AdminTokenMiddleware(
                tokenDigest: tokenDigest, openPaths: Set(AdminRoute.all.filter { !$0.requiresToken }.map(\.path)), dashboard: dashboardSession))
        for route in AdminRoute.all {
            router.on(
                RouterPath(route.path), method: route.method,
                use: { request, context -> Response in
                    try await respond(to: route, request: request, context: context)
                })
        }
        let methodsByPath = Dictionary(grouping: AdminRoute.all, by: \.path).mapValues { $0.map(\.method) }
        for (path, served) in methodsByPath {
            for method in AdminRoute.knownMethods where !served.contains(method) {
                router.on(RouterPath(path), method: method, use: { _, _ -> Response in throw AdminError.methodNotAllowed(allowed: served) })
            }
        }
        return router
    }

    /// The responder for the admin listener, to pass to `Application(responder:configuration:…)`.
    public func responder() -> RouterResponder<AdminRequestContext> {
        makeRouter().buildResponder()
    }
}

// MARK: - Routes

/// One operation of the admin API. ``all`` is the one list of them: the router serves exactly these, and a test
/// checks that the OpenAPI document describes each, with its query parameters and body fields, and nothing more.
enum AdminRoute: Hashable, Sendable {
    case health
    case metrics
    case openAPI
    case customers, createCustomer, customer, updateCustomer
    case teams, createTeam, team, updateTeam
    case grants(CreditAccountOwner), createGrant(CreditAccountOwner), balance(CreditAccountOwner), ledger(CreditAccountOwner)
    case voidGrant
    case keys, createKey, revokeKey
    case limits, createLimit, removeLimit
    case alerts

    /// Every route, in the order the OpenAPI document lists them.
    static let all: [AdminRoute] =
        [.health, .metrics, .openAPI, .customers, .createCustomer, .customer, .updateCustomer, .teams, .createTeam, .team, .updateTeam]
        + CreditAccountOwner.allCases.flatMap { owner in [.grants(owner), .createGrant(owner), .balance(owner), .ledger(owner)] }
        + [.voidGrant, .keys, .createKey, .revokeKey, .limits, .createLimit, .removeLimit, .alerts]

    /// The methods answered with 405 on a route's path when the route does not serve them.
    static let knownMethods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]

    /// Its HTTP method.
    var method: HTTPRequest.Method {
        switch self {
        case .health, .metrics, .openAPI, .customers, .customer, .teams, .team, .grants, .balance, .ledger, .keys, .limits, .alerts: .get
        case .createCustomer, .createTeam, .createGrant, .voidGrant, .createKey, .createLimit: .post
        case .updateCustomer, .updateTeam: .patch
        case .revokeKey, .removeLimit: .delete
        }
    }

    /// Its path, with `{id}` for the path parameter (the syntax of OpenAPI and of Hummingbird's router alike).
    var path: String {
        switch self {
        case .health: "/admin/healthz"
        case .metrics: "/metrics"
        case .openAPI: "/admin/openapi.json"
        case .customers, .createCustomer: "/admin/v1/customers"
        case .customer, .updateCustomer: "/admin/v1/customers/{id}"
        case .teams, .createTeam: "/admin/v1/teams"
        case .team, .updateTeam: "/admin/v1/teams/{id}"
        case .grants(let owner), .createGrant(let owner): "/admin/v1/\(owner.collection)/{id}/grants"
        case .balance(let owner): "/admin/v1/\(owner.collection)/{id}/balance"
        case .ledger(let owner): "/admin/v1/\(owner.collection)/{id}/ledger"
        case .voidGrant: "/admin/v1/grants/{id}/void"
        case .keys, .createKey: "/admin/v1/keys"
        case .revokeKey: "/admin/v1/keys/{id}"
        case .limits, .createLimit: "/admin/v1/limits"
        case .removeLimit: "/admin/v1/limits/{id}"
        case .alerts: "/admin/v1/alerts"
        }
    }

    /// The query parameters it takes; any other is refused (400) so that a misspelt filter never widens a listing.
    var queryParameters: [String] {
        switch self {
        case .keys: ["customer"]
        case .ledger: ["limit"]
        case .limits: ["scope", "scope_id"]
        case .alerts: ["pending", "limit"]
        default: []
        }
    }

    /// The members of its JSON body; any other is refused (400) by name.
    var bodyFields: [String] {
        switch self {
        case .createCustomer: ["id", "name", "team", "models", "billing_cycle"]
        case .updateCustomer: ["name", "team", "models", "billing_cycle"]
        case .createTeam: ["id", "name"]
        case .updateTeam: ["name"]
        case .createGrant: ["amount", "credits", "priority", "effective", "expires", "note"]
        case .voidGrant: ["note"]
        case .createKey: ["customer", "name"]
        case .createLimit: ["scope", "scope_id", "metric", "period", "amount", "enforcement", "thresholds", "anchor", "note"]
        default: []
        }
    }

    /// Whether it needs the admin token: everything but the health check and the metrics (which scrapers fetch
    /// without one; bind the admin listener to a private address) does.
    var requiresToken: Bool { self != .health && self != .metrics }
}

extension CreditAccountOwner {
    /// The path segment of its collection (`customers`, `teams`) in the routes of grants, balances and ledgers.
    var collection: String { rawValue + "s" }
}

// MARK: - Dispatch

extension AdminAPI {
    /// Reads the route's query parameters and body (refusing any it does not take) and runs its handler.
    func respond(to route: AdminRoute, request: Request, context: AdminRequestContext) async throws -> Response {
        let id = context.parameters.get("id").map(PercentDecoding.decoded) ?? ""
        let query = try QueryParameters(request, allowed: route.queryParameters)
        let body = route.bodyFields.isEmpty ? RequestFields() : try await RequestFields(request, allowed: route.bodyFields)
        switch route {
        case .health: return try AdminJSON.response(["status": "ok"])
        case .metrics:
            guard let metrics else { throw AdminError.notFound("Metrics are turned off (metrics.enabled: false).") }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: await metrics())))
        case .openAPI:
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        case .customers: return try AdminJSON.response(["customers": try await meter.customers()])
        case .createCustomer: return try await createCustomer(body)
        case .customer: return try await customerDetail(id)
        case .updateCustomer: return try await updateCustomer(id, body)
        case .teams: return try AdminJSON.response(["teams": try await meter.teams()])
        case .createTeam: return try await createTeam(body)
        case .team: return try await teamDetail(id)
        case .updateTeam: return try await updateTeam(id, body)
        case .grants(let owner): return try await grants(owner, id)
        case .createGrant(let owner): return try await createGrant(owner, id, body)
        case .balance(let owner): return try AdminJSON.response(try await balance(of: account(owner, id)))
        case .ledger(let owner): return try await ledger(owner, id, query)
        case .voidGrant: return try await voidGrant(id, body)
        case .keys: return try AdminJSON.response(["keys": try await meter.keys(customer: query.string("customer"))])
        case .createKey: return try await createKey(body)
        case .revokeKey: return try await revokeKey(id)
        case .limits: return try await limits(query)
        case .createLimit: return try await createLimit(body)
        case .removeLimit: return try await removeLimit(id)
        case .alerts:
            let alerts: [AlertRecord] = try await meter.alerts(
                limit: query.integer("limit", in: 1...1000) ?? 100, pendingOnly: query.bool("pending") ?? false)
            return try AdminJSON.response(["alerts": alerts])
        }
    }

    /// Runs a meter change, answering what it refuses: 404 when something it names does not exist, 409 when it
    /// conflicts with what the meter holds, and `status` when a value is refused (the message says why, after `field`).
    func refusable<T>(as status: HTTPResponse.Status, field: String? = nil, _ change: () async throws(MeterError) -> T) async throws -> T {
        do throws(MeterError) {
            return try await change()
        } catch {
            switch error {
            case .notFound: throw AdminError.notFound(error.description)
            case .conflict(let message): throw AdminError.conflict(message)
            case .rejected(let message):
                throw AdminError(
                    status: status, message: field.map { "\($0): \(message)" } ?? message, code: status == .conflict ? "conflict" : "invalid_field",
                    field: field)
            case .cannotOpen, .writeFailed, .readFailed, .closed: throw error
            }
        }
    }

    /// Logs a change made through the API: the meter keeps no history of customers, keys and limits; the log does.
    func logChange(_ message: String) {
        logger.notice("admin: \(message)")
    }
}

// MARK: - Customers and teams

extension AdminAPI {
    func createCustomer(_ body: RequestFields) async throws -> Response {
        let id = try body.required("id")
        let (name, team, models) = (try body.string("name"), try body.string("team"), try body.modelPatterns("models"))
        let cycle = try body.billingCycle("billing_cycle")
        if try await meter.customer(id: id) != nil {
            throw AdminError.conflict("customer \(id) exists: change it with PATCH /admin/v1/customers/\(id)")
        }
        if let team, !team.isEmpty { try await requireTeam(team, field: "team") }
        let record = try await refusable(as: .badRequest, field: "id") { () async throws(MeterError) in
            try await meter.setCustomer(id: id, name: name, team: team, models: models, billingCycle: cycle)
        }
        logChange("created customer \(id)")
        return try AdminJSON.response(record, status: .created)
    }

    func updateCustomer(_ id: String, _ body: RequestFields) async throws -> Response {
        let (name, team, models) = (try body.string("name"), try body.string("team"), try body.modelPatterns("models"))
        let cycle = try body.billingCycle("billing_cycle")
        _ = try await requireCustomer(id)
        if let team, !team.isEmpty { try await requireTeam(team, field: "team") }
        let record = try await refusable(as: .conflict) { () async throws(MeterError) in
            try await meter.setCustomer(id: id, name: name, team: team, models: models, billingCycle: cycle)
        }
        logChange("updated customer \(id)")
        return try AdminJSON.response(record)
    }

    /// A customer with its balance (its team's pool when in a team), the limits that apply to it (its own, its
    /// team's and its keys') with their current status, and its keys.
    func customerDetail(_ id: String) async throws -> Response {
        let record = try await requireCustomer(id)
        let keys = try await meter.keys(customer: id)
        let keyIDs = Set(keys.map(\.id))
        let applicable = try await meter.limits().filter { limit in
            switch limit.scope {
            case .customer: limit.scopeID == id
            case .team: limit.scopeID == record.team
            case .key: keyIDs.contains(limit.scopeID)
            }
        }
        return try AdminJSON.response(
            CustomerDetail(
                customer: record, balance: try await balance(of: record.creditAccount), limits: try await statuses(of: applicable), keys: keys,
                billingCycle: ResolvedBillingCycle(rules().billingCycle(for: id, override: record.billingCycle), nowMs: Timestamps.nowMs())))
    }

    func createTeam(_ body: RequestFields) async throws -> Response {
        let (id, name) = (try body.required("id"), try body.string("name"))
        if try await meter.teams().contains(where: { $0.id == id }) {
            throw AdminError.conflict("team \(id) exists: change it with PATCH /admin/v1/teams/\(id)")
        }
        let record = try await refusable(as: .badRequest, field: "id") { () async throws(MeterError) in try await meter.setTeam(id: id, name: name) }
        logChange("created team \(id)")
        return try AdminJSON.response(record, status: .created)
    }

    func updateTeam(_ id: String, _ body: RequestFields) async throws -> Response {
        let name = try body.string("name")
        try await requireTeam(id)
        let record = try await refusable(as: .badRequest) { () async throws(MeterError) in try await meter.setTeam(id: id, name: name) }
        logChange("updated team \(id)")
        return try AdminJSON.response(record)
    }

    /// A team with its members, its pool's balance and its limits' status.
    func teamDetail(_ id: String) async throws -> Response {
        let record = try await requireTeam(id)
        let limits = try await statuses(of: meter.limits(scope: .team, scopeID: id))
        return try AdminJSON.response(TeamDetail(team: record, balance: try await balance(of: CreditAccountOwner.team.account(id)), limits: limits))
    }

    @discardableResult
    func requireCustomer(_ id: String, field: String? = nil) async throws -> CustomerRecord {
        guard let record = try await meter.customer(id: id) else {
            throw AdminError.notFound("no customer \(id) (create it with POST /admin/v1/customers)", field: field)
        }
        return record
    }

    @discardableResult
    func requireTeam(_ id: String, field: String? = nil) async throws -> TeamRecord {
        guard let record = try await meter.teams().first(where: { $0.id == id }) else {
            throw AdminError.notFound("no team \(id) (create it with POST /admin/v1/teams)", field: field)
        }
        return record
    }
}

// MARK: - Credits

extension AdminAPI {
    /// The credit account a customer draws from (its team's pool when in a team) or a team's; 404 when unknown.
    func account(_ owner: CreditAccountOwner, _ id: String) async throws -> String {
        switch owner {
        case .customer: return try await requireCustomer(id).creditAccount
        case .team:
            try await requireTeam(id)
            return CreditAccountOwner.team.account(id)
        }
    }

    func balance(of account: String) async throws -> CreditBalance {
        try await meter.balance(account: account, currency: currency)
    }

    func grants(_ owner: CreditAccountOwner, _ id: String) async throws -> Response {
        let account = try await account(owner, id)
        return try AdminJSON.response(GrantList(account: account, grants: try await balance(of: account).grants))
    }

    func createGrant(_ owner: CreditAccountOwner, _ id: String, _ body: RequestFields) async throws -> Response {
        let (amount, unit) = try grantAmount(body)
        let priority = try body.integer("priority") ?? 10
        let (effective, expires, note) = (try body.time("effective"), try body.time("expires"), try body.string("note"))
        let start = effective ?? Timestamps.nowMs()
        if let expires, expires <= start {
            throw AdminError.invalid("expires", "must be after the grant takes effect (\(Timestamps.iso8601(start)))")
        }
        let account: String
        switch owner {
        case .customer:
            if let team = try await requireCustomer(id).team {
                throw AdminError.conflict(
                    "customer \(id) is in team \(team) and draws from the team's pool: grant to the team (POST /admin/v1/teams/\(team)/grants)")
            }
            account = CreditAccountOwner.customer.account(id)
        case .team:
            account = try await self.account(.team, id)
        }
        let grant = try await refusable(as: .conflict) { () async throws(MeterError) in
            try await meter.grantCredits(
                account: account, amount: amount, currency: currency, priority: priority, effectiveMs: effective, expiresMs: expires, note: note,
                unit: unit)
        }
        logChange("granted \(amount) \(currency) to \(account) (\(grant.id))")
        return try AdminJSON.response(grant, status: .created)
    }

    /// The grant's amount in the currency, from `amount` or from `credits` × the credit unit's value.
    func grantAmount(_ body: RequestFields) throws(AdminError) -> (amount: Money, unit: (name: String, amount: String)?) {
        switch (try body.money("amount"), try body.decimal("credits")) {
        case (.some, .some):
            throw AdminError.invalid("credits", "give amount or credits, not both")
        case (nil, nil):
            throw AdminError.missing("amount", hint: creditUnit.map { " (or credits, a number of \($0.name) units)" } ?? "")
        case (let amount?, nil):
            guard amount > .zero else { throw AdminError.invalid("amount", "must be positive (got \(amount))") }
            return (amount, nil)
        case (nil, let credits?):
            guard let creditUnit else {
                throw AdminError.invalid(
                    "credits", "no credit unit is configured (credits.unit in the config): give amount, in \(currency)")
            }
            guard let ratio = DecimalRatio(credits), ratio.numerator > 0 else {
                throw AdminError.invalid("credits", "must be a positive number of credits with at most 9 decimals (got \(credits))")
            }
            let amount = creditUnit.value.multiplied(by: ratio)
            guard amount > .zero else { throw AdminError.invalid("credits", "\(credits) \(creditUnit.name) is worth nothing") }
            return (amount, (creditUnit.name, ratio.description))
        }
    }

    func voidGrant(_ id: String, _ body: RequestFields) async throws -> Response {
        let note = try body.string("note")
        try await refusable(as: .conflict) { () async throws(MeterError) in try await meter.voidGrant(id: id, note: note) }
        logChange("voided grant \(id)")
        return try AdminJSON.response(VoidedGrant(id: id, closedReason: .voided))
    }

    func ledger(_ owner: CreditAccountOwner, _ id: String, _ query: QueryParameters) async throws -> Response {
        let account = try await account(owner, id)
        let entries = try await meter.ledger(account: account, limit: query.integer("limit", in: 1...10_000) ?? 100)
        return try AdminJSON.response(LedgerPage(account: account, entries: entries))
    }
}

// MARK: - Keys

extension AdminAPI {
    func createKey(_ body: RequestFields) async throws -> Response {
        let (customer, name) = (try body.required("customer"), try body.string("name"))
        try await requireCustomer(customer, field: "customer")
        let (key, secret) = try await meter.createKey(customer: customer, name: name)
        logChange("created key \(key.id) for customer \(customer)")
        return try AdminJSON.response(CreatedKey(key: key, secret: secret), status: .created)
    }

    func revokeKey(_ id: String) async throws -> Response {
        guard let key = try await meter.keys().first(where: { $0.id == id }) else { throw AdminError.notFound("no key \(id)") }
        if let revoked = key.revokedMs { throw AdminError.conflict("key \(id) was revoked at \(Timestamps.iso8601(revoked))") }
        try await refusable(as: .conflict) { () async throws(MeterError) in try await meter.revokeKey(id: id) }
        logChange("revoked key \(id)")
        return try AdminJSON.response(try await meter.keys(customer: key.customer).first { $0.id == id } ?? key)
    }
}

// MARK: - Limits and alerts

extension AdminAPI {
    func statuses(of limits: [LimitRecord]) async throws -> [LimitStatus] {
        var statuses: [LimitStatus] = []
        for limit in limits { statuses.append(try await meter.limitStatus(limit)) }
        return statuses
    }

    func limits(_ query: QueryParameters) async throws -> Response {
        let scope = try query.choice("scope", from: LimitScope.allCases)
        return try AdminJSON.response(["limits": try await statuses(of: meter.limits(scope: scope, scopeID: query.string("scope_id")))])
    }

    func createLimit(_ body: RequestFields) async throws -> Response {
        let scope = try body.required("scope", from: LimitScope.allCases)
        let scopeID = try body.required("scope_id")
        let metric = try body.required("metric", from: LimitMetric.allCases)
        let period = try body.required("period", from: LimitPeriod.allCases)
        let amount: String
        switch metric {
        case .money:
            guard let money = try body.money("amount") else { throw AdminError.missing("amount") }
            guard money > .zero else { throw AdminError.invalid("amount", "a money limit must be positive (got \(money))") }
            if period == .minute { throw AdminError.invalid("period", "per-minute limits are rate limits on requests or tokens, not money") }
            amount = money.description
        case .tokens, .requests:
            guard let text = try body.decimal("amount") else { throw AdminError.missing("amount") }
            guard let count = Int(text), count > 0 else {
                throw AdminError.invalid("amount", "a \(metric.rawValue) limit is a positive whole number (got \(text))")
            }
            amount = String(count)
        }
        let enforcement = try body.choice("enforcement", from: [Enforcement.hard, .soft]) ?? .hard
        let thresholds = try body.integers("thresholds") ?? [50, 80, 100]
        if let wrong = thresholds.first(where: { !(1...1000).contains($0) }) {
            throw AdminError.invalid("thresholds", "are percentages of the amount from 1 to 1000 (got \(wrong))")
        }
        let (anchor, note) = (try body.time("anchor"), try body.string("note"))
        switch scope {
        case .customer: try await requireCustomer(scopeID, field: "scope_id")
        case .team: try await requireTeam(scopeID, field: "scope_id")
        case .key:
            guard try await meter.keys().contains(where: { $0.id == scopeID }) else {
                throw AdminError.notFound("no key \(scopeID)", field: "scope_id")
            }
        }
        let record = try await refusable(as: .badRequest) { () async throws(MeterError) in
            try await meter.addLimit(
                scope: scope, scopeID: scopeID, metric: metric, period: period, amount: amount, enforcement: enforcement, thresholds: thresholds,
                anchorMs: anchor, note: note)
        }
        logChange("added \(record.describe(currency: currency))")
        return try AdminJSON.response(try await meter.limitStatus(record), status: .created)
    }

    func removeLimit(_ id: String) async throws -> Response {
        guard let limit = try await meter.limits().first(where: { $0.id == id }) else { throw AdminError.notFound("no limit \(id)") }
        try await refusable(as: .conflict) { () async throws(MeterError) in try await meter.removeLimit(id: id) }
        logChange("removed \(limit.describe(currency: currency))")
        return try AdminJSON.response(limit)
    }
}

// MARK: - Response bodies

/// `GET /admin/v1/customers/{id}`.
struct CustomerDetail: Encodable {
    let customer: CustomerRecord
    let balance: CreditBalance
    let limits: [LimitStatus]
    let keys: [VirtualKey]
    /// The cycle that applies (the customer's own or the config's), where it is set, and the period in progress.
    let billingCycle: ResolvedBillingCycle

    enum CodingKeys: String, CodingKey {
        case customer, balance, limits, keys
        case billingCycle = "billing_cycle"
    }
}

/// `GET /admin/v1/teams/{id}`.
struct TeamDetail: Encodable {
    let team: TeamRecord
    let balance: CreditBalance
    let limits: [LimitStatus]
}

/// `GET …/grants`: the grants of the account, in spending order.
struct GrantList: Encodable {
    let account: String
    let grants: [CreditGrant]
}

/// `GET …/ledger`.
struct LedgerPage: Encodable {
    let account: String
    let entries: [LedgerEntry]
}

/// `POST /admin/v1/grants/{id}/void`.
struct VoidedGrant: Encodable {
    let id: String
    let closedReason: CreditGrant.ClosedReason
}

/// `POST /admin/v1/keys`: the key's members and, this once, its secret.
struct CreatedKey: Encodable {
    let key: VirtualKey
    let secret: String

    enum CodingKeys: String, CodingKey { case secret }

    func encode(to encoder: any Encoder) throws {
        try key.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(secret, forKey: .secret)
    }
}

/// JSON as the admin API writes it: snake_case keys, money as decimal strings (``Money``'s own encoding), times in
/// ISO 8601. The meter's records carry times as `X_ms` milliseconds; each becomes `X` (`created_ms` → `created`,
/// `period_start_ms` → `period_start`), the same names the API reads times under (`effective`, `expires`,
/// `anchor`).
enum AdminJSON {
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: try data(value))))
    }

    static func data(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let tree = try JSONSerialization.jsonObject(with: try encoder.encode(value), options: .fragmentsAllowed)
        return try JSONSerialization.data(withJSONObject: isoTimes(tree), options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
    }

    /// The tree with every `X_ms` integer member replaced by `X`, an ISO 8601 time.
    static func isoTimes(_ tree: Any) -> Any {
        if let array = tree as? [Any] { return array.map(isoTimes) }
        guard let object = tree as? [String: Any] else { return tree }
        var result: [String: Any] = [:]
        for (key, value) in object {
            if key.hasSuffix("_ms"), let milliseconds = (value as? Int).map(Int64.init) ?? (value as? NSNumber)?.int64Value {
                result[String(key.dropLast(3))] = Timestamps.iso8601(milliseconds)
            } else {
                result[key] = isoTimes(value)
            }
        }
        return result
    }
}

// MARK: - Errors

/// An admin API error: a status, a message a person can act on, a machine-readable code and, for bad input, the
/// field it is about. Answered as `{"error":{"message","code","field"}}`.
struct AdminError: Error, Sendable {
    let status: HTTPResponse.Status
    let message: String
    let code: String
    var field: String?
    var headers: HTTPFields = [:]

    /// 400: a field has a value the operation cannot take.
    static func invalid(_ field: String, _ why: String) -> AdminError {
        AdminError(status: .badRequest, message: "\(field): \(why)", code: "invalid_field", field: field)
    }

    /// The value of `values` written `text`, or 400 listing them.
    static func pick<T: RawRepresentable>(_ field: String, _ text: String, from values: [T]) throws(AdminError) -> T where T.RawValue == String {
        guard let value = values.first(where: { $0.rawValue == text }) else {
            throw invalid(field, "must be one of \(values.map(\.rawValue).joined(separator: ", ")) (got \"\(text)\")")
        }
        return value
    }

    /// 400: a required field is missing.
    static func missing(_ field: String, hint: String = "") -> AdminError {
        AdminError(status: .badRequest, message: "\(field): required\(hint)", code: "missing_field", field: field)
    }

    /// 404: the thing named does not exist.
    static func notFound(_ message: String, field: String? = nil) -> AdminError {
        AdminError(status: .notFound, message: message, code: "not_found", field: field)
    }

    /// 409: the change conflicts with what the meter holds.
    static func conflict(_ message: String) -> AdminError {
        AdminError(status: .conflict, message: message, code: "conflict")
    }

    /// 401, with the scheme the client should use.
    static func unauthorized(_ message: String) -> AdminError {
        AdminError(
            status: .unauthorized, message: message, code: "unauthorized", headers: [.wwwAuthenticate: "Bearer realm=\"tollgate-admin\""])
    }

    /// 405, with the methods the path serves.
    static func methodNotAllowed(allowed: [HTTPRequest.Method]) -> AdminError {
        let names = allowed.map(\.rawValue).joined(separator: ", ")
        return AdminError(
            status: .methodNotAllowed, message: "this path serves \(names) only", code: "method_not_allowed", headers: [.allow: names])
    }

    /// Any error met while answering, in the admin shape: Hummingbird's own (an unknown route, a body over the
    /// limit), the meter's, or an unexpected one (500).
    init(_ error: any Error, path: String) {
        switch error {
        case let error as AdminError:
            self = error
        case let error as MeterError:
            switch error {
            case .notFound: self = .notFound(error.description)
            case .rejected(let message), .conflict(let message): self = .conflict(message)
            case .cannotOpen, .writeFailed, .readFailed, .closed:
                self.init(status: .internalServerError, message: error.description, code: "meter_error")
            }
        case let error as any HTTPResponseError:
            switch error.status {
            case .notFound: self = .notFound("no admin route \(path) (GET /admin/openapi.json lists them)")
            case .contentTooLarge:
                self.init(status: .contentTooLarge, message: "the body is larger than \(AdminAPI.maxBodyBytes) bytes", code: "body_too_large")
            default:
                self.init(
                    status: error.status, message: error.status.reasonPhrase,
                    code: error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"))
            }
        default:
            self.init(status: .internalServerError, message: "internal error: \(error)", code: "internal_error")
        }
    }

    init(status: HTTPResponse.Status, message: String, code: String, field: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.code = code
        self.field = field
        self.headers = headers
    }

    var response: Response {
        struct Body: Encodable {
            struct Detail: Encodable {
                let message: String
                let code: String
                let field: String?
            }
            let error: Detail
        }
        var fields = headers
        fields[.contentType] = "application/json"
        let data = (try? AdminJSON.data(Body(error: .init(message: message, code: code, field: field)))) ?? Data()
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Answers every error of the admin listener in the admin shape, and logs the unexpected ones.
struct AdminErrorMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let failure = AdminError(error, path: request.uri.path)
            if failure.status.code >= 500 {
                logger.error("admin request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            return failure.response
        }
    }
}

/// Lets a request through only with `Authorization: Bearer <admin token>`, compared in constant time (as SHA-256
/// digests, so that neither the content nor the length of the token leaks through timing); `openPaths` need none.
///
/// Dashboard pages (under `/dashboard`) also pass with a valid session cookie (signed, not expired, not revoked: see
/// ``DashboardSession``); a browser with neither such a cookie nor an `Authorization` header is sent to the login
/// form (303) rather than answered 401. The login form and logout need nothing.
struct AdminTokenMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext
    let tokenDigest: [UInt8]
    let openPaths: Set<String>
    var dashboard: DashboardSession? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let dashboard, DashboardSession.covers(request.uri.path) {
            if DashboardSession.isOpen(request.uri.path) { return try await next(request, context) }
            if await dashboard.session(of: request) != nil { return try await next(request, context) }
            if request.headers[.authorization] == nil { return DashboardSession.loginRedirect(for: request) }
        }
        if !openPaths.contains(request.uri.path) {
            guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
                throw AdminError.unauthorized("missing admin token: send Authorization: Bearer <token>")
            }
            let presented = Array(SHA256.hash(data: Data(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)))
            guard zip(presented, tokenDigest).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
                throw AdminError.unauthorized("wrong admin token")
            }
        }
        return try await next(request, context)
    }
}

// MARK: - Reading input

/// A JSON value as a request carries it, kept apart enough to say what a field holds when it is the wrong kind.
/// Fractional numbers are not kept: no amount in the admin API passes through floating point.
enum JSONInput: Decodable {
    case null
    case bool(Bool)
    case integer(Int)
    case fraction
    case string(String)
    case array([JSONInput])
    case object([String: JSONInput])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if (try? container.decode(Double.self)) != nil {
            self = .fraction
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONInput].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONInput].self))
        }
    }

    /// What it is, for messages: "a number", "an array", …
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .fraction: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// The members of a request's JSON body, read strictly: a member the operation does not take is refused by name (a
/// typo must not pass silently), and a member of the wrong kind is refused saying what it should be. `null` reads
/// as absent.
struct RequestFields {
    private let members: [String: JSONInput]

    /// No body.
    init() { members = [:] }

    /// Reads the body (at most ``AdminAPI/maxBodyBytes``; an empty body is `{}`).
    init(_ request: Request, allowed: [String]) async throws {
        let buffer = try await request.body.collect(upTo: AdminAPI.maxBodyBytes)
        guard buffer.readableBytes > 0 else {
            members = [:]
            return
        }
        let data = Data(buffer.readableBytesView)
        guard let value = try? JSONDecoder().decode(JSONInput.self, from: data) else {
            throw AdminError(status: .badRequest, message: "the body is not valid JSON", code: "invalid_json")
        }
        guard case .object = value, let members = try? JSONDecoder().decode([String: JSONInput].self, from: data) else {
            throw AdminError(status: .badRequest, message: "the body must be a JSON object, not \(value.kind)", code: "invalid_json")
        }
        if let unknown = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw AdminError(
                status: .badRequest, message: "\(unknown): unknown field (this operation takes \(allowed.joined(separator: ", ")))",
                code: "unknown_field", field: unknown)
        }
        self.members = members
    }

    private func value(_ name: String) -> JSONInput? {
        if case .null? = members[name] { return nil }
        return members[name]
    }

    /// `billing_cycle`: `{"cadence": "month", "anchor": "15", "time": "00:00", "time_zone": "America/New_York"}` sets
    /// the customer's own cycle, `"default"` removes it (the config's applies again); absent or `null` leaves it.
    func billingCycle(_ name: String) throws(AdminError) -> BillingCycle?? {
        switch value(name) {
        case nil: return nil
        case .string("default"): return .some(nil)
        case .object(let members):
            let allowed = ["cadence", "anchor", "time", "time_zone"]
            var fields: [String: String] = [:]
            for (key, member) in members {
                guard allowed.contains(key) else {
                    throw AdminError.invalid(name, "\(key) is not a field of a billing cycle (\(allowed.joined(separator: ", ")))")
                }
                switch member {
                case .string(let text): fields[key] = text
                case .integer(let number): fields[key] = String(number)
                case .null: break
                default: throw AdminError.invalid(name, "\(key) must be a string, not \(member.kind)")
                }
            }
            guard let cadence = fields["cadence"] else { throw AdminError.invalid(name, "needs a cadence: week, month or year") }
            do {
                return .some(try BillingCycle(cadence: cadence, anchor: fields["anchor"], time: fields["time"], timeZone: fields["time_zone"]))
            } catch {
                throw AdminError.invalid(name, error.description)
            }
        case let other?:
            throw AdminError.invalid(name, "must be an object {cadence, anchor, time, time_zone} or \"default\", not \(other.kind)")
        }
    }

    func string(_ name: String) throws(AdminError) -> String? {
        switch value(name) {
        case nil: return nil
        case .string(let text): return text
        case let other?: throw AdminError.invalid(name, "must be a string, not \(other.kind)")
        }
    }

    func required(_ name: String) throws(AdminError) -> String {
        guard let text = try string(name), !text.isEmpty else { throw AdminError.missing(name) }
        return text
    }

    func integer(_ name: String) throws(AdminError) -> Int? {
        switch value(name) {
        case nil: return nil
        case .integer(let number): return number
        case let other?: throw AdminError.invalid(name, "must be a whole number, not \(other.kind)")
        }
    }

    func integers(_ name: String) throws(AdminError) -> [Int]? {
        switch value(name) {
        case nil: return nil
        case .array(let items):
            return try items.map { item throws(AdminError) in
                guard case .integer(let number) = item else { throw AdminError.invalid(name, "must be an array of whole numbers") }
                return number
            }
        case let other?: throw AdminError.invalid(name, "must be an array of whole numbers, not \(other.kind)")
        }
    }

    /// Model patterns (`gpt-4o*`); `[]` means every model.
    func modelPatterns(_ name: String) throws(AdminError) -> [String]? {
        switch value(name) {
        case nil: return nil
        case .array(let items):
            return try items.map { item throws(AdminError) in
                guard case .string(let pattern) = item, !pattern.isEmpty else {
                    throw AdminError.invalid(name, "must be an array of model patterns such as \"gpt-4o*\" ([] allows every model)")
                }
                return pattern
            }
        case let other?: throw AdminError.invalid(name, "must be an array of model patterns, not \(other.kind)")
        }
    }

    /// An amount of money: a decimal string, never a JSON number.
    func money(_ name: String) throws(AdminError) -> Money? {
        switch value(name) {
        case nil: return nil
        case .string(let text):
            guard let amount = Money(text) else {
                throw AdminError.invalid(name, "must be a decimal string such as \"25.00\" (got \"\(text)\")")
            }
            return amount
        case let other?: throw AdminError.invalid(name, "must be a decimal string such as \"25.00\", not \(other.kind)")
        }
    }

    /// A decimal quantity as text: a decimal string or a whole JSON number.
    func decimal(_ name: String) throws(AdminError) -> String? {
        switch value(name) {
        case nil: return nil
        case .string(let text): return text
        case .integer(let number): return String(number)
        case let other?:
            throw AdminError.invalid(name, "must be a whole number or a decimal string such as \"2.5\", not \(other.kind)")
        }
    }

    /// A time in ISO 8601 (`2026-11-21T10:00:00Z`, or a date `2026-11-21`, midnight UTC).
    func time(_ name: String) throws(AdminError) -> Int64? {
        guard let text = try string(name) else { return nil }
        guard let milliseconds = Timestamps.parse(text) else {
            throw AdminError.invalid(name, "must be an ISO 8601 time such as \"2026-11-21T10:00:00Z\" or a date \"2026-11-21\" (got \"\(text)\")")
        }
        return milliseconds
    }

    /// One of `values` (an enumeration's), by its raw value.
    func choice<T: RawRepresentable>(_ name: String, from values: [T]) throws(AdminError) -> T? where T.RawValue == String {
        try string(name).map { text throws(AdminError) in try AdminError.pick(name, text, from: values) }
    }

    func required<T: RawRepresentable>(_ name: String, from values: [T]) throws(AdminError) -> T where T.RawValue == String {
        guard let value = try choice(name, from: values) else { throw AdminError.missing(name) }
        return value
    }
}

/// A request's query parameters, read strictly like ``RequestFields``.
struct QueryParameters {
    private let values: [String: String]

    init(_ request: Request, allowed: [String]) throws(AdminError) {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            let name = PercentDecoding.decoded(key)
            guard allowed.contains(name) else {
                let takes = allowed.isEmpty ? "none" : allowed.joined(separator: ", ")
                throw AdminError(
                    status: .badRequest, message: "\(name): unknown query parameter (this operation takes \(takes))", code: "unknown_field",
                    field: name)
            }
            values[name] = String(value)
        }
        self.values = values
    }

    func string(_ name: String) -> String? {
        values[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws(AdminError) -> Int? {
        guard let text = string(name) else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw AdminError.invalid(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound) (got \"\(text)\")")
        }
        return number
    }

    func bool(_ name: String) throws(AdminError) -> Bool? {
        switch string(name) {
        case nil: return nil
        case "true", "1": return true
        case "false", "0": return false
        case let text?: throw AdminError.invalid(name, "must be true or false (got \"\(text)\")")
        }
    }

    func choice<T: RawRepresentable>(_ name: String, from values: [T]) throws(AdminError) -> T? where T.RawValue == String {
        try string(name).map { text throws(AdminError) in try AdminError.pick(name, text, from: values) }
    }
}
