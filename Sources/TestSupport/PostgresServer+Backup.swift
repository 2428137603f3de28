import Foundation
import Postgres

extension PostgresServer {
    private static let clientBinaries = "/usr/lib/postgresql/15/bin"
    /// The longest a dump or a restore of a test database may take.
    private static let backupDeadline: Duration = .seconds(120)

    /// Writes `database` to `path` with `pg_dump` (custom format): a backup taken at one moment, as an
    /// operator's nightly dump or a snapshot that a point-in-time restore goes back to.
    public func dump(database: String, to path: String) async throws {
        try await Self.runClient(
            "pg_dump", ["--format=custom", "--file=" + path, "--dbname=" + self.connectionString(database: database)])
    }

    /// Restores the dump at `path` as database `database`: the database is dropped first if it exists
    /// (its sessions ended: `WITH (FORCE)`), created empty, and filled by `pg_restore` in one transaction,
    /// so that other sessions see either no schema or the whole restored one, never half of it.
    public func restore(database: String, from path: String) async throws {
        let quoted = Self.quotedIdentifier(database)
        try await self.executeAsSuperuser("DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)")
        try await self.executeAsSuperuser("CREATE DATABASE \(quoted)")
        try await Self.runClient(
            "pg_restore",
            // Without owners and grants: roles belong to a cluster, and a fresh server has none of the old one's.
            ["--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges",
             "--dbname=" + self.connectionString(database: database), path])
    }

    /// Runs a PostgreSQL client program and fails with its output when it fails or outlives its deadline.
    private static func runClient(_ program: String, _ arguments: [String]) async throws {
        let child = try ChildProcess(clientBinaries + "/" + program, arguments)
        let status = try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask { await child.wait() }
            group.addTask {
                try await Task.sleep(for: backupDeadline)
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        guard let status else {
            child.kill()
            await child.wait()
            throw HarnessError("\(program) did not finish within \(backupDeadline); it said: \(child.text)")
        }
        guard status == 0 else { throw HarnessError("\(program) failed with status \(status): \(child.text)") }
    }
}
