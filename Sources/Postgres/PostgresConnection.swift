internal import CLibPQ
import Glibc
public import Logging

/// One connection to PostgreSQL, through libpq, on a thread of its own.
///
/// Every call has a deadline and returns by it: libpq is used in non-blocking mode and every wait is a
/// `poll(2)` bounded by the deadline, so a dead, frozen or black-holed server costs a caller no more
/// than the time it allowed. When a deadline passes, or the task is cancelled, during a call, the call
/// throws (``PostgresError/Code/timedOut``, or `CancellationError`) and the connection is closed: its
/// state on the server is unknown. A cancel request is then sent to the server from a thread of its own.
///
/// All libpq work runs on the connection's own thread (the actor's executor), never on Swift's
/// cooperative thread pool.
///
/// A connection runs one statement at a time. It is not a pool: give each task that talks to the
/// database its own connection, and do not share one while a ``withTransaction(deadline:_:)`` is open on
/// it, or the other task's statements run inside that transaction.
///
/// ```swift
/// let connection = try await PostgresConnection.connect("host=db1,db2 target_session_attrs=read-write")
/// let rows = try await connection.query("SELECT ordrname, ordrppl FROM cafe.ordersraw WHERE ordrdgst = $1", [digest])
/// for row in rows {
///     let (name, people) = try row.decode((String, Int).self)
/// }
/// await connection.close()
/// ```
public actor PostgresConnection {
    /// The options this connection was opened with.
    public nonisolated let options: Options

    private let thread: ConnectionThread
    private let wakeup = Wakeup()
    private let logger: Logger
    private var connection: LibPQConnection?
    /// Why ``connection`` is gone, for the error of any later call.
    private var closedReason: ClosedReason = .neverOpened
    /// The deadline of the open ``withTransaction(deadline:_:)``, which bounds every call inside it.
    private var transactionDeadline: ContinuousClock.Instant?

    /// `host … port …` of the server this connection reached, for messages and logs.
    public private(set) var serverAddress: String = ""

    private enum ClosedReason {
        case neverOpened
        case closedByCaller
        case broken(String)
    }

    /// Runs this actor on its own thread; see ``ConnectionThread``.
    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        self.thread.asUnownedSerialExecutor()
    }

    /// The kernel's id of the thread this connection's calls run on (see ``ConnectionThread``), for tests
    /// that check where a blocked call waits.
    package nonisolated var threadID: Int32? {
        self.thread.kernelThreadID
    }

    private init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
        self.thread = ConnectionThread()
    }

    deinit {
        // The `LibPQConnection`, if still open, frees its `PGconn` in its own deinit.
        self.thread.shutdown()
    }

    // MARK: Connecting

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - connectionString: A libpq connection string, `key=value …` or
    ///     `postgresql://user:password@host:port/database?key=value`, including multi-host strings such as
    ///     `host=a,b port=5432 target_session_attrs=read-write`, where hosts are tried in order, each for at
    ///     most its `connect_timeout`. `nil` or empty: libpq's `PG*` environment variables (`PGHOST`,
    ///     `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, …) and its defaults supply everything, as they
    ///     supply any keyword a string leaves out.
    ///   - options: Time limits and TCP settings; see ``Options``.
    ///   - deadline: When to give up. Default: ``Options/connectTimeout`` for each host to try.
    ///   - logger: Receives a debug message per attempt.
    /// - Returns: An open connection; call ``close()`` when done, or use
    ///   ``withConnection(_:options:deadline:logger:_:)``.
    /// - Throws: ``PostgresError`` with ``PostgresError/Code/unreachable`` when every host failed,
    ///   ``PostgresError/Code/timedOut`` when the deadline (or the last host's `connect_timeout`) passed,
    ///   ``PostgresError/Code/misuse`` for a malformed connection string; `CancellationError` when the
    ///   task is cancelled.
    public static func connect(
        _ connectionString: String? = nil,
        options: Options = Options(),
        deadline: ContinuousClock.Instant? = nil,
        logger: Logger = Logger(label: "rananeeti.postgres")
    ) async throws -> PostgresConnection {
        let plan = try ConnectionPlan(connectionString: connectionString, options: options)
        let perAttempt = plan.perAttemptTimeout ?? options.connectTimeout
        let deadline = deadline ?? .now + perAttempt * plan.attempts.count
        let connection = PostgresConnection(options: options, logger: logger)
        try await connection.open(plan: plan, deadline: deadline)
        return connection
    }

    /// Opens a connection, runs `body` with it, and closes it, also when `body` throws.
    ///
    /// Parameters and errors as ``connect(_:options:deadline:logger:)``; `deadline` bounds the connect only.
    nonisolated(nonsending) public static func withConnection<Result>(
        _ connectionString: String? = nil,
        options: Options = Options(),
        deadline: ContinuousClock.Instant? = nil,
        logger: Logger = Logger(label: "rananeeti.postgres"),
        _ body: nonisolated(nonsending) (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await connect(connectionString, options: options, deadline: deadline, logger: logger)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    private func open(plan: ConnectionPlan, deadline: ContinuousClock.Instant) async throws {
        self.wakeup.drain()
        try await withTaskCancellationHandler {
            try Task.checkCancellation()
            var failures: [String] = []
            var lastFailureWasTimeout = false
            for attempt in plan.attempts {
                let start = ContinuousClock.now
                if start >= deadline {
                    failures.append("\(attempt.target): not tried, the deadline had passed")
                    lastFailureWasTimeout = true
                    break
                }
                let attemptDeadline = plan.perAttemptTimeout.map { min(deadline, start + $0) } ?? deadline
                do {
                    let connection = try LibPQConnection(
                        attempt: attempt, deadline: attemptDeadline, wakeup: self.wakeup, logger: self.logger)
                    self.connection = connection
                    self.serverAddress = attempt.target
                    self.logger.debug(
                        "connected to PostgreSQL",
                        metadata: [
                            "postgres.server": "\(attempt.target)",
                            "postgres.backend_pid": "\(connection.backendPID)",
                        ]
                    )
                    return
                } catch Interruption.cancelled {
                    throw CancellationError()
                } catch Interruption.deadline {
                    let waited = start.duration(to: .now)
                    failures.append("\(attempt.target): no answer within \(Self.format(waited))")
                    lastFailureWasTimeout = true
                } catch LibPQConnection.ConnectFailure.failed(let message) {
                    failures.append(Self.oneLine(message))
                    lastFailureWasTimeout = false
                }
                self.logger.debug(
                    "could not connect to PostgreSQL",
                    metadata: ["postgres.server": "\(attempt.target)", "postgres.error": "\(failures.last!)"]
                )
            }
            let attempts = failures.joined(separator: "; ")
            if lastFailureWasTimeout {
                throw PostgresError(
                    code: .timedOut,
                    message: "Could not connect to PostgreSQL in time (\(attempts)). The server or the network "
                        + "to it is not answering; retry later, and check that the host and port are right."
                )
            }
            throw PostgresError(
                code: .unreachable,
                message: "Could not connect to PostgreSQL (\(attempts)). Check that the server is running and "
                    + "reachable and that the connection settings (connection string or PG* environment "
                    + "variables) are right; retry later."
            )
        } onCancel: { [wakeup] in
            wakeup.signal()
        }
    }

    // MARK: Statements

    /// Runs one statement with parameters and returns its rows.
    ///
    /// - Parameters:
    ///   - sql: One SQL statement, with `$1`, `$2`, … for the parameters. Cast where the server cannot
    ///     infer a type: `unnest($1::text[], $2::int[])`.
    ///   - parameters: One value per placeholder; `nil` (of an optional type) is SQL `NULL`. Arrays are
    ///     sent as PostgreSQL array literals.
    ///   - deadline: When to give up. Default: now + ``Options/queryTimeout``. Inside
    ///     ``withTransaction(deadline:_:)``, the transaction's deadline also applies.
    /// - Returns: The rows (empty for statements that return none) and the command tag.
    /// - Throws: ``PostgresError``: ``PostgresError/Code/dataRefused`` (SQLSTATE class 22/23),
    ///   ``PostgresError/Code/readOnly`` (25006), ``PostgresError/Code/server`` (other SQLSTATEs),
    ///   ``PostgresError/Code/timedOut`` (deadline passed: the connection is closed; or the server's
    ///   `statement_timeout`), ``PostgresError/Code/connectionLost``, ``PostgresError/Code/misuse``.
    ///   `CancellationError` when the task is cancelled (the connection is then closed, unless the
    ///   statement had not been sent yet).
    public func query(
        _ sql: String,
        _ parameters: [any PostgresEncodable] = [],
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> PostgresRows {
        let encoded = try EncodedParameters(parameters)
        try Self.checkNoNUL(sql)
        return try await self.perform(deadline: deadline) { connection in
            encoded.withPointers { values in
                PQsendQueryParams(connection, sql, Int32(encoded.count), nil, values, nil, nil, 0)
            }
        }
    }

    /// Runs one statement with parameters and returns the number of rows it affected.
    ///
    /// Parameters, deadline and errors as ``query(_:_:deadline:)``.
    @discardableResult
    public func execute(
        _ sql: String,
        _ parameters: [any PostgresEncodable] = [],
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> Int {
        try await self.query(sql, parameters, deadline: deadline).affectedRowCount
    }

    /// Runs a script of one or more statements separated by semicolons, without parameters (the simple
    /// query protocol), such as a schema migration. Stops at the first statement that fails.
    ///
    /// Outside a transaction, the server runs a multi-statement script as one implicit transaction.
    /// Deadline and errors as ``query(_:_:deadline:)``.
    public func executeScript(_ sql: String, deadline: ContinuousClock.Instant? = nil) async throws {
        try Self.checkNoNUL(sql)
        _ = try await self.perform(deadline: deadline) { connection in
            PQsendQuery(connection, sql)
        }
    }

    /// Runs `COPY table (…) FROM STDIN` with `data` as its input, and returns the number of rows copied.
    ///
    /// The fastest way to move many rows in: the data is sent as is, in the statement's format (for the
    /// default text format, one line per row, columns separated by tabs, with `\\`, `\t`, `\n`, `\r` escaped
    /// and `\N` for NULL). Deadline and errors as ``query(_:_:deadline:)``.
    @discardableResult
    public func copyIn(_ sql: String, data: [UInt8], deadline: ContinuousClock.Instant? = nil) async throws -> Int {
        try Self.checkNoNUL(sql)
        return try await self.perform(deadline: deadline, copyData: data) { connection in
            PQsendQuery(connection, sql)
        }.affectedRowCount
    }

    // MARK: Transactions

    /// Runs `body` in a transaction: `BEGIN`, then `COMMIT` when `body` returns, or `ROLLBACK` when it
    /// throws (the error is rethrown).
    ///
    /// - Parameters:
    ///   - deadline: Bounds the whole transaction, `BEGIN` to `COMMIT`, and every call made in it.
    ///     Default: now + ``Options/queryTimeout``.
    ///   - body: The work; it receives this connection.
    /// - Throws: What `body` throws; ``PostgresError`` from `BEGIN` or `COMMIT` (a `COMMIT` that is refused
    ///   because a statement in the transaction failed throws ``PostgresError/Code/server``);
    ///   ``PostgresError/Code/misuse`` when a transaction is already open on this connection. When the
    ///   connection is lost during `COMMIT`, whether it committed is unknown
    ///   (``PostgresError/Code/connectionLost``).
    @discardableResult
    nonisolated(nonsending) public func withTransaction<Result>(
        deadline: ContinuousClock.Instant? = nil,
        _ body: nonisolated(nonsending) (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.begin(deadline: deadline ?? .now + self.options.queryTimeout)
        let result: Result
        do {
            result = try await body(self)
        } catch {
            await self.rollbackAfterFailure()
            throw error
        }
        try await self.commit()
        return result
    }

    private func begin(deadline: ContinuousClock.Instant) async throws {
        if self.transactionDeadline != nil || self.connection?.isInTransaction == true {
            throw PostgresError(
                code: .misuse,
                message: "A transaction is already open on this connection; transactions do not nest. "
                    + "Use one withTransaction at a time per connection (or a SAVEPOINT inside it)."
            )
        }
        self.transactionDeadline = deadline
        do {
            try await self.executeScript("BEGIN")
        } catch {
            self.transactionDeadline = nil
            throw error
        }
    }

    private func commit() async throws {
        defer { self.transactionDeadline = nil }
        let rows = try await self.perform(deadline: nil) { connection in PQsendQuery(connection, "COMMIT") }
        // A COMMIT of a transaction in which a statement failed succeeds with the tag ROLLBACK.
        if rows.commandTag == "ROLLBACK" {
            throw PostgresError(
                code: .server,
                message: "The transaction was rolled back, not committed, because a statement in it failed "
                    + "(and its error was caught). Nothing of it was saved; handle or rethrow errors inside "
                    + "withTransaction."
            )
        }
    }

    private func rollbackAfterFailure() async {
        defer { self.transactionDeadline = nil }
        guard let connection = self.connection, !connection.isBroken, connection.isInTransaction else { return }
        // Under the transaction's deadline; if that has passed, the connection is closed instead, which
        // makes the server roll back.
        _ = try? await self.perform(deadline: nil) { connection in PQsendQuery(connection, "ROLLBACK") }
    }

    // MARK: State

    /// Closes the connection. Calls made after this throw ``PostgresError/Code/misuse``. Never blocks.
    public func close() {
        if let connection = self.connection {
            self.connection = nil
            connection.finish()
            self.closedReason = .closedByCaller
        }
    }

    /// Whether the connection can still run statements: not closed, and not broken by a deadline,
    /// a cancellation or a lost connection.
    public var isOpen: Bool {
        guard let connection = self.connection else { return false }
        return !connection.isBroken
    }

    /// The server process serving this connection (`pg_backend_pid()`), or `nil` when closed.
    public var backendPID: Int32? {
        self.connection?.backendPID
    }

    /// The server's version as libpq reports it (e.g. 150018 for 15.18), or `nil` when closed.
    public var serverVersion: Int? {
        self.connection.map { Int($0.serverVersion) }
    }

    // MARK: Internals

    /// Sends a statement with `send` and waits for its results, honouring the deadline and cancellation.
    private func perform(
        deadline: ContinuousClock.Instant?,
        copyData: [UInt8]? = nil,
        send: (OpaquePointer) -> Int32
    ) async throws -> PostgresRows {
        guard let connection = self.connection else {
            throw self.closedError()
        }
        let timeout = self.options.queryTimeout
        let start = ContinuousClock.now
        var deadline = deadline ?? start + timeout
        if let transactionDeadline = self.transactionDeadline {
            deadline = min(deadline, transactionDeadline)
        }
        self.wakeup.drain()
        return try await withTaskCancellationHandler {
            // Nothing sent yet: the connection stays usable.
            try Task.checkCancellation()
            let outcome: (result: ResultHandle?, error: ResultHandle?)
            do {
                outcome = try connection.run(deadline: deadline, wakeup: self.wakeup, copyData: copyData, send: send)
            } catch Interruption.deadline {
                let message =
                    "No answer from PostgreSQL at \(self.serverAddress) within "
                    + "\(Self.format(start.duration(to: deadline))) (the call's deadline). The connection was "
                    + "closed; the statement may still finish on the server. Retry on a new connection; if this "
                    + "repeats, the server or the network to it is stalled."
                self.abandon(reason: "a call missed its deadline")
                throw PostgresError(code: .timedOut, message: message)
            } catch Interruption.cancelled {
                self.abandon(reason: "a call was cancelled")
                throw CancellationError()
            } catch LibPQConnection.SendFailure.failed(let libpqMessage) {
                let message = self.connectionLostMessage(Self.oneLine(libpqMessage))
                self.abandon(reason: "the connection was lost")
                throw PostgresError(code: .connectionLost, message: message)
            } catch LibPQConnection.UnsupportedResult.copy {
                self.abandon(reason: "a COPY statement was sent")
                throw PostgresError(
                    code: .misuse,
                    message: "COPY is not supported by this wrapper; the connection was closed. "
                        + "Use INSERT … SELECT FROM unnest($1::…[]) instead."
                )
            }
            if let errorResult = outcome.error {
                let error = self.classify(errorResult, connection: connection)
                if connection.isBroken || error.code == .connectionLost {
                    self.abandon(reason: "the connection was lost")
                }
                throw error
            }
            guard let result = outcome.result else {
                let message = self.connectionLostMessage(Self.oneLine(connection.currentErrorMessage))
                self.abandon(reason: "the connection was lost")
                throw PostgresError(code: .connectionLost, message: message)
            }
            if connection.isBroken {
                // The statement finished, then the connection dropped: report the result, close.
                self.abandon(reason: "the connection was lost")
            }
            return PostgresRows(result: result)
        } onCancel: { [wakeup] in
            wakeup.signal()
        }
    }

    /// Closes a connection whose state is unknown (a statement may still be running on the server).
    private func abandon(reason: String) {
        guard let connection = self.connection else { return }
        self.connection = nil
        self.closedReason = .broken(reason)
        self.logger.debug(
            "closing PostgreSQL connection",
            metadata: ["postgres.server": "\(self.serverAddress)", "postgres.reason": "\(reason)"]
        )
        connection.abandon()
    }

    private func closedError() -> PostgresError {
        switch self.closedReason {
        case .broken(let reason):
            return PostgresError(
                code: .connectionLost,
                message: "This connection was closed because \(reason); open a new connection."
            )
        case .closedByCaller, .neverOpened:
            return PostgresError(
                code: .misuse,
                message: "This connection was closed with close(); open a new connection."
            )
        }
    }

    private func connectionLostMessage(_ detail: String) -> String {
        "The connection to PostgreSQL at \(self.serverAddress) was lost during the call (\(detail)). Whether "
            + "the statement took effect is unknown: reconnect, and retry only idempotent work."
    }

    private func classify(_ result: ResultHandle, connection: LibPQConnection) -> PostgresError {
        func field(_ code: UInt8) -> String? {
            PQresultErrorField(result.pointer, Int32(code)).map { String(cString: $0) }
        }
        let sqlState = field(UInt8(ascii: "C"))
        let primary = field(UInt8(ascii: "M"))
        let fallback = Self.oneLine(String(cString: PQresultErrorMessage(result.pointer)))
        let said = primary ?? fallback
        let named = sqlState.map { state in SQLState.name(of: state).map { "\(state) \($0)" } ?? state } ?? ""

        let code: PostgresError.Code
        let message: String
        if connection.isBroken || sqlState.map(SQLState.endsSession) == true {
            code = .connectionLost
            message = self.connectionLostMessage(said)
        } else if sqlState == SQLState.readOnlySQLTransaction {
            code = .readOnly
            message =
                "PostgreSQL at \(self.serverAddress) is read-only (SQLSTATE \(named): \(said)), as an Aurora "
                + "writer becomes after a failover. Close this connection and reconnect with "
                + "target_session_attrs=read-write to reach the current writer."
        } else if let sqlState, SQLState.isDataRefusal(sqlState) {
            code = .dataRefused
            message =
                "PostgreSQL refused the data (SQLSTATE \(named): \(said)). Sending the same data again fails "
                + "the same way: fix it, or set it aside."
        } else if sqlState == SQLState.queryCanceled {
            code = .timedOut
            message =
                "PostgreSQL cancelled the statement (SQLSTATE \(named): \(said)): it ran past the session's "
                + "statement_timeout, or an operator cancelled it. The connection is still usable; retry "
                + "later, or allow more time (Options.statementTimeout)."
        } else {
            code = .server
            let transient = sqlState.map(SQLState.isTransient) ?? false
            message =
                "PostgreSQL reported an error"
                + (sqlState == nil ? "" : " (SQLSTATE \(named))") + ": \(said)."
                + (field(UInt8(ascii: "H")).map { " Hint: \($0)" } ?? "")
                + (transient
                    ? " This is usually transient: retry the transaction."
                    : " Retrying will not help until the statement or the database is fixed.")
        }
        return PostgresError(
            code: code,
            message: message,
            sqlState: sqlState,
            serverMessage: primary,
            serverDetail: field(UInt8(ascii: "D")),
            serverHint: field(UInt8(ascii: "H")),
            constraintName: field(UInt8(ascii: "n"))
        )
    }

    private static func checkNoNUL(_ sql: String) throws(PostgresError) {
        if sql.utf8.contains(0) {
            throw PostgresError(
                code: .misuse,
                message: "The SQL text contains a NUL character, which PostgreSQL cannot accept."
            )
        }
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingSpaces }.joined(separator: " ")
    }

    static func format(_ duration: Duration) -> String {
        let milliseconds = duration.wholeMillisecondsRoundedUp
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        let tenths = (milliseconds + 50) / 100
        return "\(tenths / 10).\(tenths % 10) s"
    }
}

/// Statement parameters in libpq's text form, laid out in one buffer.
struct EncodedParameters: Sendable {
    private var storage: [UInt8] = []
    /// Where each parameter starts in `storage`, or `nil` for NULL.
    private var offsets: [Int?] = []

    var count: Int { self.offsets.count }

    init(_ parameters: [any PostgresEncodable]) throws(PostgresError) {
        guard parameters.count <= 65535 else {
            throw PostgresError(
                code: .misuse,
                message: "A statement takes at most 65,535 parameters, not \(parameters.count). "
                    + "Send rows as arrays (unnest($1::text[], …)) instead of one parameter per value."
            )
        }
        self.offsets.reserveCapacity(parameters.count)
        for (index, parameter) in parameters.enumerated() {
            if parameter.isPostgresNull {
                self.offsets.append(nil)
                continue
            }
            let start = self.storage.count
            parameter.encodePostgresText(into: &self.storage)
            let containsNUL = self.storage.withUnsafeBufferPointer { buffer in
                memchr(buffer.baseAddress! + start, 0, buffer.count - start) != nil
            }
            if containsNUL {
                throw PostgresError(
                    code: .misuse,
                    message: "Parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot "
                        + "hold. Remove it from the value (or validate input before it gets here)."
                )
            }
            self.storage.append(0)
            self.offsets.append(start)
        }
    }

    /// Calls `body` with libpq's `paramValues` array (NUL-terminated strings, `NULL` for SQL NULL).
    func withPointers<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        self.storage.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress)
            let pointers: [UnsafePointer<CChar>?] = self.offsets.map { offset in
                offset.map { (base! + $0).assumingMemoryBound(to: CChar.self) }
            }
            return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}
