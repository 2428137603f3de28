import EventLog
import Foundation
import Orders
import Postgres
import Projection
import Testing
import TestSupport

/// Who booked and what was cancelled: into PostgreSQL exactly once, and back from the log and from snapshots.
@Suite("Guests and cancellations", .timeLimit(.minutes(5)))
struct GuestsAndCancellationsTests {
    static let gina = GuestIdentity(issuer: "https://id.example", subject: "guest-0001")!
    static let staff = GuestIdentity(issuer: "https://id.example", subject: "staff-0001")!

    static func reservation(_ index: Int, notes: String = "") throws -> Reservation {
        try Reservation(
            name: "Guest \(index)", people: 2, dateTime: LocalDateTime("2031-06-\(String(format: "%02d", index % 28 + 1))T19:00")!,
            notes: notes)
    }

    @Test("guests and cancellations reach their tables once, across two nodes and a replay from offset 0")
    func exactlyOnce() async throws {
        let database = try await migratedDatabase()
        try await withTemporaryDirectory { dir in
            let a = try openBook(dir.appending("a"), node: "node-a")
            let b = try openBook(dir.appending("b"), node: "node-b")
            var digests: [ReservationDigest] = []
            for index in 0..<20 {
                let booked = try await a.accept(try Self.reservation(index), by: index.isMultiple(of: 2) ? Self.gina : nil)
                digests.append(booked.status.digest)
            }
            // Node b also took one of the same bookings, by another guest: the first guest to book it stays.
            _ = try await b.accept(try Self.reservation(0), by: Self.staff)
            // The same cancellations on both nodes (a retried request, or staff and guest at once): one row each.
            for digest in digests.prefix(5) {
                _ = try await a.cancel(digest, by: Self.gina, role: .guest, reason: "plans changed")
                _ = try await b.cancel(digest, by: Self.staff, role: .staff, reason: "kitchen closed")
            }

            for book in [a, b] {
                let projector = Projector(
                    source: book.log, node: book.node, database: quickSettings(database), projection: book.projection,
                    configuration: quickProjectorConfiguration(), logger: testLogger)
                try await projector.drain(to: book.log.endOffset)
                // A replay from the start sends everything again: nothing changes.
                try await projector.drain(from: .offset(0), to: book.log.endOffset)
            }

            let cancellations = try await PostgresConnection.withConnection(database) { connection in
                try await connection.query("SELECT ordrdgst, by_role, reason, node_id FROM cafe.cancellations ORDER BY ordrdgst")
                    .map { try $0.decode((String, String, String, String).self) }
            }
            #expect(cancellations.count == 5)
            #expect(Set(cancellations.map { $0.0.trimmingCharacters(in: .whitespaces) }) == Set(digests.prefix(5).map(\.description)))
            let guests = try await PostgresConnection.withConnection(database) { connection in
                try await connection.query("SELECT ordrdgst, guest_subject FROM cafe.reservation_guests ORDER BY ordrdgst")
                    .map { try $0.decode((String, String).self) }
            }
            #expect(guests.count == 10, "the ten bookings a signed-in guest made")
            #expect(guests.allSatisfy { $0.1 == Self.gina.subject }, "the first guest of a digest stays")
            #expect(try await scalar("SELECT count(*) FROM cafe.ordersraw", database) as Int64 == 20)
            await a.log.close()
            await b.log.close()
        }
    }

    @Test("the database's guests and cancellations come back in reads: status, list and a guest's reservations")
    func readsFromTheDatabase() async throws {
        let database = try await migratedDatabase()
        try await withTemporaryDirectory { dir in
            let a = try openBook(dir.appending("a"), node: "node-a")
            let booked = try await a.accept(try Self.reservation(3), by: Self.gina)
            _ = try await a.cancel(booked.status.digest, by: Self.gina, role: .guest, reason: "ill")
            let projector = Projector(
                source: a.log, node: "node-a", database: quickSettings(database), configuration: quickProjectorConfiguration(),
                logger: testLogger)
            try await projector.drain(to: a.log.endOffset)

            // Another node, which never saw these events, reads them from the database.
            let logB = try EventLog(directory: dir.appending("b"))
            let b = NodeReservationBook(
                log: logB, projection: LocalProjection(), node: "node-b",
                reads: DatabaseReads(settings: databaseReadSettings(database), logger: testLogger))
            let (status, source) = await b.status(of: booked.status.digest)
            #expect(source == .database)
            #expect(status?.guest == Self.gina)
            #expect(status?.cancellation?.reason == "ill")
            #expect(status?.cancellation?.role == .guest)
            let mine = await b.reservations(of: Self.gina, now: LocalDateTime("2031-01-01T00:00")!, limit: 10)
            #expect(mine.source == .database)
            #expect(mine.upcoming.map(\.digest) == [booked.status.digest])
            #expect(mine.upcoming.first?.cancellation != nil)
            let pastOnly = await b.reservations(of: Self.gina, now: LocalDateTime("2032-01-01T00:00")!, limit: 10)
            #expect(pastOnly.upcoming.isEmpty && pastOnly.past.count == 1)
            // Booking exactly that again is refused on the node that knows of the cancellation.
            await #expect(throws: ReservationWasCancelled.self) { try await a.accept(try Self.reservation(3), by: Self.gina) }
            await a.log.close()
            await logB.close()
        }
    }

    @Test("after a restart the log gives back who booked and what was cancelled; so does a snapshot")
    func rebuildAndSnapshot() async throws {
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.path, node: "node-a")
            let mine = try await book.accept(try Self.reservation(1), by: Self.gina)
            let anonymous = try await book.accept(try Self.reservation(2), by: nil)
            _ = try await book.cancel(mine.status.digest, by: Self.staff, role: .staff, reason: "closed")
            // A cancellation of a reservation this node never held (it was booked elsewhere).
            let elsewhere = try Self.reservation(9).digest
            _ = try await book.cancel(elsewhere, by: Self.gina, role: .guest, reason: "")
            let now = LocalDateTime("2031-01-01T00:00")!
            let expected = (
                mine: book.projection.status(of: mine.status.digest), anonymous: book.projection.status(of: anonymous.status.digest),
                list: book.projection.reservations(of: Self.gina, now: now).upcoming.map(\.digest))
            #expect(expected.mine?.guest == Self.gina)
            #expect(expected.mine?.cancellation?.role == .staff)
            #expect(expected.anonymous?.guest == nil && expected.anonymous?.cancellation == nil)
            #expect(book.projection.cancellation(of: elsewhere)?.by == Self.gina)
            let end = book.log.endOffset
            await book.log.close()

            // A restart: the projection rebuilt from the log, and a snapshot of it loaded into another.
            let reopened = try openBook(dir.path, node: "node-a")
            let hash = try #require(try reopened.log.makeReader().chainHash(at: end))
            let snapshot = try #require(reopened.projection.makeSnapshot(offset: end, chainHash: hash))
            for projection in [reopened.projection, try Self.loaded(snapshot)] {
                #expect(projection.status(of: mine.status.digest) == expected.mine)
                #expect(projection.status(of: anonymous.status.digest) == expected.anonymous)
                #expect(projection.reservations(of: Self.gina, now: now).upcoming.map(\.digest) == expected.list)
                #expect(projection.cancellation(of: elsewhere)?.by == Self.gina)
            }
            await #expect(throws: ReservationWasCancelled.self) { try await reopened.accept(try Self.reservation(1), by: Self.gina) }
            await reopened.log.close()
        }
    }

    static func loaded(_ snapshot: LogSnapshot) throws -> LocalProjection {
        let projection = LocalProjection()
        try projection.load(snapshot)
        return projection
    }
}
