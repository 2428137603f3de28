import EventLog
import Foundation
import Orders
import Postgres
import Projection
import Testing
import TestSupport

/// The operators' commands against a real PostgreSQL: migrate, replay, status, dead letters, and a
/// projector process killed with SIGKILL again and again.
@Suite("Projection commands", .timeLimit(.minutes(5)))
struct ProjectionCommandTests {
    let binary: String

    init() throws {
        binary = try BuiltProducts.executable("rananeeti")
    }

    func rananeeti(_ arguments: [String], environment: [String: String]? = nil) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(binary, arguments, environment: environment)
        let status = await child.wait()
        return (status, child.text)
    }

    func freshDatabase() async throws -> String {
        try await PostgresServer.shared().createDatabase()
    }

    @Test("db migrate applies the schema once, also from two processes at the same time")
    func migrate() async throws {
        let database = try await freshDatabase()
        async let first = rananeeti(["db", "migrate", "--database", database])
        async let second = rananeeti(["db", "migrate", "--database", database])
        let (a, b) = try await (first, second)
        #expect(a.status == 0 && b.status == 0, "\(a.output)\n\(b.output)")
        #expect((a.output + b.output).components(separatedBy: "applied 1 ").count == 2, "each migration applied once")
        let again = try await rananeeti(["db", "migrate", "--database", database])
        #expect(again.status == 0)
        #expect(again.output.contains("up to date"))
    }

    @Test("an unreachable database gets plain words and a non-zero exit")
    func unreachable() async throws {
        let result = try await rananeeti(["db", "status", "--database", "host=127.0.0.1 port=1 connect_timeout=2"])
        #expect(result.status == 1)
        #expect(result.output.contains("could not reach the database"))
        #expect(result.output.contains("Nothing was changed"))
    }

    @Test("replay drains a backlog, --dry-run changes nothing, --from 0 adds no duplicate")
    func replay() async throws {
        let database = try await freshDatabase()
        _ = try await rananeeti(["db", "migrate", "--database", database])
        try await withTemporaryDirectory { dir in
            let logPath = dir.appending("log")
            var samples = SampleReservations(seed: 11)
            let lines = (0..<400).map { _ in
                let r = samples.reservation()
                return #"{"name":"\#(r.name.replacingOccurrences(of: "\"", with: "\\\""))","people":\#(r.people),"datetime":"\#(r.dateTime)","notes":"\#(r.notes)"}"#
            }
            let input = dir.appending("input.jsonl")
            try lines.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
            let appended = try runTool("/bin/sh", ["-c", "'\(binary)' log append '\(logPath)' --node-id replay-node < '\(input)' 2>/dev/null"])
            #expect(appended.split(separator: "\n").count == 400)

            let dry = try await rananeeti(["replay", "--dry-run", "--data-dir", logPath, "--database", database])
            #expect(dry.status == 0, "\(dry.output)")
            #expect(dry.output.contains("400 events"))
            #expect(try await count(database) == 0)

            let first = try await rananeeti(["replay", "--data-dir", logPath, "--database", database])
            #expect(first.status == 0, "\(first.output)")
            let distinct = Set(appended.split(separator: "\n").map { $0.split(separator: " ")[1] }).count
            #expect(try await count(database) == distinct)
            #expect(first.output.contains("\(distinct) inserted"))

            let again = try await rananeeti(["replay", "--from", "0", "--data-dir", logPath, "--database", database])
            #expect(again.status == 0, "\(again.output)")
            #expect(again.output.contains("0 inserted"))
            #expect(try await count(database) == distinct)

            let status = try await rananeeti(["db", "status", "--database", database])
            #expect(status.output.contains("replay-node"))
            #expect(status.output.contains("400"))
        }
    }

    @Test("dead letters are listed and, once the cause is fixed, retried")
    func deadLetters() async throws {
        let database = try await freshDatabase()
        _ = try await rananeeti(["db", "migrate", "--database", database])
        try await PostgresConnection.withConnection(database) { connection in
            try await connection.executeScript("ALTER TABLE cafe.ordersraw ADD CONSTRAINT short_names CHECK (length(ordrname) < 10)")
        }
        try await withTemporaryDirectory { dir in
            let logPath = dir.appending("log")
            let input = dir.appending("input.jsonl")
            try """
                {"name": "Bob", "people": 2, "datetime": "2026-12-01T19:00"}
                {"name": "Bartholomew Longname", "people": 3, "datetime": "2026-12-01T19:30"}
                {"name": "Eve", "people": 4, "datetime": "2026-12-01T20:00"}
                """.write(toFile: input, atomically: true, encoding: .utf8)
            _ = try runTool("/bin/sh", ["-c", "'\(binary)' log append '\(logPath)' --node-id dl-node < '\(input)'"])
            let replay = try await rananeeti(["replay", "--data-dir", logPath, "--database", database])
            #expect(replay.output.contains("1 dead-lettered"), "\(replay.output)")
            let listed = try await rananeeti(["db", "dead-letters", "--database", database])
            #expect(listed.output.contains("dl-node"))
            #expect(listed.output.contains("23514"))
            try await PostgresConnection.withConnection(database) { connection in
                try await connection.executeScript("ALTER TABLE cafe.ordersraw DROP CONSTRAINT short_names")
            }
            let retried = try await rananeeti(["db", "dead-letters", "--retry", "--database", database])
            #expect(retried.output.contains("1 inserted"), "\(retried.output)")
            #expect(retried.output.contains("No unresolved dead letters"))
            #expect(try await count(database) == 3)
        }
    }

    @Test("a projector process killed with SIGKILL mid-batch, again and again: every digest once, checkpoint at the log's end")
    func killedProjector() async throws {
        let database = try await freshDatabase()
        _ = try await rananeeti(["db", "migrate", "--database", database])
        try await withTemporaryDirectory { dir in
            let logPath = dir.appending("log")
            let log = try EventLog(directory: logPath)
            try "kill-node\n".write(toFile: logPath + "/node-id", atomically: true, encoding: .utf8)
            // Events keep coming while the projector is killed, until the last kill: about 2,000 a second (at most
            // 200,000 in all), so that each projector has a few small batches to commit, not one huge one.
            let appender = Task {
                var samples = SampleReservations(seed: 12)
                var appended = 0
                while !Task.isCancelled {
                    let batch = try (0..<20).map { _ in
                        let r = samples.reservation()
                        // Without the failure demo: its staged failures are another test's subject.
                        let plain = try Reservation(name: r.name, people: r.people, dateTime: r.dateTime, notes: r.notes)
                        return ReservationEvent(node: "kill-node", reservation: plain).encodeRecord()
                    }
                    _ = try await log.append(contentsOf: batch)
                    appended += batch.count
                    if appended >= 200_000 { break }
                    try? await Task.sleep(for: .milliseconds(10))
                }
            }
            var rng = SplitMix64.forTest("killedProjector")
            var killedAfterCommits = 0
            let kills = 12
            for round in 0..<kills {
                let before = try await checkpoint(database, node: "kill-node")
                let started = ContinuousClock.now
                let child = try ChildProcess(binary, ["project", "--data-dir", logPath, "--database", database], environment: ["RANANEETI_LOG_LEVEL": "warning"])
                if round % 4 == 0 {
                    // A quarter of the kills at a random moment from the start: connecting, reading the checkpoint,
                    // perhaps in its first batch.
                    try await Task.sleep(for: .milliseconds(Int.random(in: 30...400, using: &rng)))
                } else {
                    // The rest once it has committed (a projector takes longer to start than the first kind of
                    // kill allows on a busy machine), then at a random moment mid-stream: between two commits or
                    // inside one.
                    let deadline = ContinuousClock.now + TestTiming.patience
                    while try await checkpoint(database, node: "kill-node") == before, ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...150, using: &rng)))
                }
                let lifetime = started.duration(to: .now)
                child.kill(SIGKILL)
                await child.wait()
                // The checkpoint moved while it lived: it had committed, and the kill found it between or in
                // later commits (a batch it had written and not committed is rolled back). Else it died first.
                let after = try await checkpoint(database, node: "kill-node")
                if after > before { killedAfterCommits += 1 }
                print("killedProjector kill \(round) after \(lifetime): checkpoint \(before) -> \(after), "
                    + (after > before ? "killed mid-stream, after committing" : "killed before its first commit"))
            }
            print("killedProjector: \(killedAfterCommits) of \(kills) kills landed after the projector had committed")
            // Three kills in four wait for a commit first; all but a few of them must have found one.
            #expect(killedAfterCommits >= kills / 2, "only \(killedAfterCommits) kills found a projector that had committed")
            appender.cancel()
            _ = try await appender.value
            let end = log.endOffset
            // Let one projector finish the backlog, then stop it politely.
            let last = try ChildProcess(binary, ["project", "--data-dir", logPath, "--database", database], environment: ["RANANEETI_LOG_LEVEL": "info"])
            let deadline = ContinuousClock.now + .seconds(120)
            // It has started (and handles SIGTERM) once it says it is projecting.
            while !last.text.contains("projecting"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            while try await checkpoint(database, node: "kill-node") < Int64(end), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            last.kill(SIGTERM)
            #expect(await last.wait() == 0, "\(last.text)")
            if try await checkpoint(database, node: "kill-node") < Int64(end) { Issue.record("the last projector did not finish: \(last.text)") }
            await log.close()

            let distinct = try Set(readDigests(logPath)).count
            #expect(try await count(database) == distinct)
            #expect(try await checkpoint(database, node: "kill-node") == Int64(end))
            // The counters moved with the rows: nothing was committed twice.
            let (inserted, duplicate): (Int64, Int64) = try await PostgresConnection.withConnection(database) { connection in
                try await connection.query("SELECT events_inserted, events_duplicate FROM cafe.projector_checkpoints WHERE node_id = 'kill-node'")[0]
                    .decode((Int64, Int64).self)
            }
            #expect(inserted == Int64(distinct))
            #expect(inserted + duplicate == Int64(end))
        }
    }

    private func count(_ database: String) async throws -> Int {
        try await PostgresConnection.withConnection(database) { connection in
            try await connection.query("SELECT count(*) FROM cafe.ordersraw")[0].decode(Int.self, column: 0)
        }
    }

    private func checkpoint(_ database: String, node: String) async throws -> Int64 {
        try await PostgresConnection.withConnection(database) { connection in
            try await connection.query("SELECT coalesce(max(next_offset), 0) FROM cafe.projector_checkpoints WHERE node_id = $1", [node])[0]
                .decode(Int64.self, column: 0)
        }
    }

    private func readDigests(_ logPath: String) throws -> [String] {
        let reader = try LogReader(directory: logPath)
        var digests: [String] = []
        while let records = try reader.nextRecords() {
            for record in records {
                if let event = try ReservationEvent.decode(line: record.bytes).reservationEvent { digests.append(event.digest.description) }
            }
        }
        return digests
    }
}
