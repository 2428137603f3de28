import EventLog
import Foundation
import Orders
import Postgres
import Testing
import TestSupport

/// `log archive` and `log verify --archive` against a real S3-compatible server (moto, started by the test), a
/// real PostgreSQL and the real AWS CLI.
@Suite("Archive", .timeLimit(.minutes(5)))
struct ArchiveTests {
    let binary: String

    init() throws {
        binary = try BuiltProducts.executable("rananeeti")
    }

    func rananeeti(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(binary, arguments, environment: MotoServer.environment.merging(environment) { $1 })
        let status = await child.wait()
        return (status, child.text)
    }

    /// A log of `count` reservations in segments of about 8 KiB, for node `node-a`; its segment bases.
    func makeLog(_ path: String, count: Int) async throws -> [UInt64] {
        let log = try EventLog(directory: path, configuration: EventLogConfiguration(segmentSizeLimit: 10_000))
        var samples = SampleReservations(seed: 3)
        for _ in 0..<(count / 20) {
            _ = try await log.append(contentsOf: (0..<20).map { _ in samples.eventRecord(node: "node-a") })
        }
        await log.close()
        try "node-a".write(toFile: path + "/node-id", atomically: true, encoding: .utf8)
        return try LogDirectory.segmentBases(path)
    }

    @Test("only sealed, projected segments are archived, each read back; the whole history verifies across archive and disk; a downloaded segment reads with lz4 -dc")
    func roundTrip() async throws {
        let moto = try await MotoServer()
        do {
            try await roundTrip(moto)
        } catch {
            await moto.stop()
            throw error
        }
        await moto.stop()
    }

    private func roundTrip(_ moto: MotoServer) async throws {
        let created = try await moto.aws(["s3api", "create-bucket", "--bucket", "cafe-logs"])
        #expect(created.status == 0, "\(created.output)")
        let database = try await PostgresServer.shared().createDatabase()
        #expect(try await rananeeti(["db", "migrate", "--database", database]).status == 0)
        try await withTemporaryDirectory { dir in
            let log = dir.appending("log")
            let bases = try await makeLog(log, count: 400)
            #expect(bases.count >= 4, "several segments")
            let archive = [
                "--archive", "s3://cafe-logs", "--endpoint-url", moto.endpoint, "--aws-cli", MotoServer.awsCLI, "--database", database,
            ]

            // Nothing projected yet: nothing archived.
            let early = try await rananeeti(["log", "archive", log] + archive)
            #expect(early.status == 0, "\(early.output)")
            #expect(early.output.contains("0 segment(s) archived"))
            #expect(early.output.contains("\(bases.count - 1) sealed segment(s) wait for the projector"))

            // Projected into the second segment: only the first is wholly projected.
            try await PostgresConnection.withConnection(database) { connection in
                _ = try await connection.execute(
                    "INSERT INTO cafe.projector_checkpoints (node_id, next_offset) VALUES ('node-a', $1)", [Int64(bases[1] + 1)])
            }
            let partly = try await rananeeti(["log", "archive", log] + archive)
            #expect(partly.status == 0, "\(partly.output)")
            #expect(partly.output.contains("archived \(SegmentName.fileName(base: bases[0]))"))
            #expect(partly.output.contains("1 segment(s) archived"))

            // All projected: every sealed segment goes, the one being written never does; again, nothing new.
            let replay = try await rananeeti(["replay", "--data-dir", log, "--node-id", "node-a", "--database", database])
            #expect(replay.status == 0, "\(replay.output)")
            let all = try await rananeeti(["log", "archive", log] + archive)
            #expect(all.status == 0, "\(all.output)")
            #expect(all.output.contains("\(bases.count - 2) segment(s) archived, 1 already"), "\(all.output)")
            let listed = try await moto.aws(["s3api", "list-objects-v2", "--bucket", "cafe-logs", "--prefix", "node-a/"])
            for base in bases.dropLast() { #expect(listed.output.contains("node-a/\(SegmentName.fileName(base: base))")) }
            #expect(!listed.output.contains(SegmentName.fileName(base: bases.last!)), "the segment being written stays local")
            let again = try await rananeeti(["log", "archive", log] + archive)
            #expect(again.output.contains("0 segment(s) archived, \(bases.count - 1) already"), "\(again.output)")

            // The oldest two segments leave the disk: the history still verifies, from the archive and the disk.
            for base in bases.prefix(2) {
                try FileManager.default.removeItem(atPath: LogDirectory.segmentPath(log, base))
                try? FileManager.default.removeItem(atPath: log + "/" + SegmentName.indexFileName(base: base))
            }
            let verified = try await rananeeti(["log", "verify", log] + archive.prefix(6))
            #expect(verified.status == 0, "\(verified.output)")
            #expect(verified.output.contains("OK: \(bases.count) segment(s), 400 record(s) (offsets 0..<400)"), "\(verified.output)")
            #expect(verified.output.contains("checked 2 segment(s) from s3://cafe-logs/node-a"))

            // A segment restored by hand reads with the stock tool.
            let restored = dir.appending("restored.lz4")
            let copy = try await moto.aws(["s3", "cp", "s3://cafe-logs/node-a/\(SegmentName.fileName(base: bases[0]))", restored])
            #expect(copy.status == 0, "\(copy.output)")
            let lz4 = try ChildProcess("/usr/bin/env", ["lz4", "-dc", restored])
            #expect(await lz4.wait() == 0)
            let lines = lz4.text.split(separator: "\n")
            #expect(lines.count == Int(bases[1]))
            #expect(lines.first?.hasPrefix(#"{"offset":0,"#) == true)

            // An archived copy changed afterwards is found, and named where it is.
            var tampered = [UInt8](try Data(contentsOf: URL(fileURLWithPath: restored)))
            tampered[300] ^= 0x01
            try Data(tampered).write(to: URL(fileURLWithPath: restored))
            #expect(try await moto.aws(["s3", "cp", restored, "s3://cafe-logs/node-a/\(SegmentName.fileName(base: bases[0]))"]).status == 0)
            let damaged = try await rananeeti(["log", "verify", log] + archive.prefix(6))
            #expect(damaged.status == 1, "\(damaged.output)")
            #expect(damaged.output.contains("DAMAGED: s3://cafe-logs/node-a/\(SegmentName.fileName(base: bases[0]))"), "\(damaged.output)")
        }
    }

    @Test("an unreachable store or a missing bucket stops the archive with plain words and changes nothing")
    func unreachable() async throws {
        let database = try await PostgresServer.shared().createDatabase()
        #expect(try await rananeeti(["db", "migrate", "--database", database]).status == 0)
        try await withTemporaryDirectory { dir in
            let log = dir.appending("log")
            let bases = try await makeLog(log, count: 200)
            try await PostgresConnection.withConnection(database) { connection in
                _ = try await connection.execute(
                    "INSERT INTO cafe.projector_checkpoints (node_id, next_offset) VALUES ('node-a', 200)")
            }
            let result = try await rananeeti([
                "log", "archive", log, "--archive", "s3://cafe-logs", "--endpoint-url", "http://127.0.0.1:1",
                "--aws-cli", MotoServer.awsCLI, "--database", database,
            ], environment: ["AWS_MAX_ATTEMPTS": "1"])
            #expect(result.status == 1, "\(result.output)")
            #expect(result.output.contains("Nothing was removed"), "\(result.output)")
            #expect(try LogDirectory.segmentBases(log) == bases)
        }
    }
}
