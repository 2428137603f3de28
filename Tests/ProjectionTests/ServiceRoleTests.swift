import EventLog
import Foundation
import Orders
import Postgres
import Projection
import Testing
import TestSupport

/// The service logs in as a member of `rananeeti_service` (schema/004_service_role.sql), never as the owner:
/// everything it does must work with those rights alone, and nothing that changes or removes what is stored
/// may. A grant missing from the migration fails here.
@Suite("The service's database role: exactly the rights it needs", .timeLimit(.minutes(5)))
struct ServiceRoleTests {
    /// A migrated database, a login role that is a member of rananeeti_service, and PUBLIC's default rights on
    /// the database taken away, so that only the role's own grants count.
    struct Setup {
        var server: PostgresServer
        var owner: String
        var service: String
    }

    static func setUp() async throws -> Setup {
        let server = try await PostgresServer.shared()
        let owner = try await migratedDatabase(on: server)
        let databaseName = try #require(owner.split(separator: " ").first { $0.hasPrefix("dbname=") }?.dropFirst("dbname=".count))
        let login = "svc_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        try await server.executeAsSuperuser(
            """
            CREATE ROLE \(login) LOGIN IN ROLE rananeeti_service;
            REVOKE ALL ON DATABASE \(PostgresServer.quotedIdentifier(String(databaseName))) FROM PUBLIC;
            """)
        return Setup(server: server, owner: owner, service: server.connectionString(database: String(databaseName), user: login))
    }

    @Test("the projector (small batches, direct COPY, COPY through a temporary table, dead letters), reads, retries and status work as the service")
    func everythingTheServiceDoes() async throws {
        let setup = try await Self.setUp()
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.appending("log"))
            let projection = LocalProjection()
            let settings = quickSettings(setup.service)
            let reads = DatabaseReads(settings: databaseReadSettings(setup.service), logger: testLogger)
            let board = ProjectorStatusBoard()
            let book = NodeReservationBook(log: log, projection: projection, node: "role-node", reads: reads, projectorState: board)
            let projector = Projector(
                source: log, node: "role-node", database: settings, projection: projection, status: board,
                configuration: quickProjectorConfiguration(), logger: testLogger)

            // 600 events, the first 40 already in the table (sent by another node): the first batch's direct
            // COPY meets them and takes the temporary table; one event the database refuses.
            let taken = try await appendSamples(book, count: 600, seed: 21)
            let refused = try Reservation(name: "Refused Guest", people: 2, dateTime: LocalDateTime(year: 2031, month: 1, day: 1, hour: 19, minute: 0))
            _ = try await book.accept(refused)
            let early = try await PostgresConnection.withConnection(setup.owner) { connection -> Int in
                let reader = try log.makeReader()
                var digests: [String] = []
                while digests.count < 40, let records = try reader.nextRecords() {
                    for record in records where digests.count < 40 {
                        if let event = try ReservationEvent.decode(line: record.bytes).reservationEvent { digests.append(event.digest.description) }
                    }
                }
                try await connection.execute(
                    "INSERT INTO cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm) SELECT d, 'Elsewhere', 2, '2030-01-01 19:00' FROM unnest($1::text[]) AS d",
                    [digests])
                try await connection.executeScript("ALTER TABLE cafe.ordersraw ADD CONSTRAINT no_refused CHECK (ordrname <> 'Refused Guest')")
                return digests.count
            }
            try await Self.drain(projector, to: log.endOffset)
            // A few more, alone: the small-batch statement.
            try await appendSamples(book, count: 3, seed: 22)
            try await Self.drain(projector, to: log.endOffset)

            let snapshot = projector.status.snapshot
            #expect(snapshot.lastError == nil, "\(snapshot.lastError ?? "")")
            #expect(snapshot.eventsDeadLettered == 1)
            #expect(snapshot.checkpoint == log.endOffset)
            #expect(try await scalar("SELECT count(*) FROM cafe.ordersraw", setup.owner, as: Int.self) == taken.count + 3)
            #expect(Int(snapshot.eventsDuplicate) == early)

            // Reads come from the database (a missing grant would fall back to the local projection).
            let (status, source) = await book.status(of: try #require(taken.keys.first))
            #expect(source == .database)
            #expect(status?.state.isFinal == true)
            let page = await book.list(
                from: try LocalDateTime(year: 2000, month: 1, day: 1, hour: 0, minute: 0),
                to: try LocalDateTime(year: 2100, month: 1, day: 1, hour: 0, minute: 0), limit: 50, after: nil)
            #expect(page.source == .database)
            #expect(page.items.count == 50)

            // The operators' commands, as the service: status, dead letters and their retry, replay's count.
            try await PostgresConnection.withConnection(setup.service) { connection in
                let lag = try await connection.query("SELECT lag_events FROM cafe.projector_status WHERE node_id = 'role-node'")[0]
                    .decode(Int64.self, column: 0)
                #expect(lag == 0)
                #expect(try await DeadLetters.list(on: connection, includeResolved: false).count == 1)
                _ = try await connection.query("SELECT count(*) FROM cafe.ordersraw WHERE ordrdgst = ANY($1::bpchar[])", [["x"]])
                _ = try await SchemaMigrator().appliedMigrations(connection: connection)
            }
            try await PostgresConnection.withConnection(setup.owner) { try await $0.executeScript("ALTER TABLE cafe.ordersraw DROP CONSTRAINT no_refused") }
            let retried = try await PostgresConnection.withConnection(setup.service) { try await DeadLetters.retryAll(on: $0) }
            #expect(retried.inserted == 1)

            await reads.close()
            await log.close()
        }
    }

    /// Drains, but gives up after ``TestTiming/patience``: a missing right is not a data error, so the projector would retry it
    /// for ever; the failure names the last error.
    static func drain(_ projector: Projector, to end: UInt64) async throws {
        let done = await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await projector.drain(to: end)) != nil }
            group.addTask {
                try? await Task.sleep(for: TestTiming.patience)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !done {
            throw TestFailure("the projector did not finish as the service role: \(projector.status.snapshot.lastError ?? "no error reported")")
        }
    }

    @Test("the service can neither change nor remove what is stored, nor change the schema; new tables are open to it")
    func nothingMore() async throws {
        let setup = try await Self.setUp()
        try await PostgresConnection.withConnection(setup.owner) { connection in
            try await connection.executeScript(
                "INSERT INTO cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm) VALUES ('00000000000000000000', 'Kept', 2, '2030-01-01 19:00')")
        }
        try await PostgresConnection.withConnection(setup.service) { connection in
            for statement in [
                "UPDATE cafe.ordersraw SET ordrname = 'Changed'",
                "DELETE FROM cafe.ordersraw",
                "TRUNCATE cafe.ordersraw",
                "DELETE FROM cafe.projector_checkpoints",
                "DELETE FROM cafe.dead_letters",
                "INSERT INTO cafe.schema_migrations (version, name, checksum) VALUES (999, 'x', 'x')",
                "CREATE TABLE cafe.intruder (id int)",
                "ALTER TABLE cafe.ordersraw ADD COLUMN x int",
                "DROP TABLE cafe.ordersraw",
            ] {
                do {
                    try await connection.executeScript(statement)
                    Issue.record("the service was allowed to: \(statement)")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "42501", "\(statement): \(error.message)")
                }
            }
        }
        #expect(try await scalar("SELECT ordrname FROM cafe.ordersraw", setup.owner, as: String.self) == "Kept")

        // A table a later migration adds (as the owner) is open to the service without a grant of its own.
        try await PostgresConnection.withConnection(setup.owner) { connection in
            try await connection.executeScript("CREATE TABLE cafe.later_things (id serial PRIMARY KEY, note text NOT NULL)")
        }
        try await PostgresConnection.withConnection(setup.service) { connection in
            try await connection.executeScript("INSERT INTO cafe.later_things (note) VALUES ('a'); UPDATE cafe.later_things SET note = 'b'")
            #expect(try await connection.query("SELECT note FROM cafe.later_things")[0].decode(String.self, column: 0) == "b")
        }
    }

    @Test("a database whose owner may not create roles still migrates (one host, no split)")
    func ownerWithoutCreateRole() async throws {
        let server = try await PostgresServer.shared()
        let owner = "own_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let name = "db_" + owner
        try await server.executeAsSuperuser("CREATE ROLE \(owner) LOGIN NOCREATEROLE")
        try await server.executeAsSuperuser("CREATE DATABASE \(name) OWNER \(owner)")
        let connectionString = server.connectionString(database: name, user: owner)
        let applied = try await PostgresConnection.withConnection(connectionString) { try await SchemaMigrator().migrate(connection: $0) }
        #expect(applied.count == SchemaMigration.all.count)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
