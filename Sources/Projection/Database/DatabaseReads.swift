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

    /// A reservation as the database holds it: the old site's row, who booked it and its cancellation, when
    /// the projector has written those (`cafe.reservation_guests`, `cafe.cancellations`).
    public struct StoredReservation: Sendable, Hashable {
        public var reservation: Reservation
        public var guest: GuestIdentity?
        public var cancellation: ReservationCancellation?
    }

    /// The columns every read selects, in the order ``stored(_:)`` decodes them, after `ordrdgst`.
    private static let columns = """
        o.ordrdgst, o.ordrname, o.ordrppl, to_char(o.ordrdttm, 'YYYY-MM-DD"T"HH24:MI'), coalesce(o.ordrtxt, ''),
        g.guest_issuer, g.guest_subject,
        to_char(c.cancelled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), c.by_issuer, c.by_subject,
        c.by_role, c.reason
        """
    private static let joins = """
        cafe.ordersraw o
        LEFT JOIN cafe.reservation_guests g ON g.ordrdgst = o.ordrdgst
        LEFT JOIN cafe.cancellations c ON c.ordrdgst = o.ordrdgst
        """

    /// The reservation stored under `digest`, nil when there is none.
    public func row(digest: ReservationDigest) async -> Result<StoredReservation?, ReadFailure> {
        await withConnection { connection, deadline in
            let rows = try await connection.query(
                "SELECT \(Self.columns) FROM \(Self.joins) WHERE o.ordrdgst = $1", [digest.description],
                deadline: deadline)
            return try rows.first.flatMap { try Self.stored($0)?.1 }
        }
    }

    /// Rows with `from <= ordrdttm < to`, after `cursor`, in (date-time, digest) order, at most `limit + 1`.
    public func rows(from: LocalDateTime, to: LocalDateTime, after cursor: ReservationCursor?, limit: Int) async
        -> Result<[(ReservationDigest, StoredReservation)], ReadFailure>
    {
        await withConnection { connection, deadline in
            let start = cursor?.dateTime ?? from
            let rows = try await connection.query(
                """
                SELECT \(Self.columns)
                FROM \(Self.joins)
                WHERE o.ordrdttm >= $1::timestamp AND o.ordrdttm < $2::timestamp
                  AND (o.ordrdttm, o.ordrdgst) > ($3::timestamp, $4)
                ORDER BY o.ordrdttm, o.ordrdgst
                LIMIT $5
                """,
                [from.description, to.description, start.description, cursor?.digest.description ?? "", limit + 1],
                deadline: deadline)
            return try rows.compactMap(Self.stored)
        }
    }

    /// The reservations `guest` booked: from `now` on (soonest first) and before (latest first), at most `limit`
    /// of each.
    public func rows(of guest: GuestIdentity, now: LocalDateTime, limit: Int) async
        -> Result<(upcoming: [(ReservationDigest, StoredReservation)], past: [(ReservationDigest, StoredReservation)]), ReadFailure>
    {
        await withConnection { connection, deadline in
            let parameters: [any PostgresEncodable] = [guest.issuer, guest.subject, now.description, limit]
            let upcoming = try await connection.query(
                """
                SELECT \(Self.columns) FROM \(Self.joins)
                WHERE g.guest_issuer = $1 AND g.guest_subject = $2 AND o.ordrdttm >= $3::timestamp
                ORDER BY o.ordrdttm, o.ordrdgst LIMIT $4
                """, parameters, deadline: deadline)
            let past = try await connection.query(
                """
                SELECT \(Self.columns) FROM \(Self.joins)
                WHERE g.guest_issuer = $1 AND g.guest_subject = $2 AND o.ordrdttm < $3::timestamp
                ORDER BY o.ordrdttm DESC, o.ordrdgst DESC LIMIT $4
                """, parameters, deadline: deadline)
            return (try upcoming.compactMap(Self.stored), try past.compactMap(Self.stored))
        }
    }

    /// One row of ``columns``, or nil for a row the old site wrote that even normalising cannot read.
    private static func stored(_ row: PostgresRow) throws -> (ReservationDigest, StoredReservation)? {
        let (digestText, name, people, dateTime, notes, guestIssuer, guestSubject) =
            try row.decode((String, String, Int, String, String, String?, String?).self)
        let cancelledAt = try row.decode(String?.self, column: 7)
        let byIssuer = try row.decode(String?.self, column: 8)
        let bySubject = try row.decode(String?.self, column: 9)
        let byRole = try row.decode(String?.self, column: 10)
        let reason = try row.decode(String?.self, column: 11)
        guard let digest = ReservationDigest(digestText.trimmingTrailingSpaces),
            let reservation = reservation(name: name, people: people, dateTime: dateTime, notes: notes)
        else { return nil }
        let guest = guestIssuer.flatMap { issuer in guestSubject.flatMap { GuestIdentity(issuer: issuer, subject: $0) } }
        var cancellation: ReservationCancellation?
        if let cancelledAt, let at = EventTimestamp(cancelledAt), let byIssuer, let bySubject,
            let by = GuestIdentity(issuer: byIssuer, subject: bySubject), let role = byRole.flatMap(CancellerRole.init)
        {
            cancellation = ReservationCancellation(at: at, by: by, role: role, reason: reason ?? "")
        }
        return (digest, StoredReservation(reservation: reservation, guest: guest, cancellation: cancellation))
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
