import EventLog
import FuzzSupport
import Glibc

/// libFuzzer's entry point: one input, one log directory put through everything that reads a log.
@_cdecl("LLVMFuzzerTestOneInput")
public func batchDecoderFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    BatchDecoderFuzzer.run(input)
    return 0
}

/// Feeds arbitrary bytes to the log's decoders as a segment file (or, with one flag, as a sparse index).
///
/// The first byte of an input says what to do with the rest:
///
/// - bits 0–1, fix-ups before the bytes are written, so that mutations get past the checksums and reach
///   the code behind them: 0 none; 1 every header checksum recomputed; 2 also every batch hash; 3 also
///   every previous hash and first offset, so that the batches chain.
/// - bit 2: the rest is a `.idx` file, not a segment.
/// - bit 3: the segment is named by its first batch's first offset instead of 0 (so offsets near 2^64, and
///   logs that do not start at 0, are reached).
///
/// For a segment, the properties checked (each one an invariant of `docs/LOG_FORMAT.md` or `DESIGN.md`):
/// nothing crashes, hangs or allocates without bound; scans stay inside the file; a reader returns records
/// only from batches whose header and hash hold (checked by ``Oracle``, which shares no code with the
/// engine), in offset order, chained; recovery either refuses the log as damaged (and then readers and
/// `verify` see damage too) or cuts nothing but a tail with no valid batch header after its start, keeps
/// every byte before it, loses no record a reader saw, and leaves a log that verifies and takes appends.
enum BatchDecoderFuzzer {
    /// Where the inputs are written, removed when the process exits normally (libFuzzer ends a timed run
    /// with `exit`).
    static let scratch: String = {
        let path = makeScratchDirectory(label: "fuzz-log")
        atexit { removeTree(BatchDecoderFuzzer.scratch) }
        return path
    }()
    static let segmentName = SegmentName.fileName(base: 0)

    static func run(_ input: [UInt8]) {
        guard let control = input.first else { return }
        var bytes = Array(input.dropFirst())
        let fixUp = Int(control & 0b11)
        if control & 0b100 != 0 {
            indexFile(&bytes, fixUp: fixUp)
        } else {
            let namedByFirstBatch = control & 0b1000 != 0 && bytes.count >= Oracle.framedHeaderLength
            let base = namedByFirstBatch ? Oracle.u64(bytes, 16) : 0
            if fixUp > 0 { fixUpSegment(&bytes, level: fixUp, base: base) }
            segment(bytes, base: base)
        }
    }

    // MARK: - A segment

    static func segment(_ original: [UInt8], base: UInt64) {
        let directory = scratch + "/log"
        removeTree(directory)
        mkdir(directory, 0o755)
        let path = directory + "/" + SegmentName.fileName(base: base)
        writeWholeFile(path, original)
        if base != 0 {
            // A log that starts later says so (docs/LOG_FORMAT.md, "Where a log starts"): the start record
            // names the first batch's own link, so that such logs are whole and reach the writer.
            let link = original.count >= Oracle.framedHeaderLength ? Array(original[48..<80]) : [UInt8](repeating: 0, count: 32)
            writeWholeFile(directory + "/" + LogStart.fileName, LogStart(offset: base, chainHash: ChainHash(bytes: link)).encoded)
        }

        scanDirectly(original, path: path, base: base)
        let before = readEverything(directory, original: original, base: base)
        let verified = verify(directory)
        statistics(directory)

        // The reader and verify see the same log; verify also checks each record's stamped offset.
        if verified.problem == nil {
            require(before.failure == nil, "verify found no damage but a reader failed: \(before.failure!)")
            require(before.records.count == verified.records, "verify counts \(verified.records) records, a reader \(before.records.count)")
        }
        if let failure = before.failure {
            require(failure.code == .corrupt, "a reader failed with \(failure.code), expected corrupt: \(failure)")
            require(verified.problem != nil, "a reader found damage (\(failure)) that verify did not")
        }

        recover(directory, path: path, base: base, original: original, before: before, verified: verified)
    }

    /// The scanner, as recovery and `verify` use it, with a small and a large read window.
    static func scanDirectly(_ original: [UInt8], path: String, base: UInt64) {
        let fd = open(path, O_RDONLY)
        require(fd >= 0, "cannot open the segment")
        defer { close(fd) }
        for (windowSize, verifyHashes) in [(256, false), (1 << 20, true)] {
            let reader = BufferedFileReader(fd: fd, path: path, windowSize: windowSize)
            guard case .success(let scan) = SegmentScanner.scan(
                reader, fileSize: Int64(original.count), base: base, expectedPreviousHash: base == 0 ? .genesis : nil,
                verifyHashes: verifyHashes)
            else {
                require(false, "scanning a readable file failed")
                return
            }
            let size = Int(scan.summary.size)
            switch scan.stop {
            case .cleanEnd: require(size == original.count, "a clean end at \(size) of \(original.count) bytes")
            case .tornTail(let position, _), .corrupt(let position, _):
                require(Int(position) == size, "stopped at \(position) after \(size) good bytes")
            }
            // Every batch the scan took has a valid header (and, when asked, a hash that holds), back to back.
            var position = 0
            var batches = 0
            while position < size {
                guard let header = Oracle.header(in: original, at: position) else {
                    require(false, "the scan took a batch at \(position) whose header is not valid")
                    return
                }
                if verifyHashes { require(Oracle.hashHolds(header, in: original), "the scan took a batch at \(position) whose hash fails") }
                position = header.end
                batches += 1
            }
            require(position == size && batches == scan.summary.batchCount, "the scan's batches do not add up")
        }
    }

    struct ReadOutcome {
        var records: [(offset: UInt64, bytes: ArraySlice<UInt8>)] = []
        /// Where the reader stopped: the end of the last batch it returned.
        var endPosition = 0
        var failure: LogError?
        var unreadableTail: Int64?
    }

    /// A read-only reader from the start, every record it returns checked against the oracle.
    static func readEverything(_ directory: String, original: [UInt8], base: UInt64) -> ReadOutcome {
        var outcome = ReadOutcome()
        let reader: LogReader
        do {
            reader = try LogReader(directory: directory)
        } catch {
            require(false, "opening a reader on a directory with a segment failed: \(error)")
            return outcome
        }
        // A log that starts at 0 chains to 32 zero bytes; one that starts later, to what is not there.
        var previousHash: [UInt8]? = base == 0 ? [UInt8](repeating: 0, count: 32) : nil
        var nextOffset = base
        do {
            // A batch has at least one record and takes at least 131 bytes, so this bounds the loop.
            for _ in 0...(original.count / 131 + 1) {
                guard let records = try reader.nextRecords() else { break }
                guard let header = Oracle.header(in: original, at: outcome.endPosition) else {
                    require(false, "a reader returned records from a batch at \(outcome.endPosition) without a valid header")
                    break
                }
                require(Oracle.hashHolds(header, in: original), "a reader returned records from a batch at \(header.position) whose hash fails")
                require(previousHash.map { header.previousHash == $0 } ?? true, "a reader returned records from a batch at \(header.position) that does not chain")
                require(header.firstOffset == nextOffset, "a reader skipped from offset \(nextOffset) to \(header.firstOffset)")
                require(records.count == Int(header.count), "a batch of \(header.count) records gave \(records.count)")
                require(records.reduce(0) { $0 + $1.bytes.count + 1 } == header.uncompressedLength, "records do not add up to the batch's length")
                for (i, record) in records.enumerated() {
                    require(record.offset == header.firstOffset + UInt64(i), "record \(i) of a batch has offset \(record.offset)")
                    require(!record.bytes.contains(0x0A), "a record holds a line feed")
                    outcome.records.append((record.offset, record.bytes))
                }
                previousHash = header.hash
                nextOffset = header.firstOffset + UInt64(header.count)
                outcome.endPosition = header.end
            }
            require(try reader.nextRecords() == nil, "a reader kept returning records")
            outcome.unreadableTail = reader.unreadableTail?.byteOffset
            if let tail = outcome.unreadableTail {
                require(Int(tail) == outcome.endPosition, "unreadable tail at \(tail), the reader stopped at \(outcome.endPosition)")
            } else {
                require(outcome.endPosition == original.count, "a reader stopped at \(outcome.endPosition) of \(original.count) bytes and said nothing")
            }
        } catch let error as LogError {
            outcome.failure = error
            require(error.byteOffset.map { Int($0) == outcome.endPosition } ?? false, "damage reported at \(error.byteOffset.map(String.init) ?? "no byte"), the reader was at \(outcome.endPosition)")
        } catch {
            require(false, "a reader threw something other than a LogError: \(error)")
        }
        return outcome
    }

    static func verify(_ directory: String) -> LogVerifier.Report {
        do {
            return try LogVerifier.verify(directory: directory)
        } catch {
            require(false, "verify threw instead of reporting: \(error)")
            fatalError()
        }
    }

    /// `rananeeti log stats`: headers only, and the times shown as text.
    static func statistics(_ directory: String) {
        do {
            let stats = try LogStatistics.read(directory: directory)
            _ = stats.firstAppendedAtMillis.map(formatTimestamp(millis:))
            _ = stats.lastAppendedAtMillis.map(formatTimestamp(millis:))
            _ = stats.compressionRatio
            _ = stats.records
        } catch {
            require((error as? LogError)?.code == .corrupt, "log stats failed with \(error)")
        }
    }

    /// Opens the log for writing, which recovers it, and checks what recovery did.
    static func recover(
        _ directory: String, path: String, base: UInt64, original: [UInt8], before: ReadOutcome, verified: LogVerifier.Report
    ) {
        let configuration = EventLogConfiguration(createIfMissing: false, clockMillis: { 1_764_385_577_123 })
        let log: EventLog
        do {
            log = try EventLog(directory: directory, configuration: configuration)
        } catch let error as LogError {
            require(error.code == .corrupt, "opening the log failed with \(error.code): \(error)")
            require(readWholeFile(path) == original, "a refused open changed the segment")
            require(before.failure != nil && verified.problem != nil, "recovery refused a log that a reader and verify accept: \(error)")
            return
        } catch {
            require(false, "opening the log threw something other than a LogError: \(error)")
            return
        }
        let report = log.recovery
        let after = readWholeFile(path) ?? []
        if let cut = report.cutTail {
            let position = Int(cut.byteOffset)
            require(position >= 0 && position < original.count, "cut at \(position) of \(original.count) bytes")
            require(Int(cut.byteCount) == original.count - position, "cut \(cut.byteCount) bytes at \(position) of \(original.count)")
            require(after.elementsEqual(original[0..<position]), "recovery changed bytes before its cut")
            if let saved = cut.savedTo {
                require(readWholeFile(saved)?.elementsEqual(original[position...]) == true, "the saved tail is not the bytes cut")
            }
            // Only a tail: no later write group starts after the cut.
            require(!Oracle.writeGroupStarts(in: original, after: position), "cut at \(position), but a later write group follows")
            require(position >= before.endPosition, "cut at \(position), before records a reader returned (up to \(before.endPosition))")
            if verified.problem == nil {
                require(Int64(position) == verified.unfinishedTail?.byteOffset, "cut at \(position), verify saw the tail at \(verified.unfinishedTail.map { "\($0.byteOffset)" } ?? "none")")
            }
        } else {
            require(after == original, "recovery changed the segment without reporting a cut")
            if verified.problem == nil { require(verified.unfinishedTail == nil, "verify saw a torn tail that recovery kept") }
        }

        // A log that was whole up to its tail takes an append right after its last record, and verifies
        // (unless its offsets are used up: a last batch that ends at 2^64 - 1).
        let wasReadable = verified.problem == nil
        var appendedOne = false
        if wasReadable {
            require(report.nextOffset == verified.endOffset, "recovery continues at \(report.nextOffset), the log ends at \(verified.endOffset)")
            let appended = runBlocking { () -> Result<UInt64, LogError> in
                do { return .success(try await log.append(Array(#"{"type":"fuzz"}"#.utf8))) } catch {
                    return .failure(error as! LogError)
                }
            }
            switch appended {
            case .success(let offset):
                require(offset == verified.endOffset, "append after recovery got offset \(offset), expected \(verified.endOffset)")
                appendedOne = true
            case .failure(let error):
                require(verified.endOffset == .max && error.code == .offsetOutOfRange, "append after recovery: \(error)")
            }
        }
        runBlocking { await log.close() }
        guard wasReadable, appendedOne else { return }

        let final = verify(directory)
        require(final.isIntact && final.unfinishedTail == nil, "the log does not verify after recovery and an append: \(final.problem.map { "\($0)" } ?? "torn tail")")
        require(final.records == verified.records + 1, "after recovery and an append, \(final.records) records; before, \(verified.records)")
        let again = readEverything(directory, original: readWholeFile(path) ?? [], base: base)
        require(again.failure == nil, "reading after recovery failed: \(again.failure!)")
        require(again.records.count == before.records.count + 1, "records lost or gained by recovery")
        for (old, new) in zip(before.records, again.records) {
            require(old.offset == new.offset && old.bytes.elementsEqual(new.bytes), "record \(old.offset) changed in recovery")
        }

        // A second open finds nothing to cut.
        do {
            let reopened = try EventLog(directory: directory, configuration: configuration)
            require(reopened.recovery.cutTail == nil, "a second open cut again")
            require(reopened.recovery.nextOffset == verified.endOffset + 1, "a second open continues at \(reopened.recovery.nextOffset)")
            runBlocking { await reopened.close() }
        } catch {
            require(false, "a second open failed: \(error)")
        }
    }

    // MARK: - A sparse index

    /// A `.idx` file: decoding never crashes, and what it decodes encodes to an index that decodes the same.
    static func indexFile(_ bytes: inout [UInt8], fixUp: Int) {
        if fixUp >= 2, bytes.count >= 144 + 32 {
            // The entry count that the length implies, so that the entries are read.
            Oracle.store(UInt32((bytes.count - 144 - 32) / 16), into: &bytes, at: 136)
            bytes.removeLast((bytes.count - 144 - 32) % 16)
        }
        if fixUp >= 1, bytes.count >= 32 {
            let checksum = Oracle.blake2b(Array(bytes[0..<bytes.count - 32]), length: 32)
            bytes.replaceSubrange((bytes.count - 32)..., with: checksum)
        }
        let base = bytes.count >= 16 ? Oracle.u64(bytes, 8) : 0
        let size = bytes.count >= 24 ? Int64(bitPattern: Oracle.u64(bytes, 16)) : 0
        guard let summary = SegmentIndexFile.decode(bytes, base: base, size: size) else { return }
        let encoded = SegmentIndexFile.encode(summary)
        require(SegmentIndexFile.decode(encoded, base: base, size: size) == summary, "an index does not survive encode and decode")
    }

    // MARK: - Fix-ups

    /// Recomputes what the mutations broke, walking batch by batch as a writer would have written them.
    static func fixUpSegment(_ bytes: inout [UInt8], level: Int, base: UInt64) {
        var position = 0
        var previousHash = [UInt8](repeating: 0, count: 32)
        var nextOffset = base
        while bytes.count - position >= Oracle.framedHeaderLength {
            guard bytes[position..<position + 4].elementsEqual(Oracle.magic), Oracle.u32(bytes, position + 4) == 112 else { return }
            let h = position + 8
            let end = position + Oracle.framedHeaderLength + Int(Oracle.u32(bytes, h + 32))
            if level >= 3 {
                Oracle.store(nextOffset, into: &bytes, at: h + 8)
                bytes.replaceSubrange(h + 40..<h + 72, with: previousHash)
            }
            if level >= 2, end <= bytes.count {
                let covered = Array(bytes[h..<h + 72]) + bytes[(position + Oracle.framedHeaderLength)..<end]
                bytes.replaceSubrange(h + 72..<h + 104, with: Oracle.blake2b(covered, length: 32))
            }
            bytes.replaceSubrange(h + 104..<h + 112, with: Oracle.blake2b(Array(bytes[h..<h + 104]), length: 8))
            previousHash = Array(bytes[h + 72..<h + 104])
            nextOffset &+= UInt64(Oracle.u32(bytes, h + 4))
            guard end <= bytes.count else { return }
            position = end
        }
    }
}
