public import EventLog
public import Orders
import Synchronization

/// This node's reservations in memory, built from its event log: what the site shows when PostgreSQL cannot
/// answer, and what it merges into PostgreSQL's answers until the projector catches up.
///
/// It is bounded: it keeps only what the node must be able to answer without the database (see
/// ``Configuration``): reservations whose date-time or acceptance is within the recent window of now (so every
/// upcoming one), and, on a node that projects, those not yet projected. Older ones are answered by the
/// database; ``sweep()`` lets them go. Beside the reservations it keeps the `Idempotency-Key`s of the last
/// 24 hours, read from the log like everything else, so that a retry after a restart gets its first answer.
///
/// Its state is saved now and then as a snapshot (``makeSnapshot()``, `docs/SNAPSHOTS.md`) stamped with the log
/// offset and chain hash it stands for; a start loads it (``load(_:)``) and reads only the log after it.
///
/// Holds one entry per digest (the first event for it); a later event with the same digest is the same
/// reservation. Thread-safe; every method is quick and never blocks on I/O.
public final class LocalProjection: Sendable {
    /// What stays in memory.
    public struct Configuration: Sendable {
        /// Projected reservations stay while their date-time, or the time they were accepted, is at most this far
        /// in the past. Default 31 days; at least the idempotency keys' lifetime.
        public var recentWindow: Duration
        /// Whether reservations not yet projected stay whatever their age: true on a node whose projector runs
        /// in this process (they are what only it can answer, and it learns when they are projected); false
        /// otherwise (a log-only node would otherwise keep its whole history). Default true.
        public var keepsUnprojected: Bool
        /// How many `Idempotency-Key`s are kept at most; the oldest is forgotten first. Default 10,000.
        public var idempotencyKeyCapacity: Int
        /// How long an `Idempotency-Key` is kept after its first answer. Default 24 hours.
        public var idempotencyKeyLifetime: Duration
        /// The real-time clock, in milliseconds since the Unix epoch. Tests replace it.
        public var clockMillis: @Sendable () -> Int64

        public init(
            recentWindow: Duration = .seconds(31 * 86_400), keepsUnprojected: Bool = true,
            idempotencyKeyCapacity: Int = 10_000, idempotencyKeyLifetime: Duration = .seconds(24 * 3600),
            clockMillis: @escaping @Sendable () -> Int64 = EventLogConfiguration.realTimeClockMillis
        ) {
            precondition(idempotencyKeyCapacity >= 1, "the projection keeps at least one idempotency key")
            precondition(recentWindow >= idempotencyKeyLifetime, "the recent window covers the idempotency keys' lifetime")
            self.recentWindow = recentWindow
            self.keepsUnprojected = keepsUnprojected
            self.idempotencyKeyCapacity = idempotencyKeyCapacity
            self.idempotencyKeyLifetime = idempotencyKeyLifetime
            self.clockMillis = clockMillis
        }
    }

    struct Entry {
        var offset: UInt64
        var node: String
        var reservation: Reservation
        var digest: ReservationDigest
        var acceptedAtMillis: Int64
        var state: ReservationState
        var projectedAtMillis: Int64?
        var failedAttempts: Int32
        var lastFailure: String?
        /// Who booked it, when a signed-in guest did.
        var guest: GuestIdentity? = nil
    }

    /// Where a reservation sorts within its day.
    struct DayKey: Comparable {
        var dateTime: LocalDateTime
        var digest: ReservationDigest

        static func < (a: DayKey, b: DayKey) -> Bool { (a.dateTime, a.digest) < (b.dateTime, b.digest) }
    }

    /// An `Idempotency-Key` as the log recorded it.
    struct KeyRecord: Equatable {
        var digest: ReservationDigest
        var created: Bool
        var atMillis: Int64
    }

    struct State {
        var entries: [ReservationDigest: Entry] = [:]
        /// Reservations by day of their date-time, each day sorted by (date-time, digest): listing a date range
        /// touches only its days. The date-time is kept beside the digest so that sorting and skipping need no
        /// lookup in `entries` (a cache miss each, which made a rebuild of a million events twice as slow).
        var byDay: [Int32: [DayKey]] = [:]
        /// Offsets below this were projected before this process learned outcomes one by one.
        var projectedBelow: UInt64 = 0
        /// Records read from the log in order.
        var eventCount: UInt64 = 0
        /// Every record below this offset has been read from the log in order (by a rebuild or ``follow``).
        var readBelow: UInt64 = 0
        /// Offsets at or above `readBelow` already applied as they were taken, so that reading them in order
        /// costs no decoding.
        var appliedAhead: Set<UInt64> = []
        /// Cancellations by digest (the first for each), also of reservations this node does not hold: one
        /// cancelled here that another node took, which the database listed.
        var cancellations: [ReservationDigest: ReservationCancellation] = [:]
        /// The reservations of each signed-in guest that are kept, for "My reservations" without the database.
        var byGuest: [GuestIdentity: Set<ReservationDigest>] = [:]
        var keys: [String: KeyRecord] = [:]
        /// Keys in the order they were recorded (also expiry order); `keyOrderStart` is the first still live.
        var keyOrder: [String] = []
        var keyOrderStart = 0
    }

    public let configuration: Configuration
    let state = Mutex(State())

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// How many distinct reservations it holds now.
    public var count: Int {
        state.withLock { $0.entries.count }
    }

    /// How many records (events) it has read from the log in order, since it was built from nothing.
    public var eventCount: UInt64 {
        state.withLock { $0.eventCount }
    }

    /// The offset up to which it has read the log in order.
    public var readOffset: UInt64 {
        state.withLock { $0.readBelow }
    }

    // MARK: - Building

    /// Applies one reservation as it is taken (before the log is read that far in order). Idempotent: a digest
    /// already held keeps its first entry.
    public func apply(_ event: ReservationEvent, offset: UInt64, acceptedAtMillis: Int64) {
        state.withLock { state in
            if offset >= state.readBelow { state.appliedAhead.insert(offset) }
            Self.apply(event, offset: offset, acceptedAtMillis: acceptedAtMillis, to: &state)
        }
    }

    /// Records an `Idempotency-Key` as it is taken.
    public func apply(_ event: IdempotencyKeyEvent, offset: UInt64, appendedAtMillis: Int64) {
        state.withLock { state in
            if offset >= state.readBelow { state.appliedAhead.insert(offset) }
            Self.record(event, atMillis: appendedAtMillis, to: &state, configuration: configuration)
        }
    }

    static func apply(_ event: ReservationEvent, offset: UInt64, acceptedAtMillis: Int64, to state: inout State) {
        guard state.entries[event.digest] == nil else {
            // The same reservation booked again: the first guest to book it is who booked it (as in the
            // database's cafe.reservation_guests), also when an anonymous booking came first.
            if let guest = event.guest, state.entries[event.digest]!.guest == nil {
                state.entries[event.digest]!.guest = guest
                state.byGuest[guest, default: []].insert(event.digest)
            }
            return
        }
        let entry = Entry(
            offset: offset, node: event.node, reservation: event.reservation, digest: event.digest,
            acceptedAtMillis: acceptedAtMillis, state: offset < state.projectedBelow ? .confirmed : .pending,
            projectedAtMillis: nil, failedAttempts: 0, lastFailure: nil, guest: event.guest)
        insert(entry, into: &state)
    }

    /// Applies a cancellation as it is taken (before the log is read that far in order).
    public func apply(_ event: CancellationEvent, offset: UInt64, appendedAtMillis: Int64) {
        state.withLock { state in
            if offset >= state.readBelow { state.appliedAhead.insert(offset) }
            Self.apply(event, appendedAtMillis: appendedAtMillis, to: &state)
        }
    }

    static func apply(_ event: CancellationEvent, appendedAtMillis: Int64, to state: inout State) {
        // The first cancellation is the one (as in cafe.cancellations); a second changes nothing.
        guard state.cancellations[event.digest] == nil,
            let at = EventTimestamp(millisecondsSinceEpoch: appendedAtMillis)
        else { return }
        state.cancellations[event.digest] = ReservationCancellation(
            at: at, by: event.by, role: event.role, reason: event.reason)
    }

    static func insert(_ entry: Entry, into state: inout State) {
        if let guest = entry.guest { state.byGuest[guest, default: []].insert(entry.digest) }
        state.entries[entry.digest] = entry
        let day = entry.reservation.dateTime.dayNumber
        let key = DayKey(dateTime: entry.reservation.dateTime, digest: entry.digest)
        let position = state.byDay[day].map { keys in keys.partitioningIndex { $0 > key } } ?? 0
        // Inserted in place: the day's array is not copied (it would be, were it taken out and put back).
        state.byDay[day, default: []].insert(key, at: position)
    }

    /// Reads the log from the reader's position to its end into the projection (at start-up, after a snapshot
    /// or from the log's start). Events that are not reservations or keys are skipped; an event that does not
    /// decode is counted and skipped (the projector dead-letters it). Lets old reservations go as it reads, so
    /// that reading a long history needs no more memory than what is kept.
    ///
    /// - Parameter expectedEvents: about how many reservations will be kept, when known: room for them is made
    ///   at once instead of by repeated growth.
    /// - Returns: the offset after the last event read, and how many events could not be decoded.
    @discardableResult
    public func rebuild(from reader: LogReader, expectedEvents: UInt64 = 0) throws -> (endOffset: UInt64, undecodable: Int) {
        let room = Int(min(expectedEvents, 50_000_000))
        state.withLock { state in
            state.entries.reserveCapacity(state.entries.count + room)
            state.readBelow = reader.nextOffset
        }
        var undecodable = 0
        var sinceSweep = 0
        while let records = try reader.nextRecords() {
            undecodable += apply(inOrder: records, endingAt: reader.nextOffset)
            sinceSweep += records.count
            if sinceSweep >= Self.recordsBetweenSweepsWhileReading {
                sweep()
                sinceSweep = 0
            }
        }
        sweep()
        return (reader.nextOffset, undecodable)
    }

    /// How many records a rebuild reads between two sweeps: bounds its memory by what is kept plus this many.
    static let recordsBetweenSweepsWhileReading = 200_000

    /// Applies records read from the log in offset order, the last of them ending at `end`; returns how many did
    /// not decode.
    func apply(inOrder records: [LogRecord], endingAt end: UInt64) -> Int {
        var undecodable = 0
        var reservations: [(ReservationEvent, UInt64, Int64)] = []
        var keys: [(IdempotencyKeyEvent, Int64)] = []
        var cancellations: [(CancellationEvent, Int64)] = []
        reservations.reserveCapacity(records.count)
        let ahead = state.withLock { $0.appliedAhead.isEmpty ? [] : $0.appliedAhead }
        for record in records where !ahead.contains(record.offset) {
            guard let logged = try? ReservationEvent.decode(line: record.bytes) else {
                undecodable += 1
                continue
            }
            switch logged.kind {
            case .reservationAccepted(let event):
                reservations.append((event, record.offset, logged.appendedAt.millisecondsSinceEpoch))
            case .reservationCancelled(let event):
                cancellations.append((event, logged.appendedAt.millisecondsSinceEpoch))
            case .unknown(IdempotencyKeyEvent.eventType):
                guard let (stamp, event) = try? IdempotencyKeyEvent.decode(line: record.bytes) else {
                    undecodable += 1
                    continue
                }
                keys.append((event, stamp.appendedAt.millisecondsSinceEpoch))
            case .unknown:
                continue
            }
        }
        let counted = UInt64(records.count)
        state.withLock { state in
            for (event, offset, millis) in reservations {
                Self.apply(event, offset: offset, acceptedAtMillis: millis, to: &state)
            }
            for (event, millis) in keys {
                Self.record(event, atMillis: millis, to: &state, configuration: configuration)
            }
            for (event, millis) in cancellations {
                Self.apply(event, appendedAtMillis: millis, to: &state)
            }
            state.eventCount += counted
            for record in records where !state.appliedAhead.isEmpty {
                state.appliedAhead.remove(record.offset)
            }
            state.readBelow = max(state.readBelow, end)
        }
        return undecodable
    }

    // MARK: - Letting old reservations go

    /// Forgets the reservations the node need not answer without the database any more (see ``Configuration``),
    /// and expired idempotency keys. Returns how many reservations it let go.
    @discardableResult
    public func sweep() -> Int {
        let now = configuration.clockMillis()
        let cutoffMillis = now - Self.milliseconds(configuration.recentWindow)
        let cutoffDay = Int32(clamping: cutoffMillis.dividedRoundingDown(by: 86_400_000))
        return state.withLock { state in
            Self.expireKeys(&state, now: now, configuration: configuration)
            var goneByDay: [Int32: Set<ReservationDigest>] = [:]
            for (day, keys) in state.byDay where day < cutoffDay {
                for key in keys {
                    let entry = state.entries[key.digest]!
                    if entry.acceptedAtMillis >= cutoffMillis { continue }
                    if configuration.keepsUnprojected && !entry.state.isFinal { continue }
                    goneByDay[day, default: []].insert(key.digest)
                }
            }
            var gone = 0
            for (day, digests) in goneByDay {
                for digest in digests {
                    if let guest = state.entries[digest]?.guest {
                        state.byGuest[guest]?.remove(digest)
                        if state.byGuest[guest]?.isEmpty == true { state.byGuest[guest] = nil }
                    }
                    state.entries[digest] = nil
                }
                gone += digests.count
                state.byDay[day]!.removeAll { digests.contains($0.digest) }
                if state.byDay[day]!.isEmpty { state.byDay[day] = nil }
            }
            // A cancellation goes with its reservation, or, for one this node never held, once it is old.
            state.cancellations = state.cancellations.filter { digest, cancellation in
                state.entries[digest] != nil || cancellation.at.millisecondsSinceEpoch >= cutoffMillis
            }
            return gone
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    // MARK: - Projection outcomes

    /// Records what the projector learned for a batch.
    public func recordProjected(_ outcomes: [(offset: UInt64, digest: ReservationDigest, state: ReservationState)], atMillis: Int64) {
        state.withLock { state in
            for outcome in outcomes {
                guard var entry = state.entries[outcome.digest], entry.offset == outcome.offset, !entry.state.isFinal
                else { continue }
                entry.state = outcome.state
                entry.projectedAtMillis = atMillis
                state.entries[outcome.digest] = entry
            }
        }
    }

    /// Records a failed projection attempt for the reservations first taken at `offsets`.
    public func recordFailedAttempt(offsets: Range<UInt64>, digests: [ReservationDigest], reason: String) {
        state.withLock { state in
            for digest in digests {
                guard var entry = state.entries[digest], offsets.contains(entry.offset), !entry.state.isFinal else { continue }
                entry.failedAttempts += 1
                entry.lastFailure = reason
                state.entries[digest] = entry
            }
        }
    }

    /// Marks everything below `offset` as projected (from the projector's checkpoint, after a restart: the
    /// outcome of each is no longer known, and "confirmed" is what a guest needs to see).
    public func recordProjected(below offset: UInt64) {
        state.withLock { state in
            guard offset > state.projectedBelow else { return }
            state.projectedBelow = offset
            for (digest, entry) in state.entries where entry.offset < offset && entry.state == .pending {
                state.entries[digest]!.state = .confirmed
            }
        }
    }

    // MARK: - Reading

    public func status(of digest: ReservationDigest) -> ReservationStatus? {
        state.withLock { state in state.entries[digest].map { Self.status($0, in: state) } }
    }

    /// The cancellation of `digest` this node knows of (also for a reservation it does not hold).
    public func cancellation(of digest: ReservationDigest) -> ReservationCancellation? {
        state.withLock { $0.cancellations[digest] }
    }

    /// The kept reservations of `guest`: those from `now` on, soonest first, and the earlier ones, latest first.
    public func reservations(of guest: GuestIdentity, now: LocalDateTime) -> (upcoming: [ReservationStatus], past: [ReservationStatus]) {
        let all = state.withLock { state in
            (state.byGuest[guest] ?? []).compactMap { state.entries[$0].map { Self.status($0, in: state) } }
        }
        let upcoming = all.filter { $0.reservation.dateTime >= now }
            .sorted { ($0.reservation.dateTime, $0.digest) < ($1.reservation.dateTime, $1.digest) }
        let past = all.filter { $0.reservation.dateTime < now }
            .sorted { ($0.reservation.dateTime, $0.digest) > ($1.reservation.dateTime, $1.digest) }
        return (upcoming, past)
    }

    /// Reservations with `from <= dateTime < to`, in (date-time, digest) order, after `cursor`, at most
    /// `limit`; `onlyPending` keeps just those not yet projected. Only what is kept in memory: older ones are the
    /// database's to list.
    public func list(
        from: LocalDateTime, to: LocalDateTime, after cursor: ReservationCursor?, limit: Int, onlyPending: Bool = false
    ) -> [ReservationStatus] {
        guard limit > 0, from < to else { return [] }
        return state.withLock { state in
            var found: [ReservationStatus] = []
            let days = from.dayNumber...to.dayNumber
            // A long range over a sparse calendar: walk the days that exist instead of every day.
            let dayKeys: [Int32] =
                days.count > state.byDay.count * 2
                ? state.byDay.keys.filter(days.contains).sorted() : days.filter { state.byDay[$0] != nil }
            for day in dayKeys {
                for key in state.byDay[day]! {
                    guard key.dateTime >= from, key.dateTime < to else { continue }
                    if let cursor, (key.dateTime, key.digest) <= (cursor.dateTime, cursor.digest) { continue }
                    let entry = state.entries[key.digest]!
                    if onlyPending && entry.state.isFinal { continue }
                    found.append(Self.status(entry, in: state))
                    if found.count == limit { return found }
                }
            }
            return found
        }
    }

    static func status(_ entry: Entry, in state: State) -> ReservationStatus {
        var status = status(entry)
        status.cancellation = state.cancellations[entry.digest]
        return status
    }

    /// The entry's status without its cancellation (the first answer to the request that took it).
    static func status(_ entry: Entry) -> ReservationStatus {
        ReservationStatus(
            digest: entry.digest, reservation: entry.reservation, state: entry.state, offset: entry.offset,
            node: entry.node, acceptedAt: EventTimestamp(millisecondsSinceEpoch: entry.acceptedAtMillis),
            projectedAt: entry.projectedAtMillis.flatMap(EventTimestamp.init(millisecondsSinceEpoch:)),
            failedAttempts: Int(entry.failedAttempts), lastFailure: entry.lastFailure, guest: entry.guest)
    }
}

extension LocalDateTime {
    /// Days since 1970-01-01 of the date part: a key that sorts like the dates.
    var dayNumber: Int32 {
        Int32(GregorianCalendar.daysSinceUnixEpoch(year: year, month: month, day: day))
    }
}

extension Int64 {
    /// Floor division, for days before 1970 too.
    func dividedRoundingDown(by divisor: Int64) -> Int64 {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? quotient - 1 : quotient
    }
}

extension Array {
    /// The first index whose element satisfies `belongsAfter`, for an array partitioned by it.
    func partitioningIndex(where belongsAfter: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if belongsAfter(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
