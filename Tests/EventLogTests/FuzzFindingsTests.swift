import Foundation
import Testing

@testable import EventLog
import TestSupport

/// Regression tests for what `scripts/fuzz` found (docs/FUZZING.md); each input is also kept in
/// `Fuzz/corpus/BatchDecoderFuzzer/`, which `scripts/test` replays.
@Suite("Fuzzer findings: the log")
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
}
