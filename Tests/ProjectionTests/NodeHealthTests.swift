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
}
