public import Postgres

/// Where the database is and how long to wait for it.
public struct DatabaseSettings: Sendable {
    /// A libpq connection string (keyword/value or URI; multi-host with `target_session_attrs=read-write`
    /// for Aurora), or nil to use libpq's `PG*` environment variables.
    public var connectionString: String?
    /// Connection deadlines and TCP settings for the projector's connection.
    public var options: PostgresConnection.Options
    /// How long a page may wait for PostgreSQL before it is served from the local projection. Default 300 ms.
    public var readDeadline: Duration
    /// After a read failed, how long reads go straight to the local projection before trying PostgreSQL
    /// again, so that an outage does not cost every request a full deadline. Default 2 s.
    public var readRetryAfter: Duration
    /// Connections kept open for reads. Default 4.
    public var readConnections: Int

    public init(
        connectionString: String? = nil,
        options: PostgresConnection.Options = PostgresConnection.Options(),
        readDeadline: Duration = .milliseconds(300),
        readRetryAfter: Duration = .seconds(2),
        readConnections: Int = 4
    ) {
        self.connectionString = connectionString
        self.options = options
        self.readDeadline = readDeadline
        self.readRetryAfter = readRetryAfter
        self.readConnections = readConnections
    }

    /// The connection string without its password, for messages.
    public var redactedDescription: String {
        connectionString.map(PostgresConnection.redactedConnectionString) ?? "(libpq PG* environment variables)"
    }
}
