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

    /// Stages lines: for `period` (`2026-11`) when given — an open period too, whose later growth then comes as
    /// corrections — else every closed calendar month (UTC) with events that was never staged or gained events since
    /// (late events: their difference becomes correction lines).
    public func stage(period: String? = nil) async throws -> ExportStaging {
        let now = clock()
        var months: [String] = []
        let staged = try await meter.stagedPeriods(sink: name)
        if let period {
            guard let range = Timestamps.month(period) else { throw ExportError.badPeriod(period) }
            guard range.startMs <= now else { throw ExportError.futurePeriod(period) }
            months = [period]
        } else {
            // From the first event's month (or, without events, the last closed month: plan fees bill empty months).
            let rules = rules()
            var month = Timestamps.monthName(
                of: try await meter.firstEventMs() ?? (Timestamps.month(Timestamps.monthName(of: now))?.startMs ?? now) - 1)
            while let range = Timestamps.month(month), range.endMs <= now {
                let events = try await meter.eventCount(startMs: range.startMs, endMs: range.endMs)
                let billsFees =
                    staged[month] == nil
                    && rules.customers.keys.contains { PeriodRater.billsEmptyPeriod(customer: $0, rules: rules, startMs: range.startMs) }
                if (events > 0 && staged[month] != events) || billsFees { months.append(month) }
                month = Timestamps.monthName(of: range.endMs)
            }
        }
        var total = ExportStaging()
        for month in months {
            guard let range = Timestamps.month(month) else { throw ExportError.badPeriod(month) }
            let events = try await meter.eventCount(startMs: range.startMs, endMs: range.endMs)
            let lines = try await meter.ratedExportLines(startMs: range.startMs, endMs: range.endMs, rules: rules())
            let staging = try await meter.stageExport(
                sink: name, period: month, startMs: range.startMs, endMs: range.endMs, lines: lines, nowMs: now)
            try await meter.markStaged(sink: name, period: month, events: events, nowMs: now)
            total.added += staging.added
            total.corrections += staging.corrections
            total.unchanged += staging.unchanged
            if staging.added + staging.corrections > 0 {
                logger.info(
                    "export lines staged",
                    metadata: ["sink": "\(name)", "period": "\(month)", "lines": "\(staging.added)", "corrections": "\(staging.corrections)"])
            }
        }
        return total
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
    case badPeriod(String)
    case futurePeriod(String)
    case unknownSink(String, known: [String])
    case unusableSink(String, String)

    public var description: String {
        switch self {
        case .badPeriod(let period): "--period expects a month such as 2026-11, not '\(period)'"
        case .futurePeriod(let period): "--period \(period) has not begun: a month is exported once it starts (and normally once it ends)"
        case .unknownSink(let name, let known):
            known.isEmpty
                ? "no sink '\(name)': the config has no sinks (sinks: {NAME: {type, base_url, api_key, path}})"
                : "no sink '\(name)' in the config (sinks: \(known.joined(separator: ", ")))"
        case .unusableSink(let name, let reason): "sink '\(name)': \(reason)"
        }
    }
}
