import Foundation
import Orders
import Postgres
import Testing
import TestSupport

/// The database witnesses each log's chain: `log verify --against-database`, `db status`, `replay` on a log
/// that is behind, and `db adopt-log`, as an operator and an auditor run them.
@Suite("Witness commands", .timeLimit(.minutes(5)))
struct WitnessCommandTests {
    let binary: String

    init() throws {
        binary = try BuiltProducts.executable("rananeeti")
    }

    /// Runs the program and kills it if it has not ended within `limit` (a command that should end must).
    func rananeeti(_ arguments: [String], within limit: Duration = .seconds(60)) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(binary, arguments)
        let status = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await child.wait() }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let status else {
            child.kill()
            await child.wait()
            Issue.record("rananeeti \(arguments.joined(separator: " ")) did not end within \(limit): \(child.text.suffix(400))")
            return (-1, child.text)
        }
        return (status, child.text)
    }

    /// A log of the first `count` of a fixed list of reservations, written by `rananeeti log append`.
    func appendLog(_ path: String, count: Int, in dir: TemporaryDirectory) throws {
        var samples = SampleReservations(seed: 31)
        let lines = (0..<count).map { _ -> String in
            let r = samples.reservation()
            let object: [String: Any] = ["name": r.name, "people": r.people, "datetime": r.dateTime.description, "notes": r.notes]
            return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        let input = dir.appending("input-\(count).jsonl")
        try lines.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        _ = try runTool("/bin/sh", ["-c", "'\(binary)' log append '\(path)' --node-id wit-node < '\(input)' >/dev/null 2>&1"])
    }

    @Test("verify against the database, db status, a log behind the witness refused by replay, then adopted")
    func witness() async throws {
        let database = try await PostgresServer.shared().createMigratedDatabase()
        try await withTemporaryDirectory { dir in
            let current = dir.appending("current")
            try appendLog(current, count: 200, in: dir)
            let projected = try await rananeeti(["replay", "--data-dir", current, "--database", database])
            #expect(projected.status == 0, "\(projected.output)")

            let agrees = try await rananeeti(["log", "verify", current, "--against-database", "--database", database])
            #expect(agrees.status == 0, "\(agrees.output)")
            #expect(agrees.output.contains("they agree"))
            // The auditor's second opinion prints the same hash the database shows.
            let hash = try runTool("/usr/bin/env", ["python3", VerifyAgreementTests.repositoryRoot + "/tools/verify_log.py", current, "--chain-hash-at", "200"])
                .split(separator: "\n").last.map(String.init) ?? ""
            #expect(hash.count == 64)
            let status = try await rananeeti(["db", "status", "--database", database, "--data-dir", current])
            #expect(status.status == 0, "\(status.output)")
            #expect(status.output.contains("wit-node") && status.output.contains(hash), "\(status.output)")

            // An older copy of the node's volume: the same node, a log that ends earlier.
            let older = dir.appending("older")
            try appendLog(older, count: 80, in: dir)
            let behind = try await rananeeti(["log", "verify", older, "--against-database", "--database", database])
            #expect(behind.status == 1, "\(behind.output)")
            #expect(behind.output.contains("DISAGREES WITH THE DATABASE") && behind.output.contains("are in the database and not in this log"))
            let refused = try await rananeeti(["replay", "--data-dir", older, "--database", database])
            #expect(refused.status == 1, "\(refused.output)")
            #expect(refused.output.contains("rananeeti db adopt-log"))
            // `drain` of such a log (no server on it: it projects the log itself) says the same, at once.
            let drained = try await rananeeti(["drain", "--data-dir", older, "--database", database, "--deadline-seconds", "120"])
            #expect(drained.status == 1 && drained.output.contains("rananeeti db adopt-log"), "\(drained.output)")
            #expect(!drained.output.contains("deadline passed"), "\(drained.output)")

            let adopted = try await rananeeti(["db", "adopt-log", "--data-dir", older, "--database", database, "--reason", "restored volume"])
            #expect(adopted.status == 0, "\(adopted.output)")
            #expect(adopted.output.contains("Adopted the log of node wit-node"))
            let again = try await rananeeti(["db", "adopt-log", "--data-dir", older, "--database", database])
            #expect(again.output.contains("Nothing to adopt"), "\(again.output)")
            let replayed = try await rananeeti(["replay", "--data-dir", older, "--database", database])
            #expect(replayed.status == 0, "\(replayed.output)")
            #expect(replayed.output.contains(" 0 inserted"), "the adopted log's events were all there already: \(replayed.output)")
            let verified = try await rananeeti(["log", "verify", older, "--against-database", "--database", database])
            #expect(verified.status == 0, "\(verified.output)")
            let recorded = try await PostgresConnection.withConnection(database) { connection in
                try await connection.query("SELECT next_offset, reason FROM cafe.projector_adoptions WHERE node_id = 'wit-node'")
                    .decode((Int64, String).self)
            }
            #expect(recorded.count == 1 && recorded.first?.0 == 200 && recorded.first?.1 == "restored volume")
        }
    }
}
