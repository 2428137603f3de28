public import EventLog
public import Logging
import Metrics
import Synchronization

/// Hears what the event log does and turns it into logs and metrics: every sync timed, slow ones warned
/// about, a full disk and a stopped writer said plainly.
///
/// A full disk refuses every write group, hundreds a second under load: the first refusal is logged at once,
/// then one summary per ``AppendFailureReporting/period`` while refusals go on, and one line when appends
/// work again (``AppendFailureReporting``). The failure counter counts every refusal.
public struct LogObserver: EventLogObserver {
    private let logger: Logger
    private let slowSync: Duration
    private let failureReporting: Box<AppendFailureReporting>
    private let syncDuration = Timer(label: "rananeeti_log_sync_duration_seconds", preferredDisplayUnit: .seconds)
    private let records = Counter(label: "rananeeti_log_records_total")
    private let writtenBytes = Counter(label: "rananeeti_log_written_bytes_total")
    private let failures = Counter(label: "rananeeti_log_append_failures_total")

    /// - Parameter slowSync: a sync slower than this is logged as a warning. Default 100 ms.
    /// - Parameter failureSummaryPeriod: while appends keep failing, at most one log line per this long.
    ///   Default 10 s.
    public init(logger: Logger, slowSync: Duration = .milliseconds(100), failureSummaryPeriod: Duration = .seconds(10)) {
        self.logger = logger
        self.slowSync = slowSync
        self.failureReporting = Box(AppendFailureReporting(period: failureSummaryPeriod))
    }

    public func logDidWrite(records: Int, bytes: Int, syncDuration: Duration?) {
        if case .reportRecovered(let refused, let lasted) = failureReporting.withLock({ $0.wrote(at: .now) }) {
            logger.notice(
                "appends to the event log work again",
                metadata: ["refused_writes": "\(refused)", "failing_for": "\(lasted)"])
        }
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
        switch failureReporting.withLock({ $0.failed(at: .now) }) {
        case .reportFirst:
            logger.error("an append to the event log failed; the log is intact", metadata: ["error": "\(error)"])
        case .reportStillFailing(let refused, let since):
            logger.error(
                "appends to the event log still fail; the log is intact",
                metadata: ["error": "\(error)", "refused_writes": "\(refused)", "failing_for": "\(since)"])
        case .none, .reportRecovered:
            break
        }
    }

    public func logWriterDidStop(_ error: LogError) {
        failures.increment()
        logger.critical("the event log writer stopped; this node takes no more reservations", metadata: ["error": "\(error)"])
    }
}

/// When to speak about failed appends: the first failure at once, then one summary per `period` while they
/// go on, and once when a write succeeds again. A pure state machine; the caller brings the time.
public struct AppendFailureReporting: Sendable {
    public enum Action: Sendable, Equatable {
        case none
        /// The first failure after a success (or since start): say what happened.
        case reportFirst
        /// Failures go on: `refused` since the last line, failing for `since`.
        case reportStillFailing(refused: Int, since: Duration)
        /// A write succeeded after `refused` failures over `lasted`.
        case reportRecovered(refused: Int, lasted: Duration)
    }

    /// At most one line per this long while failures go on.
    public let period: Duration
    private var firstFailure: ContinuousClock.Instant?
    private var lastReport: ContinuousClock.Instant?
    private var refusedSinceReport = 0
    private var refusedInOutage = 0

    public init(period: Duration) {
        self.period = period
    }

    /// A write group failed at `now`.
    public mutating func failed(at now: ContinuousClock.Instant) -> Action {
        refusedInOutage += 1
        guard let firstFailure, let lastReport else {
            self.firstFailure = now
            self.lastReport = now
            return .reportFirst
        }
        refusedSinceReport += 1
        guard now - lastReport >= period else { return .none }
        defer {
            self.lastReport = now
            refusedSinceReport = 0
        }
        return .reportStillFailing(refused: refusedSinceReport, since: now - firstFailure)
    }

    /// A write group succeeded at `now`.
    public mutating func wrote(at now: ContinuousClock.Instant) -> Action {
        guard let firstFailure else { return .none }
        defer { self = AppendFailureReporting(period: period) }
        return .reportRecovered(refused: refusedInOutage, lasted: now - firstFailure)
    }
}

/// A value behind a lock, shareable by a `Sendable` struct.
private final class Box<Value: Sendable>: Sendable {
    private let value: Mutex<Value>

    init(_ value: Value) {
        self.value = Mutex(value)
    }

    func withLock<Result: Sendable>(_ body: (inout sending Value) -> sending Result) -> Result {
        value.withLock(body)
    }
}
