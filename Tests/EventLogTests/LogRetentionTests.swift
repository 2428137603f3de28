import Foundation
import Testing

@testable import EventLog
import TestSupport

/// Removing a log's oldest segments (`LogRetention`): the start moves first, then the files go; the running
/// writer's own readers and a crash in between are the cases that matter.
@Suite("Removing archived segments", .timeLimit(.minutes(5)))
struct LogRetentionTests {
    let configuration = EventLogConfiguration(segmentSizeLimit: 4096)

    func base(_ name: String) -> UInt64 { UInt64(name.prefix(20))! }

    @Test("removal beside the running writer: its readers start at the new start, one left behind fails plainly, appends and tails go on")
    func besideTheWriter() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path, configuration: configuration)
            for n in 0..<150 { _ = try await log.append(sampleRecord(n)) }
            let segments = try segmentFiles(dir.path)
            #expect(segments.count >= 5)
            let newStart = base(segments[2])
            // A reader of the writer's process, inside the first segment when its files go.
            let behind = try log.makeReader(from: 0)
            #expect(try behind.nextRecords()?.first?.offset == 0)

            let removal = try LogRetention.removeSegments(directory: dir.path, before: newStart)
            #expect(removal.removedSegments == [0, base(segments[1])])
            #expect(removal.removedBytes > 0)
            #expect(!FileManager.default.fileExists(atPath: dir.appending(segments[0])))
            #expect(!FileManager.default.fileExists(atPath: dir.appending(SegmentName.indexFileName(base: 0))))
            #expect(log.startOffset == newStart)

            // New readers start at the start; below it is out of range, not an I/O error.
            let fresh = try readAll(log.makeReader(from: log.startOffset))
            #expect(fresh.map(\.offset) == Array(newStart..<150))
            do {
                _ = try log.makeReader(from: 0)
                Issue.record("a reader below the start was made")
            } catch let error as LogError {
                #expect(error.code == .offsetOutOfRange, "\(error)")
            }
            #expect(try log.makeReader(from: newStart + 1).nextRecords()?.first?.offset == newStart + 1)

            // The reader left behind reads its open (unlinked) file to its end, then says the log moved on.
            var thrown: LogError?
            do {
                while try behind.nextRecords() != nil {}
            } catch let error as LogError {
                thrown = error
            }
            #expect(thrown?.code == .offsetOutOfRange, "\(String(describing: thrown))")
            #expect(thrown?.message.contains("archived and removed") == true)

            // The writer goes on (across new segments), and a tail from the start sees everything after it.
            var tail = log.records(from: newStart).makeAsyncIterator()
            for n in 150..<300 { _ = try await log.append(sampleRecord(n)) }
            var seen: [UInt64] = []
            while seen.count < 300 - Int(newStart), let records = try await tail.nextRecords(upTo: 1000) {
                seen += records.map(\.offset)
            }
            #expect(seen == Array(newStart..<300))
            await log.close()
            #expect(try LogVerifier.verify(directory: dir.path).isIntact)
            #expect(try LogVerifier.verify(directory: dir.path).firstOffset == newStart)
        }
    }

    @Test("a crash between moving the start and deleting the files: the log opens, reads and verifies; the next removal deletes the leftovers")
    func crashBetween() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path, configuration: configuration)
            for n in 0..<120 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            let segments = try segmentFiles(dir.path)
            let newStart = base(segments[3])
            // The first step only, as a crash right after it leaves the directory.
            try LogStart.advance(directory: dir.path, to: newStart)
            #expect(try LogRetention.leftoverSegments(directory: dir.path) == segments[0..<3].map(base))

            let report = try LogVerifier.verify(directory: dir.path)
            #expect(report.isIntact && report.firstOffset == newStart && report.endOffset == 120)
            #expect(report.notes.contains { $0.contains("3 segment(s) before the log's start") })
            #expect(try independentReport(dir.path, ["--structure-only"]).verdict == "intact")
            #expect(try readAll(LogReader(directory: dir.path)).first?.offset == newStart)
            let reopened = try EventLog(directory: dir.path, configuration: configuration)
            #expect(reopened.startOffset == newStart)
            #expect(try await reopened.append(sampleRecord(120)) == 120)
            await reopened.close()

            // The next removal (at the same start) finishes the job; a filter keeps what it is told to keep.
            let partial = try LogRetention.removeSegments(directory: dir.path, before: newStart) { $0 != 0 }
            #expect(partial.removedSegments == segments[1..<3].map(base))
            #expect(try LogRetention.leftoverSegments(directory: dir.path) == [0])
            let rest = try LogRetention.removeSegments(directory: dir.path, before: newStart)
            #expect(rest.removedSegments == [0] && rest.start.offset == newStart)
            let clean = try LogVerifier.verify(directory: dir.path)
            #expect(clean.isIntact && clean.notes.allSatisfy { !$0.contains("before the log's start") })
        }
    }

    @Test("the start never moves onto a segment that is not there, so nothing is deleted then")
    func refusesWhereNoSegmentStarts() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path, configuration: configuration)
            for n in 0..<120 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            let before = try segmentFiles(dir.path)
            #expect(throws: LogError.self) { try LogRetention.removeSegments(directory: dir.path, before: self.base(before[2]) + 1) }
            #expect(try segmentFiles(dir.path) == before)
            #expect(try LogStart.recorded(directory: dir.path) == nil)
        }
    }

    @Test("what a snapshot stands for, for retention: its offset when it matches the log, else why not")
    func snapshotStanding() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path, configuration: configuration)
            for n in 0..<120 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            #expect(LogSnapshot.standing(directory: dir.path).isEmpty)
            let segments = try segmentFiles(dir.path)
            let at = base(segments[2])
            let hash = try #require(try LogReader(directory: dir.path).chainHash(at: at))
            try LogSnapshot.write(
                LogSnapshot(kind: "projection", version: 9, offset: at, chainHash: hash, createdAtMillis: 0, payload: [1, 2]),
                directory: dir.path)
            #expect(LogSnapshot.standing(directory: dir.path).map(\.offset) == [at])
            try LogSnapshot.write(
                LogSnapshot(kind: "other", version: 1, offset: at, chainHash: .genesis, createdAtMillis: 0, payload: []),
                directory: dir.path)
            let standings = LogSnapshot.standing(directory: dir.path)
            #expect(standings.count == 2)
            #expect(standings.first { $0.kind == "other" }?.offset == nil)
            #expect(standings.first { $0.kind == "other" }?.reason?.contains("chain hash") == true)
        }
    }
}
