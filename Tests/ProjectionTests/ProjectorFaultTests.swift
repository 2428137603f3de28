import EventLog
import Foundation
import Orders
import Postgres
import Projection
import Testing
import TestSupport

/// The projector against a database that goes away: stopped, frozen, or cut off by a black hole.
@Suite("Projector faults", .serialized, .timeLimit(.minutes(5)))
struct ProjectorFaultTests {
    @Test("the server stops (immediate) while appends go on, and starts again: the projector resumes by itself; no row missing, none twice")
    func outage() async throws {
        try await PostgresServer.withServer { server in
            let database = try await migratedDatabase(on: server)
            try await withTemporaryDirectory { dir in
                let book = try openBook(dir.path, node: "node-o")
                let status = ProjectorStatusBoard()
                let projector = Projector(source: book.log, node: "node-o", database: quickSettings(database), projection: book.projection, status: status, configuration: quickProjectorConfiguration(), logger: testLogger)
                let running = Task { try await projector.run() }
                var taken = try await appendSamples(book, count: 200, seed: 21)
                try await status.wait(timeout: TestTiming.patience) { $0.checkpoint == 200 }

                try await server.stop(mode: .immediate)
                // Taking reservations does not wait on the database.
                taken.merge(try await appendSamples(book, count: 300, seed: 22)) { a, _ in a }
                try await status.wait(timeout: TestTiming.patience) { !$0.connected && $0.lastError != nil }
                #expect(book.log.endOffset == 500)
                #expect(status.snapshot.checkpoint == 200)

                try await server.start()
                taken.merge(try await appendSamples(book, count: 100, seed: 23)) { a, _ in a }
                try await status.wait(timeout: TestTiming.patience) { $0.checkpoint == 600 }
                running.cancel()
                _ = await running.result

                let rows = try await ordersRaw(database)
                #expect(rows.count == taken.count)
                for digest in taken.keys { #expect(rows[digest.description] != nil) }
                #expect(status.snapshot.connected)
                await book.log.close()
            }
        }
    }

    @Test("the server freezes (SIGSTOP): no projector call waits past its deadline; after the thaw it catches up")
    func frozenServer() async throws {
        try await PostgresServer.withServer { server in
            let database = try await migratedDatabase(on: server)
            try await withTemporaryDirectory { dir in
                let book = try openBook(dir.path, node: "node-f")
                let status = ProjectorStatusBoard()
                let configuration = quickProjectorConfiguration()
                let projector = Projector(source: book.log, node: "node-f", database: quickSettings(database), projection: book.projection, status: status, configuration: configuration, logger: testLogger)
                let running = Task { try await projector.run() }
                try await appendSamples(book, count: 50, seed: 31)
                try await status.wait(timeout: TestTiming.patience) { $0.checkpoint == 50 }

                try server.freeze()
                let frozenAt = ContinuousClock.now
                try await appendSamples(book, count: 50, seed: 32)
                try await status.wait(timeout: TestTiming.patience) { $0.lastError != nil }
                let waited = frozenAt.duration(to: .now)
                // The batch deadline (3 s) plus twice that for a busy machine; never the TCP timeouts of minutes.
                let allowed = configuration.batchDeadline + TestTiming.margin(configuration.batchDeadline * 2)
                #expect(waited < allowed, "the first failure came after \(waited)")
                #expect(status.snapshot.lastError?.contains("deadline") == true, "\(status.snapshot.lastError ?? "")")
                // Reads do not hang either: they fall back to the local projection in time.
                let readSettings = quickSettings(database)
                let reads = DatabaseReads(settings: readSettings, logger: testLogger)
                let readStarted = ContinuousClock.now
                let digest = try #require(book.projection.list(from: LocalDateTime("2000-01-01T00:00")!, to: LocalDateTime("2100-01-01T00:00")!, after: nil, limit: 1).first?.digest)
                if case .success = await reads.row(digest: digest) { Issue.record("a frozen server answered") }
                // Within the read deadline (0.5 s) and three times that for a busy machine: less than the 2 s
                // connect and 3 s query timeouts behind it, so that a read ignoring its deadline fails here.
                let readAllowed = readSettings.readDeadline + TestTiming.margin(readSettings.readDeadline * 3)
                #expect(readStarted.duration(to: .now) < readAllowed)

                try server.thaw()
                try await status.wait(timeout: TestTiming.patience) { $0.checkpoint == 100 }
                running.cancel()
                _ = await running.result
                #expect(try await ordersRaw(database).count == 100)
                await reads.close()
                await book.log.close()
            }
        }
    }

    @Test("a black-holing network: the projector gives up within its deadline and resumes when traffic flows")
    func blackHole() async throws {
        let server = try await PostgresServer.shared()
        let database = try await migratedDatabase(on: server)
        let proxy = try TCPProxy(targetPort: server.port)
        defer { proxy.close() }
        let throughProxy = database.replacingOccurrences(of: "port=\(server.port)", with: "port=\(proxy.port)")
        try await withTemporaryDirectory { dir in
            let book = try openBook(dir.path, node: "node-b")
            let status = ProjectorStatusBoard()
            let configuration = quickProjectorConfiguration()
            let projector = Projector(source: book.log, node: "node-b", database: quickSettings(throughProxy), projection: book.projection, status: status, configuration: configuration, logger: testLogger)
            let running = Task { try await projector.run() }
            try await appendSamples(book, count: 20, seed: 41)
            try await status.wait(timeout: TestTiming.patience) { $0.checkpoint == 20 }

            proxy.setMode(.blackHole)
            let cutAt = ContinuousClock.now
            try await appendSamples(book, count: 20, seed: 42)
            try await status.wait(timeout: TestTiming.patience) { $0.lastError != nil }
            #expect(cutAt.duration(to: .now) < configuration.batchDeadline + TestTiming.margin(configuration.batchDeadline * 2))

            proxy.setMode(.forward)
            try await status.wait(timeout: TestTiming.patience) { $0.checkpoint == 40 }
            running.cancel()
            _ = await running.result
            #expect(try await ordersRaw(database).count == 40)
            await book.log.close()
        }
    }
}
