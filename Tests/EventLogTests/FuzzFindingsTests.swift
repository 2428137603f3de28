import Foundation
import Testing

@testable import EventLog
import TestSupport

/// Regression tests for what `scripts/fuzz` (docs/FUZZING.md) and `LogPropertyTests` found. Each fuzzer input
/// is also kept in `Fuzz/corpus/BatchDecoderFuzzer/`, which `scripts/test` replays.
@Suite("Fuzzer and property-test findings: the log", .timeLimit(.minutes(5)))
struct FuzzFindingsTests {
    /// A closed log of small segments; returns the bytes of the first sealed segment's index and its size.
    func sealedIndex(_ dir: TemporaryDirectory) async throws -> (bytes: [UInt8], segmentSize: Int64, name: String) {
        let log = try EventLog(directory: dir.path, configuration: EventLogConfiguration(segmentSizeLimit: 8192))
        for n in 0..<100 { _ = try await log.append(sampleRecord(n)) }
        await log.close()
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".idx") }.min())
        let segment = dir.appending(String(name.dropLast(4)) + ".lz4")
        return (try fileBytes(dir.appending(name)), Int64(try fileBytes(segment).count), name)
    }

    /// `bytes` changed by `change`, with the index checksum made to hold again.
    func resealed(_ bytes: [UInt8], _ change: (inout [UInt8]) -> Void) -> [UInt8] {
        var changed = bytes
        change(&changed)
        let body = changed.count - 32
        let checksum = changed.withUnsafeBytes { Blake2b.hash(UnsafeRawBufferPointer(rebasing: $0[0..<body]), length: 32) }
        changed.replaceSubrange(body..., with: checksum)
        return changed
    }

    @Test("an index whose checksum holds but that describes an impossible segment is rebuilt, not believed")
    func impossibleIndex() async throws {
        try await withTemporaryDirectory { dir in
            let (bytes, size, name) = try await sealedIndex(dir)
            let summary = try #require(SegmentIndexFile.decode(bytes, base: 0, size: size))
            #expect(summary.batchCount > 0 && summary.lastHash != nil)
            #expect(SegmentIndexFile.decode(resealed(bytes) { _ in }, base: 0, size: size) == summary)

            let impossible: [(String, (inout [UInt8]) -> Void)] = [
                // What the fuzzer found first: batches counted, but the flag says none, so the chain hashes
                // read as absent and the next segment's link to this one went unchecked.
                ("the no-batches flag with a batch count", { $0[140] = 0 }),
                // Int(UInt64) of this count trapped.
                ("a batch count of 2^63", { $0[39] = 0x80 }),
                ("more batches than the bytes can hold", { $0[32] = 0xFF; $0[33] = 0xFF }),
                ("a next offset before the base", { bytes in bytes.replaceSubrange(24..<32, with: [UInt8](repeating: 0, count: 8)) }),
                ("a last batch past the end", { $0[71] = 0x7F }),
                ("a first entry not at byte 0", { $0[152] = 1 }),
            ]
            for (label, change) in impossible {
                #expect(SegmentIndexFile.decode(resealed(bytes, change), base: 0, size: size) == nil, "\(label)")
            }

            // A reader given such an index reads the segment correctly, and the index is written anew.
            try writeFileBytes(dir.appending(name), resealed(bytes) { $0[140] = 0 })
            let reader = try LogReader(directory: dir.path)
            try reader.seek(to: 3)
            #expect(try readAll(reader).map(\.offset) == Array(3..<100))
            #expect(try fileBytes(dir.appending(name)) == bytes, "the index was rebuilt as the writer wrote it")
            #expect(try LogVerifier.verify(directory: dir.path).isIntact)
        }
    }

    /// Rewrites the header of the batch at `position` with `change`, then makes its hash and checksum hold
    /// again, as a writer of that header would have written them.
    func rewriteHeader(_ bytes: inout [UInt8], at position: Int, _ change: (inout [UInt8]) -> Void) {
        var header = Array(bytes[(position + 8)..<(position + BatchFormat.framedHeaderLength)])
        change(&header)
        let payloadLength = Int(header[32..<36].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        let payloadStart = position + BatchFormat.framedHeaderLength
        let payloadEnd = min(bytes.count, payloadStart + payloadLength)
        let hash = header.withUnsafeBytes { h in
            bytes.withUnsafeBytes { b in
                BatchFormat.chainHash(header: h, payload: UnsafeRawBufferPointer(rebasing: b[payloadStart..<payloadEnd]))
            }
        }
        header.replaceSubrange(72..<104, with: hash.bytes)
        let checksum = header.withUnsafeBytes { Blake2b.hash(UnsafeRawBufferPointer(rebasing: $0[0..<104]), length: 8) }
        header.replaceSubrange(104..<112, with: checksum)
        bytes.replaceSubrange((position + 8)..<(position + BatchFormat.framedHeaderLength), with: header)
    }

    /// Headers a writer may write whole (with a checksum that holds) that this version cannot use.
    enum UnusableHeader: String, CaseIterable, Sendable {
        case newerFormatVersion = "format version 2 (a newer writer)"
        case tooMuchJSON = "64 MiB + 1 of JSON"
        case noRecords = "a record count of 0"
        /// Found by the fuzzer: 3 × count overflowed 32 bits in the header check, which trapped.
        case hugeRecordCount = "a record count of 2^31"

        func apply(to header: inout [UInt8]) {
            switch self {
            case .newerFormatVersion: header[0] = 2
            case .tooMuchJSON: header.replaceSubrange(36..<40, with: [1, 0, 0, 4])
            case .noRecords: header.replaceSubrange(4..<8, with: [0, 0, 0, 0])
            case .hugeRecordCount: header.replaceSubrange(4..<8, with: [0, 0, 0, 0x80])
            }
        }
    }

    @Test("a header whose checksum holds but that this version cannot use is damage, never a torn tail", arguments: UnusableHeader.allCases)
    func checksummedButUnusableHeader(_ unusable: UnusableHeader) async throws {
        let label = unusable.rawValue
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            for n in 0..<5 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            let segment = dir.appending("00000000000000000000.lz4")
            let original = try fileBytes(segment)
            let batches = try batchPositions(segment)
            // In the middle of the last segment, and as its very last batch: both used to be cut as a torn tail,
            // acknowledged records and all, because such a header counted as no header at all.
            for victim in [batches[2], batches[4]] {
                var bytes = original
                rewriteHeader(&bytes, at: Int(victim.position), unusable.apply)
                try writeFileBytes(segment, bytes)
                #expect(throws: LogError.self, "\(label)") { _ = try EventLog(directory: dir.path) }
                do {
                    _ = try EventLog(directory: dir.path)
                } catch let error as LogError {
                    #expect(error.code == .corrupt && error.byteOffset == victim.position, "\(label): \(error)")
                }
                #expect(try fileBytes(segment) == bytes, "\(label): nothing was cut")
                let report = try LogVerifier.verify(directory: dir.path)
                #expect(report.problem?.byteOffset == victim.position && report.unfinishedTail == nil, "\(label)")
                let reader = try LogReader(directory: dir.path)
                #expect(throws: LogError.self) { _ = try readAll(reader) }
                try expectIndependentDamage(dir.path, file: segment, at: victim.position, label)
            }
        }
    }

    /// Bytes a crash can leave after a torn batch: the rest of its group, torn too.
    enum GroupLeftovers: String, CaseIterable, Sendable {
        case garbage = "random bytes"
        case zeros = "zeros"
        case headerWithoutPayload = "the next batch's header, its payload missing"
    }

    @Test(
        "a torn batch followed by the torn rest of its group is a tail and is cut; a whole batch after it is damage",
        arguments: GroupLeftovers.allCases)
    func tornGroup(_ leftovers: GroupLeftovers) async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            for n in 0..<4 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            forgetSyncedEnd(dir.path)  // the crash comes before the writer recorded the last group as synced
            let segment = dir.appending("00000000000000000000.lz4")
            let original = try fileBytes(segment)
            let batches = try batchPositions(segment)
            let last = Int(batches[3].position)
            let lastBatch = Array(original[last...])

            // The last batch torn inside its payload, then what else the crash left. The property test found
            // that this was refused as damage ("valid data follows") although nothing after it was whole.
            var torn = Array(original[..<(original.count - 5)]) + [0, 0, 0, 0, 0]
            switch leftovers {
            case .garbage: torn += (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7) }
            case .zeros: torn += [UInt8](repeating: 0, count: 4096)
            case .headerWithoutPayload: torn += lastBatch.prefix(BatchFormat.framedHeaderLength + 3)
            }
            try writeFileBytes(segment, torn)
            let reopened = try EventLog(directory: dir.path)
            #expect(reopened.recovery.cutTail?.byteOffset == Int64(last), "\(leftovers.rawValue)")
            #expect(reopened.recovery.nextOffset == 3)
            await reopened.close()
            #expect(try fileBytes(segment) == Array(original[..<last]))
            #expect(try LogVerifier.verify(directory: dir.path).isIntact)

            // A whole batch after a torn one was written completely, perhaps acknowledged: never cut.
            try writeFileBytes(segment, Array(original[..<(original.count - 5)]) + [0, 0, 0, 0, 0] + lastBatch)
            #expect(throws: LogError.self) { _ = try EventLog(directory: dir.path) }
            #expect(try LogVerifier.verify(directory: dir.path).problem?.byteOffset == Int64(last))
        }
    }

    /// One `pwrite` of several batches may reach the disk in any order: its first batch torn, the later ones
    /// whole. None of it was synced, so it is a tail; only a whole batch that starts a later group is damage.
    @Test("a torn group whose later batches arrived whole is a tail; a later group after damage is not")
    func tornGroupWithWholeBatchesAfter() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            _ = try await log.append(sampleRecord(0))
            // About 3 MiB in one append: one write group of several batches of at most 1 MiB each.
            _ = try await log.append(contentsOf: (1...15_000).map(sampleRecord))
            await log.close()
            forgetSyncedEnd(dir.path)  // the crash comes before the writer recorded the big group as synced
            let segment = dir.appending("00000000000000000000.lz4")
            let original = try fileBytes(segment)
            let batches = try batchPositions(segment)
            #expect(batches.count >= 3, "the big append became several batches")
            #expect(batches.map(\.header.continuesWriteGroup) == [false, false] + Array(repeating: true, count: batches.count - 2))

            // The group's first batch torn inside its payload; the rest of the group whole behind it.
            let groupStart = Int(batches[1].position)
            var torn = original
            torn[groupStart + BatchFormat.framedHeaderLength + 40] ^= 0xFF
            try writeFileBytes(segment, torn)
            let verified = try LogVerifier.verify(directory: dir.path)
            #expect(verified.problem == nil && verified.unfinishedTail?.byteOffset == Int64(groupStart))
            #expect(try readAll(try LogReader(directory: dir.path)).map(\.offset) == [0])
            #expect(try IndependentVerdict(dir.path).status == IndependentVerdict.unfinishedTail)
            let reopened = try EventLog(directory: dir.path)
            #expect(reopened.recovery.cutTail?.byteOffset == Int64(groupStart))
            #expect(reopened.recovery.nextOffset == 1)
            await reopened.close()
            #expect(try fileBytes(segment) == Array(original[..<groupStart]))

            // The same torn group followed by a group that was begun after it: the torn group had been synced,
            // perhaps acknowledged, so this is damage and nothing is cut.
            let laterGroup = Array(original[..<groupStart])  // one whole batch, flag clear
            try writeFileBytes(segment, torn + laterGroup)
            #expect { _ = try EventLog(directory: dir.path) } throws: { ($0 as? LogError)?.byteOffset == Int64(groupStart) }
            #expect(try fileBytes(segment) == torn + laterGroup, "nothing was cut")
            #expect(try LogVerifier.verify(directory: dir.path).problem?.byteOffset == Int64(groupStart))
            try expectIndependentDamage(dir.path, file: segment, at: Int64(groupStart))
        }
    }

    @Test("a header with an undefined flag bit is damage, never a tail")
    func undefinedFlag() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            for n in 0..<2 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            let segment = dir.appending("00000000000000000000.lz4")
            var bytes = try fileBytes(segment)
            let last = try batchPositions(segment)[1].position
            rewriteHeader(&bytes, at: Int(last)) { $0[2] = 0x02 }
            try writeFileBytes(segment, bytes)
            #expect { _ = try EventLog(directory: dir.path) } throws: { ($0 as? LogError)?.byteOffset == last }
            #expect(try fileBytes(segment) == bytes, "nothing was cut")
            #expect(try LogVerifier.verify(directory: dir.path).problem?.byteOffset == last)
            try expectIndependentDamage(dir.path, file: segment, at: last)
        }
    }

    @Test("a batch that runs past the end of the file with a whole batch inside it is damage, for recovery and readers")
    func wholeBatchInsideAnIncompleteOne() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            for n in 0..<3 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            let segment = dir.appending("00000000000000000000.lz4")
            var bytes = try fileBytes(segment)
            let middle = try batchPositions(segment)[1].position
            // The middle batch's header now claims 3 MiB of payload; the last batch, whole, sits inside that.
            // A write in progress never looks like this (the fuzzer found a reader calling it one).
            rewriteHeader(&bytes, at: Int(middle)) { $0.replaceSubrange(32..<36, with: [0, 0, 0x30, 0]) }
            try writeFileBytes(segment, bytes)
            #expect { _ = try EventLog(directory: dir.path) } throws: { ($0 as? LogError)?.byteOffset == middle }
            #expect(try fileBytes(segment) == bytes, "nothing was cut")
            #expect(try LogVerifier.verify(directory: dir.path).problem?.byteOffset == middle)
            let reader = try LogReader(directory: dir.path)
            #expect { _ = try readAll(reader) } throws: { ($0 as? LogError)?.byteOffset == middle }
        }
    }

    /// A segment named for offset 2^64 - 2 holding one batch whose header counts one record, with `lineCount`
    /// stamped lines (hash and checksum valid), and the start record of a log that starts there.
    func highOffsetSegment(_ dir: TemporaryDirectory, lineCount: Int) throws {
        let first = UInt64.max - 1
        var lines: [UInt8] = []
        for i in 0..<UInt64(lineCount) {
            lines += Array(#"{"offset":\#(first &+ i),"appendedAt":"2026-11-29T03:06:17.123Z","type":"edge"}"#.utf8) + [0x0A]
        }
        var segment: [UInt8] = []
        _ = lines.withUnsafeBytes { raw in
            BatchFormat.appendBatch(
                lines: raw, count: 1, firstOffset: first, appendedAtMillis: 1_795_921_577_123...1_795_921_577_123,
                previousHash: .genesis, to: &segment)
        }
        try writeFileBytes(dir.appending(SegmentName.fileName(base: first)), segment)
        try writeFileBytes(dir.appending(LogStart.fileName), LogStart(offset: first, chainHash: .genesis).encoded)
    }

    /// Found while writing the fuzzer's checks (and then in its corpus, once it could name segments by their
    /// first offset): offsets past a batch's count overflowed near 2^64 and trapped.
    @Test("near offset 2^64: extra lines are damage, not a trap; a log ending at 2^64 - 1 refuses appends clearly")
    func offsetsNearTheEnd() async throws {
        try await withTemporaryDirectory { dir in
            try highOffsetSegment(dir, lineCount: 3)
            #expect(throws: LogError.self) { _ = try readAll(try LogReader(directory: dir.path)) }
            #expect(try LogVerifier.verify(directory: dir.path).problem != nil)
        }
        try await withTemporaryDirectory { dir in
            try highOffsetSegment(dir, lineCount: 1)
            #expect(try readAll(try LogReader(directory: dir.path)).map(\.offset) == [UInt64.max - 1])
            #expect(try LogVerifier.verify(directory: dir.path).isIntact)
            let log = try EventLog(directory: dir.path)
            #expect(log.endOffset == UInt64.max)
            await #expect { _ = try await log.append(sampleRecord(0)) } throws: { ($0 as? LogError)?.code == .offsetOutOfRange }
            await log.close()
            #expect(try LogVerifier.verify(directory: dir.path).isIntact)
        }
    }

    /// Found by the fuzzer through `log stats`, which shows the first and last `appendedAt` of a log's headers:
    /// a header (its checksum holding) with a time of Int64.min trapped in the formatting.
    @Test("times from any header format without trapping; years past 9999 or before 0 in expanded form")
    func timestampsOfAnyValue() {
        #expect(formatTimestamp(millis: 0) == "1970-01-01T00:00:00.000Z")
        #expect(formatTimestamp(millis: -1) == "1969-12-31T23:59:59.999Z")
        #expect(formatTimestamp(millis: 1_795_921_577_123) == "2026-11-29T03:06:17.123Z")
        #expect(formatTimestamp(millis: 253_402_300_799_999) == "9999-12-31T23:59:59.999Z")
        #expect(formatTimestamp(millis: 253_402_300_800_000) == "+10000-01-01T00:00:00.000Z")
        #expect(formatTimestamp(millis: -62_167_219_200_001) == "-0001-12-31T23:59:59.999Z")
        #expect(formatTimestamp(millis: .min) == "-292275055-05-16T16:47:04.192Z")
        #expect(formatTimestamp(millis: .max) == "+292278994-08-17T07:12:55.807Z")
    }
}
