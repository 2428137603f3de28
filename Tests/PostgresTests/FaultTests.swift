import Foundation
import Glibc
import Postgres
import Synchronization
import TestSupport
import Testing

/// Failures of the server and the network: every call must end by its deadline, with the right code.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FaultTests {
    // MARK: A server of its own

    @Test func serverStoppedMidCallIsConnectionLostAndRestartWorks() async throws {
        try await PostgresServer.withServer { server throws in
            let database = try await server.createDatabase()
            let connection = try await PostgresConnection.connect(database)
            try await connection.execute("CREATE TABLE kept (id int)")
            try await connection.execute("INSERT INTO kept VALUES (1)")
            let pid = try #require(await connection.backendPID)

            // A long statement in flight, then an immediate shutdown under it.
            async let sleeping = timed {
                try await connection.query("SELECT pg_sleep(30)", deadline: .now + .seconds(60))
            }
            #expect(try await eventually { try await backendIsSleeping(pid, connectionString: database) })
            try await server.stop(mode: .immediate)
            let (result, elapsed) = await sleeping
            let error = result.postgresError()
            #expect(error?.code == .connectionLost)
            #expect(error?.isRetryable == true)
            #expect(elapsed < .seconds(30))
            #expect(await connection.isOpen == false)
            let again = await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
            #expect(again?.code == .connectionLost)

            // While stopped: unreachable, at once.
            let (down, downElapsed) = await timed {
                try await PostgresConnection.connect(database, options: patientOptions)
            }
            #expect(down.postgresError()?.code == .unreachable)
            #expect(downElapsed < deadlineMargin)

            // Same data directory and port: the committed row survived.
            try await server.start()
            try await PostgresConnection.withConnection(database) { connection throws in
                #expect(try await connection.query("SELECT count(*) FROM kept")[0].decode(Int.self, column: 0) == 1)
            }
        }
    }

    @Test func idleSessionOfAServerStoppedFastIsConnectionLost() async throws {
        try await PostgresServer.withServer { server throws in
            let connection = try await PostgresConnection.connect(try await server.createDatabase())
            try await server.stop(mode: .fast)
            #expect(server.postmasterPID == nil)
            let error = await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
            #expect(error?.code == .connectionLost)
        }
    }

    @Test func frozenServerTimesOutWithinTheDeadline() async throws {
        try await PostgresServer.withServer { server throws in
            let database = try await server.createDatabase()
            let connection = try await PostgresConnection.connect(database)
            try server.freeze()

            let deadline: Duration = .seconds(1)
            let (result, elapsed) = await timed {
                try await connection.query("SELECT 1", deadline: .now + deadline)
            }
            let error = result.postgresError()
            #expect(error?.code == .timedOut)
            #expect(error?.isRetryable == true)
            #expect(elapsed >= deadline - .milliseconds(20))
            #expect(elapsed < deadline + deadlineMargin)
            #expect(await connection.isOpen == false)

            // Connecting to a frozen server: the kernel accepts, nobody answers.
            let (connect, connectElapsed) = await timed {
                try await PostgresConnection.connect(database, deadline: .now + deadline)
            }
            #expect(connect.postgresError()?.code == .timedOut)
            #expect(connectElapsed < deadline + deadlineMargin)

            try server.thaw()
            try await PostgresConnection.withConnection(database) { connection throws in
                #expect(try await connection.query("SELECT 1").count == 1)
            }
        }
    }

    @Test func readOnlyServerIsReadOnlyAndSkippedForReadWrite() async throws {
        let writable = try await makeDatabase()
        let writablePort = try await PostgresServer.shared().port
        try await PostgresServer.withServer(settings: ["default_transaction_read_only": "on"]) { readOnly throws in
            let database = try await readOnly.createDatabase(name: "cafe")
            try await PostgresConnection.withConnection(database) { connection throws in
                let error = await #expect(throws: PostgresError.self) {
                    try await connection.execute("CREATE TABLE t (id int)")
                }
                #expect(error?.code == .readOnly)
                #expect(error?.sqlState == "25006")
                #expect(error?.isRetryable == true)
                #expect(error?.message.contains("reconnect") == true)
            }

            // Read-write skips the read-only host that comes first in the list.
            let writableDatabase = databaseName(of: writable)
            let multiHost =
                "host=127.0.0.1,127.0.0.1 port=\(readOnly.port),\(writablePort) user=postgres "
                + "dbname=\(writableDatabase) target_session_attrs=read-write"
            try await PostgresConnection.withConnection(multiHost) { connection throws in
                #expect(await connection.serverAddress == "127.0.0.1 port \(writablePort)")
                try await connection.execute("CREATE TABLE t (id int)")
            }

            // Only read-only hosts: unreachable, and the message says why.
            let error = await #expect(throws: PostgresError.self) {
                try await PostgresConnection.connect(
                    "host=127.0.0.1 port=\(readOnly.port) user=postgres dbname=cafe target_session_attrs=read-write")
            }
            #expect(error?.code == .unreachable)
            #expect(error?.message.contains("read-only") == true)
        }
    }

    // MARK: Through a black-holing proxy, to the shared server

    @Test func blackHoledConnectionTimesOutWithinTheDeadline() async throws {
        let server = try await PostgresServer.shared()
        let database = try await server.createDatabase()
        try await TCPProxy.withProxy(targetPort: server.port) { proxy throws in
            let viaProxy = "host=127.0.0.1 port=\(proxy.port) user=postgres dbname=\(databaseName(of: database))"
            let connection = try await PostgresConnection.connect(viaProxy)
            #expect(try await connection.query("SELECT 1").count == 1)

            proxy.setMode(.blackHole)
            let deadline: Duration = .seconds(1)
            let (result, elapsed) = await timed {
                try await connection.query("SELECT $1::text", ["lost in the void"], deadline: .now + deadline)
            }
            #expect(result.postgresError()?.code == .timedOut)
            #expect(elapsed >= deadline - .milliseconds(20))
            #expect(elapsed < deadline + deadlineMargin)
            #expect(await connection.isOpen == false)

            // New connections into the black hole: the TCP handshake succeeds, the startup never answers.
            let (connect, connectElapsed) = await timed {
                try await PostgresConnection.connect(viaProxy, deadline: .now + deadline)
            }
            #expect(connect.postgresError()?.code == .timedOut)
            #expect(connectElapsed < deadline + deadlineMargin)

            // Refused: unreachable at once.
            proxy.setMode(.refuse)
            let (refused, refusedElapsed) = await timed {
                try await PostgresConnection.connect(viaProxy, options: patientOptions)
            }
            #expect(refused.postgresError()?.code == .unreachable)
            #expect(refusedElapsed < deadlineMargin)

            proxy.setMode(.forward)
            try await PostgresConnection.withConnection(viaProxy) { connection throws in
                #expect(try await connection.query("SELECT 2")[0].decode(Int.self, column: 0) == 2)
            }
        }
    }

    @Test func waitingConnectionsDoNotOccupyTheCooperativePool() async throws {
        let server = try await PostgresServer.shared()
        let database = try await server.createDatabase()
        try await TCPProxy.withProxy(targetPort: server.port) { proxy throws in
            let viaProxy = "host=127.0.0.1 port=\(proxy.port) user=postgres dbname=\(databaseName(of: database))"
            // More blocked calls than the cooperative pool has threads, on any machine.
            let blockedCount = ProcessInfo.processInfo.activeProcessorCount + 1
            var connections: [PostgresConnection] = []
            for _ in 0..<blockedCount { connections.append(try await PostgresConnection.connect(viaProxy)) }
            let threads = connections.compactMap(\.threadID)
            #expect(threads.count == blockedCount)
            proxy.setMode(.blackHole)

            let finished = FinishedCalls()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for connection in connections {
                    group.addTask {
                        // Ended by the group's cancellation below, long before this deadline.
                        _ = try? await connection.query("SELECT 1", deadline: .now + .seconds(120))
                        finished.count.add(1, ordering: .sequentiallyConsistent)
                    }
                }
                // Every call is waiting in poll(2), each on its connection's own thread...
                let allBlocked = try await eventually(within: TestTiming.margin(.seconds(30))) {
                    threads.allSatisfy(isBlockedInPoll)
                }
                #expect(allBlocked, "not every connection's thread reached poll(2)")
                // ...and the pool still runs other work: this task completes while every call is still blocked.
                // Were the calls blocking pool threads, it could only run once one of them had ended.
                let answer = await Task.detached { 42 }.value
                #expect(answer == 42)
                #expect(finished.count.load(ordering: .sequentiallyConsistent) == 0, "a blocked call ended before the task ran")
                group.cancelAll()
                try await group.waitForAll()
            }
            #expect(finished.count.load(ordering: .sequentiallyConsistent) == blockedCount)
        }
    }

    @Test func multiHostSkipsARefusingFirstHost() async throws {
        let server = try await PostgresServer.shared()
        let database = databaseName(of: try await server.createDatabase())
        let refusing = try TCPProxy(targetPort: 1, mode: .refuse)
        defer { refusing.close() }
        let (result, elapsed) = await timed {
            try await PostgresConnection.withConnection(
                "host=127.0.0.1,127.0.0.1 port=\(refusing.port),\(server.port) user=postgres dbname=\(database)",
                options: patientOptions
            ) { connection throws in
                await connection.serverAddress
            }
        }
        #expect(try result.get() == "127.0.0.1 port \(server.port)")
        #expect(elapsed < deadlineMargin)
    }

    @Test func multiHostGivesABlackHoledFirstHostOnlyItsConnectTimeout() async throws {
        let server = try await PostgresServer.shared()
        let database = databaseName(of: try await server.createDatabase())
        try await TCPProxy.withProxy(targetPort: server.port, mode: .blackHole) { blackHole throws in
            var options = PostgresConnection.Options()
            options.connectTimeout = .seconds(1)
            let (result, elapsed) = await timed {
                try await PostgresConnection.withConnection(
                    "host=127.0.0.1,127.0.0.1 port=\(blackHole.port),\(server.port) user=postgres "
                        + "dbname=\(database) target_session_attrs=read-write",
                    options: options,
                    deadline: .now + .seconds(60)
                ) { connection throws in
                    try await connection.query("SELECT 1")[0].decode(Int.self, column: 0)
                }
            }
            #expect(try result.get() == 1)
            #expect(elapsed >= .seconds(1) - .milliseconds(20))
            #expect(elapsed < .seconds(1) + deadlineMargin)
        }
    }

    // MARK: Cancellation

    @Test func cancellingATaskAbortsTheWaitAndCancelsTheStatement() async throws {
        let database = try await makeDatabase()
        let connection = try await PostgresConnection.connect(database)
        let pid = try #require(await connection.backendPID)
        let task = Task {
            try await connection.query("SELECT pg_sleep(30)", deadline: .now + .seconds(60))
        }
        #expect(try await eventually { try await backendIsSleeping(pid, connectionString: database) })
        let (result, elapsed) = await timed {
            task.cancel()
            return try await task.value
        }
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(elapsed < deadlineMargin)
        #expect(await connection.isOpen == false)
        // The server was asked to cancel the statement (or noticed the closed connection).
        #expect(try await eventually { try await !backendIsSleeping(pid, connectionString: database) })
    }

    // MARK: libpq's environment

    /// With no connection string, libpq's PG* variables decide. setenv is process-wide, so this sets only
    /// variables that every other test overrides with an explicit keyword, and removes them afterwards.
    @Test func withoutAConnectionStringThePGVariablesDecide() async throws {
        let server = try await PostgresServer.shared()
        let database = databaseName(of: try await server.createDatabase())
        let variables = ["PGHOST": "127.0.0.1", "PGPORT": String(server.port), "PGUSER": "postgres", "PGDATABASE": database]
        for (name, value) in variables { setenv(name, value, 1) }
        defer { for name in variables.keys { unsetenv(name) } }
        try await PostgresConnection.withConnection { connection throws in
            #expect(try await connection.query("SELECT current_database()")[0].decode(String.self, column: 0) == database)
        }
    }
}

/// How many of a test's concurrent calls have returned.
private final class FinishedCalls: Sendable {
    let count = Atomic<Int>(0)
}
