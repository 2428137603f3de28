import EventLog
import Foundation
import Orders
import Postgres
import Testing
import TestSupport

/// `log archive --retain-local`, `log verify --archive` over a log that starts past 0 and `log restore`, against a
/// real S3-compatible server (moto), a real PostgreSQL, the real AWS CLI and a real `serve`.
@Suite("Log retention", .timeLimit(.minutes(8)))
struct RetentionTests {
    let binary: String

    init() throws {
        binary = try BuiltProducts.executable("rananeeti")
    }

    func rananeeti(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(binary, arguments, environment: MotoServer.environment.merging(environment) { $1 })
        let status = await child.wait()
        return (status, child.text)
    }

    /// Runs `body` with a fresh moto server holding the bucket `cafe-logs`, and a migrated database.
    func withStore(_ body: (MotoServer, String) async throws -> Void) async throws {
        let moto = try await MotoServer()
        do {
            let created = try await moto.aws(["s3api", "create-bucket", "--bucket", "cafe-logs"])
            #expect(created.status == 0, "\(created.output)")
            let database = try await PostgresServer.shared().createDatabase()
            #expect(try await rananeeti(["db", "migrate", "--database", database]).status == 0)
            try await body(moto, database)
        } catch {
            await moto.stop()
            throw error
        }
        await moto.stop()
    }

    /// A closed log of `count` reservations of node `node-a` in segments of about 4 KiB; the reservations' digests.
    func makeLog(_ path: String, count: Int) async throws -> [String] {
        let log = try EventLog(directory: path, configuration: EventLogConfiguration(segmentSizeLimit: 4096))
        var samples = SampleReservations(seed: 13)
        var digests: [String] = []
        for _ in 0..<(count / 20) {
            let events = (0..<20).map { _ in ReservationEvent(node: "node-a", reservation: samples.reservation()) }
            digests += events.map { "\($0.digest)" }
            _ = try await log.append(contentsOf: events.map { $0.encodeRecord() })
        }
        await log.close()
        try "node-a\n".write(toFile: path + "/node-id", atomically: true, encoding: .utf8)
        return digests
    }

    func setCheckpoint(_ database: String, _ offset: UInt64) async throws {
        try await PostgresConnection.withConnection(database) { connection in
            _ = try await connection.execute(
                "INSERT INTO cafe.projector_checkpoints (node_id, next_offset) VALUES ('node-a', $1) ON CONFLICT (node_id) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                [Int64(offset)])
        }
    }

    func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    func fileBlake2b(_ path: String) throws -> String {
        var hasher = Blake2b(length: 32)
        hasher.update([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        return hex(hasher.finish())
    }

    @Test("removal keeps the segment being written, unprojected segments, those after the snapshot and those whose archived copy is not confirmed; a run that stopped after moving the start is finished by the next")
    func whatStays() async throws {
        try await withStore { moto, database in
            try await withTemporaryDirectory { dir in
                let log = dir.appending("log")
                _ = try await makeLog(log, count: 600)
                let bases = try LogDirectory.segmentBases(log)
                try #require(bases.count >= 7, "several segments")
                let store = ["--archive", "s3://cafe-logs", "--endpoint-url", moto.endpoint, "--aws-cli", MotoServer.awsCLI]
                let archive = ["log", "archive", log] + store + ["--database", database]
                try await setCheckpoint(database, bases[2] + 1)

                // No snapshot: a restart would need the whole local log, so nothing goes.
                let noSnapshot = try await rananeeti(archive + ["--retain-local", "0segments"])
                #expect(noSnapshot.status == 0, "\(noSnapshot.output)")
                #expect(noSnapshot.output.contains("kept every segment: there is no snapshot"), "\(noSnapshot.output)")
                #expect(try LogDirectory.allSegmentBases(log) == bases)
                #expect(try LogStart.recorded(directory: log) == nil)

                // A snapshot standing for the start of segment 4; projected into segment 2: segments 0 and 1 go.
                func snapshot(at offset: UInt64) throws {
                    let hash = try #require(try LogReader(directory: log).chainHash(at: offset))
                    try LogSnapshot.write(
                        LogSnapshot(kind: "projection", version: 2, offset: offset, chainHash: hash, createdAtMillis: 0, payload: []),
                        directory: log)
                }
                try snapshot(at: bases[4])
                let unprojected = try await rananeeti(archive + ["--retain-local", "0segments"])
                #expect(unprojected.status == 0, "\(unprojected.output)")
                #expect(unprojected.output.contains("removed 2 archived segment(s)"), "\(unprojected.output)")
                #expect(unprojected.output.contains("holds events not yet projected"), "\(unprojected.output)")
                #expect(try LogStart.read(directory: log).offset == bases[2])
                #expect(try LogDirectory.allSegmentBases(log) == Array(bases.dropFirst(2)))
                #expect(!FileManager.default.fileExists(atPath: log + "/" + SegmentName.indexFileName(base: bases[0])))

                // Everything projected: an age rule keeps these fresh segments; a count rule stops at the snapshot.
                try await setCheckpoint(database, 600)
                let young = try await rananeeti(archive + ["--retain-local", "30d"])
                #expect(young.status == 0, "\(young.output)")
                #expect(young.output.contains("removed nothing"), "\(young.output)")
                let toSnapshot = try await rananeeti(archive + ["--retain-local", "0segments"])
                #expect(toSnapshot.output.contains("removed 2 archived segment(s)"), "\(toSnapshot.output)")
                #expect(toSnapshot.output.contains("after the local projection's snapshot (offset \(bases[4]))"), "\(toSnapshot.output)")
                #expect(try LogStart.read(directory: log).offset == bases[4])

                // An archived copy whose recorded BLAKE2b is not the local segment's: kept.
                try snapshot(at: 600)
                let name4 = SegmentName.fileName(base: bases[4])
                let wrong = try await moto.aws([
                    "s3api", "put-object", "--bucket", "cafe-logs", "--key", "node-a/\(name4)", "--body", LogDirectory.segmentPath(log, bases[4]),
                    "--metadata", "blake2b=\(String(repeating: "0", count: 64))",
                ])
                #expect(wrong.status == 0, "\(wrong.output)")
                let unconfirmed = try await rananeeti(archive + ["--retain-local", "0segments"])
                #expect(unconfirmed.status == 0, "\(unconfirmed.output)")
                #expect(unconfirmed.output.contains("removed nothing"), "\(unconfirmed.output)")
                #expect(unconfirmed.output.contains("says BLAKE2b 0000"), "\(unconfirmed.output)")

                // A run that stopped right after moving the start: the log opens and verifies, the leftover is ignored.
                try LogStart.advance(directory: log, to: bases[5])
                let stopped = try await rananeeti(["log", "verify", log])
                #expect(stopped.status == 0, "\(stopped.output)")
                #expect(stopped.output.contains("1 segment(s) before the log's start"), "\(stopped.output)")
                let reopened = try EventLog(directory: log)
                #expect(reopened.startOffset == bases[5])
                await reopened.close()

                // The next run removes everything sealed but leaves the leftover whose copy is not confirmed.
                let next = try await rananeeti(archive + ["--retain-local", "0segments"])
                #expect(next.status == 0, "\(next.output)")
                #expect(next.output.contains("lies before the log's start but was not removed"), "\(next.output)")
                let active = try #require(bases.last)
                #expect(try LogStart.read(directory: log).offset == active)
                #expect(try LogDirectory.allSegmentBases(log) == [bases[4], active], "the segment being written stays")

                // Its copy put right: the next run deletes it; the whole history verifies from the archive and the disk.
                let right = try await moto.aws([
                    "s3api", "put-object", "--bucket", "cafe-logs", "--key", "node-a/\(name4)", "--body", LogDirectory.segmentPath(log, bases[4]),
                    "--metadata", "blake2b=\(try fileBlake2b(LogDirectory.segmentPath(log, bases[4])))",
                ])
                #expect(right.status == 0, "\(right.output)")
                let last = try await rananeeti(archive + ["--retain-local", "0segments"])
                #expect(last.status == 0, "\(last.output)")
                #expect(try LogDirectory.allSegmentBases(log) == [active])
                let whole = try await rananeeti(["log", "verify", log] + store)
                #expect(whole.status == 0, "\(whole.output)")
                #expect(whole.output.contains("offsets 0..<600"), "\(whole.output)")
                #expect(whole.output.contains("the local log starts at offset \(active)"), "\(whole.output)")
            }
        }
    }

    @Test("the round trip beside a running serve: archive, remove, verify across both, restore a segment, verify again; serve restarts with and without its snapshot")
    func roundTrip() async throws {
        try await withStore { moto, database in
            try await withTemporaryDirectory { dir in
                let log = dir.appending("log")
                let digests = try await makeLog(log, count: 600)
                let bases = try LogDirectory.segmentBases(log)
                try #require(bases.count >= 6)
                let port = try freeTCPPort()
                let serveArguments = [
                    "--listen", "127.0.0.1:\(port)", "--data-dir", log, "--node-id", "node-a", "--database", database,
                    "--segment-bytes", "4096",
                ]
                var node = try ServeProcess(binary: binary, arguments: serveArguments, port: port)
                defer { node.child.kill(SIGKILL) }
                try await node.waitUntil("projected") { ($0.json?["projection"] as? [String: Any])?["lagEvents"] as? Int == 0 }
                // serve saves its projection at start when it read events past its snapshot (there was none).
                try await waitFor("the projection's snapshot") { LogSnapshot.standing(directory: log).first?.offset == 600 }

                // While serve runs: archive and keep one sealed segment on the disk.
                let store = ["--archive", "s3://cafe-logs", "--endpoint-url", moto.endpoint, "--aws-cli", MotoServer.awsCLI]
                let removedCount = bases.count - 2
                let removedBytes = try bases.prefix(removedCount).reduce(Int64(0)) { $0 + (try fileSize(LogDirectory.segmentPath(log, $1))) }
                let clock = ContinuousClock()
                let archiveStarted = clock.now
                let archived = try await rananeeti(["log", "archive", log] + store + ["--database", database, "--retain-local", "1segments"])
                let archiveTook = archiveStarted.duration(to: clock.now)
                #expect(archived.status == 0, "\(archived.output)")
                #expect(archived.output.contains("\(bases.count - 1) segment(s) archived"), "\(archived.output)")
                #expect(archived.output.contains("removed \(removedCount) archived segment(s)"), "\(archived.output)")
                let start = bases[bases.count - 2]
                #expect(try LogStart.read(directory: log).offset == start)

                // serve goes on: new reservations, and an old one (its segment gone from the disk) still answered.
                for index in 0..<30 {
                    let body = #"{"name":"After Retention \#(index)","people":2,"datetime":"2027-03-0\#(index % 9 + 1)T19:00"}"#
                    #expect(try node.post(body).status == 201)
                }
                #expect(try node.operatorGet("/api/v1/reservations/\(digests[0])").status == 200)
                try await node.waitUntil("projected again") { ($0.json?["projection"] as? [String: Any])?["lagEvents"] as? Int == 0 }

                // Verify the local log, then the whole history across the archive and the disk.
                let local = try await rananeeti(["log", "verify", log])
                #expect(local.status == 0, "\(local.output)")
                #expect(local.output.contains("The log starts at offset \(start)"), "\(local.output)")
                let verifyStarted = clock.now
                let whole = try await rananeeti(["log", "verify", log] + store)
                let verifyTook = verifyStarted.duration(to: clock.now)
                #expect(whole.status == 0, "\(whole.output)")
                #expect(whole.output.contains("offsets 0..<630"), "\(whole.output)")
                #expect(whole.output.contains("checked \(removedCount) segment(s) from s3://cafe-logs/node-a"), "\(whole.output)")

                // Restore one removed segment into a directory of its own: it verifies as a log, lz4 -dc reads it.
                let restored = dir.appending("restored")
                let wanted = bases[1]
                let restoreStarted = clock.now
                let restore = try await rananeeti(
                    ["log", "restore", restored, "--archive", "s3://cafe-logs/node-a", "--endpoint-url", moto.endpoint, "--aws-cli", MotoServer.awsCLI,
                     "--from", "\(wanted + 1)", "--through", "\(wanted + 1)"])
                let restoreTook = restoreStarted.duration(to: clock.now)
                #expect(restore.status == 0, "\(restore.output)")
                #expect(restore.output.contains("Restored 1 segment(s)"), "\(restore.output)")
                #expect(try LogDirectory.allSegmentBases(restored) == [wanted])
                let again = try await rananeeti(["log", "verify", restored])
                #expect(again.status == 0, "\(again.output)")
                #expect(again.output.contains("The log starts at offset \(wanted)"), "\(again.output)")
                let segment = restored + "/" + SegmentName.fileName(base: wanted)
                let lz4 = try ChildProcess("/usr/bin/env", ["lz4", "-dc", segment])
                #expect(await lz4.wait() == 0)
                let lines = lz4.text.split(separator: "\n")
                #expect(lines.count == Int(bases[2] - wanted))
                #expect(lines.first?.hasPrefix(#"{"offset":\#(wanted),"#) == true)
                #expect(try await rananeeti(["log", "verify", log] + store).status == 0)
                print(
                    "archive round trip: \(bases.count - 1) segment(s) archived and \(removedCount) removed (\(removedBytes) bytes) in \(archiveTook); verified 630 events across archive and disk in \(verifyTook); restored 1 segment (\(try fileSize(segment)) bytes) in \(restoreTook)")

                // serve restarts from its snapshot on a log that starts past 0, and again without the snapshot.
                node.child.kill(SIGTERM)
                #expect(await node.child.wait() == 0, "\(node.child.text)")
                node = try ServeProcess(binary: binary, arguments: serveArguments, port: port)
                try await node.waitUntil("ready from its snapshot") { $0.status == 200 }
                #expect(try node.operatorGet("/api/v1/reservations/\(digests[599])").status == 200)
                #expect(!node.child.text.contains("rebuilding it from the log"), "\(node.child.text)")
                #expect(!node.child.text.contains("no snapshot of the local projection"), "\(node.child.text)")
                node.child.kill(SIGTERM)
                #expect(await node.child.wait() == 0, "\(node.child.text)")

                try FileManager.default.removeItem(atPath: log + "/projection.snapshot")
                node = try ServeProcess(binary: binary, arguments: serveArguments, port: port)
                try await node.waitUntil("ready without its snapshot") { $0.status == 200 }
                #expect(node.child.text.contains("no snapshot of the local projection"), "\(node.child.text)")
                #expect(node.child.text.contains("which starts at offset \(start)"), "\(node.child.text)")
                #expect(try node.operatorGet("/api/v1/reservations/\(digests[599])").status == 200)
                #expect(try node.post(#"{"name":"After Restart","people":3,"datetime":"2027-04-01T12:00"}"#).status == 201)
                node.child.kill(SIGTERM)
                #expect(await node.child.wait() == 0, "\(node.child.text)")

                // A hole between the archive and the disk is reported as one.
                let beforeStart = SegmentName.fileName(base: bases[bases.count - 3])
                #expect(try await moto.aws(["s3api", "delete-object", "--bucket", "cafe-logs", "--key", "node-a/\(beforeStart)"]).status == 0)
                let hole = try await rananeeti(["log", "verify", log] + store)
                #expect(hole.status == 1, "\(hole.output)")
                #expect(hole.output.contains("neither in s3://cafe-logs/node-a nor on the disk"), "\(hole.output)")
            }
        }
    }

    func fileSize(_ path: String) throws -> Int64 {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? -1
    }

    /// Waits until `condition` holds, for at most ``TestTiming/patience``.
    func waitFor(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + TestTiming.patience
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("\(what) did not come within \(TestTiming.patience)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
