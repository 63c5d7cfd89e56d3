import Foundation
import Hummingbird
import NIOCore
import TollgateCore
import TollgateStore

/// `/tollgate/v1/limits` with a customer's own virtual key: the customer steers its own spend (docs/CREDITS.md,
/// "Limits customers set themselves").
///
/// - `GET` lists every limit on the customer (the operator's and its own, on it, its team and its keys) with its use in
///   the current period;
/// - `POST {"metric", "period", "amount", "enforcement", "thresholds"}` adds a limit of the customer's own: a cap
///   (`hard`, the default) or alerts only (`soft`), per `day`, `week` or `month`; a cap must be below the operator's
///   cap on the same metric and period, if there is one (the operator's cap already holds above it);
/// - `DELETE /tollgate/v1/limits/{id}` removes one of its own limits, never the operator's.
///
/// Alerts of a customer's limits go through the operator's alert webhook like every alert (the limit's `set_by` says who set it).
struct CustomerLimits: Sendable {
    static let path = "/tollgate/v1/limits"
    /// The most limits a customer may set for itself.
    static let maxOwnLimits = 20

    let meter: MeterStore
    let currency: String

    struct NewLimit: Decodable {
        var metric: String
        var period: String
        var amount: String
        var enforcement: String?
        var thresholds: [Int]?
    }

    /// Answers a request on `path` or below it.
    func respond(principal: Principal, method: HTTPRequest.Method, path: String, body: ByteBuffer, nowMs: Int64) async throws -> Response {
        do {
            if path == Self.path, method == .get { return try await list(principal, nowMs: nowMs) }
            if path == Self.path, method == .post { return try await add(principal, body: body, nowMs: nowMs) }
            if path.hasPrefix(Self.path + "/"), method == .delete {
                return try await remove(principal, id: String(path.dropFirst(Self.path.count + 1)))
            }
        } catch let error as ErrorResponse {
            throw error
        } catch let error as MeterError {
            if case .rejected(let reason) = error { throw ErrorResponse.badRequest(reason, code: "invalid_limit") }
            throw ErrorResponse(status: .serviceUnavailable, message: "The meter is unavailable.", type: "server_error", code: "meter_unavailable")
        }
        let allow = path == Self.path ? "GET, POST" : "DELETE"
        throw ErrorResponse.methodNotAllowed("\(method.rawValue) \(path) is not allowed here (\(allow)).", allow: allow)
    }

    /// The limits that apply to the customer: its own, its team's and its keys', each with its current use.
    func applicable(_ principal: Principal) async throws -> [LimitRecord] {
        var limits = try await meter.limits(scope: .customer, scopeID: principal.customer)
        if let team = principal.team { limits += try await meter.limits(scope: .team, scopeID: team) }
        for key in try await meter.keys(customer: principal.customer) { limits += try await meter.limits(scope: .key, scopeID: key.id) }
        return limits
    }

    func list(_ principal: Principal, nowMs: Int64) async throws -> Response {
        var statuses: [LimitStatus] = []
        for limit in try await applicable(principal) { statuses.append(try await meter.limitStatus(limit, nowMs: nowMs)) }
        return try Response.json(["limits": statuses])
    }

    func add(_ principal: Principal, body: ByteBuffer, nowMs: Int64) async throws -> Response {
        let input: NewLimit
        do {
            input = try JSONDecoder().decode(NewLimit.self, from: Data(body.readableBytesView))
        } catch {
            throw ErrorResponse.badRequest(
                "The body must be a JSON object {\"metric\": \"money\", \"period\": \"month\", \"amount\": \"50\"} "
                    + "(optional: \"enforcement\": \"hard\"|\"soft\", \"thresholds\": [50, 80, 100]).", code: "invalid_limit")
        }
        guard let metric = LimitMetric(rawValue: input.metric) else {
            throw ErrorResponse.badRequest("metric is money, tokens or requests (not '\(input.metric)').", code: "invalid_limit")
        }
        guard let period = LimitPeriod.parse(input.period), [.day, .week, .month].contains(period) else {
            throw ErrorResponse.badRequest(
                "period is day, week or month (not '\(input.period)'); rate limits per minute are set by the operator.", code: "invalid_limit")
        }
        guard let enforcement = Enforcement(rawValue: input.enforcement ?? "hard") else {
            throw ErrorResponse.badRequest("enforcement is hard (a cap) or soft (alerts only).", code: "invalid_limit")
        }
        let existing = try await applicable(principal)
        guard existing.count(where: { $0.setBy == .customer }) < Self.maxOwnLimits else {
            throw ErrorResponse.badRequest("At most \(Self.maxOwnLimits) limits of your own: remove one first.", code: "too_many_limits")
        }
        if enforcement == .hard, let requested = LimitQuantity.parse(input.amount, metric: metric),
            let ceiling = existing.filter({
                $0.setBy == .operator && $0.enforcement == .hard && $0.metric == metric && $0.period == period && $0.scope != .key
            }).min(by: { $0.quantity < $1.quantity }),
            requested >= ceiling.quantity
        {
            throw ErrorResponse.badRequest(
                "A cap of your own must be below your operator's \(ceiling.describe(currency: currency)): \(input.amount) is not.",
                code: "above_operator_cap")
        }
        let limit = try await meter.addLimit(
            scope: .customer, scopeID: principal.customer, metric: metric, period: period, amount: input.amount, enforcement: enforcement,
            thresholds: input.thresholds ?? [50, 80, 100], note: "set by the customer with key \(principal.key.id)", setBy: .customer)
        return try Response.json(try await meter.limitStatus(limit, nowMs: nowMs), status: .created)
    }

    func remove(_ principal: Principal, id: String) async throws -> Response {
        guard let limit = try await applicable(principal).first(where: { $0.id == id }) else {
            throw ErrorResponse(status: .notFound, message: "No limit \(id) on your account.", type: "invalid_request_error", code: "limit_not_found")
        }
        guard limit.setBy == .customer else {
            throw ErrorResponse(
                status: .forbidden, message: "Limit \(id) was set by your operator: only the operator can change it.", type: "invalid_request_error",
                code: "operator_limit")
        }
        try await meter.removeLimit(id: id)
        return try Response.json(["removed": id])
    }
}
