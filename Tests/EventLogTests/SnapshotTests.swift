import Foundation
import TestSupport
import Testing

@testable import EventLog

/// Snapshots (derived state stamped with an offset and a chain hash) are used only for the log they stand for.
@Suite("Snapshots")
struct SnapshotTests {
    /// A log of `count` records appended one per batch, closed.
    private func makeLog(_ directory: String, count: Int, from first: Int = 0) async throws {
        let log = try EventLog(directory: directory)
        for n in first..<first + count { _ = try await log.append(sampleRecord(n)) }
        await log.close()
    }

    /// The chain hash at `offset` of the log in `directory`, from a read of the whole log.
    private func hash(at offset: UInt64, in directory: String) throws -> ChainHash {
        if offset == 0 { return .genesis }
        let reader = try LogReader(directory: directory)
        while reader.nextOffset < offset, try reader.nextRecords() != nil {}
        #expect(reader.nextOffset == offset)
        return try #require(reader.lastChainPoint?.hash)
    }

    private func snapshot(offset: UInt64, hash: ChainHash, version: UInt32 = 1) -> LogSnapshot {
        LogSnapshot(
            kind: "test-state", version: version, offset: offset, chainHash: hash, createdAtMillis: 1,
            payload: Array("state up to \(offset)".utf8))
    }

    private func load(_ directory: String, version: UInt32 = 1) throws -> (LogSnapshot.Load, LogReader) {
        let reader = try LogReader(directory: directory)
        return (try LogSnapshot.load(kind: "test-state", version: version, directory: directory, positioning: reader), reader)
    }

    @Test("a snapshot is written atomically, loaded back, and leaves the reader at its offset")
    func roundTrip() async throws {
        try await withTemporaryDirectory { directory in
            try await makeLog(directory.path, count: 10)
            let stamped = snapshot(offset: 6, hash: try hash(at: 6, in: directory.path))
            try LogSnapshot.write(stamped, directory: directory.path)
            #expect(!FileManager.default.fileExists(atPath: directory.appending("test-state.snapshot.tmp")))
            let (found, reader) = try load(directory.path)
            guard case .loaded(let loaded) = found else { Issue.record("not loaded: \(found)"); return }
            #expect(loaded == stamped)
            let rest = try readAll(reader)
            #expect(rest.map(\.offset) == Array(6..<10))
            // Offsets 0 (genesis) and the end are batch boundaries too.
            try LogSnapshot.write(snapshot(offset: 0, hash: .genesis), directory: directory.path)
            guard case .loaded = try load(directory.path).0 else { Issue.record("offset 0 not loaded"); return }
            try LogSnapshot.write(snapshot(offset: 10, hash: try hash(at: 10, in: directory.path)), directory: directory.path)
            guard case .loaded = try load(directory.path).0 else { Issue.record("the end not loaded"); return }
        }
    }

    @Test("missing, damaged, cut short, other version, stale, foreign and mid-batch snapshots are rejected, never used")
    func rejected() async throws {
        try await withTemporaryDirectory { directory in
            let log = directory.appending("log")
            try await makeLog(log, count: 10)
            guard case .missing = try load(log).0 else { Issue.record("a missing snapshot is not missing"); return }
            let good = snapshot(offset: 8, hash: try hash(at: 8, in: log))
            let path = LogSnapshot.path(kind: "test-state", directory: log)

            func expectRejected(_ bytes: [UInt8], version: UInt32 = 1, _ words: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
                try writeFileBytes(path, bytes)
                let (found, _) = try load(log, version: version)
                guard case .rejected(let reason) = found else {
                    Issue.record("accepted: \(found)", sourceLocation: sourceLocation)
                    return
                }
                #expect(reason.contains(words), "\(reason)", sourceLocation: sourceLocation)
            }
            var flipped = good.encoded()
            for position in [0, 20, 40, 70, flipped.count - 1] {
                flipped = good.encoded()
                flipped[position] ^= 0x10
                try expectRejected(flipped, position == 0 ? "RNSS" : "checksum")
            }
            try expectRejected(Array(good.encoded().dropLast(5)), "checksum")
            try expectRejected([], "shorter")
            try expectRejected(good.encoded(), version: 2, "version 1")
            // Stale: stands for more of the log than there is (a log restored from an older copy).
            try expectRejected(snapshot(offset: 12, hash: good.chainHash).encoded(), "beyond the log's end")
            // Foreign: the offset exists but the history is another one.
            let other = directory.appending("other")
            try await makeLog(other, count: 10, from: 100)
            try expectRejected(snapshot(offset: 8, hash: try hash(at: 8, in: other)).encoded(), "chain hash")
            // Another record stands where the snapshot's batch was: same here, as one batch per record.
            try expectRejected(snapshot(offset: 8, hash: try hash(at: 7, in: log)).encoded(), "chain hash")
            // The log is unchanged and verifies; the snapshot is a note, never damage.
            try expectRejected(snapshot(offset: 8, hash: try hash(at: 8, in: other)).encoded(), "chain hash")
            let report = try LogVerifier.verify(directory: log)
            #expect(report.isIntact)
            #expect(report.notes.contains { $0.contains("test-state.snapshot") && $0.contains("does not stand for this log") })
            try writeFileBytes(path, good.encoded())
            #expect(try LogVerifier.verify(directory: log).notes.contains { $0.contains("matches the log") })
        }
    }

    @Test("an offset inside a batch is not a boundary")
    func insideABatch() async throws {
        try await withTemporaryDirectory { directory in
            let log = try EventLog(directory: directory.path)
            _ = try await log.append(contentsOf: (0..<5).map(sampleRecord))
            _ = try await log.append(contentsOf: (5..<8).map(sampleRecord))
            let reader = try log.makeReader()
            #expect(try reader.chainHash(at: 3) == nil)
            #expect(try reader.chainHash(at: 5) != nil)
            #expect(try readAll(reader).map(\.offset) == Array(5..<8))
            #expect(try reader.chainHash(at: 0) == .genesis)
            await log.close()
            try LogSnapshot.write(snapshot(offset: 3, hash: .genesis), directory: directory.path)
            guard case .rejected(let reason) = try load(directory.path).0 else { Issue.record("accepted"); return }
            #expect(reason.contains("no batch of the log ends"))
        }
    }

    @Test("the chain hash at a segment boundary is the sealed segment's last hash")
    func segmentBoundary() async throws {
        try await withTemporaryDirectory { directory in
            let log = try EventLog(directory: directory.path, configuration: EventLogConfiguration(segmentSizeLimit: 1024))
            for n in 0..<40 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            let bases = try LogDirectory.segmentBases(directory.path)
            #expect(bases.count > 2)
            for base in bases.dropFirst() {
                let reader = try LogReader(directory: directory.path)
                #expect(try reader.chainHash(at: base) == (try hash(at: base, in: directory.path)))
                #expect(try readAll(reader).first?.offset == base)
            }
        }
    }
}
