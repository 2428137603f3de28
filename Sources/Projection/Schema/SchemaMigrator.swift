public import Postgres

/// Brings a database's schema up to date: applies, in version order, the migrations it has not applied
/// yet, and records each in `cafe.schema_migrations`.
///
/// Safe to run again (what is applied is skipped) and from several nodes at once: each migration runs in
/// its own transaction that first takes a transaction-scoped advisory lock (`pg_advisory_xact_lock` on
/// ``advisoryLockKey``), then re-reads what is applied, so two
/// migrators queue up and the second finds the work done. A migration that fails rolls back alone; those
/// before it stay applied.
///
/// Before applying anything, it compares the checksum recorded for every applied migration with this
/// binary's copy and refuses (``SchemaMigrationError/Code/checksumMismatch``) when they differ: applied
/// migrations must never be edited; add a new one instead. Versions recorded in the database that this
/// binary does not know (applied by a newer release) are left alone.
///
/// ```swift
/// let applied = try await SchemaMigrator().migrate(connection: connection)
/// ```
public struct SchemaMigrator: Sendable {
    /// The migrations this migrator applies, in version order.
    public let migrations: [SchemaMigration]

    /// The key of the advisory lock that serializes migrators: the ASCII bytes of "rnnschma".
    public static let advisoryLockKey: Int64 = 0x726E_6E73_6368_6D61

    /// The table that records applied migrations, created by the migrator itself.
    static let bootstrapSQL = """
        CREATE SCHEMA IF NOT EXISTS cafe;
        CREATE TABLE IF NOT EXISTS cafe.schema_migrations (
            version     integer     PRIMARY KEY,
            name        text        NOT NULL,
            checksum    text        NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now()
        );
        """

    /// Creates a migrator for `migrations` (default: the project's, ``SchemaMigration/all``).
    ///
    /// - Precondition: versions are positive and strictly increasing.
    public init(migrations: [SchemaMigration] = SchemaMigration.all) {
        precondition(migrations.first.map { $0.version > 0 } ?? true, "migration versions start at 1")
        precondition(
            zip(migrations, migrations.dropFirst()).allSatisfy { $0.version < $1.version },
            "migrations must be in strictly increasing version order"
        )
        self.migrations = migrations
    }

    /// Applies every migration not applied yet, in order, each in its own transaction.
    ///
    /// - Parameters:
    ///   - connection: An open connection with the right to create schemas and tables. Nothing else may
    ///     use it meanwhile.
    ///   - deadline: Bounds the whole run, including waiting for another node's migrator. Default 60 s
    ///     from now. (The session's `statement_timeout` also bounds each statement.)
    /// - Returns: The migrations this call applied, in order; empty when the schema was up to date.
    /// - Throws: ``SchemaMigrationError`` with ``SchemaMigrationError/Code/checksumMismatch`` (nothing
    ///   changed) or ``SchemaMigrationError/Code/migrationFailed``; ``PostgresError`` when the database
    ///   cannot be reached or the lock not taken in time.
    public func migrate(
        connection: PostgresConnection,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> [AppliedMigration] {
        let deadline = deadline ?? .now + .seconds(60)
        var applied: [AppliedMigration] = []
        while true {
            let next: AppliedMigration? = try await connection.withTransaction(deadline: deadline) { connection in
                try await connection.execute("SELECT pg_advisory_xact_lock($1)", [Self.advisoryLockKey])
                try await connection.executeScript(Self.bootstrapSQL)
                let recorded = try await Self.recordedMigrations(connection: connection)
                try self.verify(recorded)
                let done = Set(recorded.map(\.version))
                guard let migration = self.migrations.first(where: { !done.contains($0.version) }) else {
                    return nil
                }
                do {
                    try await connection.executeScript(migration.sql)
                } catch let error as PostgresError where !error.isRetryable {
                    throw SchemaMigrationError(
                        code: .migrationFailed,
                        message: "Migration \(migration.name) failed and was rolled back: \(error.message) "
                            + "Fix the database (or the migration, in a new release) and run the migration again.",
                        version: migration.version,
                        name: migration.name,
                        underlying: error
                    )
                }
                let rows = try await connection.query(
                    """
                    INSERT INTO cafe.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)
                    RETURNING (applied_at AT TIME ZONE 'UTC')::text || '+00'
                    """,
                    [migration.version, migration.name, migration.checksum]
                )
                return AppliedMigration(
                    version: migration.version,
                    name: migration.name,
                    checksum: migration.checksum,
                    appliedAt: try rows[0].decode(String.self, column: 0)
                )
            }
            guard let next else { return applied }
            applied.append(next)
        }
    }

    /// The migrations not applied yet, in order. Changes nothing and takes no lock.
    ///
    /// - Throws: ``SchemaMigrationError/Code/checksumMismatch`` when an applied migration differs from
    ///   this binary's copy; ``PostgresError`` when the database cannot be read.
    public func pendingMigrations(
        connection: PostgresConnection,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> [SchemaMigration] {
        let recorded = try await self.appliedMigrations(connection: connection, deadline: deadline)
        try self.verify(recorded)
        let done = Set(recorded.map(\.version))
        return self.migrations.filter { !done.contains($0.version) }
    }

    /// What `cafe.schema_migrations` records, in version order; empty when the table does not exist.
    public func appliedMigrations(
        connection: PostgresConnection,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> [AppliedMigration] {
        let exists = try await connection.query(
            "SELECT to_regclass('cafe.schema_migrations') IS NOT NULL", deadline: deadline)
        guard try exists[0].decode(Bool.self, column: 0) else { return [] }
        return try await Self.recordedMigrations(connection: connection, deadline: deadline)
    }

    private static func recordedMigrations(
        connection: PostgresConnection,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> [AppliedMigration] {
        let rows = try await connection.query(
            """
            SELECT version, name, checksum, (applied_at AT TIME ZONE 'UTC')::text || '+00'
            FROM cafe.schema_migrations ORDER BY version
            """,
            deadline: deadline
        )
        return try rows.map { row in
            let (version, name, checksum, appliedAt) = try row.decode((Int, String, String, String).self)
            return AppliedMigration(version: version, name: name, checksum: checksum, appliedAt: appliedAt)
        }
    }

    private func verify(_ recorded: [AppliedMigration]) throws(SchemaMigrationError) {
        for applied in recorded {
            guard let migration = self.migrations.first(where: { $0.version == applied.version }) else {
                continue  // applied by a newer release
            }
            if migration.checksum != applied.checksum {
                throw SchemaMigrationError(
                    code: .checksumMismatch,
                    message: "Migration \(migration.name) was applied with checksum \(applied.checksum), but this "
                        + "release's copy has checksum \(migration.checksum): the file was edited after it was "
                        + "applied. Nothing was changed. Undo the edit and put the change in a new migration; or, "
                        + "if the database already matches the new text, update cafe.schema_migrations.checksum "
                        + "for version \(migration.version) by hand.",
                    version: migration.version,
                    name: migration.name,
                    underlying: nil
                )
            }
        }
    }
}
