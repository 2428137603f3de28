import Foundation
import Testing

@testable import EventLog
import TestSupport

/// A log says where it starts: offset 0, or the offset and chain hash of its start record once its oldest
/// segments are archived (`docs/LOG_FORMAT.md`, "Where a log starts"). Both verifiers hold it to that.
@Suite("Where a log starts", .timeLimit(.minutes(5)))
struct LogStartTests {
    /// A closed log of several small segments; returns the segment file names.
    func makeLog(_ dir: TemporaryDirectory) async throws -> [String] {
        let log = try EventLog(directory: dir.path, configuration: EventLogConfiguration(segmentSizeLimit: 4096))
        for n in 0..<120 { _ = try await log.append(sampleRecord(n)) }
        await log.close()
        let segments = try segmentFiles(dir.path)
        #expect(segments.count >= 4)
        return segments
    }

    func base(_ name: String) -> UInt64 { UInt64(name.prefix(20))! }

    /// Both verifiers say the same about `dir`, and what they say is `expected` at `file`, byte `byteOffset`.
    func expectBothVerifiers(
        _ dir: TemporaryDirectory, say expected: String, at file: String? = nil, byte byteOffset: Int64? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let ours = ourVerdict(try LogVerifier.verify(directory: dir.path))
        #expect(ours.verdict == expected, sourceLocation: sourceLocation)
        #expect(ours.file == file && ours.byteOffset == byteOffset, sourceLocation: sourceLocation)
        let theirs = try independentReport(dir.path, ["--structure-only"])
        #expect(
            theirs.verdict == ours.verdict && theirs.file == ours.file && theirs.byteOffset == ours.byteOffset,
            "the independent verifier says \(theirs)", sourceLocation: sourceLocation)
    }

    @Test("a log whose first segment is missing, with no start record, is damaged at its first segment")
    func missingFirstSegment() async throws {
        try await withTemporaryDirectory { dir in
            let segments = try await makeLog(dir)
            try FileManager.default.removeItem(atPath: dir.appending(segments[0]))
            try expectBothVerifiers(dir, say: "damaged", at: dir.appending(segments[1]), byte: 0)
        }
    }

    @Test("advancing the start, then removing the older segments: a whole log that reads, verifies and grows from there")
    func archivedStart() async throws {
        try await withTemporaryDirectory { dir in
            let segments = try await makeLog(dir)
            let all = try readAll(LogReader(directory: dir.path))
            let newStart = base(segments[2])
            let start = try LogStart.advance(directory: dir.path, to: newStart)
            #expect(start.offset == newStart)
            #expect(try LogStart.read(directory: dir.path) == start)
            // The chain hash is the last hash of the segment before: what the new first batch links to.
            #expect(start.chainHash == (try batchPositions(dir.appending(segments[1])).last?.header.hash))
            let text = try String(contentsOfFile: dir.appending(LogStart.fileName), encoding: .utf8)
            #expect(text == #"{"format":"rananeeti-log-start","version":1,"offset":\#(newStart),"chainHash":"\#(start.chainHash)"}"# + "\n")

            // Until they are removed, the older segments are ignored, and said to be.
            let before = try LogVerifier.verify(directory: dir.path)
            #expect(before.isIntact && before.firstOffset == newStart && before.notes.contains { $0.contains("before the log's start") })
            for name in segments[0..<2] { try FileManager.default.removeItem(atPath: dir.appending(name)) }
            try expectBothVerifiers(dir, say: "intact")

            // Readers start there; a writer opens and appends after the end, chained on.
            let read = try readAll(LogReader(directory: dir.path))
            #expect(read.map(\.offset) == Array(newStart..<120))
            #expect(read.map { Array($0.bytes) } == all.dropFirst(Int(newStart)).map { Array($0.bytes) })
            #expect(try LogStatistics.read(directory: dir.path).firstOffset == newStart)
            let log = try EventLog(directory: dir.path, configuration: EventLogConfiguration(segmentSizeLimit: 4096))
            #expect(try await log.append(sampleRecord(500)) == 120)
            await log.close()
            try expectBothVerifiers(dir, say: "intact")

            // The start never moves back, and moves only to where a segment starts.
            #expect(throws: LogError.self) { try LogStart.advance(directory: dir.path, to: 0) }
            #expect(throws: LogError.self) { try LogStart.advance(directory: dir.path, to: newStart + 1) }
            #expect(try LogStart.advance(directory: dir.path, to: newStart) == start)
        }
    }

    @Test("a start record whose hash is not what the first batch chains to: damaged at the first batch")
    func wrongStartHash() async throws {
        try await withTemporaryDirectory { dir in
            let segments = try await makeLog(dir)
            let start = try LogStart.advance(directory: dir.path, to: base(segments[1]))
            var wrong = start.chainHash.bytes
            wrong[7] ^= 0x01
            let record = LogStart(offset: start.offset, chainHash: ChainHash(bytes: wrong))
            try writeFileBytes(dir.appending(LogStart.fileName), record.encoded)
            try expectBothVerifiers(dir, say: "damaged", at: dir.appending(segments[1]), byte: 0)
            // A writer chains its first batch to the record too: opening with only that segment left fails.
            for name in segments where name != segments[1] { try FileManager.default.removeItem(atPath: dir.appending(name)) }
            #expect(throws: LogError.self) { _ = try EventLog(directory: dir.path) }
        }
    }

    @Test("a start record naming an offset where no segment starts, or written in another form, is damage")
    func startRecordDisagrees() async throws {
        try await withTemporaryDirectory { dir in
            let segments = try await makeLog(dir)
            let start = try LogStart.advance(directory: dir.path, to: base(segments[2]))
            let recordPath = dir.appending(LogStart.fileName)
            // The segment the record names is missing: the log's start is gone.
            try FileManager.default.removeItem(atPath: dir.appending(segments[2]))
            try expectBothVerifiers(dir, say: "damaged", at: recordPath, byte: 0)
            // Not the documented form: spaces, upper case, leading zeros, a missing line feed, another field.
            let forms = [
                #"{"format":"rananeeti-log-start","version":1,"offset":"# + "\(start.offset), " + #""chainHash":"\#(start.chainHash)"}"# + "\n",
                #"{"format":"rananeeti-log-start","version":1,"offset":\#(start.offset),"chainHash":"\#(start.chainHash.description.uppercased())"}"# + "\n",
                #"{"format":"rananeeti-log-start","version":1,"offset":0\#(start.offset),"chainHash":"\#(start.chainHash)"}"# + "\n",
                #"{"format":"rananeeti-log-start","version":1,"offset":\#(start.offset),"chainHash":"\#(start.chainHash)"}"#,
                #"{"format":"rananeeti-log-start","version":2,"offset":\#(start.offset),"chainHash":"\#(start.chainHash)"}"# + "\n",
                #"{"format":"rananeeti-log-start","version":1,"offset":0,"chainHash":"\#(start.chainHash)"}"# + "\n",
            ]
            for form in forms {
                try Data(form.utf8).write(to: URL(fileURLWithPath: recordPath))
                try expectBothVerifiers(dir, say: "damaged", at: recordPath, byte: 0)
                #expect(throws: LogError.self) { _ = try LogStart.read(directory: dir.path) }
            }
        }
    }
}
