import Glibc

/// One record read back from the log.
public struct LogRecord: Sendable {
    /// The record's offset: its position in the log, from 0.
    public var offset: UInt64
    /// The stored JSON line, envelope included, without the trailing line feed.
    public var bytes: ArraySlice<UInt8>
}

/// Reads a log in offset order from any offset, checking every batch's hash and the chain between batches.
///
/// A reader never returns a record from a batch that fails its hash; damage is reported as a ``LogError`` with
/// the file and byte offset. A reader made with ``init(directory:)`` works beside a running writer in another
/// process and reads up to the last complete batch; one made by ``EventLog/makeReader()`` reads exactly up to
/// what the writer has made durable. Not thread-safe: one reader per task.
public final class LogReader {
    private let directory: String
    private let board: FrontierBoard?
    private let decompressor = LZ4FrameDecompressor()

    private struct Cursor {
        var base: UInt64
        var fd: Int32
        var reader: BufferedFileReader
        var position: Int64
        var expectedPrevious: ChainHash?
    }

    private var cursor: Cursor?
    private var segmentBases: [UInt64] = []
    /// Where the log starts, as read at the last seek.
    private var start = LogStart.origin
    /// The offset of the next record this reader returns.
    public private(set) var nextOffset: UInt64 = 0
    private var skipBelow: UInt64 = 0

    /// Where the chain stands after the records ``nextRecords()`` last returned: the end of their batch and its
    /// hash (checked against the batch's bytes). Nil before the first batch is read after a seek.
    public private(set) var lastChainPoint: ChainPoint?

    /// For a reader of another process's log: the incomplete or torn bytes at the end of the last segment where
    /// reading stopped, if any. A writer opening the log cuts them; they were never acknowledged.
    public private(set) var unreadableTail: (file: String, byteOffset: Int64, reason: String)?

    /// A read-only reader of the log in `directory`, positioned at its first record.
    ///
    /// - Throws: ``LogError`` when the directory is missing, not a directory, or holds no segment.
    public convenience init(directory: String) throws {
        try LogDirectory.check(directory)
        self.init(directory: directory, board: nil)
        try seek(to: segmentBasesNow().first ?? 0)
    }

    package init(directory: String, board: FrontierBoard?) {
        self.directory = directory
        self.board = board
    }

    deinit {
        if let cursor { FileSystem.close(cursor.fd) }
    }

    // MARK: - Positioning

    /// Positions the reader so that the next record returned is the one at `offset`.
    ///
    /// Uses the segment's sparse index (rebuilt when missing or stale) and walks at most 64 KiB of headers.
    /// - Throws: ``LogError/Code/offsetOutOfRange`` for an offset before the log's first segment or past its end.
    public func seek(to offset: UInt64) throws {
        closeCursor()
        unreadableTail = nil
        lastChainPoint = nil
        start = try LogStart.read(directory: directory)
        segmentBases = try segmentBasesNow()
        guard let first = segmentBases.first else {
            throw LogError(code: .corrupt, message: "The log directory holds no segment file.", path: directory)
        }
        guard offset >= first else {
            throw LogError(code: .offsetOutOfRange, message: "The log starts at offset \(first); offset \(offset) is not in it.", path: directory)
        }
        if let board, offset > board.frontier.endOffset {
            throw LogError(
                code: .offsetOutOfRange,
                message: "Offset \(offset) is past the end of the log (\(board.frontier.endOffset)).", path: directory)
        }
        let segmentIndex = segmentBases.lastIndex { $0 <= offset }!
        let base = segmentBases[segmentIndex]
        let isLast = segmentIndex == segmentBases.count - 1
        let entries: [SparseIndexEntry]
        if !isLast {
            entries = try LogDirectory.sealedSummary(directory, base: base).index
        } else if let board {
            entries = board.frontier.activeIndex
        } else {
            entries = []  // another process is writing it: walk from its start
        }
        let start = entries.last { $0.offset <= offset } ?? SparseIndexEntry(offset: base, position: 0)
        try openCursor(base: base, position: start.position, nextOffset: start.offset)
        try skipHeaders(below: offset)
        skipBelow = offset
    }

    /// Walks batch headers (without reading payloads) until the batch holding `offset`.
    private func skipHeaders(below offset: UInt64) throws {
        while var current = cursor, nextOffset < offset {
            let readable = try readableSize(of: current)
            switch current.reader.batch(at: current.position, fileSize: readable, loadPayload: false, verifyHash: false) {
            case .failure(let error):
                throw LogError.io("read a segment", current.reader.path, error)
            case .success(.batch(let header, _)):
                if header.endOffset > offset { return }
                try checkContinuity(header, current)
                current.position += Int64(header.totalLength)
                current.expectedPrevious = header.hash
                cursor = current
                nextOffset = header.endOffset
            case .success:
                // The end, or damage: let `nextBatch` report it with the right words.
                return
            }
        }
    }

    /// The log's chain hash at `offset`: the hash of the batch that ends exactly there, checked against its
    /// bytes; at the log's start, what its first batch chains to (its start record's hash; 32 zero bytes at
    /// offset 0). Nil when no batch ends at `offset` (it falls inside a batch, or past the log's end). Moves the
    /// reader: when the hash is found, the next record it returns is the one at `offset`.
    ///
    /// - Throws: ``LogError/Code/offsetOutOfRange`` for an offset before the log's start (archived history);
    ///   ``LogError/Code/corrupt`` when the batch there is damaged.
    public func chainHash(at offset: UInt64) throws -> ChainHash? {
        let start = try LogStart.read(directory: directory)
        if offset == start.offset {
            try seek(to: offset)
            return start.chainHash
        }
        guard offset > start.offset else {
            throw LogError(
                code: .offsetOutOfRange,
                message: "The log starts at offset \(start.offset) (older segments were archived); the chain hash at offset \(offset) is in the archive.",
                path: directory)
        }
        if let board, offset > board.frontier.endOffset { return nil }
        try seek(to: offset - 1)
        guard try nextRecords() != nil, let point = lastChainPoint, point.offset == offset else { return nil }
        return point.hash
    }

    // MARK: - Reading

    /// The next batch's records from the reader's position, or nil when nothing more is readable now.
    ///
    /// - Throws: ``LogError/Code/corrupt`` naming the file and byte offset of a damaged batch.
    public func nextRecords() throws -> [LogRecord]? {
        while true {
            guard var current = cursor else { return nil }
            if let board, nextOffset >= board.frontier.endOffset { return nil }
            let readable = try readableSize(of: current)
            let found: BatchAtPosition
            switch current.reader.batch(at: current.position, fileSize: readable, loadPayload: true, verifyHash: true) {
            case .failure(let error): throw LogError.io("read a segment", current.reader.path, error)
            case .success(let result): found = result
            }
            switch found {
            case .end:
                guard try moveToNextSegment() else { return nil }
            case .incomplete(let reason):
                guard try isLastSegment(current.base) else {
                    throw LogError.corrupt(current.reader.path, at: current.position, "a sealed segment ends inside a batch (\(reason))")
                }
                // Another process may be writing these very bytes: read them afresh next time. A write in
                // progress is the end of the file; a later write group after it would be damage (SegmentScanner).
                if board == nil,
                    (try? current.reader.writeGroupStartExists(after: current.position, fileSize: readable).get()) ?? true
                {
                    throw LogError.corrupt(current.reader.path, at: current.position, reason + "; a later write group follows")
                }
                unreadableTail = (current.reader.path, current.position, reason)
                current.reader.invalidate()
                return nil
            case .unusable(let reason):
                throw LogError.corrupt(current.reader.path, at: current.position, reason)
            case .damaged(let reason):
                if board == nil, try isLastSegment(current.base) {
                    // The rule recovery applies (SegmentScanner): a tail only when no later write group follows.
                    let validFollows =
                        (try? current.reader.writeGroupStartExists(after: current.position, fileSize: readable).get()) ?? true
                    if !validFollows {
                        unreadableTail = (current.reader.path, current.position, reason)
                        current.reader.invalidate()
                        return nil
                    }
                }
                throw LogError.corrupt(current.reader.path, at: current.position, reason)
            case .batch(let header, let payload):
                try checkContinuity(header, current)
                let lines: [UInt8]
                switch decompressor.decompress(payload, expectedLength: Int(header.uncompressedLength)) {
                case .success(let bytes): lines = bytes
                case .failure(let failure):
                    throw LogError.corrupt(current.reader.path, at: current.position, "the batch's LZ4 frame does not decode (\(failure))")
                }
                let records = try splitRecords(lines, header: header, path: current.reader.path, position: current.position)
                current.position += Int64(header.totalLength)
                current.expectedPrevious = header.hash
                cursor = current
                nextOffset = header.endOffset
                lastChainPoint = ChainPoint(offset: header.endOffset, hash: header.hash)
                if skipBelow > header.firstOffset {
                    return Array(records.dropFirst(Int(skipBelow - header.firstOffset)))
                }
                return records
            }
        }
    }

    private func checkContinuity(_ header: BatchHeader, _ current: Cursor) throws {
        if header.firstOffset != nextOffset {
            throw LogError.corrupt(
                current.reader.path, at: current.position,
                "batch starts at offset \(header.firstOffset), expected \(nextOffset)")
        }
        if let expected = current.expectedPrevious, header.previousHash != expected {
            throw LogError.corrupt(current.reader.path, at: current.position, "batch does not chain to the batch before it")
        }
    }

    private func splitRecords(_ lines: [UInt8], header: BatchHeader, path: String, position: Int64) throws -> [LogRecord] {
        var records: [LogRecord] = []
        records.reserveCapacity(Int(header.count))
        var start = 0
        lines.withUnsafeBytes { raw in
            // No more lines than the header says: the offsets past them could overflow.
            while start < raw.count, records.count < Int(header.count) {
                guard let found = memchr(raw.baseAddress! + start, 0x0A, raw.count - start) else { break }
                let end = raw.baseAddress!.distance(to: UnsafeRawPointer(found))
                records.append(LogRecord(offset: header.firstOffset + UInt64(records.count), bytes: lines[start..<end]))
                start = end + 1
            }
        }
        guard records.count == Int(header.count), start == lines.count else {
            throw LogError.corrupt(
                path, at: position, "the batch's lines do not match its header's record count, \(header.count)")
        }
        return records
    }

    // MARK: - Segments

    /// The log's segments from its start, as known at the last seek: the writer's list (which does not learn of
    /// segments removed below a start moved by another process, `log archive`) cut at the start record.
    private func segmentBasesNow() throws -> [UInt64] {
        if let board { return board.frontier.segmentBases.filter { $0 >= start.offset } }
        return try LogDirectory.segmentBases(directory)
    }

    /// Every segment file, below the log's start too: to move on from a segment the start has since passed.
    private func allSegmentBasesNow() throws -> [UInt64] {
        if let board { return board.frontier.segmentBases }
        return try LogDirectory.allSegmentBases(directory)
    }

    private func isLastSegment(_ base: UInt64) throws -> Bool {
        if board == nil { segmentBases = try segmentBasesNow() }
        return segmentBases.last == base
    }

    private func readableSize(of current: Cursor) throws -> Int64 {
        if let board {
            let frontier = board.frontier
            segmentBases = frontier.segmentBases
            if frontier.segmentBases.last == current.base { return frontier.activeReadableSize }
        }
        switch FileSystem.size(current.fd) {
        case .success(let size): return size
        case .failure(let error): throw LogError.io("read the size of a segment", current.reader.path, error)
        }
    }

    /// Moves to the segment after the current one; false when there is none yet.
    private func moveToNextSegment() throws -> Bool {
        guard let current = cursor else { return false }
        // Not cut at the start: a reader that has fallen behind a start moved meanwhile must not stall here
        // thinking the log ends; it moves on, and fails plainly if the next segment was removed.
        let every = try allSegmentBasesNow()
        segmentBases = every
        guard let index = every.firstIndex(of: current.base), index + 1 < every.count else { return false }
        let next = every[index + 1]
        guard next == nextOffset else {
            throw LogError.corrupt(
                current.reader.path, at: current.position,
                "segment ends at offset \(nextOffset) but the next segment starts at \(next)")
        }
        let previous = current.expectedPrevious
        try openCursor(base: next, position: 0, nextOffset: next)
        cursor?.expectedPrevious = previous
        return true
    }

    private func openCursor(base: UInt64, position: Int64, nextOffset: UInt64) throws {
        closeCursor()
        let path = LogDirectory.segmentPath(directory, base)
        let fd: Int32
        switch FileSystem.open(path, flags: O_RDONLY) {
        case .success(let opened): fd = opened
        case .failure(let error):
            // Removed since the segments were listed: older segments go once archived (`LogRetention`).
            if error.code == ENOENT, let now = try? LogStart.read(directory: directory), now.offset > base {
                throw LogError(
                    code: .offsetOutOfRange,
                    message: "The log now starts at offset \(now.offset): the segment at offset \(base) was archived and removed from the disk while it was being read.",
                    path: path)
            }
            throw LogError.io("open a segment", path, error)
        }
        cursor = Cursor(
            base: base, fd: fd, reader: BufferedFileReader(fd: fd, path: path), position: position,
            expectedPrevious: position == 0 && base == start.offset ? start.chainHash : nil)
        self.nextOffset = nextOffset
    }

    private func closeCursor() {
        if let cursor { FileSystem.close(cursor.fd) }
        cursor = nil
    }
}
