import Postgres
import Projection

extension PostgresServer {
    /// Creates a database, applies the project's schema migrations to it (``SchemaMigrator``), and returns
    /// a connection string for it: a fresh `cafe` schema for a test of the projector or the read path.
    public func createMigratedDatabase(name: String? = nil) async throws -> String {
        let connectionString = try await self.createDatabase(name: name)
        try await PostgresConnection.withConnection(connectionString) { connection in
            _ = try await SchemaMigrator().migrate(connection: connection)
        }
        return connectionString
    }
}
