// TEMPORARY: a stand-in for the Projection module's log-only ReservationBook, which is being written on
// main. It stores into a real EventLog (so log errors are real) and keeps an in-memory projection. Replace
// every use with the real book when it lands, then delete this file.
import EventLog
import Orders
import Projection
import Synchronization

final class TemporaryLogBook: ReservationBook {
    let log: EventLog
    let node: String
    private let state = Mutex<[ReservationDigest: ReservationStatus]>([:])
    /// Which source reads report; a real book reports `.local` when PostgreSQL does not answer in time.
    let readSource = Mutex<ReadSource>(.database)

    init(log: EventLog, node: String = "test-node") {
        self.log = log
        self.node = node
    }

    func accept(_ reservation: Reservation) async throws -> AcceptOutcome {
        let digest = reservation.digest
        if let known = state.withLock({ $0[digest] }) { return .alreadyAccepted(known) }
        let event = ReservationEvent(node: node, reservation: reservation)
        let offset = try await log.append(event.encodeRecord())
        let status = ReservationStatus(
            digest: digest, reservation: reservation, state: .pending, offset: offset, node: node,
            acceptedAt: EventTimestamp(millisecondsSinceEpoch: EventLogConfiguration.realTimeClockMillis()))
        return state.withLock { known in
            if let first = known[digest] { return .alreadyAccepted(first) }
            known[digest] = status
            return .accepted(status)
        }
    }

    func status(of digest: ReservationDigest) async -> (status: ReservationStatus?, source: ReadSource) {
        (state.withLock { $0[digest] }, readSource.withLock { $0 })
    }

    func list(from: LocalDateTime, to: LocalDateTime, limit: Int, after cursor: ReservationCursor?) async
        -> ReservationPage
    {
        let all = state.withLock { Array($0.values) }
            .filter { $0.reservation.dateTime >= from && $0.reservation.dateTime < to }
            .filter { status in
                guard let cursor else { return true }
                return (status.reservation.dateTime, status.digest) > (cursor.dateTime, cursor.digest)
            }
            .sorted { ($0.reservation.dateTime, $0.digest) < ($1.reservation.dateTime, $1.digest) }
        let items = Array(all.prefix(limit))
        let next = all.count > limit ? items.last.map { ReservationCursor(dateTime: $0.reservation.dateTime, digest: $0.digest) } : nil
        return ReservationPage(items: items, source: readSource.withLock { $0 }, nextCursor: next)
    }

    func health() async -> BookHealth {
        let failure = log.writerFailure
        return BookHealth(
            logWritable: failure == nil, logProblem: failure?.message, databaseConfigured: false,
            databaseReachable: false)
    }
}
