import CoreMetrics
import Foundation
import Logging
import TollgateCore
import TollgateStore

/// Exports rated lines to one sink, exactly once: stage the period's lines in the meter's outbox (deterministic keys),
/// then send what is due, recording every outcome before the next send. Whatever stops it — a crash, a restart, a
/// sink down for a day — the next run resumes from the outbox, and a line sent twice is dropped by the sink's
/// idempotency key.
public struct Exporter: Sendable {
    let meter: MeterStore
    let sink: any BillingSink
    let rules: @Sendable () -> PricingRules
    let logger: Logger
    let clock: @Sendable () -> Int64

    /// An exporter to `sink`, rating with the rules `rules` gives at each staging.
    public init(
        meter: MeterStore, sink: any BillingSink, rules: @escaping @Sendable () -> PricingRules, logger: Logger,
        clock: @escaping @Sendable () -> Int64 = Timestamps.nowMs
    ) {
        self.meter = meter
        self.sink = sink
        self.rules = rules
        self.logger = logger
        self.clock = clock
    }

    var name: String { sink.settings.name }

    /// Stages lines, each customer's by the periods of its billing cycle (customers sharing a cycle together):
    /// - with `period` (`2026-11`, `2026-11-15`, `current`, `previous`), each cycle's period of that name — an open
    ///   period too, whose later growth then comes as corrections;
    /// - without, every closed period from the first event's on, for each customer never staged in it or whose events
    ///   changed since (late events: their difference becomes correction lines); with `includeOpen`, the periods in
    ///   progress too (continuous export to a sink that takes usage as it happens: each staging's growth is a delta).
    public func stage(period: String? = nil, includeOpen: Bool = false) async throws -> ExportStaging {
        let now = clock()
        let rules = rules()
        var total = ExportStaging()
        var begun = false
        let first = try await meter.firstEventMs()
        for group in try await meter.exportCycleGroups(rules: rules) {
            var periods: [BillingPeriod] = []
            if let period {
                let named: BillingPeriod
                do { named = try group.cycle.period(named: period, nowMs: now) } catch { throw ExportError.badPeriod(period, error.description) }
                guard named.startMs <= now else { continue }
                periods = [named]
            } else {
                // From the first event's period (or, without events, the last closed one: plan fees bill empty periods).
                var next = group.cycle.period(containing: first ?? group.cycle.period(containing: now).startMs - 1)
                while next.startMs <= now {
                    if next.endMs <= now || includeOpen { periods.append(next) }
                    next = group.cycle.period(after: next)
                }
            }
            begun = begun || !periods.isEmpty
            for billing in periods {
                let staging = try await stage(billing, of: group, rules: rules, force: period != nil, nowMs: now)
                total.added += staging.added
                total.corrections += staging.corrections
                total.unchanged += staging.unchanged
            }
        }
        if let period, !begun { throw ExportError.futurePeriod(period) }
        return total
    }

    /// Stages one period of a cycle group: the customers never staged in it, or whose event count changed since (all
    /// of them with `force`).
    func stage(_ billing: BillingPeriod, of group: ExportCycleGroup, rules: PricingRules, force: Bool, nowMs: Int64) async throws -> ExportStaging {
        let key = group.key(of: billing)
        let counts = try await meter.eventCountsByCustomer(startMs: billing.startMs, endMs: billing.endMs)
        let staged = try await meter.exportFingerprints(sink: name, period: key)
        var customers = Set(counts.keys.filter(group.includes))
        for customer in rules.customers.keys
        where group.includes(customer) && PeriodRater.billsEmptyPeriod(customer: customer, rules: rules, startMs: billing.startMs) {
            customers.insert(customer)
        }
        let changed = force ? customers : customers.filter { staged[$0] != counts[$0, default: 0] }
        guard !changed.isEmpty else { return ExportStaging() }
        let label = group.label(of: billing)
        let lines = try await ratedLines(billing, rules: rules, only: changed, nowMs: nowMs)
        let staging = try await meter.stageExport(
            sink: name, period: label, startMs: billing.startMs, endMs: billing.endMs, lines: lines, nowMs: nowMs)
        try await meter.markExported(
            sink: name, period: key, events: Dictionary(uniqueKeysWithValues: changed.map { ($0, counts[$0, default: 0]) }), nowMs: nowMs)
        if staging.added + staging.corrections > 0 {
            logger.info(
                "export lines staged",
                metadata: ["sink": "\(name)", "period": "\(label)", "lines": "\(staging.added)", "corrections": "\(staging.corrections)"])
        }
        return staging
    }

    /// Checks what the sink was given against the period rated now: for each cycle's period of that name, per
    /// customer and line, the sum of every version staged (the first line, then its corrections, or the deltas of
    /// continuous export) against the line as the period rates today. A closed period that was staged after its last
    /// event matches exactly; a difference means events came in since its last staging (the next run sends it).
    public func reconcile(period: String) async throws -> ExportReconciliation {
        let now = clock()
        let rules = rules()
        var result = ExportReconciliation()
        for group in try await meter.exportCycleGroups(rules: rules) {
            let billing: BillingPeriod
            do { billing = try group.cycle.period(named: period, nowMs: now) } catch { throw ExportError.badPeriod(period, error.description) }
            guard billing.startMs <= now else { continue }
            let label = group.label(of: billing)
            let exported = try await meter.exportedTotals(sink: name, period: label).filter { group.includes($0.customer) }
            let customers = Set(exported.map(\.customer))
            let rated = try await ratedLines(billing, rules: rules, only: customers, nowMs: now)
            var byKey = Dictionary(exported.map { ("\($0.customer)\u{1}\($0.meter)", $0) }, uniquingKeysWith: { first, _ in first })
            for line in rated {
                let total = byKey.removeValue(forKey: "\(line.customer)\u{1}\(line.meter)")
                result.lines.append(
                    ExportReconciliation.Line(
                        customer: line.customer, period: label, open: billing.endMs > now, meter: line.meter, currency: line.currency,
                        ratedQuantity: line.quantity, ratedAmount: line.amount, exportedQuantity: total?.quantity ?? 0,
                        exportedAmount: total?.amount ?? .zero, versions: total?.versions ?? 0, unsent: total?.unsent ?? 0))
            }
            for total in byKey.values.sorted(by: { ($0.customer, $0.meter) < ($1.customer, $1.meter) }) {
                result.lines.append(
                    ExportReconciliation.Line(
                        customer: total.customer, period: label, open: billing.endMs > now, meter: total.meter, currency: total.currency,
                        ratedQuantity: 0, ratedAmount: .zero, exportedQuantity: total.quantity, exportedAmount: total.amount,
                        versions: total.versions, unsent: total.unsent))
            }
        }
        return result
    }

    /// A period's rated lines for some customers, as export stages them: a minimum commitment's true-up is known when
    /// the period closes, not before.
    func ratedLines(_ billing: BillingPeriod, rules: PricingRules, only: Set<String>, nowMs: Int64) async throws -> [RatedExportLine] {
        let lines = try await meter.ratedExportLines(startMs: billing.startMs, endMs: billing.endMs, rules: rules, only: only)
        return billing.endMs > nowMs ? lines.filter { $0.kind != .minimum } : lines
    }

    /// One pass: sends every line due now (pending, failed whose wait is over, held ones whose customer now has an id),
    /// in batches of the sink's limit, recording each batch's outcomes before the next. `progress` gets (done, total).
    public func sendDue(progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> ExportPass {
        let now = clock()
        let due = try await meter.exportLines(sink: name, states: [.pending, .failed], dueBy: now)
        let held = try await meter.exportLines(sink: name, states: [.held])
        let lines = due + held
        var pass = ExportPass()
        var ids: [String: String?] = [:]
        var done = 0
        progress(0, lines.count)
        for batch in stride(from: 0, to: lines.count, by: max(1, sink.batchLimit)).map({ Array(lines[$0..<min($0 + sink.batchLimit, lines.count)]) })
        {
            if Task.isCancelled { break }
            var ready: [OutboundLine] = []
            var results: [(key: String, state: ExportState, nextAttemptMs: Int64, error: String?)] = []
            for line in batch {
                if ids[line.customer] == nil {
                    let system = sink.settings.idSystem
                    let recorded = try await meter.externalIDs(customer: line.customer)[system]
                    let configured = rules().customers[line.customer]?.externalIDs[system]
                    ids[line.customer] = .some(recorded ?? configured)
                }
                let externalID = ids[line.customer] ?? nil
                if sink.needsCustomerID, externalID == nil {
                    let reason =
                        "customer \(line.customer) has no id in \(sink.settings.idSystem): "
                        + "tollgate customers set --customer \(line.customer) --external \(sink.settings.idSystem)=ID"
                    if line.state != .held || line.lastError != reason { results.append((line.key, .held, now, reason)) }
                    pass.held += 1
                } else {
                    ready.append(OutboundLine(line: line, externalCustomerID: externalID))
                }
            }
            let outcomes = ready.isEmpty ? [] : await sink.send(ready)
            let attemptedAt = clock()
            for (outbound, outcome) in zip(ready, outcomes) {
                let line = outbound.line
                switch outcome {
                case .sent:
                    results.append((line.key, .sent, attemptedAt, nil))
                    pass.sent += 1
                case .held(let reason):
                    if line.state != .held || line.lastError != reason { results.append((line.key, .held, attemptedAt, reason)) }
                    pass.held += 1
                case .rejected(let reason):
                    results.append((line.key, .dead, attemptedAt, reason))
                    pass.dead += 1
                    logger.error("export line refused", metadata: ["sink": "\(name)", "key": "\(line.key)", "error": "\(reason)"])
                case .retry(let reason, let retryAfter):
                    // Cut short by shutdown: not the sink's fault; the line goes again on the next start.
                    if Task.isCancelled { continue }
                    if line.attempts + 1 >= sink.settings.maxAttempts {
                        results.append((line.key, .dead, attemptedAt, reason))
                        pass.dead += 1
                        logger.error(
                            "export line given up after \(line.attempts + 1) attempts",
                            metadata: ["sink": "\(name)", "key": "\(line.key)", "error": "\(reason)"])
                    } else {
                        let delay = RetryBackoff.delayMs(
                            attempts: line.attempts, initialSeconds: sink.settings.initialBackoffSeconds,
                            maxBackoffSeconds: sink.settings.maxBackoffSeconds, retryAfterSeconds: retryAfter, jitter: Double.random(in: 0.5...1))
                        results.append((line.key, .failed, attemptedAt + delay, reason))
                        pass.failed += 1
                        pass.lastError = reason
                        logger.warning("export send failed", metadata: ["sink": "\(name)", "key": "\(line.key)", "error": "\(reason)"])
                    }
                }
            }
            try await meter.recordExportResults(sink: name, results, nowMs: attemptedAt)
            let delivered = outcomes.count { $0 == .sent }
            let failed = outcomes.count { if case .held = $0 { false } else { $0 != .sent } }
            if delivered > 0 { Counter(label: MetricName.exportSent, dimensions: [("sink", name)]).increment(by: delivered) }
            if failed > 0 { Counter(label: MetricName.exportFailures, dimensions: [("sink", name)]).increment(by: failed) }
            done += batch.count
            progress(done, lines.count)
        }
        return pass
    }

    /// When the next failed line is due, if any.
    public func nextRetryMs() async throws -> Int64? {
        try await meter.exportLines(sink: name, states: [.failed]).map(\.nextAttemptMs).min()
    }
}

/// A sink's lines of a period against the period rated now (``Exporter/reconcile(period:)``).
public struct ExportReconciliation: Sendable, Equatable {
    /// One line: rated now, and what the sink was given over all versions.
    public struct Line: Sendable, Equatable {
        public var customer: String
        public var period: String
        /// Whether the period is still in progress.
        public var open: Bool
        public var meter: String
        public var currency: String
        public var ratedQuantity: Int
        public var ratedAmount: Money
        public var exportedQuantity: Int
        public var exportedAmount: Money
        public var versions: Int
        /// Versions the sink has not accepted yet.
        public var unsent: Int

        /// Whether the sink was given exactly the rated line.
        public var matches: Bool { ratedQuantity == exportedQuantity && ratedAmount == exportedAmount }
    }

    public var lines: [Line] = []

    /// Lines whose versions do not sum to the rated line.
    public var mismatches: [Line] { lines.filter { !$0.matches } }

    public init() {}
}

/// What one sending pass did.
public struct ExportPass: Sendable, Equatable {
    /// Lines the sink accepted.
    public var sent = 0
    /// Lines that failed and wait for their next attempt.
    public var failed = 0
    /// Lines given up (refused, or out of attempts).
    public var dead = 0
    /// Lines held: the customer has no id in the sink's system.
    public var held = 0
    /// The last failure's reason.
    public var lastError: String?

    /// An empty pass.
    public init() {}
}

/// Why an export cannot run.
public enum ExportError: Error, CustomStringConvertible {
    case badPeriod(String, String)
    case futurePeriod(String)
    case unknownSink(String, known: [String])
    case unusableSink(String, String)

    public var description: String {
        switch self {
        case .badPeriod(_, let reason): "--period: \(reason)"
        case .futurePeriod(let period): "--period \(period) has not begun: a period is exported once it starts (and normally once it ends)"
        case .unknownSink(let name, let known):
            known.isEmpty
                ? "no sink '\(name)': the config has no sinks (sinks: {NAME: {type, base_url, api_key, path}})"
                : "no sink '\(name)' in the config (sinks: \(known.joined(separator: ", ")))"
        case .unusableSink(let name, let reason): "sink '\(name)': \(reason)"
        }
    }
}
