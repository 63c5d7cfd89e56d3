import Logging
import ServiceLifecycle
import TollgateCore
import TollgateStore

/// Export from `serve` (`export: {interval_s: 3600, continuous_s: 20}`), in its own task, never on a request's path:
/// - every `interval`, each sink stages the closed periods not yet exported (late events become corrections);
/// - every `continuous` (when set), each sink that takes usage as it happens (``SinkSettings/takesUsageContinuously``)
///   also stages the periods in progress: the usage since its last staging goes out as a delta line, so that the
///   billing system is current within about `continuous` of an event's commit;
/// - after each staging, every sink sends what is due, and the scheduler wakes early for a failed line whose backoff
///   ends before the next tick.
///
/// With a `lease`, only the replica holding it stages and sends (two replicas never send the same line; another
/// takes over when the holder stops). Without one, two instances on one meter may both send a line: the sink's
/// idempotency key keeps one.
public struct ExportScheduler: Service {
    let exporters: [Exporter]
    let interval: Duration
    let continuous: Duration?
    let lease: FleetLease?
    let logger: Logger

    /// Creates a scheduler running every exporter each `interval`, and the continuous ones each `continuous`.
    public init(exporters: [Exporter], interval: Duration, continuous: Duration? = nil, lease: FleetLease? = nil, logger: Logger) {
        self.exporters = exporters
        self.interval = interval
        self.continuous = continuous
        self.lease = lease
        self.logger = logger
    }

    /// Runs until graceful shutdown.
    public func run() async throws {
        let (exporters, interval, continuous, lease, logger) = (self.exporters, self.interval, self.continuous, self.lease, self.logger)
        let clock = ContinuousClock()
        await cancelWhenGracefulShutdown {
            var lastClosedRun: ContinuousClock.Instant?
            while !Task.isCancelled {
                if let lease, await !lease.hold() {
                    // Another replica exports; look again in a while (it may stop).
                    try? await Task.sleep(for: min(interval, continuous ?? interval, .seconds(10)))
                    continue
                }
                let closedDue = lastClosedRun.map { clock.now - $0 >= interval } ?? true
                if closedDue { lastClosedRun = clock.now }
                var wake = clock.now + min(interval, continuous ?? interval)
                for exporter in exporters where !Task.isCancelled {
                    let live = continuous != nil && exporter.sink.settings.takesUsageContinuously
                    do {
                        if live {
                            _ = try await exporter.stage(includeOpen: true)
                        } else if closedDue {
                            _ = try await exporter.stage()
                        }
                        if live, closedDue { try await reconcileLastPeriod(exporter) }
                        let pass = try await exporter.sendDue()
                        if pass.sent + pass.failed + pass.dead > 0 {
                            logger.info(
                                "export pass",
                                metadata: [
                                    "sink": "\(exporter.name)", "sent": "\(pass.sent)", "failed": "\(pass.failed)", "dead": "\(pass.dead)",
                                    "held": "\(pass.held)",
                                ])
                        }
                        if let retry = try await exporter.nextRetryMs() {
                            wake = min(wake, clock.now + .milliseconds(max(0, retry - exporter.clock())))
                        }
                    } catch {
                        logger.error("export pass failed", metadata: ["sink": "\(exporter.name)", "error": "\(error)"])
                    }
                }
                try? await Task.sleep(until: max(wake, clock.now + .milliseconds(200)), clock: clock)
            }
        }
        await lease?.release()
    }
}

extension ExportScheduler {
    /// The final reconciliation of continuous export: once per `interval`, the deltas a sink was given for the last
    /// closed period are summed against the period as it rates now, and the result logged (a warning when a line
    /// differs: events came in after its last staging, and the next pass sends the difference).
    func reconcileLastPeriod(_ exporter: Exporter) async throws {
        let result = try await exporter.reconcile(period: "previous")
        guard !result.lines.isEmpty else { return }
        let unsent = result.lines.reduce(0) { $0 + $1.unsent }
        if result.mismatches.isEmpty {
            logger.info(
                "export reconciled: every line's deltas sum to the closed period",
                metadata: ["sink": "\(exporter.name)", "lines": "\(result.lines.count)", "unsent": "\(unsent)"])
        } else {
            logger.warning(
                "export differs from the closed period (late events; the next pass sends the difference)",
                metadata: ["sink": "\(exporter.name)", "lines": "\(result.lines.count)", "differ": "\(result.mismatches.count)"])
        }
    }
}

extension ExportScheduler: CustomStringConvertible {
    /// How the service is named in logs (never its settings, which hold secrets).
    public var description: String { "ExportScheduler" }
}
