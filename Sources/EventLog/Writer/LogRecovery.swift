import Glibc

/// Opening a log for writing: take the lock, check the last segment, cut a torn tail, start the writer.
///
/// Only the last segment is read in full: sealed segments were synced whole before the next one began, so
/// opening costs one segment's read however long the log is. Sealed segments are checked by readers as they
/// read and by `log verify`.
package enum LogRecovery {
    package static let tornTailDirectory = "torn-tails"

    package static func open(
        directory: String, configuration: EventLogConfiguration, observer: (any EventLogObserver)?
    ) throws -> (LogWriter, RecoveryReport) {
        var report = RecoveryReport()
        if FileSystem.kind(of: directory) == .missing, configuration.createIfMissing {
            if case .failure(let error) = FileSystem.makeDirectory(directory) {
                throw LogError.io("create the log directory", directory, error)
            }
            // The directory's name is an entry in its parent, durable only once the parent is synced (as a new
            // segment's name is only once the log directory is): else a power cut can take the whole log with it.
            let parent = FileSystem.parentDirectory(of: directory)
            if case .failure(let error) = FileSystem.syncDirectory(parent) {
                throw LogError.io("sync the directory that holds the new log", parent, error)
            }
            report.createdDirectory = true
        }
        try LogDirectory.check(directory)
        let lock = try DirectoryLock.acquire(directory: directory)
        do {
            let writer = try recover(directory: directory, configuration: configuration, observer: observer, lock: lock, report: &report)
            return (writer, report)
        } catch {
            lock.release()
            throw error
        }
    }

    private static func recover(
        directory: String, configuration: EventLogConfiguration, observer: (any EventLogObserver)?,
        lock: DirectoryLock, report: inout RecoveryReport
    ) throws -> LogWriter {
        for name in try LogDirectory.temporaryFiles(directory) {
            _ = FileSystem.unlink(directory + "/" + name)
            report.removedTemporaryFiles.append(name)
        }
        let start = try LogStart.read(directory: directory)
        var bases = try LogDirectory.segmentBases(directory)
        if bases.isEmpty {
            switch SegmentCreation.create(directory: directory, base: start.offset) {
            case .success(let fd): FileSystem.close(fd)
            case .failure(.recoverable(let error)), .failure(.fatal(let error)): throw error
            }
            bases = [start.offset]
        }
        let base = bases[bases.count - 1]
        let path = LogDirectory.segmentPath(directory, base)
        // How far the log was synced, when the writer recorded it (about a segment of the log, not an archived one).
        var synced = try SyncedEnd.read(directory: directory).flatMap { $0.segment >= start.offset ? SyncedEnd.Check(record: $0, directory: directory) : nil }
        if let check = synced, check.record.segment > base, let problem = check.problem(goodBytes: nil) {
            throw LogError.corrupt(problem.file, at: problem.byteOffset, problem.reason)
        }

        // What the last segment must chain to.
        var expectedPrevious: ChainHash? = base == start.offset ? start.chainHash : nil
        var previousLastMillis: Int64 = .min
        if bases.count >= 2 {
            let previous = try LogDirectory.sealedSummary(directory, base: bases[bases.count - 2])
            let previousPath = LogDirectory.segmentPath(directory, previous.base)
            guard previous.nextOffset == base else {
                throw LogError.corrupt(
                    path, at: 0,
                    "segment \(previousPath) ends at offset \(previous.nextOffset) but the next segment starts at \(base)")
            }
            expectedPrevious = previous.lastHash
            previousLastMillis = previous.lastAppendedAtMillis ?? .min
        }

        let fd: Int32
        switch FileSystem.open(path, flags: O_RDWR) {
        case .success(let opened): fd = opened
        case .failure(let error): throw LogError.io("open the last segment", path, error)
        }
        do {
            let size: Int64
            switch FileSystem.size(fd) {
            case .success(let value): size = value
            case .failure(let error): throw LogError.io("read the size of the last segment", path, error)
            }
            let reader = BufferedFileReader(fd: fd, path: path)
            let scan: SegmentScan
            let scanned = SegmentScanner.scan(
                reader, fileSize: size, base: base, expectedPreviousHash: expectedPrevious, verifyHashes: true,
                visit: synced?.record.segment == base
                    ? { header, position, _ in
                        synced?.saw(header, endingAt: position + Int64(header.totalLength), inSegment: base)
                        return nil
                    } : nil)
            switch scanned {
            case .success(let result): scan = result
            case .failure(let error): throw LogError.io("read the last segment", path, error)
            }
            switch scan.stop {
            case .cleanEnd:
                break
            case .corrupt(let position, let reason):
                throw LogError.corrupt(path, at: position, reason)
            case .tornTail(let position, let reason):
                if let damage = synced?.damage(tornTailAt: position, inSegment: base, reason: reason) {
                    throw LogError.corrupt(path, at: position, damage + Self.givingUp(directory))
                }
                report.cutTail = try cutTail(directory: directory, path: path, fd: fd, reader: reader, at: position, size: size, reason: reason)
            }
            if let check = synced, check.record.segment == base, let problem = check.problem(goodBytes: scan.summary.size) {
                throw LogError.corrupt(problem.file, at: problem.byteOffset, problem.reason + Self.givingUp(directory))
            }
            report.segmentCount = bases.count
            report.nextOffset = scan.summary.nextOffset
            let writer = LogWriter(
                directory: directory, configuration: configuration, observer: observer, lock: lock, fd: fd,
                active: scan.summary, lastHash: scan.summary.lastHash ?? expectedPrevious ?? .genesis,
                lastMillis: scan.summary.lastAppendedAtMillis ?? previousLastMillis, segmentBases: bases)
            return writer
        } catch {
            FileSystem.close(fd)
            throw error
        }
    }

    /// What an operator may do when records recorded as synced are damaged and no copy is left.
    private static func givingUp(_ directory: String) -> String {
        ". If no copy of them is left and they are to be given up, remove \(directory)/\(SyncedEnd.fileName): the next open then cuts them as a torn tail, keeping their bytes under \(tornTailDirectory)/"
    }

    /// Saves the torn bytes beside the log, for inspection, then cuts them off durably.
    private static func cutTail(
        directory: String, path: String, fd: Int32, reader: BufferedFileReader, at position: Int64, size: Int64,
        reason: String
    ) throws -> RecoveryReport.CutTail {
        let length = size - position
        var savedTo: String?
        if length <= 64 << 20, case .success(let bytes) = reader.bytes(at: position, count: Int(length)) {
            let folder = directory + "/" + tornTailDirectory
            let target = folder + "/" + (path.split(separator: "/").last.map(String.init) ?? "segment") + ".at-\(position)"
            if case .success = FileSystem.makeDirectory(folder),
                case .success = FileSystem.writeWholeFile(target, Array(bytes))
            {
                savedTo = target
            }
        }
        if case .failure(let error) = FileSystem.truncate(fd, to: position) {
            throw LogError.io("cut the torn tail of the last segment", path, error)
        }
        if case .failure(let error) = FileSystem.dataSync(fd) {
            throw LogError.io("sync the last segment after cutting its torn tail", path, error)
        }
        reader.invalidate()
        return RecoveryReport.CutTail(file: path, byteOffset: position, byteCount: length, reason: reason, savedTo: savedTo)
    }
}
