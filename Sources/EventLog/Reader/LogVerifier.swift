import Glibc

/// A full check of a log directory, for auditors: every batch's header, hash and payload, the offsets, and the
/// hash chain from the first batch to the last, across segments.
public enum LogVerifier {
    /// What `verify` found.
    public struct Report: Sendable {
        /// A place where the log is damaged.
        public struct Problem: Sendable, CustomStringConvertible {
            public var file: String
            public var byteOffset: Int64
            public var reason: String
            public var description: String { "\(file) at byte \(byteOffset): \(reason)" }

            public init(file: String, byteOffset: Int64, reason: String) {
                self.file = file
                self.byteOffset = byteOffset
                self.reason = reason
            }
        }

        public var segments = 0
        public var batches = 0
        public var records: UInt64 = 0
        /// The log's start record, when it has one (its oldest segments were archived); nil: it starts at 0.
        public var start: LogStart?
        public var firstOffset: UInt64 = 0
        public var endOffset: UInt64 = 0
        public var bytesOnDisk: Int64 = 0
        /// The hash of the last good batch: the head of the chain.
        public var lastHash: ChainHash?
        /// The first damage found; verification stops there.
        public var problem: Problem?
        /// An incomplete or torn last batch at the end of the last segment: a write in progress, or a crash's
        /// leftover that the next writer cuts. Never acknowledged, so not damage.
        public var unfinishedTail: Problem?
        /// Derived state (index files, snapshots): missing, stale or what it stands for; rebuilt on demand, never damage.
        public var notes: [String] = []

        public var isIntact: Bool { problem == nil }

        public init() {}
    }

    /// What to check beyond the log's own format.
    public struct Options: Sendable {
        /// Checks what a record says (for events, `docs/EVENTS.md`): called for every record, without its line
        /// feed, after its envelope (`offset`, `appendedAt`) passed; returns why the record is invalid, or nil.
        /// Nil: the structure only (`log verify --structure-only`).
        public var recordCheck: (@Sendable (UnsafeRawBufferPointer) -> String?)?

        public init(recordCheck: (@Sendable (UnsafeRawBufferPointer) -> String?)? = nil) {
            self.recordCheck = recordCheck
        }
    }

    /// Verifies the log in `directory`. Reads every byte; safe beside a running writer.
    ///
    /// Checks everything `docs/LOG_FORMAT.md` promises: where the log starts, every batch's header, hash and
    /// link, the offsets, the payload frame's form, each record's envelope (its offset, and an `appendedAt`
    /// that never goes back and agrees with its batch's header), and whatever `options` add.
    ///
    /// - Throws: ``LogError`` only when the directory cannot be read at all; damage is reported in the report.
    public static func verify(directory: String, options: Options = Options()) throws -> Report {
        try LogDirectory.check(directory)
        var report = Report()
        let startPath = directory + "/" + LogStart.fileName
        let recordedStart: LogStart?
        do {
            recordedStart = try LogStart.recorded(directory: directory)
        } catch let error as LogError where error.code == .corrupt {
            report.problem = Report.Problem(file: startPath, byteOffset: 0, reason: error.message)
            return report
        }
        let start = recordedStart ?? .origin
        report.start = recordedStart
        var synced: SyncedEnd.Check?
        do {
            synced = try SyncedEnd.read(directory: directory).flatMap { $0.segment >= start.offset ? SyncedEnd.Check(record: $0, directory: directory) : nil }
        } catch let error as LogError where error.code == .corrupt {
            report.problem = Report.Problem(file: directory + "/" + SyncedEnd.fileName, byteOffset: 0, reason: error.message)
            return report
        }
        // How far the good batches of the segment the synced-end record names reach; nil: not in the log.
        var syncedSegmentGood: Int64?
        let everySegment = try LogDirectory.allSegmentBases(directory)
        let bases = everySegment.filter { $0 >= start.offset }
        if everySegment.count > bases.count {
            report.notes.append(
                "\(everySegment.count - bases.count) segment(s) before the log's start (offset \(start.offset)) are left over from archiving; they are not part of the log and were not checked")
        }
        guard let first = bases.first else {
            report.problem = Report.Problem(file: directory, byteOffset: 0, reason: "the directory holds no segment file")
            return report
        }
        report.firstOffset = first
        report.endOffset = first
        // A log says where it starts: at offset 0, or where its start record says (older segments archived).
        // Anything else means that its oldest segments are missing.
        guard first == start.offset else {
            if recordedStart == nil {
                report.problem = Report.Problem(
                    file: LogDirectory.segmentPath(directory, first), byteOffset: 0,
                    reason: "the log's first segment starts at offset \(first), but the log has no start record (\(LogStart.fileName)), so it must start at offset 0: its oldest segments are missing")
            } else {
                report.problem = Report.Problem(
                    file: startPath, byteOffset: 0,
                    reason: "the log's start record says it starts at offset \(start.offset), but its first segment starts at offset \(first)")
            }
            return report
        }
        var expectedPrevious: ChainHash? = start.chainHash
        let decompressor = LZ4FrameDecompressor()
        // appendedAt of the last record checked: it never goes back, across batches and segments.
        var lastMillis = Int64.min
        for (index, base) in bases.enumerated() {
            let path = LogDirectory.segmentPath(directory, base)
            let isLast = index == bases.count - 1
            if base != report.endOffset {
                report.problem = Report.Problem(
                    file: path, byteOffset: 0,
                    reason: "segment starts at offset \(base) but the segment before it ends at \(report.endOffset)")
                return report
            }
            let fd = try LogDirectory.openForReading(path)
            defer { FileSystem.close(fd) }
            let size = try LogDirectory.size(of: fd, path: path)
            let reader = BufferedFileReader(fd: fd, path: path)
            let scanned = SegmentScanner.scan(
                reader, fileSize: size, base: base, expectedPreviousHash: expectedPrevious, verifyHashes: true
            ) { header, position, payload in
                if let problem = checkPayload(payload, header: header, decompressor: decompressor, lastMillis: &lastMillis, options: options) {
                    return problem
                }
                synced?.saw(header, endingAt: position + Int64(header.totalLength), inSegment: base)
                return nil
            }
            let scan: SegmentScan
            switch scanned {
            case .success(let value): scan = value
            case .failure(let error): throw LogError.io("read a segment", path, error)
            }
            report.segments += 1
            report.bytesOnDisk += size
            report.batches += scan.summary.batchCount
            report.records += scan.summary.recordCount
            report.endOffset = scan.summary.nextOffset
            if let hash = scan.summary.lastHash { report.lastHash = hash }
            if base == synced?.record.segment { syncedSegmentGood = scan.summary.size }
            switch scan.stop {
            case .cleanEnd:
                break
            case .tornTail(let position, let reason) where isLast:
                if let damage = synced?.damage(tornTailAt: position, inSegment: base, reason: reason) {
                    report.problem = Report.Problem(file: path, byteOffset: position, reason: damage)
                    return report
                }
                report.unfinishedTail = Report.Problem(file: path, byteOffset: position, reason: reason)
            case .tornTail(let position, let reason), .corrupt(let position, let reason):
                report.problem = Report.Problem(file: path, byteOffset: position, reason: reason)
                return report
            }
            if !isLast {
                if scan.summary.batchCount == 0 {
                    report.problem = Report.Problem(file: path, byteOffset: 0, reason: "a sealed segment holds no batch")
                    return report
                }
                if let stored = SegmentIndexFile.load(directory: directory, base: base, size: size) {
                    if stored != scan.summary {
                        report.notes.append("index \(SegmentName.indexFileName(base: base)) disagrees with its segment; it will be rebuilt")
                    }
                } else {
                    report.notes.append("index \(SegmentName.indexFileName(base: base)) is missing or stale; it will be rebuilt")
                }
            }
            expectedPrevious = scan.summary.lastHash ?? expectedPrevious
        }
        if let problem = synced?.problem(goodBytes: syncedSegmentGood) {
            report.problem = Report.Problem(file: problem.file, byteOffset: problem.byteOffset, reason: problem.reason)
        }
        report.notes += snapshotNotes(directory: directory)
        return report
    }

    /// What the snapshots in the directory (derived state, see ``LogSnapshot``) stand for. Never damage: a
    /// snapshot that does not match the log is ignored and rebuilt by its application.
    private static func snapshotNotes(directory: String) -> [String] {
        LogSnapshot.kinds(in: directory).map { kind in
            let name = kind + LogSnapshot.fileSuffix
            let bytes: [UInt8]
            switch FileSystem.readWholeFile(LogSnapshot.path(kind: kind, directory: directory)) {
            case .success(let value): bytes = value
            case .failure(let error): return "snapshot \(name) (derived) cannot be read (\(error)); it will be rebuilt"
            }
            let snapshot: LogSnapshot
            switch LogSnapshot.decode(bytes) {
            case .success(let value): snapshot = value
            case .failure(let failure):
                return "snapshot \(name) (derived) is unusable: \(failure.reason); it will be rebuilt from the log"
            }
            guard let reader = try? LogReader(directory: directory) else {
                return "snapshot \(name) (derived) could not be checked: the log cannot be read"
            }
            if let reason = LogSnapshot.check(snapshot, reader: reader) {
                return "snapshot \(name) (derived, version \(snapshot.version)) does not stand for this log: \(reason); it will be rebuilt"
            }
            return "snapshot \(name) (derived, version \(snapshot.version)) stands for offset \(snapshot.offset), chain hash \(snapshot.chainHash): matches the log"
        }
    }

    /// Decompresses a batch and checks that its frame has the prescribed form and that it holds `count` lines,
    /// each stamped with its own offset and an `appendedAt` in order and within the header's, each passing
    /// `options.recordCheck`.
    private static func checkPayload(
        _ payload: UnsafeRawBufferPointer, header: BatchHeader, decompressor: LZ4FrameDecompressor,
        lastMillis: inout Int64, options: Options
    ) -> String? {
        if let problem = LZ4FrameForm.problem(payload, contentSize: Int(header.uncompressedLength)) { return problem }
        guard header.firstAppendedAtMillis <= header.lastAppendedAtMillis, header.firstAppendedAtMillis >= lastMillis else {
            return "the batch's appendedAt range (\(formatTimestamp(millis: header.firstAppendedAtMillis)) to \(formatTimestamp(millis: header.lastAppendedAtMillis))) goes back in time"
        }
        let lines: [UInt8]
        switch decompressor.decompress(payload, expectedLength: Int(header.uncompressedLength)) {
        case .success(let bytes): lines = bytes
        case .failure(let failure): return "the batch's LZ4 frame does not decode (\(failure))"
        }
        guard lines.last == 0x0A else { return "the batch's last record does not end with a line feed" }
        var expected = header.firstOffset
        var start = 0
        var previous = header.firstAppendedAtMillis
        let problem = lines.withUnsafeBytes { raw -> String? in
            while start < raw.count {
                // Checked before counting on: the header keeps firstOffset + count within 64 bits, lines
                // beyond its count need not.
                guard expected < header.endOffset else { return "the batch holds more lines than its header's \(header.count)" }
                // The last byte is a line feed, so one is always found.
                let lineFeed = memchr(raw.baseAddress! + start, 0x0A, raw.count - start)!
                let end = raw.baseAddress!.distance(to: UnsafeRawPointer(lineFeed))
                let line = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                let index = expected - header.firstOffset
                guard RecordEnvelope.offset(inStampedLine: line) == expected else {
                    return "record \(index) of the batch does not carry offset \(expected)"
                }
                guard let millis = RecordEnvelope.appendedAt(inStampedLine: line, offset: expected) else {
                    return "record \(index) of the batch (offset \(expected)) has no appendedAt in the documented form"
                }
                guard millis >= previous, millis <= header.lastAppendedAtMillis, index > 0 || millis == header.firstAppendedAtMillis else {
                    return "record \(index) of the batch (offset \(expected)) has appendedAt \(formatTimestamp(millis: millis)), out of order or outside the header's \(formatTimestamp(millis: header.firstAppendedAtMillis)) to \(formatTimestamp(millis: header.lastAppendedAtMillis))"
                }
                if let check = options.recordCheck, let reason = check(line) {
                    return "the batch's hash holds, but record \(index) (offset \(expected)) is \(reason)"
                }
                previous = millis
                expected += 1
                start = end + 1
            }
            guard expected == header.endOffset else {
                return "the batch holds \(expected - header.firstOffset) records, its header says \(header.count)"
            }
            guard previous == header.lastAppendedAtMillis else {
                return "the batch's last record has appendedAt \(formatTimestamp(millis: previous)), its header \(formatTimestamp(millis: header.lastAppendedAtMillis))"
            }
            return nil
        }
        if problem == nil { lastMillis = header.lastAppendedAtMillis }
        return problem
    }
}
