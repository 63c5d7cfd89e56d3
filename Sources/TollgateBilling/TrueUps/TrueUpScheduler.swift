import Logging
import ServiceLifecycle
import TollgateCore
import TollgateStore

/// Closes prepaid customers' billing periods in `serve`: every `interval`, for each customer with credits, the last
/// closed period of its billing cycle is trued up (``MeterStore/trueUp(customer:startMs:endMs:rules:nowMs:)``) once, and
/// again when late events change it. Its own task, never on a request's path.
public struct TrueUpScheduler: Service, CustomStringConvertible {
    public var description: String { "TrueUpScheduler" }
    let meter: MeterStore
    let rules: @Sendable () -> PricingRules
    let interval: Duration
    let logger: Logger

    /// A scheduler over a meter, with the rules in force at each pass.
    public init(meter: MeterStore, rules: @escaping @Sendable () -> PricingRules, interval: Duration = .seconds(60), logger: Logger) {
        self.meter = meter
        self.rules = rules
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await pass(nowMs: Timestamps.nowMs())
                } catch {
                    logger.error("credit true-ups failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// One pass: the last closed period of every prepaid customer whose events changed since its last true-up. The
    /// event counts are read once per billing cycle in use, not per customer.
    public func pass(nowMs: Int64) async throws {
        let rules = rules()
        var counts: [BillingCycle: [String: Int]] = [:]
        for customer in try await meter.prepaidCustomers() where !Task.isCancelled {
            let cycle = try await meter.billingCycle(customer: customer, rules: rules).cycle
            let closed = cycle.period(containing: cycle.period(containing: nowMs).startMs - 1)
            if counts[cycle] == nil { counts[cycle] = try await meter.eventCountsByCustomer(startMs: closed.startMs, endMs: closed.endMs) }
            let events = counts[cycle]?[customer] ?? 0
            let previous = try await meter.trueUpEvents(customer: customer, startMs: closed.startMs, endMs: closed.endMs)
            guard previous != events, events > 0 || PeriodRater.billsEmptyPeriod(customer: customer, rules: rules, startMs: closed.startMs) else {
                continue
            }
            guard let trueUp = try await meter.trueUp(customer: customer, startMs: closed.startMs, endMs: closed.endMs, rules: rules, nowMs: nowMs),
                trueUp.change != .zero
            else { continue }
            logger.notice(
                "credits trued up at the close of a period",
                metadata: [
                    "customer": "\(customer)", "period": "\(trueUp.period)", "change": "\(trueUp.change)", "currency": "\(trueUp.currency)",
                ])
        }
    }
}
