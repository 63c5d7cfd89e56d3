import Foundation
import Hummingbird
import NIOCore
import TollgateCore
import TollgateStore

/// `GET /tollgate/v1/usage` with a customer's own virtual key: the current period's consumption by model, the credit
/// balance, every limit's use and what is left, and the period's projected price at the current rate
/// (docs/CREDITS.md, "Customer usage view").
struct UsageView: Sendable {
    static let path = "/tollgate/v1/usage"

    let meter: MeterStore
    let currency: String
    /// The pricing rules in force (for the customer's billing cycle).
    let rules: PricingRules

    struct Body: Encodable {
        struct Period: Encodable {
            var name: String
            var start: String
            var end: String
            var elapsedSeconds: Int64
            var lengthSeconds: Int64
            /// The customer's billing cycle, for the `cycle` period.
            var billingCycle: String?
        }
        struct Totals: Encodable {
            var requests: Int
            var inputTokens: Int
            var cacheReadTokens: Int
            var cacheWriteTokens: Int
            var outputTokens: Int
            var price: Money
        }
        struct Balance: Encodable {
            var account: String
            var granted: Money
            var spent: Money
            var expired: Money
            var reserved: Money
            var available: Money
            var upcoming: Money
            /// When the balance runs out at the pace of the last seven days (`nil`: nothing spent in them).
            var runsOut: RunsOut?
        }
        struct RunsOut: Encodable {
            var days: String
            var at: String
            var method: String
        }
        struct Allowance: Encodable {
            var id: String
            var scope: String
            var metric: String
            var period: String
            var enforcement: String
            var amount: String
            var used: String
            var reserved: String
            var remaining: String
            var resetsAt: String?
        }
        struct Projection: Encodable {
            var periodEndPrice: Money
            var method: String
        }
        var customer: String
        var team: String?
        var currency: String
        var period: Period
        var totals: Totals
        var byModel: [ModelConsumption]
        var balance: Balance?
        var limits: [Allowance]
        var projection: Projection
    }

    /// The pace projection: the available balance over what the account spent per day in the last seven days (by every
    /// member of a team pool), in days with one decimal (rounded down) and as a time.
    func runsOut(account: String, available: Money, nowMs: Int64) async throws -> Body.RunsOut? {
        let week: Int64 = 7 * 86_400_000
        let spent = try await meter.spent(account: account, sinceMs: nowMs - week)
        guard spent > .zero else { return nil }
        let left = max(available, .zero)
        // days = left ÷ (spent ÷ 7), kept in tenths of a day to stay in integers.
        let tenths = Int64(clamping: left.raw * 70 / spent.raw)
        let at = nowMs + Int64(clamping: left.raw * Int128(week) / spent.raw)
        return Body.RunsOut(
            days: "\(tenths / 10).\(tenths % 10)", at: Timestamps.iso8601(at),
            method: "available ÷ credits spent per day over the last 7 days (by every member of a team pool)")
    }

    /// The view for the key's customer; `period` is `cycle` (the default: the period of the customer's billing
    /// cycle in progress), or `day`, `week` or `month` (calendar, UTC).
    func respond(principal: Principal, query: String?, nowMs: Int64) async throws -> Response {
        let name = Provider.queryValue("period", in: query) ?? "cycle"
        do {
            let window: (startMs: Int64, endMs: Int64?)
            var cycle: BillingCycle?
            if name == "cycle" {
                cycle = try await meter.billingCycle(customer: principal.customer, rules: rules).cycle
                let period = cycle!.period(containing: nowMs)
                window = (period.startMs, period.endMs)
            } else {
                guard let period = LimitPeriod.parse(name), [.day, .week, .month].contains(period) else {
                    throw ErrorResponse.badRequest("period is cycle, day, week or month (not '\(name)').", code: "invalid_period")
                }
                window = period.window(containing: nowMs, anchor: .calendar)
            }
            let end = window.endMs ?? nowMs
            let lines = try await meter.consumption(customer: principal.customer, fromMs: window.startMs, toMs: end)
            let totals = lines.reduce(
                into: Body.Totals(requests: 0, inputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, outputTokens: 0, price: .zero)
            ) {
                $0.requests += $1.requests
                $0.inputTokens += $1.inputTokens
                $0.cacheReadTokens += $1.cacheReadTokens
                $0.cacheWriteTokens += $1.cacheWriteTokens
                $0.outputTokens += $1.outputTokens
                $0.price += $1.price
            }
            var balance: Body.Balance?
            let account = principal.creditAccount
            let figures = try await meter.balance(account: account, currency: currency, nowMs: nowMs)
            if !figures.grants.isEmpty {
                balance = Body.Balance(
                    account: account, granted: figures.granted, spent: figures.spent, expired: figures.expired, reserved: figures.reserved,
                    available: figures.available, upcoming: figures.upcoming,
                    runsOut: try await runsOut(account: account, available: figures.available, nowMs: nowMs))
            }
            var allowances: [Body.Allowance] = []
            let scopes: [(LimitScope, String)] =
                [(.customer, principal.customer), (.key, principal.key.id)] + (principal.team.map { [(.team, $0)] } ?? [])
            for (scope, id) in scopes {
                for limit in try await meter.limits(scope: scope, scopeID: id) {
                    let status = try await meter.limitStatus(limit, nowMs: nowMs)
                    allowances.append(
                        Body.Allowance(
                            id: limit.id, scope: "\(scope.rawValue):\(id)", metric: limit.metric.rawValue, period: limit.period.rawValue,
                            enforcement: limit.enforcement.rawValue, amount: limit.amount, used: status.used, reserved: status.reserved,
                            remaining: status.remaining, resetsAt: status.periodEndMs.map(Timestamps.iso8601)))
                }
            }
            let elapsed = max(1, nowMs - window.startMs)
            let length = max(elapsed, end - window.startMs)
            // Linear: the price so far over the elapsed share of the period, rounded down at the 15th digit.
            let projected = Money(raw: totals.price.raw * Int128(length) / Int128(elapsed))
            let body = Body(
                customer: principal.customer, team: principal.team, currency: figures.grants.first?.currency ?? currency,
                period: Body.Period(
                    name: name, start: Timestamps.iso8601(window.startMs), end: Timestamps.iso8601(end), elapsedSeconds: elapsed / 1000,
                    lengthSeconds: length / 1000, billingCycle: cycle?.description),
                totals: totals, byModel: lines, balance: balance, limits: allowances,
                projection: Body.Projection(
                    periodEndPrice: projected, method: "price so far × period length ÷ time elapsed (linear at the current rate)"))
            return try Response.json(body, snakeCase: true)
        } catch let error as ErrorResponse {
            throw error
        } catch {
            throw ErrorResponse(status: .serviceUnavailable, message: "The meter is unavailable.", type: "server_error", code: "meter_unavailable")
        }
    }
}
