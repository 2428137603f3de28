import EventLog
import Foundation
import Orders
import Postgres
import Projection
import Testing
import TestSupport

@Suite("Projector", .timeLimit(.minutes(5)))
struct ProjectorTests {
    @Test("projects every event once, moves the checkpoint with the rows, and reports confirmed")
    func projectsEverything() async throws {
        let database = try await migratedDatabase()
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.path, node: "node-a")
            let taken = try await appendSamples(book, count: 700, seed: 1)
            let status = ProjectorStatusBoard()
            let projector = Projector(
                source: book.log, node: "node-a", database: quickSettings(database), projection: book.projection,
                status: status, configuration: quickProjectorConfiguration(), logger: testLogger)
            let running = Task { try await projector.run() }
            try await status.wait(timeout: TestTiming.patience) { $0.checkpoint == 700 }
            // More events while it runs are projected too, with low lag.
            let more = try await appendSamples(book, count: 50, seed: 2)
            try await status.wait(timeout: TestTiming.patience) { $0.checkpoint == 750 }
            running.cancel()
            _ = await running.result

            let sent = taken.merging(more, uniquingKeysWith: { a, _ in a })
            try await expectRows(database, equal: sent)
            for digest in sent.keys { #expect(book.projection.status(of: digest)?.state == .confirmed) }
            let checkpoint: Int64 = try await scalar("SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = 'node-a'", database)
            #expect(checkpoint == 750)
            #expect(status.snapshot.eventsInserted == 750)
            await book.log.close()
        }
    }

    /// Small batches go as arrays; large ones first try a direct COPY into the table, which the shared rows
    /// make fail, so they take the temporary table and `ON CONFLICT` instead. Both must end the same way.
    @Test(
        "two nodes with overlapping reservations: each digest once, the overlap reported as duplicate",
        arguments: [(shared: 100, onlyB: 30), (shared: 400, onlyB: 300)])
    func twoNodes(sizes: (shared: Int, onlyB: Int)) async throws {
        let database = try await migratedDatabase()
        try await withTemporaryDirectory { dir in
            let a = try openBook(dir.appending("a"), node: "node-a")
            let b = try openBook(dir.appending("b"), node: "node-b")
            let shared = try await appendSamples(a, count: sizes.shared, seed: 7)
            try await appendSamples(b, count: sizes.shared, seed: 7)  // the same reservations, sent to the other node
            // (Samples of another seed can repeat a shared reservation: node b already holds those.)
            let onlyB = try await appendSamples(b, count: sizes.onlyB, seed: 8).filter { shared[$0.key] == nil }
            let statusA = ProjectorStatusBoard()
            let statusB = ProjectorStatusBoard()
            let projectorA = Projector(source: a.log, node: "node-a", database: quickSettings(database), projection: a.projection, status: statusA, configuration: quickProjectorConfiguration(), logger: testLogger)
            await #expect(throws: Never.self) { try await projectorA.drain(to: UInt64(shared.count)) }
            let projectorB = Projector(source: b.log, node: "node-b", database: quickSettings(database), projection: b.projection, status: statusB, configuration: quickProjectorConfiguration(), logger: testLogger)
            try await projectorB.drain(to: UInt64(shared.count + onlyB.count))

            try await expectRows(database, equal: shared.merging(onlyB, uniquingKeysWith: { a, _ in a }))
            // The counters: every event of each log either inserted or found there already.
            #expect(statusA.snapshot.eventsInserted == UInt64(shared.count) && statusA.snapshot.eventsDuplicate == 0)
            #expect(statusB.snapshot.eventsInserted == UInt64(onlyB.count))
            for digest in shared.keys {
                #expect(a.projection.status(of: digest)?.state == .confirmed)
                #expect(b.projection.status(of: digest)?.state == .duplicate)
            }
            for digest in onlyB.keys { #expect(b.projection.status(of: digest)?.state == .confirmed) }
            #expect(statusB.snapshot.eventsDuplicate == UInt64(shared.count))
            let duplicates: Int64 = try await scalar("SELECT events_duplicate FROM cafe.projector_checkpoints WHERE node_id = 'node-b'", database)
            #expect(duplicates == Int64(shared.count))
            await a.log.close()
            await b.log.close()
        }
    }

    @Test("a poison event goes to cafe.dead_letters and the events after it are projected")
    func poisonEvent() async throws {
        let database = try await migratedDatabase()
        // The database refuses one name (a rule the old site's table might have had).
        try await PostgresConnection.withConnection(database) { connection in
            try await connection.executeScript("ALTER TABLE cafe.ordersraw ADD CONSTRAINT no_poison CHECK (ordrname <> 'Poison Pill')")
        }
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.path, node: "node-p")
            try await appendSamples(book, count: 40, seed: 3)
            let poison = try Reservation(name: "Poison Pill", people: 2, dateTime: LocalDateTime("2026-12-01T19:00")!)
            let poisonOffset = try #require(try await book.accept(poison).status.offset)
            // And an event the projector cannot read at all, appended by hand.
            let unreadable = try await book.log.append(Array(#"{"type":"reservation.accepted","node":"node-p","digest":"zz"}"#.utf8))
            let after = try await appendSamples(book, count: 40, seed: 4)
            let status = ProjectorStatusBoard()
            let projector = Projector(source: book.log, node: "node-p", database: quickSettings(database), projection: book.projection, status: status, configuration: quickProjectorConfiguration(), logger: testLogger)
            try await projector.drain(to: book.log.endOffset)

            let rows = try await ordersRaw(database)
            #expect(rows.count == 80)
            for digest in after.keys { #expect(rows[digest.description] != nil) }
            let letters = try await PostgresConnection.withConnection(database) { connection in
                try await connection.query("SELECT log_offset, sqlstate, error_message FROM cafe.dead_letters ORDER BY log_offset")
                    .decode((Int64, String?, String).self)
            }
            #expect(letters.count == 2)
            #expect(letters.first?.0 == Int64(poisonOffset))
            #expect(letters.first?.1 == "23514")
            #expect(letters.last?.0 == Int64(unreadable))
            #expect(letters.last?.1 == nil)
            #expect(status.snapshot.eventsDeadLettered == 2)
            let checkpoint: Int64 = try await scalar("SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = 'node-p'", database)
            #expect(checkpoint == Int64(book.log.endOffset))
            await book.log.close()
        }
    }

    @Test("a reservation with 'Test database failures' ticked is retried, then confirmed")
    func failureDemo() async throws {
        let database = try await migratedDatabase()
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.path, node: "node-d")
            let demo = try Reservation(name: "Demo", people: 2, dateTime: LocalDateTime("2026-12-01T19:00")!, testFailures: true)
            let digest = try await book.accept(demo).status.digest
            let status = ProjectorStatusBoard()
            let projector = Projector(source: book.log, node: "node-d", database: quickSettings(database), projection: book.projection, status: status, configuration: quickProjectorConfiguration(), logger: testLogger)
            try await projector.drain(to: 1)
            let final = try #require(book.projection.status(of: digest))
            #expect(final.state == .confirmed)
            #expect(final.failedAttempts == 3)
            #expect(final.lastFailure?.contains("on purpose") == true)
            #expect(final.projectedAt != nil)
            await book.log.close()
        }
    }

    @Test("a replay from offset 0 creates no duplicate and never moves the checkpoint back")
    func replayFromZero() async throws {
        let database = try await migratedDatabase()
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.path, node: "node-r")
            try await appendSamples(book, count: 300, seed: 5)
            let projector = Projector(source: book.log, node: "node-r", database: quickSettings(database), projection: book.projection, configuration: quickProjectorConfiguration(), logger: testLogger)
            try await projector.drain(to: 300)
            // Someone deletes a few rows; a replay puts exactly those back.
            try await PostgresConnection.withConnection(database) { connection in
                try await connection.executeScript("DELETE FROM cafe.ordersraw WHERE ordrid % 10 = 0")
            }
            let missing = try await 300 - ordersRaw(database).count
            #expect(missing > 0)
            let replay = Projector(source: LogDirectorySource(directory: dir.path), node: "node-r", database: quickSettings(database), configuration: quickProjectorConfiguration(), logger: testLogger)
            try await replay.drain(from: .offset(0), to: 300)
            #expect(replay.status.snapshot.eventsInserted == UInt64(missing))
            #expect(try await ordersRaw(database).count == 300)
            let checkpoint: Int64 = try await scalar("SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = 'node-r'", database)
            #expect(checkpoint == 300)
            await book.log.close()
        }
    }

    @Test("a checkpoint past the log's end (two nodes with one id) pauses projection with a clear error")
    func checkpointPastEnd() async throws {
        let database = try await migratedDatabase()
        try await PostgresConnection.withConnection(database) { connection in
            try await connection.executeScript("INSERT INTO cafe.projector_checkpoints (node_id, next_offset) VALUES ('twin', 1000)")
        }
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.path, node: "twin")
            try await appendSamples(book, count: 5, seed: 6)
            let status = ProjectorStatusBoard()
            let projector = Projector(source: book.log, node: "twin", database: quickSettings(database), status: status, configuration: quickProjectorConfiguration(), logger: testLogger)
            let running = Task { try await projector.run() }
            try await status.wait(timeout: TestTiming.patience) { $0.lastError != nil }
            #expect(status.snapshot.lastError?.contains("share this node id") == true)
            running.cancel()
            _ = await running.result
            #expect(try await ordersRaw(database).isEmpty)
            await book.log.close()
        }
    }
}

@Suite("Projector rows", .timeLimit(.minutes(5)))
struct ProjectorRowTests {
    @Test("hostile text survives both ways into the table (arrays for small batches, COPY for large ones)", arguments: [10, 400])
    func hostileText(count: Int) async throws {
        let database = try await migratedDatabase()
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.path, node: "node-h")
            let nasty = ["back\\slash \\N \\t", "two\nlines\nhere", "quote \" and ' and `", "{\"a\",\"b\"}", "emoji 😀 日本 café", "NULL", "tab-free\\\\"]
            var expected: [String: Reservation] = [:]
            for n in 0..<count {
                let reservation = try Reservation(
                    name: "Guest \(n) \"\(n % 7)\"", people: n % 9 + 1, dateTime: LocalDateTime("2026-12-01T19:00")!,
                    notes: nasty[n % nasty.count] + " #\(n)")
                expected[try await book.accept(reservation).status.digest.description] = reservation
            }
            let projector = Projector(source: book.log, node: "node-h", database: quickSettings(database), projection: book.projection, configuration: quickProjectorConfiguration(), logger: testLogger)
            try await projector.drain(to: UInt64(count))
            let rows = try await ordersRaw(database)
            #expect(rows.count == count)
            for (digest, reservation) in expected {
                #expect(rows[digest]?.0 == reservation.name)
                #expect(rows[digest]?.3 == reservation.notes)
            }
            await book.log.close()
        }
    }
}
