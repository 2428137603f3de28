public import EventLog
import Glibc
public import Orders
import Synchronization

/// The reservations of this node: its event log, its local projection, and (when a database is configured)
/// PostgreSQL for reads, as one ``ReservationBook``.
///
/// Taking a reservation is a durable local append; it never waits on PostgreSQL.
public final class NodeReservationBook: ReservationBook {
    public let log: EventLog
    public let projection: LocalProjection
    public let node: String
    private let reads: DatabaseReads?
    private let projectorState: ProjectorStatusBoard?
    /// Digests being appended right now, with whoever waits for the same one.
    private let inFlight = Mutex<[ReservationDigest: [CheckedContinuation<Void, Never>]]>([:])
    /// Below this many free bytes on the log's file system, ``health()`` says the node is not ready.
    public let minimumFreeBytes: UInt64
    /// Whether new reservations are taken, and how many are being taken now (see ``stopTakingReservations()``).
    private let intake = Mutex(Intake())

    private struct Intake {
        var draining = false
        var acceptsInFlight = 0
    }

    /// - Parameters:
    ///   - log: the node's open event log.
    ///   - projection: the local projection, already rebuilt from `log`.
    ///   - node: this node's id, written into each event.
    ///   - reads: PostgreSQL reads for status and lists; nil in log-only mode.
    ///   - projectorState: what the projector reports (lag, reachability); nil in log-only mode.
    ///   - minimumFreeBytes: below this many free bytes on the log's file system the node is not ready, so that
    ///     the load balancer sends reservations to nodes with room. Default 8 MiB.
    public init(
        log: EventLog, projection: LocalProjection, node: String, reads: DatabaseReads? = nil,
        projectorState: ProjectorStatusBoard? = nil, minimumFreeBytes: UInt64 = 8 << 20
    ) {
        self.minimumFreeBytes = minimumFreeBytes
        self.log = log
        self.projection = projection
        self.node = node
        self.reads = reads
        self.projectorState = projectorState
    }

    // MARK: - Taking

    /// Stops taking new reservations, for retiring the node (`rananeeti drain`): ``accept(_:)`` throws
    /// ``NodeIsDraining`` for anything not already taken, and ``health()`` says so, so that the load balancer
    /// moves traffic away. Reservations being taken finish; once ``BookHealth/intakeClosed``, the log's end is
    /// final and the projector's lag says what is still only on this node.
    public func stopTakingReservations() {
        intake.withLock { $0.draining = true }
    }

    /// Takes reservations again after ``stopTakingReservations()``.
    public func resumeTakingReservations() {
        intake.withLock { $0.draining = false }
    }

    public func accept(_ reservation: Reservation, by guest: GuestIdentity?) async throws -> AcceptOutcome {
        try await accept(reservation, by: guest, idempotencyKey: nil)
    }

    public func accept(_ reservation: Reservation, by guest: GuestIdentity?, idempotencyKey key: String?)
        async throws -> AcceptOutcome
    {
        let event = ReservationEvent(node: node, reservation: reservation, guest: guest)
        // A cancellation is final: the same reservation (same digest) is not booked again. (A cancellation only
        // another node has heard of is not known here while the database is away; the database's then wins.)
        if let cancellation = projection.cancellation(of: event.digest) {
            var status = projection.status(of: event.digest)
                ?? ReservationStatus(digest: event.digest, reservation: reservation, state: .confirmed)
            status.cancellation = cancellation
            throw ReservationWasCancelled(status: status)
        }
        // A reservation this node already holds is answered even while draining: nothing new is stored (a new
        // Idempotency-Key for it is stored below, when the node is not draining).
        if let existing = projection.status(of: event.digest), !needsRecording(key, digest: event.digest) {
            return .alreadyAccepted(existing)
        }
        try admitToIntake()
        defer { leaveIntake() }
        // The same reservation sent twice at once (a double click, a retried request) is appended once:
        // the second caller waits for the first to finish and then finds it.
        while true {
            if let existing = projection.status(of: event.digest) {
                if let key, needsRecording(key, digest: event.digest) {
                    try await record(IdempotencyKeyEvent(node: node, key: key, digest: event.digest, created: false))
                }
                return .alreadyAccepted(existing)
            }
            let claimed = inFlight.withLock { inFlight -> Bool in
                guard inFlight[event.digest] == nil else { return false }
                inFlight[event.digest] = []
                return true
            }
            if claimed { break }
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let waiting = inFlight.withLock { inFlight -> Bool in
                    guard inFlight[event.digest] != nil else { return false }
                    inFlight[event.digest]!.append(waiter)
                    return true
                }
                if !waiting { waiter.resume() }
            }
        }
        defer {
            let waiters = inFlight.withLock { $0.removeValue(forKey: event.digest) ?? [] }
            for waiter in waiters { waiter.resume() }
        }
        // The key goes into the same append as the reservation: both are durable, or neither.
        let keyEvent = key.map { IdempotencyKeyEvent(node: node, key: $0, digest: event.digest, created: true) }
        var records = [event.encodeRecord()]
        if let keyEvent { records.append(keyEvent.encodeRecord()) }
        let receipt = try await log.appendWithReceipt(records)
        projection.apply(event, offset: receipt.offsets.lowerBound, acceptedAtMillis: receipt.appendedAtMillis)
        if let keyEvent {
            projection.apply(keyEvent, offset: receipt.offsets.lowerBound + 1, appendedAtMillis: receipt.appendedAtMillis)
        }
        // The answer a retry with the same key gets too: as taken, before anything was projected.
        return .accepted(projection.firstAnswer(for: event.digest)!)
    }

    /// Whether `key` is one this node has not recorded yet.
    /// Counts one append (a booking or a cancellation) in flight, so that a drain waits for it; refuses once
    /// the node is draining. Pair with ``leaveIntake()``.
    private func admitToIntake() throws {
        let admitted = intake.withLock { intake -> Bool in
            guard !intake.draining else { return false }
            intake.acceptsInFlight += 1
            return true
        }
        guard admitted else { throw NodeIsDraining() }
    }

    private func leaveIntake() {
        intake.withLock { $0.acceptsInFlight -= 1 }
    }

    private func needsRecording(_ key: String?, digest: ReservationDigest) -> Bool {
        guard let key else { return false }
        if case .unknown = projection.idempotencyKey(key, digest: digest) { return true }
        return false
    }

    /// Appends a key for a reservation that was already taken.
    private func record(_ keyEvent: IdempotencyKeyEvent) async throws {
        let receipt = try await log.appendWithReceipt([keyEvent.encodeRecord()])
        projection.apply(keyEvent, offset: receipt.offsets.lowerBound, appendedAtMillis: receipt.appendedAtMillis)
    }

    public func idempotencyKey(_ key: String, digest: ReservationDigest) -> IdempotencyKeyLookup {
        projection.idempotencyKey(key, digest: digest)
    }

    // MARK: - Cancelling

    public func cancel(_ digest: ReservationDigest, by: GuestIdentity, role: CancellerRole, reason: String) async throws
        -> CancelOutcome
    {
        let event = try CancellationEvent(node: node, digest: digest, by: by, role: role, reason: reason)
        if projection.cancellation(of: digest) != nil, let status = await status(of: digest).status {
            return .alreadyCancelled(status)
        }
        try admitToIntake()
        defer { leaveIntake() }
        let receipt = try await log.appendWithReceipt([event.encodeRecord()])
        projection.apply(event, offset: receipt.offsets.lowerBound, appendedAtMillis: receipt.appendedAtMillis)
        let (status, source) = await status(of: digest)
        guard let status else { return .notFound(source) }
        return .cancelled(status)
    }

    public func reservations(of guest: GuestIdentity, now: LocalDateTime, limit: Int) async -> GuestReservations {
        let limit = max(1, limit)
        let local = projection.reservations(of: guest, now: now)
        guard let reads, case .success(let rows) = await reads.rows(of: guest, now: now, limit: limit) else {
            return GuestReservations(
                upcoming: Array(local.upcoming.prefix(limit)), past: Array(local.past.prefix(limit)), source: .local)
        }
        // The database's rows, this node's view of its own, and its events the database has not seen yet.
        func merged(_ rows: [(ReservationDigest, DatabaseReads.StoredReservation)], _ local: [ReservationStatus])
            -> [ReservationStatus]
        {
            var byDigest: [ReservationDigest: ReservationStatus] = [:]
            for (digest, stored) in rows { byDigest[digest] = merge(stored, digest: digest) }
            for status in local where byDigest[status.digest] == nil { byDigest[status.digest] = status }
            return Array(byDigest.values)
        }
        let upcoming = merged(rows.upcoming, local.upcoming)
            .sorted { ($0.reservation.dateTime, $0.digest) < ($1.reservation.dateTime, $1.digest) }
        let past = merged(rows.past, local.past)
            .sorted { ($0.reservation.dateTime, $0.digest) > ($1.reservation.dateTime, $1.digest) }
        return GuestReservations(
            upcoming: Array(upcoming.prefix(limit)), past: Array(past.prefix(limit)), source: .database)
    }

    /// A reservation the database holds, with what this node knows of it: its own status (timeline, state) and
    /// a cancellation the database has not seen yet.
    private func merge(_ stored: DatabaseReads.StoredReservation, digest: ReservationDigest) -> ReservationStatus {
        var status = projection.status(of: digest)
            ?? ReservationStatus(digest: digest, reservation: stored.reservation, state: .confirmed)
        // The database has it: final, whatever this node has heard from its projector so far.
        if !status.state.isFinal { status.state = .confirmed }
        status.guest = status.guest ?? stored.guest
        status.cancellation = stored.cancellation ?? status.cancellation ?? projection.cancellation(of: digest)
        return status
    }

    // MARK: - Reading

    public func status(of digest: ReservationDigest) async -> (status: ReservationStatus?, source: ReadSource) {
        let local = projection.status(of: digest)
        guard let reads else { return (local, .local) }
        switch await reads.row(digest: digest) {
        case .failure:
            return (local, .local)
        case .success(nil):
            return (local, .database)
        case .success(let stored?):
            return (merge(stored, digest: digest), .database)
        }
    }

    public func list(from: LocalDateTime, to: LocalDateTime, limit: Int, after cursor: ReservationCursor?) async
        -> ReservationPage
    {
        let limit = max(1, limit)
        guard let reads, case .success(let rows) = await reads.rows(from: from, to: to, after: cursor, limit: limit)
        else {
            let items = projection.list(from: from, to: to, after: cursor, limit: limit + 1)
            return Self.page(items, limit: limit, source: .local)
        }
        // The database's rows, this node's view of its own, and its events the database has not seen yet.
        var merged: [ReservationDigest: ReservationStatus] = [:]
        for (digest, stored) in rows { merged[digest] = merge(stored, digest: digest) }
        for status in projection.list(from: from, to: to, after: cursor, limit: limit + 1, onlyPending: true)
        where merged[status.digest] == nil {
            merged[status.digest] = status
        }
        let items = merged.values.sorted { ($0.reservation.dateTime, $0.digest) < ($1.reservation.dateTime, $1.digest) }
        return Self.page(items, limit: limit, source: .database)
    }

    private static func page(_ items: [ReservationStatus], limit: Int, source: ReadSource) -> ReservationPage {
        let shown = Array(items.prefix(limit))
        let next = items.count > limit ? shown.last.map { ReservationCursor(dateTime: $0.reservation.dateTime, digest: $0.digest) } : nil
        return ReservationPage(items: shown, source: source, nextCursor: next)
    }

    public func health() async -> BookHealth {
        // Read before the log's end: once draining with nothing in flight, no append can follow, so the lag
        // computed below is final.
        let intake = intake.withLock { $0 }
        let failure = log.writerFailure
        let projector = projectorState?.snapshot
        // Until the projector has read its checkpoint (after a start while the database is away) nothing is
        // known to be projected: the whole log counts as lag, never zero, so that nobody drains or retires a
        // node on a lag it has not measured.
        let projected = projector.map { $0.checkpoint ?? 0 } ?? log.endOffset
        let lagEvents = log.endOffset - min(log.endOffset, projected)
        return BookHealth(
            logWritable: failure == nil, logProblem: failure?.message, logFreeBytes: Self.freeBytes(log.directory),
            logMinimumFreeBytes: minimumFreeBytes, draining: intake.draining, acceptsInFlight: intake.acceptsInFlight,
            databaseConfigured: reads != nil,
            databaseReachable: projector?.connected ?? false, lastDatabaseError: projector?.lastError,
            projectionLagEvents: reads == nil ? 0 : lagEvents, projectionLagSeconds: projector?.lagSeconds ?? 0)
    }

    /// Bytes an unprivileged writer may still use on the file system of `directory` (`statvfs`'s `f_bavail`:
    /// the blocks reserved for root do not count), or nil when it cannot be asked.
    static func freeBytes(_ directory: String) -> UInt64? {
        var stats = statvfs()
        guard statvfs(directory, &stats) == 0 else { return nil }
        return UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
    }
}
