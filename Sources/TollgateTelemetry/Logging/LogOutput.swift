import Logging
import TollgateCore

/// Sets up the process's log: text lines or JSON lines on stderr, at the configured level.
public enum LogOutput {
    /// Bootstraps the logging system for `settings` (once per process) and returns Tollgate's logger.
    public static func bootstrap(_ settings: LogSettings) -> Logger {
        switch settings.format {
        case .json: LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        case .text: LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        }
        var logger = Logger(label: "tollgate")
        logger.logLevel = Logger.Level(rawValue: settings.level) ?? .info
        return logger
    }
}
