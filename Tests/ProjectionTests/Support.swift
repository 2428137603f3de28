import EventLog
import Foundation
import Logging
import Orders
import Postgres
import Projection
import Testing
import TestSupport

/// A fresh database on `server` (default: the shared one) with the schema applied.
func migratedDatabase(on server: PostgresServer? = nil) async throws -> String {
    let server = if let server { server } else { try await PostgresServer.shared() }
    let connectionString = try await server.createDatabase()
    try await PostgresConnection.withConnection(connectionString) { connection in
        _ = try await SchemaMigrator().migrate(connection: connection)
    }
    return connectionString
}

/// `cafe.ordersraw` as digest → (name, people, date-time, notes). `ordrdgst` is UNIQUE, so the table cannot hold
/// a digest twice and the dictionary loses nothing; what can go wrong is a row missing, a row nobody sent, or
/// a row that differs from what was sent: `expectRows` checks those.
func ordersRaw(_ connectionString: String) async throws -> [String: (String, Int, String, String)] {
    try await PostgresConnection.withConnection(connectionString) { connection in
        let rows = try await connection.query(
            "SELECT ordrdgst, ordrname, ordrppl, to_char(ordrdttm, 'YYYY-MM-DD\"T\"HH24:MI'), coalesce(ordrtxt, '') FROM cafe.ordersraw")
        var found: [String: (String, Int, String, String)] = [:]
        for row in rows {
            let (digest, name, people, time, notes) = try row.decode((String, String, Int, String, String).self)
            found[digest] = (name, people, time, notes)
        }
        return found
    }
}

/// Expects `cafe.ordersraw` to hold exactly `sent`: the same set of digests, and each row what was sent for
/// it (name, party size, date and time, notes).
func expectRows(
    _ connectionString: String, equal sent: [ReservationDigest: Reservation], sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    let rows = try await ordersRaw(connectionString)
    let expected = Set(sent.keys.map(\.description))
    let missing = expected.subtracting(rows.keys)
    let unsent = Set(rows.keys).subtracting(expected)
    #expect(missing.isEmpty, "\(missing.count) sent digest(s) not in cafe.ordersraw: \(missing.prefix(5))", sourceLocation: sourceLocation)
    #expect(unsent.isEmpty, "\(unsent.count) row(s) in cafe.ordersraw nobody sent: \(unsent.prefix(5))", sourceLocation: sourceLocation)
    for (digest, reservation) in sent {
        guard let row = rows[digest.description] else { continue }
        let wanted = (reservation.name, reservation.people, reservation.dateTime.description, reservation.notes)
        #expect(row == wanted, "row \(digest) holds \(row), sent \(wanted)", sourceLocation: sourceLocation)
    }
}

func scalar<Value: PostgresDecodable>(_ sql: String, _ connectionString: String, as type: Value.Type = Value.self) async throws -> Value {
    try await PostgresConnection.withConnection(connectionString) { connection in
        try await connection.query(sql)[0].decode(Value.self, column: 0)
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "rananeeti.test")
    logger.logLevel = ProcessInfo.processInfo.environment["RANANEETI_TEST_LOG"] == nil ? .critical : .debug
    return logger
}()

/// Settings that give up quickly, so that fault tests finish in seconds.
func quickSettings(_ connectionString: String) -> DatabaseSettings {
    DatabaseSettings(
        connectionString: connectionString,
        options: PostgresConnection.Options(connectTimeout: .seconds(2), queryTimeout: .seconds(3), statementTimeout: .seconds(3)),
        readDeadline: .milliseconds(500), readRetryAfter: .milliseconds(200))
}

/// Settings for reads a test expects the database to answer: the read deadline is a margin, not the 500 ms
/// of `quickSettings`, so that a loaded machine's first read (a fresh connection) does not fall back to the
/// local projection. Tests of the fallback stop the server instead.
func databaseReadSettings(_ connectionString: String) -> DatabaseSettings {
    DatabaseSettings(
        connectionString: connectionString,
        options: PostgresConnection.Options(connectTimeout: .seconds(2), queryTimeout: .seconds(3), statementTimeout: .seconds(3)),
        readDeadline: TestTiming.margin(.seconds(5)), readRetryAfter: .milliseconds(200))
}

func quickProjectorConfiguration() -> Projector.Configuration {
    Projector.Configuration(
        maximumBatchEvents: 500, batchDelay: .milliseconds(1),
        backoff: RetryBackoff(base: .milliseconds(50), cap: .milliseconds(500)), batchDeadline: .seconds(3),
        failureDemoAttempts: 3, failureDemoDelay: .milliseconds(100))
}

/// Appends `count` sample reservations through a book (as the site does) and returns them by digest.
@discardableResult
func appendSamples(_ book: NodeReservationBook, count: Int, seed: UInt64) async throws -> [ReservationDigest: Reservation] {
    var samples = SampleReservations(seed: seed)
    var taken: [ReservationDigest: Reservation] = [:]
    for _ in 0..<count {
        var reservation = samples.reservation()
        // Keep the failure demo out of tests that are not about it.
        if reservation.testFailures {
            reservation = try Reservation(name: reservation.name, people: reservation.people, dateTime: reservation.dateTime, notes: reservation.notes)
        }
        let outcome = try await book.accept(reservation)
        taken[outcome.status.digest] = reservation
    }
    return taken
}

/// Opens a log and its book (log-only reads) in `directory`.
func openBook(_ directory: String, node: String) throws -> NodeReservationBook {
    let log = try EventLog(directory: directory)
    let projection = LocalProjection()
    try projection.rebuild(from: log.makeReader())
    return NodeReservationBook(log: log, projection: projection, node: node)
}
