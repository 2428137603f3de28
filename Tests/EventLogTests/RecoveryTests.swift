import Foundation
import Testing

@testable import EventLog
import TestSupport

@Suite("Recovery and damage", .timeLimit(.minutes(5)))
struct RecoveryTests {
    /// A closed log of `count` records in small batches; returns the path of its only (last) segment.
    func makeLog(_ dir: TemporaryDirectory, count: Int = 12) async throws -> String {
        let log = try EventLog(directory: dir.path)
        for n in 0..<count { _ = try await log.append(sampleRecord(n)) }
        await log.close()
        return dir.appending(try segmentFiles(dir.path).last!)
    }

    @Test("cutting the last segment at every byte inside its last batch: open keeps every earlier record and cuts the rest")
    func tornTailAtEveryByte() async throws {
        try await withTemporaryDirectory { dir in
            let segment = try await makeLog(dir, count: 6)
            let original = try fileBytes(segment)
            let last = try #require(try batchPositions(segment).last)
            for cut in Int(last.position)..<original.count {
                // A crash during the last batch's write: before the writer recorded it as synced.
                forgetSyncedEnd(dir.path)
                try writeFileBytes(segment, Array(original[0..<cut]))
                let log = try EventLog(directory: dir.path)
                #expect(log.recovery.nextOffset == 5)
                if cut > Int(last.position) {
                    let tail = try #require(log.recovery.cutTail)
                    #expect(tail.byteOffset == last.position)
                    #expect(tail.byteCount == Int64(cut) - last.position)
                } else {
                    #expect(log.recovery.cutTail == nil)
                }
                let records = try readAll(try log.makeReader())
                #expect(records.map(\.offset) == Array(0..<5))
                // The log takes appends again right where it was cut.
                #expect(try await log.append(sampleRecord(99)) == 5)
                await log.close()
                #expect(try LogVerifier.verify(directory: dir.path).isIntact)
            }
        }
    }

    @Test("with no record of it synced (a crash before the writer recorded it), a flipped byte in the last batch counts as torn and is cut")
    func lastBatchHashMismatch() async throws {
        try await withTemporaryDirectory { dir in
            let segment = try await makeLog(dir)
            forgetSyncedEnd(dir.path)
            var bytes = try fileBytes(segment)
            let last = try #require(try batchPositions(segment).last)
            bytes[bytes.count - 3] ^= 0x40
            try writeFileBytes(segment, bytes)
            let log = try EventLog(directory: dir.path)
            #expect(log.recovery.cutTail?.byteOffset == last.position)
            #expect(log.recovery.cutTail?.savedTo != nil)
            #expect(log.recovery.nextOffset == 11)
            await log.close()
        }
    }

    @Test(
        "recorded as synced, the last batch flipped, cut short or gone is damage to acknowledged records: open refuses, nothing is cut, both verifiers say so; without the record it is a tail again",
        arguments: ["flipped", "cut short", "gone"])
    func damageBelowTheSyncedEnd(_ damage: String) async throws {
        try await withTemporaryDirectory { dir in
            let segment = try await makeLog(dir)
            let synced = try #require(try SyncedEnd.read(directory: dir.path), "a closed log records how far it synced")
            let original = try fileBytes(segment)
            let last = try #require(try batchPositions(segment).last)
            #expect(synced == SyncedEnd(segment: 0, bytes: Int64(original.count), offset: 12, chainHash: last.header.hash))
            var bytes = original
            switch damage {
            case "flipped": bytes[bytes.count - 3] ^= 0x40
            case "cut short": bytes.removeLast(9)
            default: bytes.removeLast(bytes.count - Int(last.position))
            }
            try writeFileBytes(segment, bytes)
            // A batch cut short or damaged is named at its start; a lost whole batch where the segment ends.
            #expect {
                _ = try EventLog(directory: dir.path)
            } throws: { error in
                let error = error as? LogError
                return error?.code == .corrupt && error?.path == segment && error?.byteOffset == last.position
                    && error?.message.contains("synced") == true
            }
            #expect(try fileBytes(segment) == bytes, "nothing was cut")
            let report = try LogVerifier.verify(directory: dir.path)
            #expect(report.problem?.file == segment && report.problem?.byteOffset == last.position, "\(report)")
            let theirs = try independentReport(dir.path, ["--structure-only"])
            #expect(theirs.verdict == "damaged" && theirs.file == segment && theirs.byteOffset == last.position, "\(theirs)")

            // The operator who gives these records up removes the record; the next open cuts them as a tail.
            forgetSyncedEnd(dir.path)
            let log = try EventLog(directory: dir.path)
            #expect(log.recovery.nextOffset == 11)
            await log.close()
        }
    }

    @Test(
        "a synced-end record that the log does not bear out is damage (the record or the log), for open and both verifiers",
        arguments: ["another form", "another segment", "another hash", "another offset"])
    func syncedEndDisagrees(_ change: String) async throws {
        try await withTemporaryDirectory { dir in
            _ = try await makeLog(dir)
            var record = try #require(try SyncedEnd.read(directory: dir.path))
            let path = dir.appending(SyncedEnd.fileName)
            switch change {
            case "another form": try writeFileBytes(path, Array(record.encoded.dropLast()))
            case "another segment": record.segment = 12
            case "another hash": record.chainHash = ChainHash(bytes: [UInt8](repeating: 7, count: 32))
            default: record.offset += 1
            }
            if change != "another form" { try writeFileBytes(path, record.encoded) }
            #expect { _ = try EventLog(directory: dir.path) } throws: { ($0 as? LogError)?.path == path }
            let report = try LogVerifier.verify(directory: dir.path)
            #expect(report.problem?.file == path && report.problem?.byteOffset == 0, "\(report)")
            let theirs = try independentReport(dir.path, ["--structure-only"])
            #expect(theirs.verdict == "damaged" && theirs.file == path && theirs.byteOffset == 0, "\(theirs)")
        }
    }

    @Test("an idle writer records how far it synced by itself; a copy of the log taken then and damaged in its last batch is refused")
    func idleWriterRecordsTheEnd() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir.appending("log")
            let log = try EventLog(directory: path)
            for n in 0..<5 { _ = try await log.append(sampleRecord(n)) }
            let deadline = ContinuousClock.now + TestTiming.margin(.seconds(10))
            while (try? SyncedEnd.read(directory: path))??.offset != 5 {
                guard ContinuousClock.now < deadline else {
                    Issue.record("no synced-end record covering offset 5 within \(TestTiming.margin(.seconds(10))) of an idle log")
                    break
                }
                try await Task.sleep(for: .milliseconds(20))  // polling a file for a condition, bounded above
            }
            // What a crash (or a snapshot of the volume) would find now, while the writer still runs.
            let copy = dir.appending("copy")
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            await log.close()
            try? FileManager.default.removeItem(atPath: copy + "/writer.lock")
            let segment = copy + "/00000000000000000000.lz4"
            var bytes = try fileBytes(segment)
            bytes[bytes.count - 2] ^= 0x01
            try writeFileBytes(segment, bytes)
            #expect(throws: LogError.self) { _ = try EventLog(directory: copy) }
        }
    }

    @Test("a flipped byte in an earlier batch of the last segment stops open and verify, naming file and byte")
    func damageBeforeTheTail() async throws {
        try await withTemporaryDirectory { dir in
            let segment = try await makeLog(dir)
            let original = try fileBytes(segment)
            let batches = try batchPositions(segment)
            let victim = batches[3]
            // A byte in the skippable frame's magic, in the header, in the hash, and in the payload.
            for spot in [0, 20, 90, BatchFormat.framedHeaderLength + 5] {
                var bytes = original
                let at = Int(victim.position) + spot
                bytes[at] ^= 0x01
                try writeFileBytes(segment, bytes)
                #expect {
                    _ = try EventLog(directory: dir.path)
                } throws: { error in
                    let error = error as? LogError
                    return error?.code == .corrupt && error?.path == segment && error?.byteOffset == victim.position
                }
                let report = try LogVerifier.verify(directory: dir.path)
                #expect(report.problem?.file == segment)
                #expect(report.problem?.byteOffset == victim.position)
                // Nothing was changed by the failed open.
                #expect(try fileBytes(segment) == bytes)
            }
        }
    }

    @Test("damage in a sealed segment: verify and every reader fail, naming the place; open does not read it")
    func damageInSealedSegment() async throws {
        try await withTemporaryDirectory { dir in
            let configuration = EventLogConfiguration(segmentSizeLimit: 4096)
            let log = try EventLog(directory: dir.path, configuration: configuration)
            for n in 0..<120 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            let segments = try segmentFiles(dir.path)
            #expect(segments.count >= 3)
            let sealed = dir.appending(segments[1])
            let victim = try batchPositions(sealed)[1]
            var bytes = try fileBytes(sealed)
            bytes[Int(victim.position) + BatchFormat.framedHeaderLength + 3] ^= 0x10
            try writeFileBytes(sealed, bytes)

            let report = try LogVerifier.verify(directory: dir.path)
            #expect(report.problem?.file == sealed)
            #expect(report.problem?.byteOffset == victim.position)

            #expect {
                _ = try readAll(LogReader(directory: dir.path))
            } throws: { error in
                (error as? LogError)?.code == .corrupt && (error as? LogError)?.path == sealed
                    && (error as? LogError)?.byteOffset == victim.position
            }
            // Records before the damaged batch are still readable; the damaged batch never is.
            let reader = try LogReader(directory: dir.path)
            var read: [UInt64] = []
            do {
                while let records = try reader.nextRecords() { read += records.map(\.offset) }
                Issue.record("the damaged batch was returned")
            } catch {}
            #expect(read.last.map { $0 < victim.header.firstOffset } ?? true)

            // Opening for writing reads only the last segment (and the previous one's index).
            let reopened = try EventLog(directory: dir.path, configuration: configuration)
            await reopened.close()
        }
    }

    @Test("a missing segment in the middle is reported as a gap")
    func missingSegment() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path, configuration: EventLogConfiguration(segmentSizeLimit: 4096))
            for n in 0..<120 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            let segments = try segmentFiles(dir.path)
            try FileManager.default.removeItem(atPath: dir.appending(segments[1]))
            let report = try LogVerifier.verify(directory: dir.path)
            #expect(report.problem?.file == dir.appending(segments[2]))
            #expect(report.problem?.reason.contains("ends at") == true)
        }
    }
}
