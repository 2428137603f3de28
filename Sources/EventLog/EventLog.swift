/// A durable, append-only log of JSON records in LZ4-compressed, hash-chained segments.
///
/// Bytes in, offsets out: the log knows nothing of what its records mean. Each record is one JSON object on one
/// line; the log adds `offset` and `appendedAt` at its front (see `docs/LOG_FORMAT.md`). An append returns once
/// the batch holding its records is on disk (`fdatasync`); concurrent appends share one write and one sync.
///
/// One process writes a directory at a time (a lock file says who). Readers in other processes use
/// ``LogReader/init(directory:)``.
public final class EventLog: Sendable {
    /// The log directory.
    public let directory: String
    /// What opening the log found: segments, next offset, and any torn tail it cut.
    public let recovery: RecoveryReport
    private let writer: LogWriter

    /// Opens (and, by default, creates) the log in `directory` for appending, recovering it first.
    ///
    /// Recovery reads the last segment in full: a torn, never-acknowledged tail of it is cut and reported in
    /// ``recovery``; any other damage stops the open.
    ///
    /// - Throws: ``LogError``: `.directoryNotFound`, `.notADirectory`, `.locked` (another process writes here),
    ///   `.corrupt` (with file and byte offset), `.ioFailure`.
    public init(
        directory: String, configuration: EventLogConfiguration = EventLogConfiguration(),
        observer: (any EventLogObserver)? = nil
    ) throws {
        let (writer, report) = try LogRecovery.open(directory: directory, configuration: configuration, observer: observer)
        self.directory = directory
        self.writer = writer
        self.recovery = report
        writer.start()
    }

    /// Appends one record and returns its offset once it is durable.
    ///
    /// Once accepted the record is written even if the calling task is cancelled.
    /// - Throws: ``LogError``: `.invalidRecord`, `.diskFull` (nothing stored; retry later), `.writerStopped`,
    ///   `.closed`.
    public func append(_ record: [UInt8]) async throws -> UInt64 {
        try await writer.append([record]).offsets.lowerBound
    }

    /// Appends records as one contiguous run of offsets and returns them once all are durable.
    public func append(contentsOf records: [[UInt8]]) async throws -> Range<UInt64> {
        guard !records.isEmpty else { return endOffset..<endOffset }
        return try await writer.append(records).offsets
    }

    /// Appends records as ``append(contentsOf:)`` does and also says when the log took them.
    ///
    /// - Precondition: `records` is not empty.
    public func appendWithReceipt(_ records: [[UInt8]]) async throws -> AppendReceipt {
        try await writer.append(records)
    }

    /// The offset after the last durable record: the number of records a reader can see now.
    public var endOffset: UInt64 {
        writer.board.frontier.endOffset
    }

    /// The offset of the first record on disk: 0, unless older segments have been archived and removed (the
    /// start record, which `log archive` may move while the log is open).
    public var startOffset: UInt64 {
        let first = writer.board.frontier.segmentBases.first ?? 0
        guard let recorded = try? LogStart.read(directory: directory) else { return first }
        return max(first, recorded.offset)
    }

    /// True once the log is closed (or its writer stopped): nothing more will be appended.
    public var isClosed: Bool {
        writer.board.finished != nil
    }

    /// The error that stopped the writer for good, if it stopped.
    public var writerFailure: LogError? {
        writer.failure
    }

    /// The records from `offset` on, waiting at the end for more until the log closes.
    public func records(from offset: UInt64 = 0) -> LogTail {
        LogTail(directory: directory, board: writer.board, start: offset)
    }

    /// A reader bounded by what this log has made durable, positioned at `offset`.
    ///
    /// - Throws: ``LogError`` when `offset` is outside the log or its segment cannot be read.
    public func makeReader(from offset: UInt64 = 0) throws -> LogReader {
        let reader = LogReader(directory: directory, board: writer.board)
        try reader.seek(to: offset)
        return reader
    }

    /// Waits until the log's end is past `offset` (or the log closes, or the task is cancelled).
    public func waitForEnd(beyond offset: UInt64) async {
        await writer.board.wait(beyond: offset)
    }

    /// Writes and syncs everything accepted, stops the writer and releases the directory. Later appends fail
    /// with `.closed`; tails finish. Safe to call more than once.
    public func close() async {
        await writer.close()
    }
}

/// What the log says about records it took.
public struct AppendReceipt: Sendable, Hashable {
    /// The records' offsets.
    public var offsets: Range<UInt64>
    /// Their `appendedAt`, in ms since the Unix epoch (UTC): the same for all records of one append.
    public var appendedAtMillis: Int64
}
