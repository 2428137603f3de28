import EventLog
import Foundation
import Orders
import Projection
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
import TestSupport

/// A clock the test moves.
private final class TestClock: Sendable {
    private let now: Mutex<Int64>
    init(_ text: String) { now = Mutex(EventTimestamp(text)!.millisecondsSinceEpoch) }
    var millis: Int64 { now.withLock { $0 } }
    func advance(days: Int64) { now.withLock { $0 += days * 86_400_000 } }
}

private func reservation(_ name: String, _ dateTime: String) throws -> Reservation {
    try Reservation(name: name, people: 2, dateTime: LocalDateTime(dateTime)!)
}

private func event(_ name: String, _ dateTime: String) throws -> ReservationEvent {
    ReservationEvent(node: "node-a", reservation: try reservation(name, dateTime))
}

private func projection(_ clock: TestClock, keepsUnprojected: Bool = true, keys: Int = 10_000) -> LocalProjection {
    LocalProjection(
        configuration: LocalProjection.Configuration(
            recentWindow: .seconds(10 * 86_400), keepsUnprojected: keepsUnprojected, idempotencyKeyCapacity: keys,
            clockMillis: { clock.millis }))
}

@Suite("The bounded local projection, its snapshots and its idempotency keys")
struct BoundedProjectionTests {
    @Test("keeps upcoming, recently taken and unprojected reservations; lets the rest go")
    func sweep() throws {
        let clock = TestClock("2030-01-20T12:00:00.000Z")
        let now = clock.millis
        let day: Int64 = 86_400_000
        let local = projection(clock)
        let upcoming = try event("Upcoming", "2030-02-01T19:00")
        let recentDate = try event("Recent date", "2030-01-15T19:00")
        let recentlyTaken = try event("Taken yesterday for an old date", "2029-06-01T19:00")
        let old = try event("Old", "2029-06-02T19:00")
        let oldUnprojected = try event("Old, not projected", "2029-06-03T19:00")
        local.apply(upcoming, offset: 0, acceptedAtMillis: now - 100 * day)
        local.apply(recentDate, offset: 1, acceptedAtMillis: now - 100 * day)
        local.apply(old, offset: 2, acceptedAtMillis: now - 100 * day)
        local.apply(oldUnprojected, offset: 3, acceptedAtMillis: now - 100 * day)
        local.apply(recentlyTaken, offset: 4, acceptedAtMillis: now - day)
        local.recordProjected(below: 3)
        local.recordProjected([(offset: 4, digest: recentlyTaken.digest, state: .confirmed)], atMillis: now)
        #expect(local.sweep() == 1)
        #expect(local.status(of: old.digest) == nil)
        for kept in [upcoming, recentDate, recentlyTaken, oldUnprojected] {
            #expect(local.status(of: kept.digest) != nil, "\(kept.reservation.name)")
        }
        #expect(local.list(from: LocalDateTime("2029-01-01T00:00")!, to: LocalDateTime("2031-01-01T00:00")!, after: nil, limit: 10).count == 4)
        // Once projected, the old one goes too; ten days on, so does the one taken yesterday.
        local.recordProjected(below: 4)
        #expect(local.sweep() == 1)
        clock.advance(days: 10)
        #expect(local.sweep() == 2, "the recent date and the one taken yesterday have aged out")
        #expect(local.status(of: upcoming.digest) != nil)
        #expect(local.count == 1)

        // A node without its own projector never learns what was projected: age alone decides.
        let logOnly = projection(clock, keepsUnprojected: false)
        logOnly.apply(oldUnprojected, offset: 0, acceptedAtMillis: now - 100 * day)
        #expect(logOnly.sweep() == 1)
    }

    @Test("a snapshot holds every kept reservation with its state, and the keys; loading it answers the same")
    func snapshotRoundTrip() throws {
        let clock = TestClock("2030-01-20T12:00:00.000Z")
        let local = projection(clock)
        var events: [ReservationEvent] = []
        for n in 0..<300 {
            let event = try event("Guest \(n) \u{1F600} café", "2030-02-\(String(format: "%02d", n % 28 + 1))T\(String(format: "%02d", 10 + n % 12)):\(n % 2 == 0 ? "00" : "30")")
            events.append(event)
            local.apply(event, offset: UInt64(n), acceptedAtMillis: clock.millis - Int64(n))
        }
        local.recordProjected(below: 100)
        local.recordProjected([(offset: 150, digest: events[150].digest, state: .duplicate)], atMillis: clock.millis)
        local.recordFailedAttempt(offsets: 200..<201, digests: [events[200].digest], reason: "the database refused it")
        local.apply(IdempotencyKeyEvent(node: "node-a", key: "key-1", digest: events[7].digest, created: true), offset: 300, appendedAtMillis: clock.millis)
        local.apply(IdempotencyKeyEvent(node: "node-a", key: "key-2", digest: events[8].digest, created: false), offset: 301, appendedAtMillis: clock.millis)
        let snapshot = try #require(local.makeSnapshot(offset: 0, chainHash: .genesis))
        #expect(snapshot.kind == LocalProjection.snapshotKind && snapshot.version == LocalProjection.snapshotVersion)

        let loaded = projection(clock)
        try loaded.load(snapshot)
        #expect(loaded.count == 300)
        for event in events {
            #expect(loaded.status(of: event.digest) == local.status(of: event.digest))
        }
        let from = LocalDateTime("2030-01-01T00:00")!
        let to = LocalDateTime("2031-01-01T00:00")!
        #expect(loaded.list(from: from, to: to, after: nil, limit: 1000) == local.list(from: from, to: to, after: nil, limit: 1000))
        #expect(loaded.list(from: from, to: to, after: nil, limit: 1000, onlyPending: true).count == 199)
        for key in ["key-1", "key-2", "key-3"] {
            for digest in [events[7].digest, events[8].digest] {
                #expect(loaded.idempotencyKey(key, digest: digest) == local.idempotencyKey(key, digest: digest))
            }
        }
        guard case .replay(.accepted(let first)) = loaded.idempotencyKey("key-1", digest: events[7].digest) else {
            Issue.record("key-1 not replayed as created")
            return
        }
        #expect(first.state == .pending, "the first answer, as it was")
        // A damaged payload under an intact container is refused and changes nothing.
        var broken = snapshot
        broken.payload.removeLast(3)
        #expect(throws: SnapshotPayloadError.self) { try loaded.load(broken) }
        #expect(loaded.count == 300)
    }

    @Test("idempotency keys expire after their lifetime and the oldest go beyond the capacity")
    func keyBounds() throws {
        let clock = TestClock("2030-01-20T12:00:00.000Z")
        let local = projection(clock, keys: 3)
        let taken = try event("Keyed", "2030-02-01T19:00")
        local.apply(taken, offset: 0, acceptedAtMillis: clock.millis)
        for n in 0..<5 {
            local.apply(IdempotencyKeyEvent(node: "a", key: "k\(n)", digest: taken.digest, created: n == 0), offset: UInt64(1 + n), appendedAtMillis: clock.millis)
        }
        #expect(local.idempotencyKeyCount == 3)
        #expect(local.idempotencyKey("k0", digest: taken.digest) == .unknown, "the oldest is forgotten")
        guard case .replay(.alreadyAccepted) = local.idempotencyKey("k4", digest: taken.digest) else {
            Issue.record("k4 not replayed")
            return
        }
        #expect(local.idempotencyKey("k4", digest: try event("Other", "2030-02-01T19:00").digest) == .conflict)
        clock.advance(days: 1)
        #expect(local.idempotencyKey("k4", digest: taken.digest) == .unknown, "expired after 24 hours")
        #expect(local.idempotencyKeyCount == 0)
    }

    @Test("a key survives a restart with and without a snapshot: the retry gets the first answer, from the log")
    func keysAcrossRestart() async throws {
        try await withTemporaryDirectory { directory in
            var log = try EventLog(directory: directory.path)
            var book = NodeReservationBook(log: log, projection: LocalProjection(), node: "node-a")
            let first = try await book.accept(try reservation("Keyed", "2030-02-01T19:00"), idempotencyKey: "retry-me")
            guard case .accepted = first else { Issue.record("not accepted"); return }
            let again = try await book.accept(try reservation("Keyed", "2030-02-01T19:00"), idempotencyKey: "again")
            guard case .alreadyAccepted = again else { Issue.record("not already accepted"); return }
            let reader = try log.makeReader()
            // Read in order, as the keeper does: reservations applied as they were taken are not decoded again.
            try book.projection.rebuild(from: reader)
            let snapshot = try #require(book.projection.makeSnapshot(offset: reader.nextOffset, chainHash: reader.lastChainPoint!.hash))
            // After the snapshot, one more keyed reservation: it is in the log only.
            let later = try await book.accept(try reservation("Later", "2030-02-02T19:00"), idempotencyKey: "later")
            await log.close()

            for useSnapshot in [true, false] {
                log = try EventLog(directory: directory.path)
                let projection = LocalProjection()
                let reader = try log.makeReader()
                if useSnapshot {
                    try LogSnapshot.write(snapshot, directory: directory.path)
                    guard case .loaded(let loaded) = try LogSnapshot.load(
                        kind: LocalProjection.snapshotKind, version: LocalProjection.snapshotVersion,
                        directory: directory.path, positioning: reader)
                    else { Issue.record("snapshot not loaded"); return }
                    try projection.load(loaded)
                }
                try projection.rebuild(from: reader)
                book = NodeReservationBook(log: log, projection: projection, node: "node-a")
                #expect(book.idempotencyKey("retry-me", digest: first.status.digest) == .replay(first))
                #expect(book.idempotencyKey("later", digest: later.status.digest) == .replay(later))
                guard case .replay(.alreadyAccepted) = book.idempotencyKey("again", digest: first.status.digest) else {
                    Issue.record("the key of the 200 answer is lost: \(book.idempotencyKey("again", digest: first.status.digest)) (snapshot: \(useSnapshot))")
                    return
                }
                #expect(book.idempotencyKey("retry-me", digest: later.status.digest) == .conflict)
                // A retry through the book finds the key and appends nothing.
                let end = log.endOffset
                _ = try await book.accept(try reservation("Keyed", "2030-02-01T19:00"), idempotencyKey: "retry-me")
                #expect(log.endOffset == end)
                await log.close()
            }
        }
    }

    @Test("the keeper follows the log, writes a snapshot at start and at shutdown, and the next start reads only the rest")
    func keeper() async throws {
        try await withTemporaryDirectory { directory in
            let log = try EventLog(directory: directory.path)
            let projection = LocalProjection()
            try projection.rebuild(from: log.makeReader())
            let book = NodeReservationBook(log: log, projection: projection, node: "node-a")
            try await appendSamples(book, count: 20, seed: 1)
            let keeper = ProjectionKeeper(
                log: log, projection: projection,
                configuration: ProjectionKeeper.Configuration(snapshotEveryEvents: 25), lastSnapshotOffset: nil,
                logger: testLogger)
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await keeper.run() }
                    try await appendSamples(book, count: 40, seed: 2)
                    trigger.triggerGracefulShutdown()
                    try await group.waitForAll()
                }
            }
            #expect(projection.readOffset == log.endOffset)
            let end = log.endOffset
            await log.close()
            let reader = try LogReader(directory: directory.path)
            guard case .loaded(let snapshot) = try LogSnapshot.load(
                kind: LocalProjection.snapshotKind, version: LocalProjection.snapshotVersion, directory: directory.path,
                positioning: reader)
            else { Issue.record("no snapshot"); return }
            #expect(snapshot.offset == end, "the last snapshot stands for the whole log")
            let restarted = LocalProjection()
            try restarted.load(snapshot)
            #expect(try restarted.rebuild(from: reader).endOffset == end)
            #expect(restarted.count == projection.count)
        }
    }
}
