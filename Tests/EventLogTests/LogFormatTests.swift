import Foundation
import Testing

@testable import EventLog
import TestSupport

/// The format as `docs/LOG_FORMAT.md` writes it down, checked byte for byte and by an independent reader.
@Suite("On-disk format", .timeLimit(.minutes(5)))
struct LogFormatTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test("the documented example: header words, fields and the JSON line")
    func documentedExample() async throws {
        try await withTemporaryDirectory { dir in
            let millis: Int64 = 1_795_921_577_123  // 2026-11-29T03:06:17.123Z
            let log = try EventLog(directory: dir.path, configuration: EventLogConfiguration(clockMillis: { millis }))
            _ = try await log.append(Array(#"{"type":"example"}"#.utf8))
            await log.close()
            let bytes = try fileBytes(dir.appending("00000000000000000000.lz4"))
            #expect(Array(bytes[0..<8]) == [0x5E, 0x2A, 0x4D, 0x18, 0x70, 0x00, 0x00, 0x00])
            let header = Array(bytes[8..<120])
            func u32(_ at: Int) -> UInt32 { header[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
            func u64(_ at: Int) -> UInt64 { header[at..<at + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
            #expect(header[0..<4] == [1, 0, 0, 0])
            #expect(u32(4) == 1)
            #expect(u64(8) == 0)
            #expect(u64(16) == UInt64(millis))
            #expect(u64(24) == UInt64(millis))
            #expect(u32(36) == 70)
            #expect(header[40..<72].allSatisfy { $0 == 0 }, "the first batch chains to 32 zero bytes")
            #expect(Int(u32(32)) == bytes.count - 120, "the payload frame fills the rest of the segment")
            #expect(Array(bytes[120..<124]) == [0x04, 0x22, 0x4D, 0x18], "a standard LZ4 frame follows")
            let line = try readAll(LogReader(directory: dir.path)).first.map { String(decoding: $0.bytes, as: UTF8.self) }
            #expect(line == #"{"offset":0,"appendedAt":"2026-11-29T03:06:17.123Z","type":"example"}"#)
        }
    }

    @Test("an independent reader written from the format page reads and verifies what the log wrote")
    func independentReaderAgrees() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path, configuration: EventLogConfiguration(segmentSizeLimit: 16 << 10))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for a in 0..<16 {
                    group.addTask { for n in 0..<40 { _ = try await log.append(sampleRecord(a * 100 + n)) } }
                }
                try await group.waitForAll()
            }
            _ = try await log.append(contentsOf: (0..<500).map { sampleRecord(10_000 + $0) })
            _ = try await log.append(Array(#"{"note":"caf\u00e9 \"quoted\" \\ \u2603 😀 日本"}"#.utf8))
            let ours = try readAll(log.makeReader()).map { Array($0.bytes) + [0x0A] }.flatMap { $0 }
            await log.close()

            let result = try IndependentVerdict(dir.path, dump: true)
            #expect(result.status == IndependentVerdict.intact, "\(result.message)")
            #expect(Array(result.records) == ours)

            // Both readers name the same place for the same damage.
            let segment = dir.appending(try segmentFiles(dir.path)[1])
            let victim = try batchPositions(segment)[2]
            var bytes = try fileBytes(segment)
            bytes[Int(victim.position) + 130] ^= 0x08
            try writeFileBytes(segment, bytes)
            try expectIndependentDamage(dir.path, file: segment, at: victim.position)
            let report = try LogVerifier.verify(directory: dir.path)
            #expect(report.problem?.file == segment && report.problem?.byteOffset == victim.position)
        }
    }

    @Test("a failure of the independent verifier itself is never taken for damage in the log")
    func independentReaderFailureIsNotDamage() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            _ = try await log.append(sampleRecord(1))
            await log.close()
            #expect(try IndependentVerdict(dir.path).status == IndependentVerdict.intact)
            // The verifier with its LZ4 decoder broken: it crashes on the first batch, which is intact.
            let broken = try IndependentVerdict(
                dir.path, python: "import sys, verify_log; verify_log.lz4_frame = None; sys.exit(verify_log.main())")
            #expect(broken.status == IndependentVerdict.verifierFailed, "\(broken.message)")
            #expect(broken.message.contains("the verifier failed") && !broken.message.contains("DAMAGED"))
        }
    }
}
