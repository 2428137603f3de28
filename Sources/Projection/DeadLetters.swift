import Orders
public import Postgres

/// The operator's side of `cafe.dead_letters`: list, and try again after the cause is fixed.
public enum DeadLetters {
    public struct Letter: Sendable {
        public var node: String
        public var offset: Int64
        public var digest: String?
        public var sqlState: String?
        public var attempts: Int
        public var lastAttemptAt: String
        public var resolved: Bool
        public var error: String
        public var eventJSON: String
    }

    public struct RetryOutcome: Sendable {
        public var attempted = 0
        public var inserted = 0
        public var alreadyThere = 0
        public var stillRefused = 0
    }

    public static func list(on connection: PostgresConnection, includeResolved: Bool) async throws -> [Letter] {
        let rows = try await connection.query(
            """
            SELECT node_id, log_offset, ordrdgst, sqlstate, attempts, to_char(last_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   resolved, error_message, event_json
            FROM cafe.dead_letters WHERE $1 OR NOT resolved ORDER BY node_id, log_offset
            """, [includeResolved])
        return try rows.map { row in
            let (node, offset, digest, sqlState, attempts, last, resolved, error, json) =
                try row.decode((String, Int64, String?, String?, Int, String, Bool, String, String).self)
            return Letter(
                node: node, offset: offset, digest: digest?.trimmingTrailingSpaces, sqlState: sqlState, attempts: attempts,
                lastAttemptAt: last, resolved: resolved, error: error, eventJSON: json)
        }
    }

    /// Tries every unresolved letter again, each in its own transaction.
    public static func retryAll(on connection: PostgresConnection) async throws -> RetryOutcome {
        var outcome = RetryOutcome()
        for letter in try await list(on: connection, includeResolved: false) {
            outcome.attempted += 1
            let event: ReservationEvent
            do {
                guard let decoded = try ReservationEvent.decode(line: Array(letter.eventJSON.utf8)).reservationEvent else {
                    throw PostgresError(code: .misuse, message: "not a reservation event")
                }
                event = decoded
            } catch {
                try await recordAttempt(letter, sqlState: nil, message: "The event still cannot be read: \(error)", on: connection)
                outcome.stillRefused += 1
                continue
            }
            do {
                let inserted = try await connection.withTransaction { connection in
                    let rows = try await connection.execute(
                        """
                        INSERT INTO cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt)
                        VALUES ($1, $2, $3, $4::timestamp, $5) ON CONFLICT (ordrdgst) DO NOTHING
                        """,
                        [event.digest.description, event.reservation.name, event.reservation.people,
                         event.reservation.dateTime.description, event.reservation.notes])
                    try await connection.execute(
                        """
                        UPDATE cafe.dead_letters SET resolved = true, resolved_at = now(), attempts = attempts + 1,
                               last_attempt_at = now(), resolution = $3
                        WHERE node_id = $1 AND log_offset = $2
                        """,
                        [letter.node, letter.offset, rows == 1 ? "retried: inserted" : "retried: already in cafe.ordersraw"])
                    return rows == 1
                }
                if inserted { outcome.inserted += 1 } else { outcome.alreadyThere += 1 }
            } catch let error as PostgresError where error.code == .dataRefused {
                try await recordAttempt(letter, sqlState: error.sqlState, message: error.serverMessage ?? error.message, on: connection)
                outcome.stillRefused += 1
            }
        }
        return outcome
    }

    private static func recordAttempt(_ letter: Letter, sqlState: String?, message: String, on connection: PostgresConnection) async throws {
        try await connection.execute(
            """
            UPDATE cafe.dead_letters SET attempts = attempts + 1, last_attempt_at = now(), sqlstate = $3, error_message = $4
            WHERE node_id = $1 AND log_offset = $2
            """, [letter.node, letter.offset, sqlState, message])
    }
}
