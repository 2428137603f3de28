import CoreMetrics
import EventLog
import Foundation
public import Logging
import Orders
import Postgres
public import ServiceLifecycle
import Synchronization

/// Writes a node's events into `cafe.ordersraw`, exactly once in effect.
///
/// It tails the log from the node's checkpoint, writes batches with one statement each, and moves the
/// checkpoint in the same transaction (at-least-once delivery, exactly-once effect: a digest already there is
/// left alone). It learns which events were new (`confirmed`) and which were already there (`duplicate`) and
/// tells the local projection. When the database fails it backs off with jitter and resumes by itself; an
/// event the database refuses for its data goes to `cafe.dead_letters` and the stream moves on.
///
/// The database may go back in time (a restore, a failover that lost commits). Every commit moves the
/// checkpoint only from where this projector left it (compare-and-set), and every session starts by reading
/// the row again: a row behind what this projector committed, or gone, is a rewind, and everything from the
/// row's position is sent again (idempotently), counted in `rananeeti_projector_rewinds_total` and the row.
/// Each commit also witnesses the log's chain hash; a log that no longer has the witnessed history is refused
/// (``LogWitness``) until an operator adopts it.
public final class Projector: Service, Sendable {
    /// How the projector batches and retries.
    public struct Configuration: Sendable {
        /// The most events in one batch (one transaction). Default 10,000: a backlog drains in large batches
        /// (ProjectorBenchmark: 10,000 per batch about 60 % of COPY's rate, 1,000 about 45 %), while in steady
        /// operation a batch holds only what arrived during the last one and `batchDelay`.
        public var maximumBatchEvents: Int
        /// How long a small batch may wait for more events before it is written. Default 5 ms.
        public var batchDelay: Duration
        /// Waits between attempts after failures. Default 200 ms doubling to 15 s, with jitter.
        public var backoff: RetryBackoff
        /// How long one batch (its transaction) may take. Default 30 s.
        public var batchDeadline: Duration
        /// Attempts that fail on purpose for a reservation with "Test database failures" ticked (0: off).
        /// Default 3.
        public var failureDemoAttempts: Int
        /// The wait after such a staged failure. Default 1 s.
        public var failureDemoDelay: Duration
        /// Where to write a poison event that not even the dead-letter table takes (a JSON line each).
        public var localDeadLetterFile: String?
        /// How often a projector with nothing to write looks at its checkpoint row, so that a database that
        /// went back in time (or lost the row) is healed without waiting for the next event, and a dead
        /// connection is noticed. Default 5 s.
        public var checkpointRecheckInterval: Duration

        public init(
            maximumBatchEvents: Int = 10_000, batchDelay: Duration = .milliseconds(5), backoff: RetryBackoff = RetryBackoff(),
            batchDeadline: Duration = .seconds(30), failureDemoAttempts: Int = 3, failureDemoDelay: Duration = .seconds(1),
            localDeadLetterFile: String? = nil, checkpointRecheckInterval: Duration = .seconds(5)
        ) {
            self.maximumBatchEvents = maximumBatchEvents
            self.batchDelay = batchDelay
            self.backoff = backoff
            self.batchDeadline = batchDeadline
            self.failureDemoAttempts = failureDemoAttempts
            self.failureDemoDelay = failureDemoDelay
            self.localDeadLetterFile = localDeadLetterFile
            self.checkpointRecheckInterval = checkpointRecheckInterval
        }
    }

    /// Where a drain starts and how the checkpoint moves.
    public enum DrainStart: Sendable {
        /// From the node's checkpoint (the usual resume).
        case checkpoint
        /// From this offset, re-sending what was projected before; no row is written twice and the
        /// checkpoint never moves back.
        case offset(UInt64)
    }

    private let source: any ProjectorSource
    private let node: String
    private let database: DatabaseSettings
    private let projection: LocalProjection?
    public let status: ProjectorStatusBoard
    private let configuration: Configuration
    private let faults: FaultSwitch?
    private let logger: Logger
    private let metrics: ProjectorMetrics
    /// Staged failures used up so far, per digest, for the failure demo.
    private let stagedFailures = Mutex<[ReservationDigest: Int]>([:])

    public init(
        source: any ProjectorSource, node: String, database: DatabaseSettings, projection: LocalProjection? = nil,
        status: ProjectorStatusBoard = ProjectorStatusBoard(), configuration: Configuration = Configuration(),
        faults: FaultSwitch? = nil, logger: Logger
    ) {
        self.source = source
        self.node = node
        self.database = database
        self.projection = projection
        self.status = status
        self.configuration = configuration
        self.faults = faults
        var logger = logger
        logger[metadataKey: "node"] = "\(node)"
        self.logger = logger
        self.metrics = ProjectorMetrics(node: node)
    }

    /// Projects until the task is cancelled or the service group shuts down.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await self.project(start: .checkpoint, stopAt: nil, progress: nil)
        }
    }

    /// Projects from `start` until the checkpoint reaches `end` (e.g. the log's end when a replay began),
    /// retrying through failures, then returns. `progress` is called after every batch.
    ///
    /// - Throws: ``ProjectorRefusal`` when the log disagrees with what the database witnessed of it.
    public func drain(
        from start: DrainStart = .checkpoint, to end: UInt64, progress: (@Sendable (ProjectorStatusBoard.Snapshot) -> Void)? = nil
    ) async throws {
        try await project(start: start, stopAt: end, progress: progress)
    }

    // MARK: - The loop

    private struct Session {
        var connection: PostgresConnection
        var checkpoint: UInt64
        var reader: LogReader
        var rule: CheckpointRule
        /// The end of the last range committed in this session (where a replay resumes after a reconnect).
        var committedEnd: UInt64
        /// Records read past a batch's limit, kept for the next batch (a slice: taking from it copies nothing).
        var leftover: ArraySlice<LogRecord> = []
        /// Commits left before a direct COPY is tried again, after one met a digest already in the table
        /// (a replay of rows that are there would otherwise send every batch twice).
        var commitsBeforeDirectCopy = 0
        /// Ends of the batches read from the log and not yet witnessed, with their hashes, in order: what the
        /// next commit witnesses (the last one at or below its end).
        var chainPoints: [ChainPoint] = []
    }

    /// How many commits go the careful way after a direct COPY met a digest already in the table.
    private static let commitsBetweenDirectCopyTries = 16

    /// A failure staged for the "Test database failures" demo.
    private struct StagedFailure: Error {
        var message: String
    }

    private func project(
        start: DrainStart, stopAt: UInt64?, progress: (@Sendable (ProjectorStatusBoard.Snapshot) -> Void)?
    ) async throws {
        var session: Session?
        // A replay re-sends from an offset below the checkpoint; after a reconnect it resumes where it got to.
        var replayPosition: UInt64? = if case .offset(let offset) = start { offset } else { nil }
        // The checkpoint as this process last committed or read it: a database that shows less went back.
        var knownCheckpoint: UInt64?
        var pending: [LogRecord] = []
        var failures = 0
        var movesInARow = 0
        var lastRefusal: String?
        while !Task.isCancelled {
            do {
                if faults?.databaseUnreachable == true {
                    throw PostgresError(code: .unreachable, message: FaultSwitch.drillMessage)
                }
                if session == nil {
                    session = try await openSession(replayFrom: replayPosition, known: knownCheckpoint)
                    knownCheckpoint = session!.checkpoint
                    pending = []
                    if lastRefusal != nil {
                        logger.notice("the log agrees with the database again; projecting")
                        lastRefusal = nil
                    }
                }
                if pending.isEmpty {
                    if let stopAt, session!.committedEnd >= stopAt { break }
                    pending = try takeAvailable(&session!, limit: configuration.maximumBatchEvents, below: stopAt)
                    if pending.isEmpty {
                        updateLag(pending: [], checkpoint: session!.checkpoint)
                        let position = session!.reader.nextOffset
                        // A drain ends where the log does; so does any projection of a log that will not grow
                        // any more (closed, or a snapshot of a directory): waiting would return at once, forever.
                        if stopAt != nil || !source.mayGrow, source.endOffset <= position { break }
                        try await waitForEnd(beyond: position, session: session!)
                        continue
                    }
                    if (pending.count < configuration.maximumBatchEvents) && (configuration.batchDelay > .zero) {
                        try await Task.sleep(for: configuration.batchDelay)
                        pending += try takeAvailable(
                            &session!, limit: configuration.maximumBatchEvents - pending.count, below: stopAt)
                    }
                }
                updateLag(pending: pending, checkpoint: session!.checkpoint)
                let started = ContinuousClock.now
                try await write(pending, session: &session!)
                let (seconds, attoseconds) = (ContinuousClock.now - started).components
                metrics.batchDuration.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
                if replayPosition != nil { replayPosition = session!.committedEnd }
                knownCheckpoint = session!.checkpoint
                pending = []
                failures = 0
                movesInARow = 0
                status.update { snapshot in
                    snapshot.connected = true
                    snapshot.lastError = nil
                    snapshot.consecutiveFailures = 0
                    snapshot.batches += 1
                }
                metrics.connected.record(1)
                progress?(status.snapshot)
            } catch is CancellationError {
                break
            } catch is CheckpointMoved {
                // The row is not where this projector left it (a rewind, a vanished row, another process):
                // look again at once, so that a rewind heals without delay; back off only if it keeps moving.
                movesInARow += 1
                if let connection = session?.connection { await connection.close() }
                session = nil
                if movesInARow > 1 { try? await Task.sleep(for: configuration.backoff.delay(afterFailures: movesInARow - 1)) }
            } catch let refused as ProjectorRefusal {
                failures += 1
                if refused.message != lastRefusal {
                    logger.error("projection refused: the log disagrees with the database", metadata: ["reason": "\(refused.message)"])
                    lastRefusal = refused.message
                }
                metrics.failures.increment()
                status.update { snapshot in
                    snapshot.connected = true
                    snapshot.lastError = refused.message
                    snapshot.consecutiveFailures += 1
                }
                if let connection = session?.connection { await connection.close() }
                session = nil
                // A drain (`replay`, `drain`) says so and ends; a running node waits for the log to be put
                // right or adopted, looking again with backoff.
                if stopAt != nil { throw refused }
                try? await Task.sleep(for: configuration.backoff.delay(afterFailures: failures))
            } catch let staged as StagedFailure {
                recordFailure(staged.message, pending: pending, staged: true)
                try? await Task.sleep(for: configuration.failureDemoDelay)
            } catch {
                failures += 1
                let message = describe(error)
                recordFailure(message, pending: pending, staged: false)
                if let connection = session?.connection { await connection.close() }
                session = nil
                let delay = configuration.backoff.delay(afterFailures: failures)
                logger.warning(
                    "projection failed; retrying",
                    metadata: ["error": "\(message)", "attempt": "\(failures)", "retry_in": "\(delay)"])
                try? await Task.sleep(for: delay)
            }
        }
        if let connection = session?.connection { await connection.close() }
    }

    private func openSession(replayFrom: UInt64?, known: UInt64?) async throws -> Session {
        let deadline = ContinuousClock.now + configuration.batchDeadline
        let connection = try await PostgresConnection.connect(
            database.connectionString, options: database.options, logger: logger)
        do {
            let row = try await ProjectionStatements.readCheckpoint(node: node, on: connection, deadline: deadline)
            let checkpoint = row.nextOffset
            let end = source.endOffset
            let reader = try judgeLog(against: row, end: end)
            if let known, checkpoint < known {
                // The database went back in time: what this projector committed from `checkpoint` on is gone
                // (or the whole row, which comes back at 0). Everything from there is sent again; rows still
                // there are left alone.
                logger.warning(
                    "the database went back in time; re-sending what it lost",
                    metadata: ["committed": "\(known)", "database_checkpoint": "\(checkpoint)", "events": "\(known - checkpoint)"])
                metrics.rewinds.increment()
                try await ProjectionStatements.recordRewind(node: node, from: known, to: checkpoint, on: connection, deadline: deadline)
            } else if let known, checkpoint > known {
                logger.warning(
                    "the checkpoint moved ahead of this projector: another process projects this node",
                    metadata: ["committed": "\(known)", "database_checkpoint": "\(checkpoint)"])
            }
            projection?.recordProjected(below: checkpoint)
            // A replay goes on below the checkpoint; once it reaches it, it is an ordinary resume.
            let replaying = replayFrom.map { $0 < checkpoint } ?? false
            let from = replaying ? replayFrom! : checkpoint
            try reader.seek(to: from)
            let rewound = known.map { checkpoint < $0 } ?? false
            status.update { snapshot in
                // In one update with the checkpoint it concerns, so that no one sees the count without it.
                if rewound { snapshot.rewindsHealed += 1 }
                snapshot.connected = true
                snapshot.checkpoint = checkpoint
                snapshot.position = from
                snapshot.logEnd = end
            }
            metrics.connected.record(1)
            let server = await connection.serverAddress
            logger.info(
                "projecting",
                metadata: ["checkpoint": "\(checkpoint)", "from": "\(from)", "log_end": "\(end)", "server": "\(server)"])
            return Session(
                connection: connection, checkpoint: checkpoint, reader: reader,
                rule: replaying ? .neverBack : .advance(from: checkpoint), committedEnd: from)
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Checks the log against the database's row (the witness, and that the log reaches the checkpoint) and
    /// returns a reader of it; throws ``ProjectorRefusal`` when the two disagree.
    private func judgeLog(against row: CheckpointRow, end: UInt64) throws -> LogReader {
        let logStart = try LogStart.read(directory: source.directory)
        let reader = try source.makeReader(from: max(logStart.offset, min(row.nextOffset, end)))
        var logHash: ChainHash?
        if let witness = row.witness, witness.offset >= logStart.offset, witness.offset <= end {
            logHash = try reader.chainHash(at: witness.offset)
        }
        let verdict = LogWitness.judge(
            checkpoint: row.nextOffset, witness: row.witness, logEnd: end, logStart: logStart.offset, logHash: logHash)
        if let refusal = LogWitness.refusal(verdict, node: node, directory: source.directory) {
            throw ProjectorRefusal(message: refusal)
        }
        guard row.nextOffset >= logStart.offset else {
            throw ProjectorRefusal(
                message: "The database has projected node \(node) only up to offset \(row.nextOffset), but its log in \(source.directory) starts at offset \(logStart.offset): the events in between were archived and are not on this node. Send them from the archive (or restore the database from a later backup); projection of this node is paused.")
        }
        return reader
    }

    /// Waits for the log to grow past `position`. Meanwhile it looks at the checkpoint row every
    /// `checkpointRecheckInterval`: a row that changed (a rewind, a vanished row) ends the session, and a dead
    /// connection shows itself.
    private func waitForEnd(beyond position: UInt64, session: Session) async throws {
        while !Task.isCancelled {
            let grew = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    await self.source.waitForEnd(beyond: position)
                    return true
                }
                group.addTask {
                    try? await Task.sleep(for: self.configuration.checkpointRecheckInterval)
                    return false
                }
                let first = await group.next() ?? true
                group.cancelAll()
                return first
            }
            if grew || Task.isCancelled { return }
            let now = try await ProjectionStatements.currentCheckpoint(
                node: node, on: session.connection, deadline: .now + configuration.batchDeadline)
            if now != session.checkpoint { throw CheckpointMoved() }
        }
    }

    /// Up to `limit` records below `end` that are readable now, without waiting.
    private func takeAvailable(_ session: inout Session, limit: Int, below end: UInt64?) throws -> [LogRecord] {
        var records: [LogRecord] = []
        func take(from source: ArraySlice<LogRecord>) -> ArraySlice<LogRecord> {
            var count = min(limit - records.count, source.count)
            if let end { count = min(count, source.prefix(count).firstIndex { $0.offset >= end }.map { $0 - source.startIndex } ?? count) }
            records.append(contentsOf: source.prefix(count))
            return source.dropFirst(count)
        }
        session.leftover = take(from: session.leftover)
        while records.count < limit, session.leftover.isEmpty, let more = try session.reader.nextRecords() {
            if let point = session.reader.lastChainPoint { session.chainPoints.append(point) }
            session.leftover = take(from: more[...])
            if let end, let next = session.leftover.first, next.offset >= end { break }
        }
        return records
    }

    // MARK: - Writing one batch

    /// Decodes the records and commits them in order: the rows of a run of events in one transaction with the
    /// checkpoint; an event the projector cannot read goes to the dead letters on its own. Every kind of row a
    /// batch writes is gathered here, in one ``ProjectionBatch``.
    private func write(_ records: [LogRecord], session: inout Session) async throws {
        var run = ProjectionBatch()
        var runStart = records[0].offset
        for record in records {
            let decoded: LoggedEvent
            do {
                decoded = try ReservationEvent.decode(line: record.bytes)
            } catch {
                try await commit(run, from: runStart, to: record.offset, session: &session)
                try await deadLetter(record, digest: nil, sqlState: nil, reason: "The projector could not read this event: \(error)", session: &session)
                run = ProjectionBatch()
                runStart = record.offset + 1
                continue
            }
            // Events of other types need no row; the checkpoint moves past them with the run.
            let appendedAtMillis = decoded.appendedAt.millisecondsSinceEpoch
            switch decoded.kind {
            case .reservationAccepted(let event):
                run.reservations.append(ProjectableEvent(offset: record.offset, line: record.bytes, appendedAtMillis: appendedAtMillis, event: event))
            case .reservationCancelled(let event):
                run.cancellations.append(ProjectableCancellation(offset: record.offset, line: record.bytes, appendedAtMillis: appendedAtMillis, event: event))
            case .unknown:
                break
            }
        }
        try await commit(run, from: runStart, to: records[records.count - 1].offset + 1, session: &session)
    }

    /// The chain point a commit up to `end` witnesses: the last batch end read at or below it.
    private func witness(upTo end: UInt64, in session: Session) -> ChainPoint? {
        session.chainPoints.last { $0.offset <= end }
    }

    /// Commits `batch` (the rows of all events of `start..<end` that need one), splitting the range when the
    /// database refuses the data, so that one poison event is found and set aside.
    private func commit(_ batch: ProjectionBatch, from start: UInt64, to end: UInt64, session: inout Session) async throws {
        guard start < end else { return }
        try stageDemoFailure(batch.reservations)
        do {
            let outcome = try await ProjectionStatements.commit(
                batch, end: end, logEnd: source.endOffset, node: node, rule: session.rule,
                witness: witness(upTo: end, in: session), wantOutcomes: projection != nil,
                tryDirectCopy: session.commitsBeforeDirectCopy == 0, on: session.connection,
                deadline: .now + configuration.batchDeadline)
            session.commitsBeforeDirectCopy =
                outcome.directCopyConflicted
                ? Self.commitsBetweenDirectCopyTries : max(0, session.commitsBeforeDirectCopy - 1)
            advance(session: &session, to: end)
            report(batch.reservations, outcome: outcome)
            if !batch.cancellations.isEmpty {
                metrics.cancellations.increment(by: Int64(outcome.cancellationsInserted))
                status.update { snapshot in
                    snapshot.cancellationsInserted += UInt64(outcome.cancellationsInserted)
                    snapshot.cancellationsDuplicate += UInt64(batch.cancellations.count - outcome.cancellationsInserted)
                }
            }
        } catch let error as PostgresError where error.code == .dataRefused && !batch.isEmpty {
            let offsets = batch.offsets
            guard offsets.count > 1 else {
                // Found it: set this event aside, then move past the events after it that need no row. (Not
                // empty, so it has a first event.)
                let poison = batch.first!
                logger.error(
                    "the database refused an event; it goes to cafe.dead_letters",
                    metadata: ["offset": "\(poison.offset)", "error": "\(error.message)"])
                try await deadLetter(
                    offset: poison.offset, digest: poison.digest,
                    eventJSON: String(decoding: poison.line, as: UTF8.self), sqlState: error.sqlState,
                    reason: error.serverMessage ?? error.message, session: &session)
                try await commit(ProjectionBatch(), from: poison.offset + 1, to: end, session: &session)
                return
            }
            let split = offsets[offsets.count / 2]
            let halves = batch.split(at: split)
            try await commit(halves.below, from: start, to: split, session: &session)
            try await commit(halves.from, from: split, to: end, session: &session)
        }
    }

    private func deadLetter(_ record: LogRecord, digest: String?, sqlState: String?, reason: String, session: inout Session) async throws {
        try await deadLetter(offset: record.offset, digest: digest, eventJSON: String(decoding: record.bytes, as: UTF8.self), sqlState: sqlState, reason: reason, session: &session)
    }

    private func deadLetter(offset: UInt64, digest: String?, eventJSON: String, sqlState: String?, reason: String, session: inout Session) async throws {
        do {
            try await ProjectionStatements.deadLetter(
                offset: offset, digest: digest, eventJSON: eventJSON, sqlState: sqlState, reason: reason,
                logEnd: source.endOffset, node: node, rule: session.rule, witness: witness(upTo: offset + 1, in: session),
                on: session.connection, deadline: .now + configuration.batchDeadline)
        } catch let error as PostgresError where error.code == .dataRefused {
            // Not even the dead-letter table takes it (e.g. a NUL byte): keep it in a local file instead.
            try writeLocalDeadLetter(offset: offset, eventJSON: eventJSON, reason: "\(reason); dead-letter table refused it too: \(error.message)")
            try await ProjectionStatements.skip(
                to: offset + 1, logEnd: source.endOffset, node: node, rule: session.rule,
                witness: witness(upTo: offset + 1, in: session), on: session.connection,
                deadline: .now + configuration.batchDeadline)
        }
        advance(session: &session, to: offset + 1)
        metrics.deadLettered.increment()
        status.update { $0.eventsDeadLettered += 1 }
    }

    private func writeLocalDeadLetter(offset: UInt64, eventJSON: String, reason: String) throws {
        guard let path = configuration.localDeadLetterFile else {
            throw PostgresError(code: .misuse, message: "An event at offset \(offset) can be stored neither in cafe.ordersraw nor in cafe.dead_letters, and no local dead-letter file is configured: \(reason)")
        }
        let line: [String: Any] = ["node": node, "offset": offset, "reason": reason, "event": eventJSON, "at": ISO8601DateFormatter().string(from: Date())]
        var data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        data.append(0x0A)
        if !FileManager.default.fileExists(atPath: path) {
            // Mode 0640 whatever the umask, like every file the service writes (it holds guests' reservations).
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640])
            try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
        try handle.synchronize()
    }

    private func advance(session: inout Session, to end: UInt64) {
        session.committedEnd = end
        session.chainPoints.removeAll { $0.offset <= end }
        session.checkpoint = max(session.checkpoint, end)
        if case .advance = session.rule { session.rule = .advance(from: session.checkpoint) }
        let checkpoint = session.checkpoint
        status.update { snapshot in
            snapshot.checkpoint = max(snapshot.checkpoint ?? 0, checkpoint)
            snapshot.position = end
        }
    }

    private func report(_ events: [ProjectableEvent], outcome: ProjectionStatements.CommitOutcome) {
        let newCount = outcome.insertedCount
        metrics.inserted.increment(by: Int64(newCount))
        metrics.duplicate.increment(by: Int64(events.count - newCount))
        status.update { snapshot in
            snapshot.eventsInserted += UInt64(newCount)
            snapshot.eventsDuplicate += UInt64(events.count - newCount)
        }
        guard let projection, let inserted = outcome.inserted else { return }
        var outcomes: [(offset: UInt64, digest: ReservationDigest, state: ReservationState)] = []
        outcomes.reserveCapacity(events.count)
        var seen = Set<ReservationDigest>()
        for projectable in events {
            let digest = projectable.event.digest
            let isNew = inserted.contains(digest.description) && seen.insert(digest).inserted
            outcomes.append((projectable.offset, digest, isNew ? .confirmed : .duplicate))
        }
        projection.recordProjected(outcomes, atMillis: Int64(Date().timeIntervalSince1970 * 1000))
    }

    /// Fails the attempt on purpose when the batch holds a reservation whose guest ticked "Test database
    /// failures" and that has not had its staged failures yet. One staged failure serves every such
    /// reservation in the batch, so a batch is held back at most `failureDemoAttempts` times.
    private func stageDemoFailure(_ events: [ProjectableEvent]) throws {
        guard configuration.failureDemoAttempts > 0 else { return }
        let attempt = stagedFailures.withLock { used -> Int? in
            var attempt: Int?
            for projectable in events where projectable.event.reservation.testFailures {
                let count = used[projectable.event.digest, default: 0]
                guard count < configuration.failureDemoAttempts else { continue }
                used[projectable.event.digest] = count + 1
                attempt = max(attempt ?? 0, count + 1)
            }
            return attempt
        }
        if let attempt {
            throw StagedFailure(
                message: "Attempt \(attempt) of \(configuration.failureDemoAttempts) failed on purpose: a reservation asked to test database failures. It stays safe on disk and is retried.")
        }
    }

    // MARK: - Reporting

    private func recordFailure(_ message: String, pending: [LogRecord], staged: Bool) {
        metrics.failures.increment()
        status.update { snapshot in
            snapshot.lastError = message
            snapshot.consecutiveFailures += 1
            // A staged failure is a show for one guest; the connection itself is fine.
            if !staged { snapshot.connected = false }
        }
        if !staged { metrics.connected.record(0) }
        guard let projection, let first = pending.first, let last = pending.last else { return }
        var digests: [ReservationDigest] = []
        for record in pending {
            if let event = try? ReservationEvent.decode(line: record.bytes).reservationEvent { digests.append(event.digest) }
        }
        projection.recordFailedAttempt(offsets: first.offset..<last.offset + 1, digests: digests, reason: message)
    }

    private func updateLag(pending: [LogRecord], checkpoint: UInt64) {
        let end = source.endOffset
        var lagSeconds = 0.0
        if let first = pending.first, let appendedAt = try? ReservationEvent.decode(line: first.bytes).appendedAt {
            lagSeconds = max(0, Date().timeIntervalSince1970 - Double(appendedAt.millisecondsSinceEpoch) / 1000)
        }
        status.update { snapshot in
            snapshot.logEnd = end
            snapshot.lagSeconds = lagSeconds
        }
        metrics.lagEvents.record(Double(end - min(end, checkpoint)))
        metrics.lagSeconds.record(lagSeconds)
    }

    private func describe(_ error: any Error) -> String {
        if let error = error as? PostgresError, let sqlState = error.sqlState, ["42P01", "42703"].contains(sqlState) {
            // undefined_table, undefined_column: the database's schema is older than this release.
            return "\(error.message) The database's schema is older than this release of the projector: run `rananeeti db migrate` against it."
        }
        if let error = error as? PostgresError { return error.message }
        if let error = error as? LogError { return error.message }
        return "\(error)"
    }
}
