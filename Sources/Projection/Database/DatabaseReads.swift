public import Logging
public import Orders
import Postgres
import Synchronization

/// Reads of `cafe.ordersraw` for pages, under a short deadline, with a small pool of connections.
///
/// A failed read opens a breaker for ``DatabaseSettings/readRetryAfter``: reads then fail at once and the
/// caller serves the local projection, instead of every request waiting out a deadline during an outage.
public final class DatabaseReads: Sendable {
    public enum ReadFailure: Error, Sendable {
        case unavailable(String)
    }

    private struct State {
        var idle: [PostgresConnection] = []
        var retryAfter: ContinuousClock.Instant?
        var lastError: String?
    }

    private let settings: DatabaseSettings
    private let faults: FaultSwitch?
    private let logger: Logger
    private let state = Mutex(State())

    public init(settings: DatabaseSettings, faults: FaultSwitch? = nil, logger: Logger) {
        self.settings = settings
        self.faults = faults
        self.logger = logger
    }

    /// The reservation stored under `digest`, nil when there is none.
    public func row(digest: ReservationDigest) async -> Result<Reservation?, ReadFailure> {
        await withConnection { connection, deadline in
            let rows = try await connection.query(
                "SELECT ordrname, ordrppl, to_char(ordrdttm, 'YYYY-MM-DD\"T\"HH24:MI'), coalesce(ordrtxt, '') FROM cafe.ordersraw WHERE ordrdgst = $1",
                [digest.description], deadline: deadline)
            guard let row = rows.first else { return nil }
            let (name, people, dateTime, notes) = try row.decode((String, Int, String, String).self)
            return Self.reservation(name: name, people: people, dateTime: dateTime, notes: notes)
        }
    }

    /// Rows with `from <= ordrdttm < to`, after `cursor`, in (date-time, digest) order, at most `limit + 1`.
    public func rows(from: LocalDateTime, to: LocalDateTime, after cursor: ReservationCursor?, limit: Int) async
        -> Result<[(ReservationDigest, Reservation)], ReadFailure>
    {
        await withConnection { connection, deadline in
            let start = cursor?.dateTime ?? from
            let rows = try await connection.query(
                """
                SELECT ordrdgst, ordrname, ordrppl, to_char(ordrdttm, 'YYYY-MM-DD"T"HH24:MI'), coalesce(ordrtxt, '')
                FROM cafe.ordersraw
                WHERE ordrdttm >= $1::timestamp AND ordrdttm < $2::timestamp
                  AND (ordrdttm, ordrdgst) > ($3::timestamp, $4)
                ORDER BY ordrdttm, ordrdgst
                LIMIT $5
                """,
                [from.description, to.description, start.description, cursor?.digest.description ?? "", limit + 1],
                deadline: deadline)
            var found: [(ReservationDigest, Reservation)] = []
            for row in rows {
                let (digestText, name, people, dateTime, notes) = try row.decode((String, String, Int, String, String).self)
                guard let digest = ReservationDigest(digestText.trimmingTrailingSpaces),
                    let reservation = Self.reservation(name: name, people: people, dateTime: dateTime, notes: notes)
                else { continue }
                found.append((digest, reservation))
            }
            return found
        }
    }

    /// A row as a `Reservation`. Rows the old site wrote may break today's rules (e.g. a name with trailing
    /// spaces); they are normalised the same way new ones are, and left out when even that fails.
    private static func reservation(name: String, people: Int, dateTime: String, notes: String) -> Reservation? {
        guard let time = LocalDateTime(dateTime) else { return nil }
        return try? Reservation(name: name, people: people, dateTime: time, notes: notes)
    }

    /// The last read failure, while reads are still being sent to the local projection.
    public var lastFailure: String? {
        state.withLock { state in
            guard let until = state.retryAfter, ContinuousClock.now < until else { return nil }
            return state.lastError
        }
    }

    private func withConnection<Value: Sendable>(
        _ body: (PostgresConnection, ContinuousClock.Instant) async throws -> Value
    ) async -> Result<Value, ReadFailure> {
        if faults?.databaseUnreachable == true { return .failure(.unavailable(FaultSwitch.drillMessage)) }
        let deadline = ContinuousClock.now + settings.readDeadline
        let pooled = state.withLock { state -> (PostgresConnection?, String?) in
            if let until = state.retryAfter, ContinuousClock.now < until { return (nil, state.lastError ?? "recent failure") }
            return (state.idle.popLast(), nil)
        }
        if let recentFailure = pooled.1 { return .failure(.unavailable(recentFailure)) }
        var connection = pooled.0
        do {
            if connection == nil {
                connection = try await PostgresConnection.connect(
                    settings.connectionString, options: settings.options, deadline: deadline, logger: logger)
            }
            let open = connection!
            let value = try await body(open, deadline)
            let keep = state.withLock { state -> Bool in
                guard state.idle.count < settings.readConnections else { return false }
                state.idle.append(open)
                return true
            }
            if !keep { await open.close() }
            return .success(value)
        } catch {
            let message = (error as? PostgresError)?.message ?? "\(error)"
            let stale = state.withLock { state -> [PostgresConnection] in
                state.retryAfter = .now + settings.readRetryAfter
                state.lastError = message
                defer { state.idle.removeAll() }
                return state.idle
            }
            // The failed connection and the idle ones may all point at a server that is gone.
            for connection in stale + (connection.map { [$0] } ?? []) { await connection.close() }
            logger.notice("database read failed; serving the local projection", metadata: ["error": "\(message)"])
            return .failure(.unavailable(message))
        }
    }

    /// Closes the pooled connections.
    public func close() async {
        let idle = state.withLock { state -> [PostgresConnection] in
            defer { state.idle.removeAll() }
            return state.idle
        }
        for connection in idle { await connection.close() }
    }
}

extension String {
    /// `char(20)` values come back padded; digests have exactly 20 characters anyway.
    var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
