import Postgres
import TestSupport
import Testing

@Suite(.timeLimit(.minutes(5))) struct TransactionTests {
    struct Rollback: Error {}

    private func count(_ connection: PostgresConnection) async throws -> Int {
        try await connection.query("SELECT count(*) FROM t")[0].decode(Int.self, column: 0)
    }

    @Test func commitsWhenTheBodyReturns() async throws {
        let database = try await makeDatabase()
        try await PostgresConnection.withConnection(database) { connection throws in
            try await connection.execute("CREATE TABLE t (id int PRIMARY KEY)")
            let inserted = try await connection.withTransaction { transaction throws in
                try await transaction.execute("INSERT INTO t SELECT generate_series(1, 3)")
            }
            #expect(inserted == 3)
        }
        // Seen from another session: committed.
        try await PostgresConnection.withConnection(database) { other throws in
            #expect(try await self.count(other) == 3)
        }
    }

    @Test func rollsBackWhenTheBodyThrows() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            try await connection.execute("CREATE TABLE t (id int PRIMARY KEY)")
            await #expect(throws: Rollback.self) {
                try await connection.withTransaction { transaction throws in
                    try await transaction.execute("INSERT INTO t VALUES (1)")
                    throw Rollback()
                }
            }
            #expect(try await self.count(connection) == 0)
            // The connection is usable and out of the transaction.
            try await connection.withTransaction { try await $0.execute("INSERT INTO t VALUES (2)") }
            #expect(try await self.count(connection) == 1)
        }
    }

    @Test func rollsBackWhenAStatementFails() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            try await connection.execute("CREATE TABLE t (id int PRIMARY KEY)")
            let error = await #expect(throws: PostgresError.self) {
                try await connection.withTransaction { transaction throws in
                    try await transaction.execute("INSERT INTO t VALUES (1)")
                    try await transaction.execute("INSERT INTO t VALUES (1)")
                }
            }
            #expect(error?.code == .dataRefused)
            #expect(try await self.count(connection) == 0)
        }
    }

    @Test func aSwallowedFailureIsNotReportedAsACommit() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            try await connection.execute("CREATE TABLE t (id int PRIMARY KEY)")
            let error = await #expect(throws: PostgresError.self) {
                try await connection.withTransaction { transaction throws in
                    try await transaction.execute("INSERT INTO t VALUES (1)")
                    _ = try? await transaction.execute("INSERT INTO t VALUES (1)")
                }
            }
            #expect(error?.message.contains("rolled back") == true)
            #expect(try await self.count(connection) == 0)
        }
    }

    @Test func transactionsDoNotNest() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase()) { connection throws in
            let error = await #expect(throws: PostgresError.self) {
                try await connection.withTransaction { outer throws in
                    try await outer.withTransaction { _ in }
                }
            }
            #expect(error?.code == .misuse)
            #expect(try await connection.query("SELECT 1").count == 1)
        }
    }

    @Test func theTransactionDeadlineBoundsEveryStatementInIt() async throws {
        try await PostgresConnection.withConnection(try await makeDatabase(), options: patientOptions) { connection throws in
            let (result, elapsed) = await timed {
                try await connection.withTransaction(deadline: .now + .milliseconds(500)) { transaction throws in
                    // Asks for 120 s; the transaction allows 0.5 s.
                    try await transaction.execute("SELECT pg_sleep(60)", deadline: .now + .seconds(120))
                }
            }
            #expect(result.postgresError()?.code == .timedOut)
            #expect(elapsed < .milliseconds(500) + deadlineMargin)
            #expect(await connection.isOpen == false)
        }
    }
}
