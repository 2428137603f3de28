public import Orders

/// Where a reservation is on its way into the system of record.
public enum ReservationState: String, Sendable, Hashable, Codable {
    /// On this node's disk, not yet in the database.
    case pending
    /// Written into `cafe.ordersraw` by this node's projector.
    case confirmed
    /// Already in `cafe.ordersraw` when this node's projector got to it (sent by another node, or the old
    /// site): the same reservation, kept once.
    case duplicate

    /// True once the state will not change any more.
    public var isFinal: Bool { self != .pending }
}

/// Where an answer came from.
public enum ReadSource: String, Sendable, Hashable, Codable {
    /// PostgreSQL answered in time (merged with this node's events it has not seen yet).
    case database
    /// PostgreSQL could not answer in time: this node's local projection answered alone.
    case local
}

/// Everything known about one reservation, for its status page.
public struct ReservationStatus: Sendable, Hashable {
    public var digest: ReservationDigest
    public var reservation: Reservation
    public var state: ReservationState
    /// This node's log offset for it, when it came through this node.
    public var offset: UInt64?
    /// The node that accepted it, when known.
    public var node: String?
    /// When this node's log accepted it.
    public var acceptedAt: EventTimestamp?
    /// When this node's projector wrote it (or found it already there).
    public var projectedAt: EventTimestamp?
    /// Projection attempts that failed so far (each one retried).
    public var failedAttempts: Int
    /// The last projection failure, in words for a person.
    public var lastFailure: String?
    /// Who booked it, when a signed-in guest did (known from this node's log or from the database).
    public var guest: GuestIdentity?
    /// Its cancellation, when it was cancelled.
    public var cancellation: ReservationCancellation?

    public init(
        digest: ReservationDigest, reservation: Reservation, state: ReservationState, offset: UInt64? = nil,
        node: String? = nil, acceptedAt: EventTimestamp? = nil, projectedAt: EventTimestamp? = nil,
        failedAttempts: Int = 0, lastFailure: String? = nil, guest: GuestIdentity? = nil,
        cancellation: ReservationCancellation? = nil
    ) {
        self.digest = digest
        self.reservation = reservation
        self.state = state
        self.offset = offset
        self.node = node
        self.acceptedAt = acceptedAt
        self.projectedAt = projectedAt
        self.failedAttempts = failedAttempts
        self.lastFailure = lastFailure
        self.guest = guest
        self.cancellation = cancellation
    }
}

/// A reservation's cancellation: final, written to the log before it was confirmed to whoever cancelled.
public struct ReservationCancellation: Sendable, Hashable {
    /// When the log took the cancellation.
    public var at: EventTimestamp
    /// Who cancelled.
    public var by: GuestIdentity
    /// As the guest, or as staff on the guest's behalf.
    public var role: CancellerRole
    /// Why, in their words; empty when they gave none.
    public var reason: String

    public init(at: EventTimestamp, by: GuestIdentity, role: CancellerRole, reason: String) {
        self.at = at
        self.by = by
        self.role = role
        self.reason = reason
    }
}

/// The outcome of taking a reservation.
public enum AcceptOutcome: Sendable, Hashable {
    /// Stored durably now.
    case accepted(ReservationStatus)
    /// The same reservation (same digest) was already taken; nothing new was stored.
    case alreadyAccepted(ReservationStatus)

    public var status: ReservationStatus {
        switch self {
        case .accepted(let status), .alreadyAccepted(let status): status
        }
    }
}

/// The outcome of a cancellation.
public enum CancelOutcome: Sendable, Hashable {
    /// Cancelled now.
    case cancelled(ReservationStatus)
    /// It was cancelled already; nothing new was stored.
    case alreadyCancelled(ReservationStatus)
    /// Neither the database nor this node knows the reservation (or the database did not answer and this
    /// node does not hold it).
    case notFound(ReadSource)
}

/// A booking refused because exactly this reservation was cancelled: cancellations are final.
public struct ReservationWasCancelled: Error, Sendable {
    public let status: ReservationStatus

    public init(status: ReservationStatus) {
        self.status = status
    }
}

/// A guest's own reservations.
public struct GuestReservations: Sendable, Hashable {
    /// From now on, soonest first.
    public var upcoming: [ReservationStatus]
    /// Before now, latest first.
    public var past: [ReservationStatus]
    public var source: ReadSource

    public init(upcoming: [ReservationStatus], past: [ReservationStatus], source: ReadSource) {
        self.upcoming = upcoming
        self.past = past
        self.source = source
    }
}

/// A page of reservations, in order of date-time, then digest.
public struct ReservationPage: Sendable, Hashable {
    public var items: [ReservationStatus]
    public var source: ReadSource
    /// Pass to the next call to continue after the last item; nil on the last page.
    public var nextCursor: ReservationCursor?

    public init(items: [ReservationStatus], source: ReadSource, nextCursor: ReservationCursor?) {
        self.items = items
        self.source = source
        self.nextCursor = nextCursor
    }
}

/// A position in the date-time order of reservations: after `(dateTime, digest)`.
public struct ReservationCursor: Sendable, Hashable {
    public var dateTime: LocalDateTime
    public var digest: ReservationDigest

    public init(dateTime: LocalDateTime, digest: ReservationDigest) {
        self.dateTime = dateTime
        self.digest = digest
    }
}

/// How a node is doing, for `/readyz`, `/metrics` and the pages' banner.
public struct BookHealth: Sendable, Hashable {
    /// The log takes appends. When false, `logProblem` says why; the node must not take reservations.
    public var logWritable: Bool
    public var logProblem: String?
    /// Bytes the service may still write on the log's file system (nil when it cannot be asked).
    public var logFreeBytes: UInt64?
    /// Below this many free bytes the node calls itself unready: appends are about to fail for lack of room.
    public var logMinimumFreeBytes: UInt64
    /// The node was told to stop taking reservations (`rananeeti drain`): it is being retired.
    public var draining: Bool
    /// Reservations being taken right now; once draining and this is 0, the log's end no longer moves.
    public var acceptsInFlight: Int
    /// Whether a database is configured at all (log-only mode when not).
    public var databaseConfigured: Bool
    /// Whether the projector's last contact with the database succeeded.
    public var databaseReachable: Bool
    public var lastDatabaseError: String?
    /// Events in the log not yet projected, and the age of the oldest of them, in seconds.
    public var projectionLagEvents: UInt64
    public var projectionLagSeconds: Double

    public init(
        logWritable: Bool, logProblem: String? = nil, logFreeBytes: UInt64? = nil, logMinimumFreeBytes: UInt64 = 0,
        draining: Bool = false, acceptsInFlight: Int = 0, databaseConfigured: Bool, databaseReachable: Bool,
        lastDatabaseError: String? = nil, projectionLagEvents: UInt64 = 0, projectionLagSeconds: Double = 0
    ) {
        self.logWritable = logWritable
        self.logProblem = logProblem
        self.logFreeBytes = logFreeBytes
        self.logMinimumFreeBytes = logMinimumFreeBytes
        self.draining = draining
        self.acceptsInFlight = acceptsInFlight
        self.databaseConfigured = databaseConfigured
        self.databaseReachable = databaseReachable
        self.lastDatabaseError = lastDatabaseError
        self.projectionLagEvents = projectionLagEvents
        self.projectionLagSeconds = projectionLagSeconds
    }

    /// The log has room, by ``logMinimumFreeBytes``.
    public var logHasRoom: Bool { logFreeBytes.map { $0 >= logMinimumFreeBytes } ?? true }

    /// Whether the load balancer should send this node reservations: the log takes appends, has room, and the
    /// node is not being retired. A database that is down does not count: taking reservations without it is
    /// the point.
    public var isReady: Bool { logWritable && logHasRoom && !draining }

    /// Draining, and no reservation is still being taken: every event this node will ever hold is in its log.
    public var intakeClosed: Bool { draining && acceptsInFlight == 0 }
}

/// The node is being retired (`rananeeti drain`) and takes no new reservations; another node will.
public struct NodeIsDraining: Error, Sendable, CustomStringConvertible {
    public init() {}
    public var description: String { "this node is being retired and takes no new reservations" }
}

/// The reservations of one node, as the web layer sees them: take one, look one up, list them.
///
/// Taking never waits on PostgreSQL. Reads try PostgreSQL under a short deadline and fall back to the
/// node's local projection, saying so in ``ReadSource``.
public protocol ReservationBook: Sendable {
    /// Stores `reservation` durably (on disk before this returns) unless the same reservation is already
    /// stored. Throws a `LogError` when the log cannot take it (disk full: retry later; writer stopped), and
    /// ``NodeIsDraining`` when the node is being retired.
    ///
    /// `guest` is who booked it, recorded with it (`reservation.accepted.v2`); nil when nobody is signed in.
    /// Throws ``ReservationWasCancelled`` when exactly this reservation (the same digest) was cancelled: a
    /// cancellation is final.
    func accept(_ reservation: Reservation, by guest: GuestIdentity?) async throws -> AcceptOutcome

    /// Cancels the reservation with `digest`: a `reservation.cancelled` event, durable before this returns,
    /// like a booking. Whether `by` may cancel it is the caller's decision (the web layer's access policy).
    ///
    /// - Throws: `ReservationValidationError` for a reason that is not one line of at most 200 characters; a
    ///   `LogError` when the log cannot take it; ``NodeIsDraining``.
    func cancel(_ digest: ReservationDigest, by: GuestIdentity, role: CancellerRole, reason: String) async throws
        -> CancelOutcome

    /// A guest's reservations: those from `now` on, soonest first, and the earlier ones, latest first, at most
    /// `limit` of each. From the database (merged with this node's events it has not seen yet) when it answers
    /// in time, else from this node alone, saying so.
    func reservations(of guest: GuestIdentity, now: LocalDateTime, limit: Int) async -> GuestReservations

    /// ``accept(_:by:)`` for a request that carried an `Idempotency-Key`: the key is stored with the
    /// reservation (durably, in the same append), so that ``idempotencyKey(_:digest:)`` finds it, restarts
    /// included. A key already used is not stored again.
    func accept(_ reservation: Reservation, by guest: GuestIdentity?, idempotencyKey: String?) async throws
        -> AcceptOutcome

    /// What `key` was first used for, judged against the reservation with `digest`.
    func idempotencyKey(_ key: String, digest: ReservationDigest) -> IdempotencyKeyLookup

    /// The reservation with `digest`, or nil when neither the database nor this node knows it.
    func status(of digest: ReservationDigest) async -> (status: ReservationStatus?, source: ReadSource)

    /// Reservations with `from <= dateTime < to`, at most `limit`, after `cursor`.
    func list(from: LocalDateTime, to: LocalDateTime, limit: Int, after cursor: ReservationCursor?) async
        -> ReservationPage

    /// How the node is doing now.
    func health() async -> BookHealth
}

extension ReservationBook {
    /// A booking by nobody in particular (no one signed in).
    public func accept(_ reservation: Reservation) async throws -> AcceptOutcome {
        try await accept(reservation, by: nil)
    }

    /// A booking by nobody in particular, with the request's `Idempotency-Key`.
    public func accept(_ reservation: Reservation, idempotencyKey: String?) async throws -> AcceptOutcome {
        try await accept(reservation, by: nil, idempotencyKey: idempotencyKey)
    }
}
