import EventLog
import Foundation
import Orders
import Projection
import Testing
import TestSupport

/// What a node says about itself (`/readyz`) and about its log, in the situations the fault suite
/// (`bench/faults`) produces: a start while the database is away, a full disk that refuses every write.
@Suite("Node health and log reporting", .timeLimit(.minutes(5)))
struct NodeHealthTests {
    @Test("before the projector has read its checkpoint, the whole log counts as lag, never zero")
    func lagBeforeTheCheckpointIsKnown() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.appending("log"))
            let projection = LocalProjection()
            let board = ProjectorStatusBoard()  // a projector that has not reached the database yet
            // Nothing listens on port 1: constructing the reads opens no connection, and none is needed here.
            let reads = DatabaseReads(settings: DatabaseSettings(connectionString: "host=127.0.0.1 port=1"), logger: testLogger)
            let book = NodeReservationBook(log: log, projection: projection, node: "health", reads: reads, projectorState: board)
            try await appendSamples(book, count: 5, seed: 3)

            let health = await book.health()
            #expect(health.databaseConfigured)
            #expect(!health.databaseReachable)
            #expect(health.projectionLagEvents == 5, "a drain that waits for lag 0 must not stop here")
            await reads.close()
            await log.close()
        }
    }

    @Test("a run of failed appends: the first is reported, then one summary a period, then the recovery once")
    func appendFailureReporting() {
        var reporting = AppendFailureReporting(period: .seconds(10))
        let start = ContinuousClock.now
        #expect(reporting.wrote(at: start) == .none, "nothing to say while all is well")
        #expect(reporting.failed(at: start) == .reportFirst)
        // A full disk under load: a refusal every 5 ms for 25 s gives two summaries, not 5,000 lines.
        var actions: [AppendFailureReporting.Action] = []
        for step in 1...5_000 {
            let action = reporting.failed(at: start + .milliseconds(5 * step))
            if action != .none { actions.append(action) }
        }
        #expect(actions == [
            .reportStillFailing(refused: 2_000, since: .seconds(10)),
            .reportStillFailing(refused: 2_000, since: .seconds(20)),
        ])
        #expect(reporting.wrote(at: start + .seconds(26)) == .reportRecovered(refused: 5_001, lasted: .seconds(26)))
        #expect(reporting.wrote(at: start + .seconds(27)) == .none, "the recovery is said once")
        #expect(reporting.failed(at: start + .seconds(28)) == .reportFirst, "a new outage starts a new report")
    }

    @Test("draining: new reservations are refused, known ones answered, and the intake closes once none is in flight")
    func draining() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.appending("log"))
            let book = NodeReservationBook(log: log, projection: LocalProjection(), node: "drain")
            let taken = try Reservation(name: "Ann", people: 2, dateTime: LocalDateTime(year: 2030, month: 1, day: 1, hour: 19, minute: 0))
            _ = try await book.accept(taken)
            #expect(await book.health().isReady)

            book.stopTakingReservations()
            let health = await book.health()
            #expect(health.draining && health.intakeClosed && !health.isReady)
            await #expect(throws: NodeIsDraining.self) {
                _ = try await book.accept(try Reservation(name: "Bo", people: 3, dateTime: LocalDateTime(year: 2030, month: 1, day: 2, hour: 19, minute: 0)))
            }
            // The same reservation again stores nothing new, so it is still answered.
            if case .alreadyAccepted = try await book.accept(taken) {} else { Issue.record("a known reservation should be answered") }
            #expect(log.endOffset == 1)

            book.resumeTakingReservations()
            #expect(await book.health().isReady)
            _ = try await book.accept(try Reservation(name: "Bo", people: 3, dateTime: LocalDateTime(year: 2030, month: 1, day: 2, hour: 19, minute: 0)))
            #expect(log.endOffset == 2)
            await log.close()
        }
    }

    @Test(
        "a log disk with less room than the minimum makes the node unready, and ready again once there is room",
        .enabled(if: SmallFilesystem.isAvailable, "needs root to mount a small tmpfs"))
    func nearlyFullDisk() async throws {
        try await SmallFilesystem.with(bytes: 8 << 20) { mount in
            let log = try EventLog(directory: mount + "/log")
            let book = NodeReservationBook(log: log, projection: LocalProjection(), node: "full", minimumFreeBytes: 1 << 20)
            try await appendSamples(book, count: 3, seed: 5)
            var health = await book.health()
            #expect(health.isReady && health.logHasRoom)
            #expect((health.logFreeBytes ?? 0) > 1 << 20)

            try SmallFilesystem.fill(mount)
            health = await book.health()
            #expect(!health.isReady && !health.logHasRoom)
            #expect(health.logWritable, "a full disk is not a stopped writer: appends work again once there is room")

            try SmallFilesystem.makeRoom(in: mount)
            #expect(await book.health().isReady)
            await log.close()
        }
    }
}
