import EventLog
import Foundation
import Orders
import Postgres
import Projection
import Synchronization
import Testing
import TestSupport

/// The database goes back in time under a running node: restored in place from a dump, replaced by a fresh
/// server restored from it (a failover that lost the last commits), or its checkpoint row vanishes. Every
/// acknowledged reservation must come back by itself, exactly once, within `healingDeadline`.
@Suite("Projector: the database goes back in time", .timeLimit(.minutes(5)))
struct ProjectorRewindTests {
    /// The promise of `docs/RELIABILITY.md`: once the database answers again, everything it lost is back
    /// within this time (the projector's backoff is capped at 15 s in production; these tests use 500 ms).
    static let healingDeadline: Duration = TestTiming.margin(.seconds(60))

    @Test("restored in place from a dump taken under load: every acknowledged reservation back once, the rewind counted")
    func restoredInPlace() async throws {
        let server = try await PostgresServer.shared()
        let name = "rewind_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let database = try await server.createMigratedDatabase(name: name)
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.appending("log"), node: "node-w")
            let node = RunningNode(book: book, node: "node-w", database: database)
            let load = Load(book: book)

            try await node.dumpUnderLoad(server: server, database: name, to: dir.appending("dump"))

            try await server.restore(database: name, from: dir.appending("dump"))
            try await load.continue(by: 100)
            try await node.expectHealed(load: load, database: database)
            await book.log.close()
        }
    }

    @Test("a fresh server restored from the dump on another port takes over (multi-host, as a failover): everything back once")
    func freshServerFromDump() async throws {
        try await PostgresServer.withServer { first in
            try await PostgresServer.withServer { second in
                let name = "rewind_failover"
                _ = try await first.createMigratedDatabase(name: name)
                // The nodes know both hosts, as with an Aurora cluster endpoint; the second is down at first.
                let database = "host=127.0.0.1,127.0.0.1 port=\(first.port),\(second.port) user=postgres dbname=\(name) target_session_attrs=read-write"
                try await second.stop(mode: .fast)
                try await withTemporaryDirectory { dir in
                    let book = try openBook(dir.appending("log"), node: "node-f")
                    let node = RunningNode(book: book, node: "node-f", database: database)
                    let load = Load(book: book)

                    try await node.dumpUnderLoad(server: first, database: name, to: dir.appending("dump"))

                    // The old primary dies; the new one comes up from the dump on its own port.
                    try await first.stop(mode: .immediate)
                    try await second.start()
                    try await second.restore(database: name, from: dir.appending("dump"))
                    try await load.continue(by: 100)
                    try await node.expectHealed(load: load, database: second.connectionString(database: name))
                    await book.log.close()
                }
            }
        }
    }

    @Test("the checkpoint row and the rows vanish (a restore from before the node existed): a rewind to 0, dead letters too")
    func vanishedRow() async throws {
        let database = try await migratedDatabase()
        try await PostgresConnection.withConnection(database) { connection in
            try await connection.executeScript("ALTER TABLE cafe.ordersraw ADD CONSTRAINT no_poison CHECK (ordrname <> 'Poison Pill')")
        }
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.appending("log"), node: "node-v")
            try await appendSamples(book, count: 100, seed: 41)
            let poison = try Reservation(name: "Poison Pill", people: 2, dateTime: LocalDateTime("2026-12-01T19:00")!)
            let poisonOffset = try #require(try await book.accept(poison).status.offset)
            let node = RunningNode(book: book, node: "node-v", database: database)
            let load = Load(book: book)
            try await node.wait("everything so far projected") { $0.checkpoint ?? 0 > poisonOffset + 50 }
            try await PostgresConnection.withConnection(database) { connection in
                try await connection.executeScript(
                    "DELETE FROM cafe.ordersraw; DELETE FROM cafe.dead_letters; DELETE FROM cafe.projector_checkpoints")
            }
            try await load.continue(by: 50)
            try await node.expectHealed(load: load, database: database, poisonCount: 1)
            let letters: Int64 = try await scalar("SELECT count(*) FROM cafe.dead_letters WHERE log_offset = \(poisonOffset)", database)
            #expect(letters == 1, "the dead letter came back with the rest")
            await book.log.close()
        }
    }

    @Test("idle, the projector notices a rewind by itself (no new reservation needed)")
    func idleRewind() async throws {
        let database = try await migratedDatabase()
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.appending("log"), node: "node-i")
            let taken = try await appendSamples(book, count: 200, seed: 42)
            let node = RunningNode(book: book, node: "node-i", database: database)
            try await node.wait("everything projected") { $0.checkpoint == 200 }
            // Back to a state with the first half of it, in one transaction, as a restore would leave it.
            let digests = try readReservations(book.log).map(\.description)
            let secondHalf = Array(Set(digests[100...]).subtracting(digests[..<100]))
            try await PostgresConnection.withConnection(database) { connection in
                try await connection.withTransaction { connection in
                    try await connection.execute("DELETE FROM cafe.ordersraw WHERE ordrdgst = ANY($1::bpchar[])", [secondHalf])
                    try await connection.execute(
                        "UPDATE cafe.projector_checkpoints SET next_offset = 100, witness_offset = NULL, witness_hash = NULL")
                }
            }
            #expect(try await ordersRaw(database).count < taken.count)
            try await node.wait("the rewind healed") { $0.rewindsHealed == 1 && $0.checkpoint == 200 }
            #expect(try await ordersRaw(database).count == taken.count)
            await node.stop()
            await book.log.close()
        }
    }

    @Test("each commit witnesses the log's chain hash; a log behind or rewritten is refused, then adopted")
    func witness() async throws {
        let database = try await migratedDatabase()
        try await withTemporaryDirectory { dir in
            let path = dir.appending("log")
            let book = try openBook(path, node: "node-x")
            try await appendSamples(book, count: 300, seed: 43)
            let projector = Projector(source: book.log, node: "node-x", database: quickSettings(database), configuration: quickProjectorConfiguration(), logger: testLogger)
            try await projector.drain(to: 300)
            let witnessed = try await PostgresConnection.withConnection(database) { try await NodeCheckpoint.read(node: "node-x", on: $0) }
            let reader = try book.log.makeReader()
            #expect(witnessed?.witness == ChainPoint(offset: 300, hash: try #require(try reader.chainHash(at: 300))))
            await book.log.close()

            // The node's volume goes back to an older copy: the same log, cut at a batch boundary.
            let older = dir.appending("older")
            try FileManager.default.copyItem(atPath: path, toPath: older)
            try cutLog(older, toEnd: 120)
            let behind = try Projector(
                source: LogDirectorySource(directory: older), node: "node-x", database: quickSettings(database),
                configuration: quickProjectorConfiguration(), logger: testLogger)
            try await expectRefusal(behind, containing: "are in the database and not in this log")

            // A log with the same length but another history under this node's id.
            let other = dir.appending("other")
            let impostor = try openBook(other, node: "node-x")
            try await appendSamples(impostor, count: 300, seed: 44)
            await impostor.log.close()
            let rewritten = Projector(
                source: LogDirectorySource(directory: other), node: "node-x", database: quickSettings(database),
                configuration: quickProjectorConfiguration(), logger: testLogger)
            try await expectRefusal(rewritten, containing: "not the history the database saw")
            #expect(try await ordersRaw(database).count == 300, "a refused log wrote nothing")

            // The operator adopts the older copy: recorded, and projected again from its start, no row twice.
            try await PostgresConnection.withConnection(database) { connection in
                let before = try await LogAdoption.adopt(
                    node: "node-x", logStart: .origin, logEnd: 120, logHead: nil, reason: "test", on: connection)
                #expect(before?.nextOffset == 300)
            }
            let adopted = Projector(
                source: LogDirectorySource(directory: older), node: "node-x", database: quickSettings(database),
                configuration: quickProjectorConfiguration(), logger: testLogger)
            try await adopted.drain(to: 120)
            #expect(adopted.status.snapshot.eventsInserted == 0)
            let adoptions: Int64 = try await scalar("SELECT count(*) FROM cafe.projector_adoptions WHERE node_id = 'node-x' AND next_offset = 300", database)
            #expect(adoptions == 1)
        }
    }

    // MARK: - Helpers

    /// Runs `projector` until it reports an error, and expects that error to be a refusal saying `words`.
    func expectRefusal(_ projector: Projector, containing words: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let running = Task { try await projector.run() }
        defer { running.cancel() }
        try await waitFor("a refusal", status: projector.status) { $0.lastError != nil }
        let error = projector.status.snapshot.lastError ?? ""
        #expect(error.contains(words), "\(error)", sourceLocation: sourceLocation)
        #expect(error.contains("rananeeti db adopt-log"), "the message says what to do", sourceLocation: sourceLocation)
        running.cancel()
        _ = await running.result
    }

    /// Cuts a closed log so that it ends at `end`, a batch boundary in its only segment.
    func cutLog(_ directory: String, toEnd end: UInt64) throws {
        let segment = directory + "/00000000000000000000.lz4"
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: segment))
        defer { try? handle.close() }
        var position: UInt64 = 0
        var offset: UInt64 = 0
        let data = try Data(contentsOf: URL(fileURLWithPath: segment))
        while offset < end {
            // Header: magic (4), size (4), version (2), flags (2), count (4), first offset (8), …, payload length at 32.
            let count = data.subdata(in: Int(position) + 12..<Int(position) + 16).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            let payload = data.subdata(in: Int(position) + 40..<Int(position) + 44).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            offset += UInt64(count)
            position += 120 + UInt64(payload)
        }
        #expect(offset == end, "offset \(end) is not a batch boundary")
        try handle.truncate(atOffset: position)
    }
}

/// Waits until `condition` holds for the projector's status, or fails the test, saying what it waited for,
/// after `limit`.
func waitFor(
    _ what: String, status: ProjectorStatusBoard, within limit: Duration = TestTiming.patience,
    until condition: @escaping @Sendable (ProjectorStatusBoard.Snapshot) -> Bool
) async throws {
    do {
        try await status.wait(timeout: limit, until: condition)
    } catch let timedOut as ProjectorStatusBoard.WaitTimedOut {
        Issue.record("waited for \(what): \(timedOut)")
        throw timedOut
    }
}

/// A node as `serve` runs one: its log and local projection, and a projector looking often at its row.
final class RunningNode: Sendable {
    let book: NodeReservationBook
    let status = ProjectorStatusBoard()
    private let running: Task<Void, any Error>

    init(book: NodeReservationBook, node: String, database: String) {
        self.book = book
        var configuration = quickProjectorConfiguration()
        configuration.checkpointRecheckInterval = .milliseconds(200)
        let projector = Projector(
            source: book.log, node: node, database: quickSettings(database), projection: book.projection, status: status,
            configuration: configuration, logger: testLogger)
        running = Task { try await projector.run() }
    }

    func wait(_ what: String, until condition: @escaping @Sendable (ProjectorStatusBoard.Snapshot) -> Bool) async throws {
        try await waitFor(what, status: status, until: condition)
    }

    func stop() async {
        running.cancel()
        _ = await running.result
    }

    /// Once the first events are projected, dumps `database` of `server` to `path` while reservations keep
    /// coming, then waits until 150 more are projected: what a restore of the dump will lose (so that the
    /// rewind the healing must count is there for sure).
    func dumpUnderLoad(server: PostgresServer, database: String, to path: String) async throws {
        try await wait("the first events projected") { $0.checkpoint ?? 0 >= 150 }
        try await server.dump(database: database, to: path)
        let projectedAfter = (status.snapshot.checkpoint ?? 0) + 150
        try await wait("more events projected after the dump") { $0.checkpoint ?? 0 >= projectedAfter }
    }

    /// Stops the load, then expects, within ``ProjectorRewindTests/healingDeadline``: the checkpoint at the
    /// log's end; every acknowledged reservation in `cafe.ordersraw` exactly once (and nothing else); at
    /// least one rewind counted; the database witnessing the log's chain at its end.
    func expectHealed(load: Load, database: String, poisonCount: Int = 0, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let acknowledged = await load.stop()
        let end = book.log.endOffset
        try await waitFor("the checkpoint at the log's end, \(end)", status: status, within: ProjectorRewindTests.healingDeadline) {
            $0.checkpoint == end
        }
        await stop()
        let rows = try await ordersRaw(database)  // (fails on a digest seen twice)
        let missing = acknowledged.keys.filter { rows[$0.description] == nil }
        #expect(missing.isEmpty, "acknowledged but not in cafe.ordersraw: \(missing.prefix(5))", sourceLocation: sourceLocation)
        let loggedDigests = try Set(readReservations(book.log).map(\.description))
        let foreign = rows.keys.filter { !loggedDigests.contains($0) }
        #expect(foreign.isEmpty, "rows no event in the log asked for: \(foreign.prefix(5))", sourceLocation: sourceLocation)
        #expect(rows.count == loggedDigests.count - poisonCount, sourceLocation: sourceLocation)
        #expect(status.snapshot.rewindsHealed >= 1, "the rewind was counted", sourceLocation: sourceLocation)
        let node = book.node
        let row = try await PostgresConnection.withConnection(database) { try await NodeCheckpoint.read(node: node, on: $0) }
        #expect(row?.rewindsHealed ?? 0 >= 1, "the rewind is in the row for db status", sourceLocation: sourceLocation)
        let reader = try book.log.makeReader()
        #expect(row?.witness == ChainPoint(offset: end, hash: try #require(try reader.chainHash(at: end))), sourceLocation: sourceLocation)
    }
}

/// Reservations taken continuously through a node's book, as guests would, until stopped.
final class Load: Sendable {
    private final class State: Sendable {
        let taken = Mutex<[ReservationDigest: Reservation]>([:])
        let stopping = Atomic<Bool>(false)
    }

    private let book: NodeReservationBook
    private let state = State()
    private let task: Task<Void, any Error>

    init(book: NodeReservationBook, seed: UInt64 = 77) {
        self.book = book
        let state = state
        task = Task {
            var samples = SampleReservations(seed: seed)
            while !state.stopping.load(ordering: .relaxed) {
                var reservation = samples.reservation()
                if reservation.testFailures {
                    reservation = try Reservation(name: reservation.name, people: reservation.people, dateTime: reservation.dateTime, notes: reservation.notes)
                }
                let outcome = try await book.accept(reservation)
                state.taken.withLock { $0[outcome.status.digest] = reservation }
                // Pacing, not synchronisation: about 500 reservations a second, a busy evening many times over.
                try await Task.sleep(for: .milliseconds(2))
            }
        }
    }

    /// Returns once `count` more reservations have been taken.
    func `continue`(by count: Int) async throws {
        let target = book.log.endOffset + UInt64(count)
        while book.log.endOffset < target {
            await book.log.waitForEnd(beyond: book.log.endOffset)
            try Task.checkCancellation()
        }
    }

    /// Stops taking reservations and returns every acknowledged one.
    func stop() async -> [ReservationDigest: Reservation] {
        state.stopping.store(true, ordering: .relaxed)
        _ = await task.result
        return state.taken.withLock { $0 }
    }
}

/// The digests of every reservation event in a log.
func readReservations(_ log: EventLog) throws -> [ReservationDigest] {
    let reader = try log.makeReader()
    var digests: [ReservationDigest] = []
    while let records = try reader.nextRecords() {
        for record in records {
            if let event = try ReservationEvent.decode(line: record.bytes).reservationEvent { digests.append(event.digest) }
        }
    }
    return digests
}
