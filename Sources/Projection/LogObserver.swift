public import EventLog
public import Logging
import Metrics

/// Hears what the event log does and turns it into logs and metrics: every sync timed, slow ones warned
/// about, a full disk and a stopped writer said plainly.
public struct LogObserver: EventLogObserver {
    private let logger: Logger
    private let slowSync: Duration
    private let syncDuration = Timer(label: "rananeeti_log_sync_duration_seconds", preferredDisplayUnit: .seconds)
    private let records = Counter(label: "rananeeti_log_records_total")
    private let writtenBytes = Counter(label: "rananeeti_log_written_bytes_total")
    private let failures = Counter(label: "rananeeti_log_append_failures_total")

    /// - Parameter slowSync: a sync slower than this is logged as a warning. Default 100 ms.
    public init(logger: Logger, slowSync: Duration = .milliseconds(100)) {
        self.logger = logger
        self.slowSync = slowSync
    }

    public func logDidWrite(records: Int, bytes: Int, syncDuration: Duration?) {
        self.records.increment(by: Int64(records))
        writtenBytes.increment(by: Int64(bytes))
        guard let duration = syncDuration else { return }
        let (seconds, attoseconds) = duration.components
        self.syncDuration.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        if duration > slowSync {
            logger.warning("slow fdatasync of the event log", metadata: ["duration": "\(duration)", "records": "\(records)"])
        }
    }

    public func logDidStartSegment(baseOffset: UInt64) {
        logger.info("event log started a new segment", metadata: ["base_offset": "\(baseOffset)"])
    }

    public func logAppendDidFail(_ error: LogError) {
        failures.increment()
        logger.error("an append to the event log failed; the log is intact", metadata: ["error": "\(error)"])
    }

    public func logWriterDidStop(_ error: LogError) {
        failures.increment()
        logger.critical("the event log writer stopped; this node takes no more reservations", metadata: ["error": "\(error)"])
    }
}
