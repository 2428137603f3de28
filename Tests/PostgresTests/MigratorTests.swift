import Foundation
import Postgres
import Projection
import TestSupport
import Testing

@Suite(.timeLimit(.minutes(5))) struct MigratorTests {
    private func tableExists(_ name: String, _ connection: PostgresConnection) async throws -> Bool {
        try await connection.query("SELECT to_regclass($1) IS NOT NULL", [name])[0].decode(Bool.self, column: 0)
    }

    @Test func appliesEverythingOnceThenNothing() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let migrator = SchemaMigrator()
            #expect(try await migrator.pendingMigrations(connection: connection) == SchemaMigration.all)
            #expect(try await migrator.appliedMigrations(connection: connection).isEmpty)

            let applied = try await migrator.migrate(connection: connection)
            #expect(applied.map(\.version) == SchemaMigration.all.map(\.version))
            #expect(applied.map(\.name).prefix(6) == ["001_ordersraw", "002_projector", "003_dead_letters", "004_service_role", "005_witness_and_rewinds", "006_guests_and_cancellations"])
            #expect(applied.map(\.name) == SchemaMigration.all.map(\.name))
            #expect(applied.map(\.checksum) == SchemaMigration.all.map(\.checksum))
            for table in [
                "cafe.ordersraw", "cafe.projector_checkpoints", "cafe.projector_status", "cafe.dead_letters",
                "cafe.projector_adoptions", "cafe.reservation_guests", "cafe.cancellations",
            ] {
                #expect(try await self.tableExists(table, connection), "\(table) missing")
            }

            #expect(try await migrator.migrate(connection: connection).isEmpty)
            #expect(try await migrator.pendingMigrations(connection: connection).isEmpty)
            let recorded = try await migrator.appliedMigrations(connection: connection)
            #expect(recorded.map(\.version) == SchemaMigration.all.map(\.version))
            #expect(recorded.map(\.appliedAt) == applied.map(\.appliedAt))
        }
    }

    @Test func concurrentMigratorsApplyEachMigrationOnce() async throws {
        let database = try await makeDatabase()
        let runs = try await withThrowingTaskGroup(of: [AppliedMigration].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    // Patient timeouts: the four wait for each other's lock, on a machine that may be busy.
                    try await PostgresConnection.withConnection(database, options: patientOptions) { connection throws in
                        try await SchemaMigrator().migrate(connection: connection)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.count == 4)
        let versions = runs.flatMap { $0.map(\.version) }
        #expect(versions.sorted() == SchemaMigration.all.map(\.version))
        try await PostgresConnection.withConnection(database) { connection throws in
            let rows = try await connection.query("SELECT version FROM cafe.schema_migrations ORDER BY version")
            #expect(try rows.decodeColumn(0, as: Int.self) == SchemaMigration.all.map(\.version))
        }
    }

    @Test func refusesAnAppliedMigrationWhoseChecksumChanged() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let migrator = SchemaMigrator()
            _ = try await migrator.migrate(connection: connection)
            try await connection.execute("UPDATE cafe.schema_migrations SET checksum = 'edited' WHERE version = 2")

            let error = await #expect(throws: SchemaMigrationError.self) { try await migrator.migrate(connection: connection) }
            #expect(error?.code == .checksumMismatch)
            #expect(error?.version == 2)
            #expect(error?.message.contains("002_projector") == true)
            #expect(error?.message.contains("new migration") == true)
            await #expect(throws: SchemaMigrationError.self) { try await migrator.pendingMigrations(connection: connection) }
        }
    }

    @Test func adoptsTheOldSitesTable() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            try await connection.executeScript(
                """
                CREATE SCHEMA cafe;
                CREATE TABLE cafe.ordersraw (ordrid SERIAL PRIMARY KEY, ordrdgst char(20) UNIQUE NOT NULL,
                    ordrname varchar(40) NOT NULL, ordrppl integer NOT NULL, ordrdttm timestamp(0) NOT NULL,
                    ordrtxt varchar(200));
                INSERT INTO cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt)
                VALUES ('2e401f4cba1d2e90f354', 'Bob', 2, '2020-11-16 20:00', 'window seat, café');
                """
            )
            let applied = try await SchemaMigrator().migrate(connection: connection)
            #expect(applied.count == SchemaMigration.all.count)
            let rows = try await connection.query("SELECT ordrname, ordrtxt FROM cafe.ordersraw")
            #expect(try rows.decode((String, String).self).map { [$0.0, $0.1] } == [["Bob", "window seat, café"]])
        }
    }

    @Test func aFailingMigrationRollsBackAloneAndSaysWhich() async throws {
        let migrations = [
            SchemaMigration(version: 1, name: "001_ok", checksum: "a", sql: "CREATE TABLE ok (id int);"),
            SchemaMigration(version: 2, name: "002_bad", checksum: "b", sql: "CREATE TABLE half (id int); SELECT 1/0;"),
        ]
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let migrator = SchemaMigrator(migrations: migrations)
            let error = await #expect(throws: SchemaMigrationError.self) { try await migrator.migrate(connection: connection) }
            #expect(error?.code == .migrationFailed)
            #expect(error?.name == "002_bad")
            #expect((error?.underlying as? PostgresError)?.sqlState == "22012")
            #expect(try await self.tableExists("ok", connection))
            #expect(try await !self.tableExists("half", connection))
            #expect(try await migrator.pendingMigrations(connection: connection).map(\.version) == [2])
        }
    }

    /// The binary's embedded copy must be the files in schema/: run scripts/embed-schema after editing them.
    @Test func embeddedSchemaEqualsTheFiles() async throws {
        let schema = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("schema")
        let files = try FileManager.default.contentsOfDirectory(atPath: schema.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.count == SchemaMigration.all.count, "schema/ has \(files), the binary has \(SchemaMigration.all.map(\.name))")

        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            for (file, migration) in zip(files, SchemaMigration.all) {
                let text = try String(contentsOf: schema.appendingPathComponent(file), encoding: .utf8)
                let name = String(file.dropLast(4))
                #expect(migration.name == name)
                #expect(migration.version == Int(name.prefix(3)))
                #expect(migration.sql == text, "\(file) differs from the embedded copy; run scripts/embed-schema")
                let checksum = try await connection.query(
                    "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", [text])[0].decode(String.self, column: 0)
                #expect(migration.checksum == checksum, "\(file): stale checksum; run scripts/embed-schema")
            }
        }
    }
}

/// The statement shape the projector uses, at the size it uses: thousands of rows per statement through
/// unnest, idempotent on the digest, with its checkpoint in the same transaction.
@Suite(.timeLimit(.minutes(5))) struct ProjectorStatementTests {
    static let insertOrders = """
        INSERT INTO cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt)
        SELECT d, n, p, t::timestamp, x
        FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[]) AS input(d, n, p, t, x)
        ON CONFLICT (ordrdgst) DO NOTHING
        RETURNING ordrdgst
        """

    static let moveCheckpoint = """
        INSERT INTO cafe.projector_checkpoints AS c (node_id, next_offset, log_end_offset, events_inserted, events_duplicate)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (node_id) DO UPDATE SET
            next_offset = EXCLUDED.next_offset,
            log_end_offset = EXCLUDED.log_end_offset,
            events_inserted = c.events_inserted + EXCLUDED.events_inserted,
            events_duplicate = c.events_duplicate + EXCLUDED.events_duplicate,
            updated_at = now()
        """

    struct Batch {
        var digests: [String] = []
        var names: [String] = []
        var people: [Int] = []
        var times: [String] = []
        var notes: [String?] = []
    }

    static func batch(_ range: Range<Int>) -> Batch {
        var batch = Batch()
        for index in range {
            let hex = String(index, radix: 16)
            batch.digests.append(String(repeating: "0", count: 20 - hex.count) + hex)
            batch.names.append(hostileStrings[index % hostileStrings.count] + "#\(index)")
            batch.people.append(index % 12 + 1)
            batch.times.append("2020-11-\(10 + index % 20)T\(10 + index % 12):\(index % 2 == 0 ? "00" : "30")")
            batch.notes.append(index % 7 == 0 ? nil : hostileStrings[(index * 3) % hostileStrings.count])
        }
        return batch
    }

    func project(_ batch: Batch, nextOffset: Int64, on connection: PostgresConnection) async throws -> [String] {
        try await connection.withTransaction { transaction throws in
            let inserted = try await transaction.query(
                Self.insertOrders, [batch.digests, batch.names, batch.people, batch.times, batch.notes]
            ).decodeColumn(0, as: String.self)
            try await transaction.execute(
                Self.moveCheckpoint,
                ["node-a", nextOffset, nextOffset, inserted.count, batch.digests.count - inserted.count])
            return inserted
        }
    }

    @Test func insertsThousandsOfRowsPerStatementIdempotently() async throws {
        let database = try await PostgresServer.shared().createMigratedDatabase()
        try await PostgresConnection.withConnection(database) { connection throws in
            let first = Self.batch(0..<5000)
            let inserted = try await self.project(first, nextOffset: 5000, on: connection)
            #expect(Set(inserted) == Set(first.digests))

            // Replayed with ten new ones: only the new ones come back.
            let second = Self.batch(0..<5010)
            let insertedAgain = try await self.project(second, nextOffset: 5010, on: connection)
            #expect(insertedAgain.sorted() == Array(second.digests[5000...]).sorted())

            let rows = try await connection.query(
                "SELECT ordrdgst, ordrname, ordrppl, ordrdttm::text, ordrtxt FROM cafe.ordersraw ORDER BY ordrdgst")
            let stored = try rows.decode((String, String, Int, String, String?).self)
            #expect(stored.count == 5010)
            #expect(stored.map(\.0) == second.digests)
            #expect(stored.map(\.1) == second.names)
            #expect(stored.map(\.2) == second.people)
            #expect(stored.map(\.4) == second.notes)
            #expect(stored[1].3 == "2020-11-11 11:30:00")

            let status = try await connection.query(
                "SELECT next_offset, lag_events, events_inserted, events_duplicate FROM cafe.projector_status WHERE node_id = 'node-a'")
            let (nextOffset, lag, insertedTotal, duplicateTotal) = try status[0].decode((Int64, Int64, Int64, Int64).self)
            #expect(nextOffset == 5010)
            #expect(lag == 0)
            #expect(insertedTotal == 5010)
            #expect(duplicateTotal == 5000)
        }
    }
}
