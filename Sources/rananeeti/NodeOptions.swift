import ArgumentParser
import EventLog
import Foundation
import Postgres
import Projection

/// `--data-dir` and `--node-id`, shared by every command that works on a node's log.
struct NodeOptions: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "The node's data directory: its event log. (Environment: RANANEETI_DATA_DIR; default: ./data)")
    var dataDirectory: String?

    @Option(
        name: .customLong("node-id"),
        help: "This node's id in the database. (Environment: RANANEETI_NODE_ID; default: the id stored in the data directory, or the host name on first use)")
    var nodeID: String?

    static let nodeIDFileName = "node-id"

    var directory: String {
        dataDirectory ?? ProcessInfo.processInfo.environment["RANANEETI_DATA_DIR"] ?? "data"
    }

    /// The node id, tied to the data directory: a log is projected under one id for its whole life, so the
    /// id is kept in `DIR/node-id` and a different one is refused.
    func resolveNodeID() throws -> String {
        let file = directory + "/" + Self.nodeIDFileName
        let stored = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        let asked = nodeID ?? ProcessInfo.processInfo.environment["RANANEETI_NODE_ID"]
        if let stored, !stored.isEmpty {
            if let asked, asked != stored {
                throw ValidationError(
                    "The log in \(directory) belongs to node \"\(stored)\" (see \(file)), not \"\(asked)\". Each log is projected under one node id for its whole life; run it as \"\(stored)\", or use another data directory for \"\(asked)\".")
            }
            return stored
        }
        let id = asked ?? ProcessInfo.processInfo.hostName
        guard !id.isEmpty, id.count <= 200, !id.contains(where: \.isNewline) else {
            throw ValidationError("A node id must be 1–200 characters on one line.")
        }
        if FileManager.default.fileExists(atPath: directory) { try Self.writeDurably(file, id + "\n") }
        return id
    }

    /// Records the node id in a data directory created after `resolveNodeID()`.
    func storeNodeID(_ id: String) throws {
        let file = directory + "/" + Self.nodeIDFileName
        if !FileManager.default.fileExists(atPath: file) { try Self.writeDurably(file, id + "\n") }
    }

    /// Writes one of the node's small files into its data directory: atomically and synced (a power cut leaves
    /// the old content or the new), mode 0640 (0600 for secrets) whatever the umask.
    static func writeDurably(_ path: String, _ text: String, mode: UInt32 = FileSystem.fileMode) throws {
        if case .failure(let error) = FileSystem.writeDurably(path, Array(text.utf8), mode: mode) {
            throw ValidationError("Could not write \(path): \(error).")
        }
    }
}

/// How a command that writes a log stores it: `--segment-bytes`, shared by `serve` and `log append`.
struct LogOptions: ParsableArguments {
    static let segmentBytesKey = "RANANEETI_SEGMENT_BYTES"
    static let smallestSegment = 4096

    @Option(
        name: .customLong("segment-bytes"),
        help: "Start a new segment once the last one holds this many bytes: at least 4096 (a small size reproduces a log of many segments). (Environment: RANANEETI_SEGMENT_BYTES; default 64 MiB)")
    var segmentBytes: Int?

    /// `configuration` with the segment size given by the flag or the environment, if any.
    func apply(to configuration: EventLogConfiguration) throws -> EventLogConfiguration {
        var configuration = configuration
        let text = segmentBytes.map(String.init) ?? ProcessInfo.processInfo.environment[Self.segmentBytesKey]
        guard let text, !text.isEmpty else { return configuration }
        guard let bytes = Int(text), bytes >= Self.smallestSegment else {
            throw ValidationError("--segment-bytes (or \(Self.segmentBytesKey)) must be a whole number of bytes, at least \(Self.smallestSegment) (it is \"\(text)\").")
        }
        configuration.segmentSizeLimit = bytes
        return configuration
    }
}

/// `--database`, shared by every command that talks to PostgreSQL.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database"),
        help: "A libpq connection string, e.g. \"host=db port=5432 dbname=cafe user=app\" or a postgres:// URI; multi-host with target_session_attrs=read-write for Aurora. (Environment: RANANEETI_DATABASE; else libpq's PG* variables)")
    var database: String?

    var connectionString: String? {
        database ?? ProcessInfo.processInfo.environment["RANANEETI_DATABASE"]
    }

    /// Whether any database setting was given at all; without one, `serve` runs log-only.
    var isConfigured: Bool {
        let environment = ProcessInfo.processInfo.environment
        return connectionString != nil
            || ["PGHOST", "PGHOSTADDR", "PGDATABASE", "PGSERVICE", "PGPORT"].contains { environment[$0] != nil }
    }

    var settings: DatabaseSettings {
        DatabaseSettings(connectionString: connectionString)
    }

    var redacted: String { settings.redactedDescription }

    /// Opens a connection or exits with words an operator can act on.
    func connect() async throws -> PostgresConnection {
        do {
            return try await PostgresConnection.connect(connectionString)
        } catch let error as PostgresError {
            warn("could not reach the database \(redacted): \(error.message)")
            warn("Check --database, RANANEETI_DATABASE or the PG* variables, and that the server is running. Nothing was changed.")
            throw ExitCode(1)
        }
    }
}

/// Runs `body`, turning a database error into words on standard error and exit status 1.
func reportingDatabaseErrors<Result>(_ body: () async throws -> Result) async throws -> Result {
    do {
        return try await body()
    } catch let error as PostgresError {
        warn("the database refused or failed: \(error.message)")
        throw ExitCode(1)
    } catch let error as SchemaMigrationError {
        warn(error.description)
        throw ExitCode(1)
    }
}
