public import EventLog
public import Orders
import Synchronization

/// This node's reservations in memory, built from its event log: what the site shows when PostgreSQL cannot
/// answer, and what it merges into PostgreSQL's answers until the projector catches up.
///
/// Holds one entry per digest (the first event for it); a later event with the same digest is the same
/// reservation. Thread-safe; every method is quick and never blocks on I/O.
public final class LocalProjection: Sendable {
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
    }

    /// Where a reservation sorts within its day.
    private struct DayKey: Comparable {
        var dateTime: LocalDateTime
        var digest: ReservationDigest

        static func < (a: DayKey, b: DayKey) -> Bool { (a.dateTime, a.digest) < (b.dateTime, b.digest) }
    }

    private struct State {
        var entries: [ReservationDigest: Entry] = [:]
        /// Reservations by day of their date-time, each day sorted by (date-time, digest): listing a date range
        /// touches only its days. The date-time is kept beside the digest so that sorting and skipping need no
        /// lookup in `entries` (a cache miss each, which made a rebuild of a million events twice as slow).
        var byDay: [Int32: [DayKey]] = [:]
        /// Offsets below this were projected before this process learned outcomes one by one.
        var projectedBelow: UInt64 = 0
        var eventCount: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// How many distinct reservations it holds.
    public var count: Int {
        state.withLock { $0.entries.count }
    }

    /// How many events it has applied (repeats included).
    public var eventCount: UInt64 {
        state.withLock { $0.eventCount }
    }

    // MARK: - Building

    /// Applies one event from the log. Idempotent: a digest already held keeps its first entry.
    public func apply(_ event: ReservationEvent, offset: UInt64, acceptedAtMillis: Int64) {
        state.withLock { state in
            Self.apply(event, offset: offset, acceptedAtMillis: acceptedAtMillis, to: &state)
        }
    }

    private static func apply(_ event: ReservationEvent, offset: UInt64, acceptedAtMillis: Int64, to state: inout State) {
        state.eventCount += 1
        guard state.entries[event.digest] == nil else { return }
        let entry = Entry(
            offset: offset, node: event.node, reservation: event.reservation, digest: event.digest,
            acceptedAtMillis: acceptedAtMillis, state: offset < state.projectedBelow ? .confirmed : .pending,
            projectedAtMillis: nil, failedAttempts: 0, lastFailure: nil)
        state.entries[event.digest] = entry
        let day = event.reservation.dateTime.dayNumber
        let key = DayKey(dateTime: event.reservation.dateTime, digest: event.digest)
        let position = state.byDay[day].map { keys in keys.partitioningIndex { $0 > key } } ?? 0
        // Inserted in place: the day's array is not copied (it would be, were it taken out and put back).
        state.byDay[day, default: []].insert(key, at: position)
    }

    /// Reads the whole log into the projection (at start-up). Events that are not reservations are skipped;
    /// an event that does not decode is counted and skipped (the projector dead-letters it).
    ///
    /// - Parameter expectedEvents: about how many events the log holds, when known (its end offset): room for
    ///   them is made at once instead of by repeated growth.
    /// - Returns: the offset after the last event read, and how many events could not be decoded.
    @discardableResult
    public func rebuild(from reader: LogReader, expectedEvents: UInt64 = 0) throws -> (endOffset: UInt64, undecodable: Int) {
        var undecodable = 0
        let room = Int(min(expectedEvents, 50_000_000))
        state.withLock { state in state.entries.reserveCapacity(state.entries.count + room) }
        while let records = try reader.nextRecords() {
            var decoded: [(ReservationEvent, UInt64, Int64)] = []
            decoded.reserveCapacity(records.count)
            for record in records {
                guard let logged = try? ReservationEvent.decode(line: record.bytes) else {
                    undecodable += 1
                    continue
                }
                if let event = logged.reservationEvent {
                    decoded.append((event, record.offset, logged.appendedAt.millisecondsSinceEpoch))
                }
            }
            state.withLock { state in
                for (event, offset, millis) in decoded {
                    Self.apply(event, offset: offset, acceptedAtMillis: millis, to: &state)
                }
            }
        }
        return (reader.nextOffset, undecodable)
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
        state.withLock { $0.entries[digest].map(Self.status) }
    }

    /// Reservations with `from <= dateTime < to`, in (date-time, digest) order, after `cursor`, at most
    /// `limit`; `onlyPending` keeps just those not yet projected.
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
                    found.append(Self.status(entry))
                    if found.count == limit { return found }
                }
            }
            return found
        }
    }

    private static func status(_ entry: Entry) -> ReservationStatus {
        ReservationStatus(
            digest: entry.digest, reservation: entry.reservation, state: entry.state, offset: entry.offset,
            node: entry.node, acceptedAt: EventTimestamp(millisecondsSinceEpoch: entry.acceptedAtMillis),
            projectedAt: entry.projectedAtMillis.flatMap(EventTimestamp.init(millisecondsSinceEpoch:)),
            failedAttempts: Int(entry.failedAttempts), lastFailure: entry.lastFailure)
    }
}

extension LocalDateTime {
    /// Days since 1970-01-01 of the date part: a key that sorts like the dates.
    var dayNumber: Int32 {
        // Days from civil (H. Hinnant), exact for the Gregorian calendar.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let monthIndex = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * monthIndex + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return Int32(era * 146_097 + dayOfEra - 719_468)
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
