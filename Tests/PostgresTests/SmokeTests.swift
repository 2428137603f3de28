import Postgres
import TestSupport
import Testing

@Suite struct SmokeTests {
    @Test func selectOne() async throws {
        let connectionString = try await PostgresServer.shared().createDatabase()
        try await PostgresConnection.withConnection(connectionString) { connection in
            let rows = try await connection.query("SELECT 1::int, $1::text", ["hello"])
            let (one, hello) = try rows[0].decode((Int, String).self)
            #expect(one == 1)
            #expect(hello == "hello")
        }
    }
}
