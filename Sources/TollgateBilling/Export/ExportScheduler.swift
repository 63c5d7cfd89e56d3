import Logging
import ServiceLifecycle
import TollgateCore
import TollgateStore

/// Continuous export from `serve` (`export: {interval_s: 300}`): every interval, each configured sink stages the
/// closed months not yet exported (late events become corrections) and sends what is due; failed lines go again
/// when their backoff is over. Runs in its own task, never on a request's path.
///
/// Two instances on one meter may both send a line: the sink's idempotency key keeps one.
public struct ExportScheduler: Service {
    let exporters: [Exporter]
    let interval: Duration
    let logger: Logger

    /// Creates a scheduler running every exporter each `interval`.
    public init(exporters: [Exporter], interval: Duration, logger: Logger) {
        self.exporters = exporters
        self.interval = interval
        self.logger = logger
    }

    /// Runs until graceful shutdown.
    public func run() async throws {
        let exporters = self.exporters
        let interval = self.interval
        let logger = self.logger
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                for exporter in exporters where !Task.isCancelled {
                    do {
                        _ = try await exporter.stage()
                        let pass = try await exporter.sendDue()
                        if pass.sent + pass.failed + pass.dead > 0 {
                            logger.info(
                                "export pass",
                                metadata: [
                                    "sink": "\(exporter.name)", "sent": "\(pass.sent)", "failed": "\(pass.failed)", "dead": "\(pass.dead)",
                                    "held": "\(pass.held)",
                                ])
                        }
                    } catch {
                        logger.error("export pass failed", metadata: ["sink": "\(exporter.name)", "error": "\(error)"])
                    }
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}

extension ExportScheduler: CustomStringConvertible {
    /// How the service is named in logs (never its settings, which hold secrets).
    public var description: String { "ExportScheduler" }
}
