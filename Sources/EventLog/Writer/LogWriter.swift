import Glibc

/// The single writer of one log directory: group commit on a dedicated thread.
///
/// Appenders stamp their records (offset and time) into a shared pending buffer under a lock, then wait. The
/// writer thread takes everything pending at once, cuts it into batches, writes them with one `pwrite` and one
/// `fdatasync`, and resumes every appender whose records are now durable. While it syncs, new appends gather
/// for the next round, so one sync serves as many appenders as arrived during the last one.
package final class LogWriter: @unchecked Sendable {
    // @unchecked: `shared` is guarded by its lock; `thread` is touched only by the writer thread after `start()`.

    fileprivate enum Phase {
        case running
        case closing
        case stopped(LogError)
        case closed
    }

    /// One append call's records in the pending buffer.
    fileprivate struct PendingAppend {
        var offsets: Range<UInt64>
        var endByte: Int
        var firstMillis: Int64
        var lastMillis: Int64
        var waiter: UnsafeContinuation<AppendReceipt, any Error>?
    }

    fileprivate struct Shared {
        var phase = Phase.running
        var nextOffset: UInt64
        var lastMillis: Int64
        var timestampMillis = Int64.min
        var timestamp: [UInt8] = []
        var pendingBytes: [UInt8] = []
        var pendingAppends: [PendingAppend] = []
        var spaceWaiters: [UnsafeContinuation<Void, Never>] = []
        var closeWaiters: [UnsafeContinuation<Void, Never>] = []
        var threadExited = false
        /// While the writer gathers a group: the number of pending appends that ends the gathering early
        /// (0 when it is not gathering). The append that reaches it wakes the writer.
        var gatherTarget = 0
    }

    /// State only the writer thread touches.
    private struct ThreadState {
        var fd: Int32
        var active: SegmentSummary
        var lastHash: ChainHash
        var spareBytes: [UInt8] = []
        var output: [UInt8] = []
        /// Appenders answered by the last round of writes, and how long its write and sync took: what the
        /// next round's gathering goes by.
        var lastAnswered = 0
        var lastRoundNanos = 0
        /// What this writer last recorded in `synced-end` (nil: nothing yet).
        var recordedSyncedEnd: SyncedEnd?
    }

    package let directory: String
    private let configuration: EventLogConfiguration
    private let observer: (any EventLogObserver)?
    package let board: FrontierBoard
    private let lock: DirectoryLock
    private let shared: ConditionLock<Shared>
    private var thread: ThreadState

    package init(
        directory: String, configuration: EventLogConfiguration, observer: (any EventLogObserver)?,
        lock: DirectoryLock, fd: Int32, active: SegmentSummary, lastHash: ChainHash, lastMillis: Int64,
        segmentBases: [UInt64]
    ) {
        self.directory = directory
        self.configuration = configuration
        self.observer = observer
        self.lock = lock
        self.board = FrontierBoard(
            LogFrontier(
                endOffset: active.nextOffset, segmentBases: segmentBases, activeReadableSize: active.size,
                activeIndex: active.index))
        self.shared = ConditionLock(Shared(nextOffset: active.nextOffset, lastMillis: lastMillis))
        self.thread = ThreadState(fd: fd, active: active, lastHash: lastHash)
    }

    package func start() {
        DedicatedThread.start { [self] in run() }
    }

    // MARK: - Appending (any task)

    /// Appends records and returns their offsets once they are durable (or, in `none` mode, once assigned).
    package func append(_ records: [[UInt8]]) async throws -> AppendReceipt {
        precondition(!records.isEmpty)
        var size = 0
        for record in records {
            if let problem = record.withUnsafeBytes({ RecordEnvelope.problem(with: $0) }) {
                throw LogError.invalidRecord(problem)
            }
            size += record.count + RecordEnvelope.maximumOverhead
        }
        if configuration.durability == .none {
            // One lock round per append when there is room: this path is about raw speed.
            while true {
                let receipt = try shared.withLock { state -> AppendReceipt? in
                    guard state.pendingBytes.count < configuration.maximumPendingBytes else { return nil }
                    return try enqueue(records, size: size, waiter: nil, &state)
                }
                if let receipt { return receipt }
                try await waitForRoom()
            }
        }
        try await waitForRoom()
        return try await withUnsafeThrowingContinuation { (waiter: UnsafeContinuation<AppendReceipt, any Error>) in
            do {
                _ = try shared.withLock { try enqueue(records, size: size, waiter: waiter, &$0) }
            } catch {
                waiter.resume(throwing: error)
            }
        }
    }

    /// Waits while the pending buffer is over its limit. The limit is soft: appenders that pass the check at the
    /// same moment may overshoot it by their own size.
    private func waitForRoom() async throws {
        while true {
            let full = try shared.withLock { state -> Bool in
                try state.checkAccepting()
                return state.pendingBytes.count >= configuration.maximumPendingBytes
            }
            guard full else { return }
            await withUnsafeContinuation { (waiter: UnsafeContinuation<Void, Never>) in
                let stillFull = shared.withLock { state -> Bool in
                    guard case .running = state.phase, state.pendingBytes.count >= configuration.maximumPendingBytes
                    else { return false }
                    state.spaceWaiters.append(waiter)
                    return true
                }
                if !stillFull { waiter.resume() }
            }
        }
    }

    private func enqueue(
        _ records: [[UInt8]], size: Int, waiter: UnsafeContinuation<AppendReceipt, any Error>?, _ state: inout Shared
    ) throws -> AppendReceipt {
        try state.checkAccepting()
        // Only a log whose last batch claims offsets near 2^64 (written by hand) gets here.
        guard UInt64(records.count) <= UInt64.max - state.nextOffset else { throw LogError.offsetsExhausted }
        // appendedAt never goes backwards, even when the wall clock does: readers may rely on time order.
        let millis = max(configuration.clockMillis(), state.lastMillis)
        state.lastMillis = millis
        if millis != state.timestampMillis {
            state.timestampMillis = millis
            state.timestamp.removeAll(keepingCapacity: true)
            appendTimestamp(millis: millis, to: &state.timestamp)
        }
        let first = state.nextOffset
        state.pendingBytes.reserveCapacity(state.pendingBytes.count + size)
        for record in records {
            record.withUnsafeBytes {
                RecordEnvelope.appendStamped($0, offset: state.nextOffset, timestamp: state.timestamp, to: &state.pendingBytes)
            }
            state.nextOffset += 1
        }
        let wasIdle = state.pendingAppends.isEmpty
        state.pendingAppends.append(
            PendingAppend(
                offsets: first..<state.nextOffset, endByte: state.pendingBytes.count, firstMillis: millis,
                lastMillis: millis, waiter: waiter))
        if wasIdle || state.pendingAppends.count == state.gatherTarget { shared.signal() }
        return AppendReceipt(offsets: first..<state.nextOffset, appendedAtMillis: millis)
    }

    // MARK: - Closing

    /// Stops taking appends, writes and syncs what is pending, and releases the directory. Idempotent.
    package func close() async {
        await withUnsafeContinuation { (waiter: UnsafeContinuation<Void, Never>) in
            let done = shared.withLock { state -> Bool in
                if state.threadExited { return true }
                switch state.phase {
                case .closed:
                    return true
                case .running:
                    state.phase = .closing
                    shared.signal()
                case .closing, .stopped:
                    break
                }
                state.closeWaiters.append(waiter)
                return false
            }
            if done { waiter.resume() }
        }
    }

    /// The fatal error that stopped the writer, if any.
    package var failure: LogError? {
        shared.withLock { state in
            if case .stopped(let error) = state.phase { return error }
            return nil
        }
    }

    // MARK: - The writer thread

    private func run() {
        while true {
            let workExists = { (state: Shared) -> Bool in
                if case .running = state.phase { return !state.pendingAppends.isEmpty }
                return true
            }
            // Once nothing has come to write for a moment, record how far the log is synced, so that damage to
            // what was acknowledged is never taken for a torn write (SyncedEnd). A steady stream of appends
            // never waits for it.
            if configuration.durability == .fsync, syncedEndIsStale {
                let idle = shared.withLock(waitingUntil: workExists, atMostNanoseconds: Self.syncedEndIdleNanoseconds) {
                    !workExists($0)
                }
                if idle { recordSyncedEnd() }
            }
            let taken: (bytes: [UInt8], appends: [PendingAppend], roomWaiters: [UnsafeContinuation<Void, Never>])?
            if let gathering = gatheringPlan() {
                // Group commit's one weakness: the appenders just answered come back a few microseconds apart,
                // and a writer that takes the first of them alone writes one small group and then one large
                // one, two syncs where one would do. So once the first is here, wait briefly for the others
                // (PostgreSQL's commit_delay, bounded by the last round's own duration).
                shared.withLock(waitingUntil: workExists) { $0.gatherTarget = gathering.target }
                taken = shared.withLock(
                    waitingUntil: { state in
                        guard case .running = state.phase else { return true }
                        return state.pendingAppends.count >= gathering.target
                            || state.pendingBytes.count >= configuration.maximumPendingBytes / 2
                    },
                    atMostNanoseconds: gathering.nanoseconds
                ) { state in
                    state.gatherTarget = 0
                    return take(&state)
                }
            } else {
                taken = shared.withLock(waitingUntil: workExists) { take(&$0) }
            }
            guard let taken else { break }
            for waiter in taken.roomWaiters { waiter.resume() }
            let started = ContinuousClock.now
            let keepGoing = write(taken.bytes, taken.appends)
            let elapsed = (ContinuousClock.now - started).components
            thread.lastRoundNanos = Int(elapsed.seconds) * 1_000_000_000 + Int(elapsed.attoseconds / 1_000_000_000)
            thread.lastAnswered = taken.appends.count
            thread.spareBytes = taken.bytes
            thread.spareBytes.removeAll(keepingCapacity: true)
            if !keepGoing { break }
        }
        finish()
    }

    private static let syncedEndIdleNanoseconds = Int(SyncedEnd.idleDelay.components.seconds) * 1_000_000_000
        + Int(SyncedEnd.idleDelay.components.attoseconds / 1_000_000_000)

    /// Whether the log holds synced batches that `synced-end` does not cover yet.
    private var syncedEndIsStale: Bool {
        guard thread.active.batchCount > 0 else { return false }
        guard let recorded = thread.recordedSyncedEnd else { return true }
        return recorded.segment != thread.active.base || recorded.bytes != thread.active.size
    }

    /// Records the end of what is synced. Called only once the data it names is synced. A record that cannot
    /// be written leaves the older one, which names less: nothing to stop for, and not retried until the
    /// next write.
    private func recordSyncedEnd() {
        let record = SyncedEnd(
            segment: thread.active.base, bytes: thread.active.size, offset: thread.active.nextOffset,
            chainHash: thread.lastHash)
        _ = record.write(directory: directory)
        thread.recordedSyncedEnd = record
    }

    /// The most appenders a round waits for. A sync shared by 64 appends is well amortised; waiting for hundreds
    /// leaves the disk idle while two cores re-run their appenders (AppendBenchmark, 256 appenders: about
    /// 480,000 events/s with this cap, about 350,000 without; 64 appenders the same either way).
    private static let largestGatherTarget = 64

    /// Whether the next round waits for more appenders after the first, for how many and how long at most:
    /// only when several were answered last time (so a lone appender never waits), only when appends are synced
    /// (a `none` round costs next to nothing), for at most half the last round's write and sync, and for no more
    /// than `largestGatherTarget` appenders.
    private func gatheringPlan() -> (target: Int, nanoseconds: Int)? {
        guard configuration.durability == .fsync, thread.lastAnswered > 1 else { return nil }
        let nanoseconds = min(thread.lastRoundNanos / 2, 1_000_000)
        return nanoseconds > 0 ? (min(Self.largestGatherTarget, thread.lastAnswered), nanoseconds) : nil
    }

    /// Takes everything pending, under the lock; nil when the writer is to stop.
    private func take(
        _ state: inout Shared
    ) -> (bytes: [UInt8], appends: [PendingAppend], roomWaiters: [UnsafeContinuation<Void, Never>])? {
        if case .stopped = state.phase { return nil }
        if state.pendingAppends.isEmpty { return nil }  // closing, and everything is written
        var bytes = thread.spareBytes
        swap(&bytes, &state.pendingBytes)
        let appends = state.pendingAppends
        state.pendingAppends.removeAll(keepingCapacity: true)
        let roomWaiters = state.spaceWaiters
        state.spaceWaiters.removeAll()
        return (bytes, appends, roomWaiters)
    }

    /// One cut of the pending bytes into a batch.
    private struct BatchPlan {
        var bytes: Range<Int>
        var firstOffset: UInt64
        var count: Int
        var millis: ClosedRange<Int64>
    }

    /// Writes everything taken; returns false when the writer must stop.
    private func write(_ bytes: [UInt8], _ appends: [PendingAppend]) -> Bool {
        let plans = planBatches(bytes, appends)
        var nextPlan = 0
        var nextAppend = 0
        while nextPlan < plans.count {
            if thread.active.size >= Int64(configuration.segmentSizeLimit) && thread.active.batchCount > 0 {
                switch startNewSegment() {
                case .success: break
                case .failure(let failure):
                    return fail(failure, from: nextAppend, of: appends)
                }
            }
            // One write group: batches up to the segment's size limit (at least one), one pwrite, one sync.
            var summary = thread.active
            var lastHash = thread.lastHash
            thread.output.removeAll(keepingCapacity: true)
            let groupStart = nextPlan
            while nextPlan < plans.count {
                let plan = plans[nextPlan]
                let position = summary.size + Int64(thread.output.count)
                let header = bytes.withUnsafeBytes { raw in
                    BatchFormat.appendBatch(
                        lines: UnsafeRawBufferPointer(rebasing: raw[plan.bytes]), count: plan.count,
                        firstOffset: plan.firstOffset, appendedAtMillis: plan.millis, previousHash: lastHash,
                        continuesWriteGroup: nextPlan > groupStart, to: &thread.output)
                }
                summary.record(header, at: position)
                lastHash = header.hash
                nextPlan += 1
                if summary.size + Int64(thread.output.count) >= Int64(configuration.segmentSizeLimit) { break }
            }
            summary.size += Int64(thread.output.count)
            let writeStart = thread.active.size
            let path = segmentPath(thread.active.base)

            let written = thread.output.withUnsafeBytes { FileSystem.writeAll(thread.fd, $0, at: writeStart) }
            if case .failure(let error) = written {
                // Remove whatever part of the group reached the file, so the log ends at its last good batch.
                if case .failure(let truncateError) = FileSystem.truncate(thread.fd, to: writeStart) {
                    return fail(.fatal(.io("cut a failed write", path, truncateError)), from: nextAppend, of: appends)
                }
                let failure: WriteFailure =
                    error.isOutOfSpace ? .recoverable(.diskFull(path, error)) : .fatal(.io("write to the log", path, error))
                return fail(failure, from: nextAppend, of: appends)
            }
            var syncDuration: Duration?
            if configuration.durability == .fsync {
                let started = ContinuousClock.now
                let synced = configuration.injectedFaults?.dataSync().map { .failure($0) } ?? FileSystem.dataSync(thread.fd)
                if case .failure(let error) = synced {
                    // The kernel may have dropped the dirty pages and cleared the error: a retry on this
                    // descriptor could report success for data that is gone. Stop for good.
                    return fail(.fatal(.io("sync the log to disk", path, error)), from: nextAppend, of: appends)
                }
                syncDuration = ContinuousClock.now - started
            }
            thread.active = summary
            thread.lastHash = lastHash
            let durableEnd = plans[nextPlan - 1].firstOffset + UInt64(plans[nextPlan - 1].count)
            let groupRecords = Int(durableEnd - plans[groupStart].firstOffset)
            board.publish { frontier in
                frontier.endOffset = durableEnd
                frontier.activeReadableSize = summary.size
                if frontier.activeIndex.count != summary.index.count { frontier.activeIndex = summary.index }
            }
            while nextAppend < appends.count, appends[nextAppend].offsets.upperBound <= durableEnd {
                appends[nextAppend].waiter?.resume(
                    returning: AppendReceipt(offsets: appends[nextAppend].offsets, appendedAtMillis: appends[nextAppend].firstMillis))
                nextAppend += 1
            }
            observer?.logDidWrite(records: groupRecords, bytes: thread.output.count, syncDuration: syncDuration)
        }
        return true
    }

    /// Cuts the taken bytes into batches of at most `maximumBatchBytes`, at record boundaries.
    private func planBatches(_ bytes: [UInt8], _ appends: [PendingAppend]) -> [BatchPlan] {
        var plans: [BatchPlan] = []
        var current: BatchPlan?
        var appendStart = 0
        for append in appends {
            let length = append.endByte - appendStart
            if let plan = current, plan.bytes.count + length > configuration.maximumBatchBytes {
                plans.append(plan)
                current = nil
            }
            if length <= configuration.maximumBatchBytes || append.offsets.count == 1 {
                if var plan = current {
                    plan.bytes = plan.bytes.lowerBound..<append.endByte
                    plan.count += append.offsets.count
                    plan.millis = plan.millis.lowerBound...append.lastMillis
                    current = plan
                } else {
                    current = BatchPlan(
                        bytes: appendStart..<append.endByte, firstOffset: append.offsets.lowerBound,
                        count: append.offsets.count, millis: append.firstMillis...append.lastMillis)
                }
            } else {
                // One append larger than a batch: cut it at line ends.
                bytes.withUnsafeBytes { raw in
                    var lineStart = appendStart
                    var offset = append.offsets.lowerBound
                    while lineStart < append.endByte {
                        let lineEnd = raw[lineStart..<append.endByte].firstIndex(of: 0x0A)! + 1
                        if var plan = current, lineEnd - plan.bytes.lowerBound <= configuration.maximumBatchBytes {
                            plan.bytes = plan.bytes.lowerBound..<lineEnd
                            plan.count += 1
                            current = plan
                        } else {
                            if let plan = current { plans.append(plan) }
                            current = BatchPlan(
                                bytes: lineStart..<lineEnd, firstOffset: offset, count: 1,
                                millis: append.firstMillis...append.lastMillis)
                        }
                        offset += 1
                        lineStart = lineEnd
                    }
                }
            }
            appendStart = append.endByte
        }
        if let plan = current { plans.append(plan) }
        return plans
    }

    private enum WriteFailure: Error {
        /// The append fails; the log stays usable (a full disk).
        case recoverable(LogError)
        /// The writer must stop (a failed fsync, an I/O error).
        case fatal(LogError)
    }

    /// Fails every append from `index` on, and everything pending behind them, whose offsets were handed out but
    /// will now never be written. Returns whether the writer keeps going.
    private func fail(_ failure: WriteFailure, from index: Int, of appends: [PendingAppend]) -> Bool {
        let (error, keepGoing): (LogError, Bool) =
            switch failure {
            case .recoverable(let error): (error, true)
            case .fatal(let cause): (LogError.writerStopped(because: cause), false)
            }
        let queued = shared.withLock { state -> [PendingAppend] in
            let queued = state.pendingAppends
            state.pendingAppends.removeAll()
            state.pendingBytes.removeAll(keepingCapacity: true)
            // Offsets past what is on disk are handed out again by the next append, so the log keeps no gaps.
            state.nextOffset = thread.active.nextOffset
            if !keepGoing { state.phase = .stopped(error) }
            return queued
        }
        // Tell the observer (and tails) before the appenders, so that whoever sees the error sees it reported.
        if keepGoing {
            observer?.logAppendDidFail(error)
        } else {
            observer?.logWriterDidStop(error)
            board.finish(error)
        }
        for append in appends[index...] { append.waiter?.resume(throwing: error) }
        for append in queued { append.waiter?.resume(throwing: error) }
        return keepGoing
    }

    private func segmentPath(_ base: UInt64) -> String {
        directory + "/" + SegmentName.fileName(base: base)
    }

    /// Seals the active segment and starts the next one: the new file and the directory entry are durable before
    /// the first batch goes into it.
    private func startNewSegment() -> Result<Void, WriteFailure> {
        let oldPath = segmentPath(thread.active.base)
        if configuration.durability == .none, case .failure(let error) = FileSystem.dataSync(thread.fd) {
            return .failure(.fatal(.io("sync a segment before sealing it", oldPath, error)))
        }
        let base = thread.active.nextOffset
        let fd: Int32
        switch SegmentCreation.create(directory: directory, base: base) {
        case .success(let opened): fd = opened
        case .failure(let failure):
            switch failure {
            case .recoverable(let error): return .failure(.recoverable(error))
            case .fatal(let error): return .failure(.fatal(error))
            }
        }
        // The index is derived state: if it cannot be written now, readers rebuild it.
        _ = SegmentIndexFile.save(thread.active, directory: directory)
        FileSystem.close(thread.fd)
        thread.fd = fd
        thread.active = SegmentSummary(base: base)
        board.publish { frontier in
            frontier.segmentBases.append(base)
            frontier.activeReadableSize = 0
            frontier.activeIndex = []
        }
        observer?.logDidStartSegment(baseOffset: base)
        return .success(())
    }

    private func finish() {
        let (waiters, error) = shared.withLock { state -> ([UnsafeContinuation<Void, Never>], LogError) in
            var error = LogError.closed
            if case .stopped(let fatal) = state.phase {
                error = fatal
            } else {
                state.phase = .closed
            }
            // Nothing pending can remain: `run` only stops when the queue is empty or the writer failed, and
            // `fail` fails the whole queue.
            assert(state.pendingAppends.isEmpty)
            state.threadExited = true
            defer { state.closeWaiters.removeAll() }
            return (state.closeWaiters, error)
        }
        if error.code == .closed {
            // A clean close: everything is synced (in `none` mode, now), so its end is recorded too.
            var synced = configuration.durability == .fsync
            if !synced, case .success = FileSystem.dataSync(thread.fd) { synced = true }
            if synced, syncedEndIsStale { recordSyncedEnd() }
        }
        FileSystem.close(thread.fd)
        lock.release()
        board.finish(error)
        // Appenders that raced with the stop are refused by `checkAccepting`; wake anyone waiting for room.
        let roomWaiters = shared.withLock { state -> [UnsafeContinuation<Void, Never>] in
            defer { state.spaceWaiters.removeAll() }
            return state.spaceWaiters
        }
        for waiter in roomWaiters { waiter.resume() }
        for waiter in waiters { waiter.resume() }
    }
}

extension LogWriter.Shared {
    fileprivate func checkAccepting() throws {
        switch phase {
        case .running: return
        case .closing, .closed: throw LogError.closed
        case .stopped(let error): throw error
        }
    }
}

extension SegmentSummary {
    /// Accounts for a batch appended at `position`; keeps a sparse index entry every 64 KiB.
    package mutating func record(_ header: BatchHeader, at position: Int64) {
        if index.isEmpty || position - index[index.count - 1].position >= SegmentScanner.defaultIndexInterval {
            index.append(SparseIndexEntry(offset: header.firstOffset, position: position))
        }
        if batchCount == 0 {
            firstPreviousHash = header.previousHash
            firstAppendedAtMillis = header.firstAppendedAtMillis
        }
        batchCount += 1
        uncompressedBytes += Int64(header.uncompressedLength)
        lastHash = header.hash
        lastBatchPosition = position
        lastAppendedAtMillis = header.lastAppendedAtMillis
        nextOffset = header.endOffset
    }
}
