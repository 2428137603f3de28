import ArgumentParser
import Foundation
import Postgres
import Projection

/// `rananeeti db …`: the schema, the projectors' checkpoints and the dead letters.
struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Set up and inspect the database side: schema, checkpoints, dead letters.",
        subcommands: [MigrateCommand.self, StatusCommand.self, DeadLettersCommand.self]
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
        abstract: "Show each node's projection checkpoint and lag, and the dead letters waiting."
    )

    @OptionGroup var database: DatabaseOptions
    @Option(name: .customLong("data-dir"), help: "Also compare with this node's log end.") var dataDirectory: String?

    func run() async throws {
        let connection = try await database.connect()
        let (rows, unresolved) = try await reportingDatabaseErrors {
            let rows = try await connection.query(
                """
                SELECT node_id, next_offset, log_end_offset, lag_events, extract(epoch FROM lag_time)::float8,
                       extract(epoch FROM since_update)::float8, events_inserted, events_duplicate, events_dead_lettered
                FROM cafe.projector_status ORDER BY node_id
                """
            ).decode((String, Int64, Int64, Int64, Double, Double, Int64, Int64, Int64).self)
            let unresolved = try await connection.query("SELECT count(*) FROM cafe.dead_letters WHERE NOT resolved")[0]
                .decode(Int64.self, column: 0)
            return (rows, unresolved)
        }
        await connection.close()
        if rows.isEmpty { print("No projector has written to this database yet.") }
        let header = ["node", "checkpoint", "log end", "lag", "lag time", "updated", "inserted", "duplicate", "dead letters"]
        var table = [header]
        for row in rows {
            table.append([
                row.0, "\(row.1)", "\(row.2)", "\(row.3)", seconds(row.4), seconds(row.5) + " ago", "\(row.6)", "\(row.7)", "\(row.8)",
            ])
        }
        printTable(table)
        if let dataDirectory {
            let end = LogDirectorySource(directory: dataDirectory).endOffset
            print("The log in \(dataDirectory) ends at offset \(end).")
        }
        print("Dead letters waiting: \(unresolved)\(unresolved > 0 ? " (rananeeti db dead-letters)" : "").")
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
