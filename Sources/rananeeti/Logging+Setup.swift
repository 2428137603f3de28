import Foundation
import Logging

/// Logs to standard error, at the level of `RANANEETI_LOG_LEVEL` (trace … critical) or else `defaultLevel`.
func makeLogger(label: String, defaultLevel: Logger.Level = .info) -> Logger {
    LoggingBootstrap.once
    var logger = Logger(label: label)
    if ProcessInfo.processInfo.environment["RANANEETI_LOG_LEVEL"] == nil { logger.logLevel = defaultLevel }
    return logger
}

private enum LoggingBootstrap {
    static let once: Void = {
        let level = ProcessInfo.processInfo.environment["RANANEETI_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }()
}
