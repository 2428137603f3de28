/// How an ``EventLog`` stores and syncs what is appended to it.
public struct EventLogConfiguration: Sendable {
    /// When an append counts as done.
    public enum Durability: Sendable, Equatable {
        /// After the batch holding the records is written and `fdatasync`'d. The default, and the only mode in
        /// which an acknowledged record survives a crash.
        case fsync
        /// As soon as the records have offsets; they are written soon after and synced only when a segment is
        /// sealed or the log closes. For benchmarks: a crash loses what was not synced, and a failed write reuses
        /// offsets that were already handed out.
        case none
    }

    /// When an append counts as done. Default: ``Durability/fsync``.
    public var durability: Durability
    /// A new segment starts once the active one holds at least this many bytes. Default 64 MiB.
    public var segmentSizeLimit: Int
    /// The most uncompressed JSON bytes in one batch (one batch may still hold a single larger record).
    /// Default 1 MiB.
    public var maximumBatchBytes: Int
    /// How many stamped bytes may wait for the writer before appenders wait for room. Default 2 MiB: about
    /// 8,000 reservations per sync, far more than any group needs, and it bounds the writer's buffers (two of
    /// this size, swapped): appending 10 million events in bulk peaked at about 60 MiB RSS with 2 MiB and
    /// 100–130 MiB with 8 MiB, at 95 % of the speed (AppendBenchmark --only-big-log).
    public var maximumPendingBytes: Int
    /// Create the directory (not its parents) when it does not exist. Default true.
    public var createIfMissing: Bool
    /// The real-time clock, in milliseconds since the Unix epoch. Tests replace it to simulate clock jumps.
    public var clockMillis: @Sendable () -> Int64
    /// Failures to inject into the writer's system calls, for tests of what cannot be provoked on demand here
    /// (a failing `fdatasync`). Nil in production.
    package var injectedFaults: InjectedLogFaults?

    public init(
        durability: Durability = .fsync,
        segmentSizeLimit: Int = 64 << 20,
        maximumBatchBytes: Int = 1 << 20,
        maximumPendingBytes: Int = 2 << 20,
        createIfMissing: Bool = true,
        clockMillis: @escaping @Sendable () -> Int64 = EventLogConfiguration.realTimeClockMillis
    ) {
        self.durability = durability
        self.segmentSizeLimit = segmentSizeLimit
        self.maximumBatchBytes = maximumBatchBytes
        self.maximumPendingBytes = maximumPendingBytes
        self.createIfMissing = createIfMissing
        self.clockMillis = clockMillis
    }

    /// Milliseconds since the Unix epoch from `CLOCK_REALTIME`.
    public static let realTimeClockMillis: @Sendable () -> Int64 = { currentTimeMillis() }
}

/// Receives what the log does, so that the application can log and measure it; the log itself logs nothing.
///
/// Methods are called on the log's writer thread: return quickly. Every method has an empty default.
public protocol EventLogObserver: Sendable {
    /// A batch group was written and, in ``EventLogConfiguration/Durability/fsync`` mode, synced.
    func logDidWrite(records: Int, bytes: Int, syncDuration: Duration?)
    /// A new segment was started.
    func logDidStartSegment(baseOffset: UInt64)
    /// An append failed and the log stays usable (e.g. a full disk).
    func logAppendDidFail(_ error: LogError)
    /// The writer stopped for good (e.g. a failed fsync); every later append fails with `error`.
    func logWriterDidStop(_ error: LogError)
}

extension EventLogObserver {
    public func logDidWrite(records: Int, bytes: Int, syncDuration: Duration?) {}
    public func logDidStartSegment(baseOffset: UInt64) {}
    public func logAppendDidFail(_ error: LogError) {}
    public func logWriterDidStop(_ error: LogError) {}
}

/// What opening the log found and did.
public struct RecoveryReport: Sendable, CustomStringConvertible {
    /// A torn, never-acknowledged tail cut from the last segment.
    public struct CutTail: Sendable {
        public var file: String
        public var byteOffset: Int64
        public var byteCount: Int64
        public var reason: String
        /// Where the cut bytes were saved for inspection.
        public var savedTo: String?
    }

    public var segmentCount = 0
    /// The offset the next appended record gets.
    public var nextOffset: UInt64 = 0
    public var cutTail: CutTail?
    public var removedTemporaryFiles: [String] = []
    public var createdDirectory = false

    public var description: String {
        var text = "\(segmentCount) segment(s), next offset \(nextOffset)"
        if let cut = cutTail {
            text += "; cut a torn tail of \(cut.byteCount) bytes at byte \(cut.byteOffset) of \(cut.file) (\(cut.reason))"
            if let saved = cut.savedTo { text += ", saved to \(saved)" }
        }
        return text
    }
}

/// Test hooks that make the writer's system calls fail as the kernel would.
package struct InjectedLogFaults: Sendable {
    /// Consulted before each `fdatasync` of a segment; a returned error is treated as that call's result.
    package var dataSync: @Sendable () -> SystemError?

    package init(dataSync: @escaping @Sendable () -> SystemError? = { nil }) {
        self.dataSync = dataSync
    }
}
