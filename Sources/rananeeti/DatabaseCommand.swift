import ArgumentParser
import EventLog
import Foundation
import Postgres
import Projection

/// `rananeeti db …`: the schema, the projectors' checkpoints and the dead letters.
struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Set up and inspect the database side: schema, checkpoints, dead letters.",
        subcommands: [MigrateCommand.self, StatusCommand.self, DeadLettersCommand.self, AdoptLogCommand.self]
    )
}

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the schema migrations the database does not have yet.",
        discussion: "Safe to run twice, and from several nodes at once: one applies each migration, the others wait and find it done."
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let connection = try await database.connect()
        defer { Task { await connection.close() } }
        let applied = try await reportingDatabaseErrors { try await SchemaMigrator().migrate(connection: connection) }
        if applied.isEmpty {
            print("The schema is up to date (\(SchemaMigration.all.count) migrations).")
        } else {
            for migration in applied { print("applied \(migration.version) \(migration.name)") }
        }
        await connection.close()
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each node's projection checkpoint and lag, the chain hash the database witnessed, the rewinds healed, and the dead letters waiting."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(name: .customLong("data-dir"), help: "Also compare with this node's log: its end, and the witnessed chain hash.") var dataDirectory: String?

    func run() async throws {
        let connection = try await database.connect()
        let (rows, unresolved) = try await reportingDatabaseErrors {
            let rows = try await connection.query(
                """
                SELECT node_id, next_offset, log_end_offset, lag_events, extract(epoch FROM lag_time)::float8,
                       extract(epoch FROM since_update)::float8, events_inserted, events_duplicate, events_dead_lettered,
                       rewinds_healed, coalesce(witness_offset::text, '-'), coalesce(witness_hash, '-')
                FROM cafe.projector_status ORDER BY node_id
                """
            ).decode((String, Int64, Int64, Int64, Double, Double, Int64, Int64, Int64, Int64, String, String).self)
            let unresolved = try await connection.query("SELECT count(*) FROM cafe.dead_letters WHERE NOT resolved")[0]
                .decode(Int64.self, column: 0)
            return (rows, unresolved)
        }
        if rows.isEmpty { print("No projector has written to this database yet.") }
        let header = [
            "node", "checkpoint", "log end", "lag", "lag time", "updated", "inserted", "duplicate", "dead letters",
            "rewinds healed", "witnessed offset", "witnessed chain hash",
        ]
        var table = [header]
        for row in rows {
            table.append([
                row.0, "\(row.1)", "\(row.2)", "\(row.3)", seconds(row.4), seconds(row.5) + " ago", "\(row.6)", "\(row.7)", "\(row.8)",
                "\(row.9)", row.10, row.11,
            ])
        }
        printTable(table)
        if let dataDirectory {
            let id = try NodeOptions.storedNodeID(directory: dataDirectory, nodeID: nil)
            let check = try await reportingDatabaseErrors {
                try await reportingLogErrors { try await WitnessCheck.run(node: id, directory: dataDirectory, on: connection) }
            }
            print("The log in \(dataDirectory) (node \(id)) ends at offset \(check.logEnd). \(check.summary)")
        }
        await connection.close()
        print("Dead letters waiting: \(unresolved)\(unresolved > 0 ? " (rananeeti db dead-letters)" : "").")
    }
}

struct AdoptLogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adopt-log",
        abstract: "Go on with a node's log that disagrees with what the database witnessed of it.",
        discussion: """
            A node whose log is behind the database (an older copy of its volume) or is not the history the \
            database witnessed refuses to project, and says so. When that log is the one to keep, this command \
            records the database's view of the node in cafe.projector_adoptions and points the node's checkpoint \
            at the log's start: the projector then re-sends the whole log (rows already there are left alone) \
            and witnesses it afresh. Rows of events that only the database has stay where they are. Changes \
            nothing when the log agrees with the database.
            """
    )

    @OptionGroup var node: NodeOptions
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Why the log is adopted, kept with the record.") var reason = "adopted by an operator"

    func run() async throws {
        try reportingLogErrors { try LogDirectory.check(node.directory) }
        let id = try NodeOptions.storedNodeID(directory: node.directory, nodeID: node.nodeID)
        let connection = try await database.connect()
        try await reportingDatabaseErrors {
            try await reportingLogErrors {
                let check = try await WitnessCheck.run(node: id, directory: node.directory, on: connection)
                guard check.checkpoint != nil, !check.verdict.allowsProjection else {
                    print("Nothing to adopt. \(check.summary)")
                    return
                }
                print("The log disagrees with the database: \(check.summary)")
                guard let before = try await LogAdoption.adopt(
                    node: id, logStart: check.logStart, logEnd: check.logEnd, logHead: check.logHead, reason: reason,
                    on: connection)
                else { return }
                let witnessed = before.witness.map { ", witnessed \($0)" } ?? ""
                print("Adopted the log of node \(id): the database had projected it up to offset \(before.nextOffset)\(witnessed); that is kept in cafe.projector_adoptions. The projector now re-sends this log from offset \(check.logStart.offset) to its end, \(check.logEnd), without writing any row twice.")
            }
        }
        await connection.close()
    }
}

struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List the events the database refused, or try them again.",
        discussion: "An event lands here when the database refuses its data. Fix the cause (e.g. a constraint), then --retry: each one that now fits is inserted (or found already there) and marked resolved."
    )

    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Try every unresolved dead letter again.") var retry = false
    @Flag(help: "Include resolved ones in the list.") var all = false

    func run() async throws {
        let connection = try await database.connect()
        try await reportingDatabaseErrors {
            if retry {
                let outcome = try await DeadLetters.retryAll(on: connection)
                print("retried \(outcome.attempted): \(outcome.inserted) inserted, \(outcome.alreadyThere) already there, \(outcome.stillRefused) still refused")
            }
            let letters = try await DeadLetters.list(on: connection, includeResolved: all)
            if letters.isEmpty { print(all ? "No dead letters." : "No unresolved dead letters.") }
            var table = [["node", "offset", "digest", "sqlstate", "attempts", "last attempt", "resolved", "error"]]
            for letter in letters {
                table.append([
                    letter.node, "\(letter.offset)", letter.digest ?? "-", letter.sqlState ?? "-", "\(letter.attempts)",
                    letter.lastAttemptAt, letter.resolved ? "yes" : "no", letter.error,
                ])
            }
            if !letters.isEmpty { printTable(table) }
        }
        await connection.close()
    }
}

func seconds(_ value: Double) -> String {
    value < 60 ? String(format: "%.1fs", value) : value < 3600 ? String(format: "%.0fm", value / 60) : String(format: "%.1fh", value / 3600)
}

func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    var widths = first.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    for row in rows {
        print(row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
}
