import Foundation
import Postgres
import TestSupport
import Testing

/// How much later than its deadline a call may return in these tests: the deadline is the contract,
/// the margin absorbs scheduling on a busy two-core machine (the whole suite runs in parallel). A call that
/// ignored its deadline would overshoot by what the test puts behind it, at least twice this margin: the
/// server's sleep, the ``patientOptions`` timeouts, or TCP's timeouts of minutes.
let deadlineMargin: Duration = TestTiming.margin(.seconds(5))

/// Options whose own timeouts (60 s) are far beyond ``deadlineMargin``, for tests that show that a call ends by
/// a deadline or a refusal, not by waiting out a timeout.
let patientOptions = PostgresConnection.Options(
    connectTimeout: .seconds(60), queryTimeout: .seconds(60), statementTimeout: .seconds(60))

/// Whether the thread with kernel id `threadID` (of this process) is blocked in `poll(2)`, as
/// `/proc/self/task/ID/syscall` tells: its first field is the number of the system call it waits in.
func isBlockedInPoll(_ threadID: Int32) -> Bool {
    guard let text = try? String(contentsOfFile: "/proc/self/task/\(threadID)/syscall", encoding: .utf8),
        let number = text.split(separator: " ").first.flatMap({ Int($0) })
    else { return false }
    #if arch(x86_64)
    return number == 7 || number == 271  // poll, ppoll
    #elseif arch(arm64)
    return number == 73  // ppoll (arm64 has no poll)
    #else
    return false
    #endif
}

/// A fresh database on the shared server.
func makeDatabase() async throws -> String {
    try await PostgresServer.shared().createDatabase()
}

/// The `dbname=` of a connection string made by `PostgresServer`, for building other strings to it.
func databaseName(of connectionString: String) -> String {
    String(connectionString.split(separator: "dbname=").last!)
}

/// Runs `body` and returns how long it took with what it threw (or returned).
func timed<Value>(_ body: () async throws -> Value) async -> (result: Result<Value, any Error>, elapsed: Duration) {
    let start = ContinuousClock.now
    let result: Result<Value, any Error>
    do {
        result = .success(try await body())
    } catch {
        result = .failure(error)
    }
    return (result, start.duration(to: .now))
}

extension Result {
    /// The `PostgresError` this result failed with, or `nil` (also recorded as a test issue).
    func postgresError(sourceLocation: SourceLocation = #_sourceLocation) -> PostgresError? {
        switch self {
        case .success:
            Issue.record("expected a PostgresError, but the call succeeded", sourceLocation: sourceLocation)
            return nil
        case .failure(let error as PostgresError):
            return error
        case .failure(let error):
            Issue.record("expected a PostgresError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }
}

/// Polls `condition` until it is true or `timeout` passes; returns whether it became true.
///
/// For waiting on something another process does (a backend appearing in pg_stat_activity); the pause
/// between checks is a poll interval, not a guess at how long the thing takes.
func eventually(
    within timeout: Duration = TestTiming.margin(.seconds(10)),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Whether a backend is running `pg_sleep` on the server behind `connectionString`.
func backendIsSleeping(_ pid: Int32, connectionString: String) async throws -> Bool {
    try await PostgresConnection.withConnection(connectionString) { observer throws in
        let rows = try await observer.query(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
            [pid]
        )
        return try rows[0].decode(Int.self, column: 0) == 1
    }
}
