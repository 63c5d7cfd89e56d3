import Logging
import ServiceLifecycle
import TollgateCore
import TollgateStore

/// Watches what no limit counts, for the operator (`alerts:` in the config), in `serve`:
/// - a prepaid account whose available balance falls below `alerts.low_balance` (a share of what was granted to it, or
///   an amount) fires `credits.balance_low`, once until a new grant re-arms it;
/// - a customer whose revenue was below its cost over the last UTC day (a price below cost, as after a provider's
///   price change) fires `customer.margin_negative`, once per day.
///
/// The alerts are stored like limit alerts (once, under a unique key) and delivered by the same webhook sender.
public struct AccountWatch: Service, CustomStringConvertible {
    public var description: String { "AccountWatch" }
    let meter: MeterStore
    let settings: AlertSettings
    let logger: Logger

    /// A watch over a meter with the config's alert settings.
    public init(meter: MeterStore, settings: AlertSettings, logger: Logger) {
        self.meter = meter
        self.settings = settings
        self.logger = logger
    }

    public func run() async throws {
        guard settings.lowBalance != nil || settings.negativeMargin else { return }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(Int64(settings.checkIntervalSeconds * 1000)))
                do {
                    try await pass(nowMs: Timestamps.nowMs())
                } catch {
                    logger.error("balance and margin watch failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// One look at every prepaid account and at yesterday's margins; returns the alerts that fired.
    @discardableResult
    public func pass(nowMs: Int64) async throws -> [AlertRecord] {
        var fired: [AlertRecord] = []
        if let low = settings.lowBalance {
            for level in try await meter.creditLevels(nowMs: nowMs) where level.granted > .zero {
                let account = level.account
                let floor: Money
                let threshold: Int
                switch low {
                case .percent(let percent):
                    floor = Money(raw: level.granted.raw * Int128(percent) / 100)
                    threshold = percent
                case .amount(let amount):
                    floor = amount
                    threshold = 0
                }
                guard level.available < floor else { continue }
                let parts = account.split(separator: ":", maxSplits: 1).map(String.init)
                let record = AlertRecord(
                    id: "alr_" + MeterStore.randomToken(bytes: 9), limitID: "balance:\(account)", periodStartMs: level.armedMs, threshold: threshold,
                    scope: parts.first == "team" ? .team : .customer, scopeID: parts.last ?? account, metric: .money, period: .total,
                    enforcement: .soft, amount: floor.description, used: level.available.description, currency: level.currency, firedMs: nowMs)
                if try await meter.recordWatchAlert(record) {
                    fired.append(record)
                    logger.warning(
                        "credit balance low",
                        metadata: [
                            "account": "\(account)", "available": "\(level.available)", "below": "\(floor)", "currency": "\(level.currency)",
                        ])
                }
            }
        }
        if settings.negativeMargin {
            let day: Int64 = 86_400_000
            let end = nowMs - nowMs.floorModulo(day)
            let report = try await meter.marginReport(MarginQuery(fromMs: end - day, toMs: end, by: [.customer]))
            for row in report.rows where row.currency == row.costCurrency && row.totals.revenue < row.totals.cost {
                let customer = row.group[.customer] ?? ""
                let record = AlertRecord(
                    id: "alr_" + MeterStore.randomToken(bytes: 9), limitID: "margin:\(customer)", periodStartMs: end - day, threshold: 0,
                    scope: .customer,
                    scopeID: customer, metric: .money, period: .day, enforcement: .soft, amount: row.totals.revenue.description,
                    used: row.totals.cost.description, currency: row.currency, periodEndMs: end, firedMs: nowMs)
                if try await meter.recordWatchAlert(record) {
                    fired.append(record)
                    logger.warning(
                        "negative margin over a day",
                        metadata: [
                            "customer": "\(customer)", "revenue": "\(row.totals.revenue)", "cost": "\(row.totals.cost)",
                            "currency": "\(row.currency)",
                        ])
                }
            }
        }
        return fired
    }
}
