public import EventLog
import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// Keeps the local projection in step with the log and saves it as a snapshot now and then, so that the next
/// start reads only the log after the snapshot.
///
/// Reservations are applied as they are taken (``LocalProjection/apply(_:offset:acceptedAtMillis:)``); this
/// service reads the log in offset order behind them, which is what makes the projection's state stand for a
/// prefix of the log (a batch boundary with its chain hash) that a snapshot can be stamped with. What was applied
/// as it was taken is not decoded again. On graceful shutdown (after the HTTP server has stopped) it reads to
/// the log's end and writes a last snapshot.
public final class ProjectionKeeper: Service, Sendable {
    /// When snapshots are written.
    public struct Configuration: Sendable {
        /// A snapshot once the log has grown by this many events since the last one. Default 100,000: a start
        /// after a crash reads at most about this many (a tenth of a second or so).
        public var snapshotEveryEvents: UInt64
        /// A snapshot at least this often while the log grows more slowly, and a sweep of aged-out reservations.
        /// Default 5 minutes.
        public var snapshotInterval: Duration

        public init(snapshotEveryEvents: UInt64 = 100_000, snapshotInterval: Duration = .seconds(300)) {
            precondition(snapshotEveryEvents >= 1, "a snapshot every one event at most")
            self.snapshotEveryEvents = snapshotEveryEvents
            self.snapshotInterval = snapshotInterval
        }
    }

    private let log: EventLog
    private let projection: LocalProjection
    private let configuration: Configuration
    /// The offset of the last snapshot written or loaded.
    private let snapshotOffset: Mutex<UInt64?>
    private let logger: Logger

    /// - Parameters:
    ///   - log: the node's open log; the projection has read it up to ``LocalProjection/readOffset``.
    ///   - projection: the node's local projection.
    ///   - lastSnapshotOffset: the offset of the snapshot the projection was loaded from, if any; a start that
    ///     read more than that writes a fresh snapshot at once.
    public init(
        log: EventLog, projection: LocalProjection, configuration: Configuration = Configuration(),
        lastSnapshotOffset: UInt64?, logger: Logger
    ) {
        self.log = log
        self.projection = projection
        self.configuration = configuration
        self.snapshotOffset = Mutex(lastSnapshotOffset)
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                try await self.follow()
            }
        } catch is CancellationError {
        } catch {
            logger.error("the local projection cannot follow the log; no snapshot will be written", metadata: ["error": "\(error)"])
            try? await gracefulShutdown()
            return
        }
        // Shutting down: the HTTP server has stopped taking reservations; read what it took, save the state.
        do {
            let reader = try makeReader()
            try readAvailable(reader)
            await saveSnapshot(reader)
        } catch {
            logger.error("the local projection cannot read the end of the log; the last snapshot is kept", metadata: ["error": "\(error)"])
        }
    }

    /// A reader at the projection's position, knowing the chain hash there.
    private func makeReader() throws -> LogReader {
        let reader = try log.makeReader(from: projection.readOffset)
        _ = try reader.chainHash(at: projection.readOffset)
        return reader
    }

    private func follow() async throws {
        let reader = try makeReader()
        var snapshotTime = ContinuousClock.now
        if snapshotOffset.withLock({ $0 }) != reader.nextOffset {
            await saveSnapshot(reader)
        }
        while !Task.isCancelled {
            try readAvailable(reader)
            let grown = reader.nextOffset - min(reader.nextOffset, snapshotOffset.withLock { $0 } ?? 0)
            let due = snapshotTime.duration(to: .now) >= configuration.snapshotInterval
            if grown >= configuration.snapshotEveryEvents || (grown > 0 && due) {
                await saveSnapshot(reader)
                snapshotTime = .now
            } else if due {
                projection.sweep()
                snapshotTime = .now
            }
            if log.isClosed { return }
            try await waitForEnd(beyond: reader.nextOffset)
        }
    }

    /// Waits until the log grows past `offset` or `snapshotInterval` passes, whichever is first.
    private func waitForEnd(beyond offset: UInt64) async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.log.waitForEnd(beyond: offset) }
            group.addTask { try? await Task.sleep(for: self.configuration.snapshotInterval) }
            await group.next()
            group.cancelAll()
        }
        try Task.checkCancellation()
    }

    private func readAvailable(_ reader: LogReader) throws {
        while let records = try reader.nextRecords() {
            _ = projection.apply(inOrder: records, endingAt: reader.nextOffset)
        }
    }

    /// Sweeps, then writes a snapshot standing for the reader's position, off the cooperative threads (it ends
    /// with an fdatasync). A failure is logged and the old snapshot kept: a snapshot only shortens starts.
    private func saveSnapshot(_ reader: LogReader) async {
        guard let point = reader.lastChainPoint, point.offset == reader.nextOffset else { return }
        let offset = point.offset
        let hash = point.hash
        let start = ContinuousClock.now
        projection.sweep()
        guard let snapshot = projection.makeSnapshot(offset: offset, chainHash: hash) else { return }
        let directory = log.directory
        let result: Result<Void, any Error> = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: Result { try LogSnapshot.write(snapshot, directory: directory) })
            }
        }
        switch result {
        case .success:
            snapshotOffset.withLock { $0 = offset }
            logger.debug(
                "local projection snapshot written",
                metadata: ["offset": "\(offset)", "bytes": "\(snapshot.payload.count)", "took": "\(start.duration(to: .now))"])
        case .failure(let error):
            logger.warning(
                "could not write the local projection's snapshot; the previous one is kept and the next start reads more of the log",
                metadata: ["error": "\(error)"])
        }
    }
}
