internal import CLibPQ
import Glibc
import Logging

/// Why a wait on the server's socket ended early.
enum Interruption: Error {
    /// The call's deadline passed.
    case deadline
    /// The task was cancelled (the ``Wakeup`` was signalled).
    case cancelled
}

/// Owns one `PGconn` and does libpq's non-blocking dance with it: every wait is a `poll(2)` on the
/// server's socket and the connection's ``Wakeup``, bounded by a deadline.
///
/// Not `Sendable`: a `PGconn` must be used by one thread at a time (libpq manual, 34.20). Only
/// `PostgresConnection`, on its own thread, touches it.
final class LibPQConnection {
    /// The `PGconn *`; never `nil` while this object lives (``finish()`` is the only place that frees it).
    private var handle: OpaquePointer?
    /// Receives the server's notices (libpq would print them to stderr); released after `PQfinish`.
    private var noticeSink: Unmanaged<NoticeSink>?
    let target: String

    /// Opens a connection for one attempt of a ``ConnectionPlan``, or throws.
    ///
    /// libpq's contract (manual, 34.1, `PQconnectStartParams`): "If PQconnectStart or
    /// PQconnectStartParams succeeds, the next stage is to poll libpq so that it can proceed with the
    /// connection sequence. … If PQconnectPoll(conn) last returned PGRES_POLLING_READING, wait until the
    /// socket is ready to read … If you have yet to call PQconnectPoll, i.e., just after the call to
    /// PQconnectStart, behave as if it last returned PGRES_POLLING_WRITING." A half-open `PGconn` is
    /// freed here before throwing.
    ///
    /// Name resolution (`getaddrinfo`) happens inside libpq and blocks this thread without regard to
    /// the deadline; use IP addresses or `hostaddr` where that matters.
    init(attempt: ConnectionPlan.Attempt, deadline: ContinuousClock.Instant, wakeup: Wakeup, logger: Logger) throws {
        self.target = attempt.target
        let keywords = attempt.parameters.map { strdup($0.keyword) } + [nil]
        let values = attempt.parameters.map { strdup($0.value) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let connection = keywords.withUnsafeBufferPointer { keywords in
            values.withUnsafeBufferPointer { values in
                keywords.withMemoryRebound(to: UnsafePointer<CChar>?.self) { keywords in
                    values.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                        PQconnectStartParams(keywords.baseAddress, values.baseAddress, 0)
                    }
                }
            }
        }
        guard let connection else {
            throw ConnectFailure.failed("libpq could not allocate a connection (out of memory)")
        }
        self.handle = connection
        let sink = Unmanaged.passRetained(NoticeSink(logger: logger, target: attempt.target))
        self.noticeSink = sink
        PQsetNoticeReceiver(
            connection,
            { context, result in
                guard let context, let result else { return }
                Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue().receive(result)
            },
            sink.toOpaque()
        )

        if PQstatus(connection) == CONNECTION_BAD {
            let message = LibPQConnection.errorMessage(connection)
            self.finish()
            throw ConnectFailure.failed(message)
        }

        var status = PGRES_POLLING_WRITING
        while true {
            switch status {
            case PGRES_POLLING_OK:
                // Server notices ("relation already exists, skipping") are not errors; libpq's default prints
                // them on standard error, which operators would read as trouble. Drop them.
                _ = PQsetNoticeReceiver(connection, { _, _ in }, nil)
                // Non-blocking from here on, so that sending a large statement never blocks in send(2).
                if PQsetnonblocking(connection, 1) != 0 {
                    let message = LibPQConnection.errorMessage(connection)
                    self.finish()
                    throw ConnectFailure.failed(message)
                }
                return
            case PGRES_POLLING_FAILED:
                let message = LibPQConnection.errorMessage(connection)
                self.finish()
                throw ConnectFailure.failed(message)
            case PGRES_POLLING_READING, PGRES_POLLING_WRITING:
                let socket = PQsocket(connection)
                if socket >= 0 {
                    let events = status == PGRES_POLLING_READING ? Int16(POLLIN) : Int16(POLLOUT)
                    do {
                        _ = try LibPQConnection.wait(socket: socket, events: events, deadline: deadline, wakeup: wakeup)
                    } catch {
                        self.finish()
                        throw error
                    }
                }
                status = PQconnectPoll(connection)
            default:
                // PGRES_POLLING_ACTIVE is unused by libpq (documented as such); poll again.
                status = PQconnectPoll(connection)
            }
        }
    }

    deinit {
        self.finish()
    }

    enum ConnectFailure: Error {
        case failed(String)
    }

    var pointer: OpaquePointer {
        guard let handle = self.handle else { preconditionFailure("LibPQConnection used after finish()") }
        return handle
    }

    var isBroken: Bool {
        guard let handle = self.handle else { return true }
        return PQstatus(handle) == CONNECTION_BAD
    }

    var isInTransaction: Bool {
        guard let handle = self.handle else { return false }
        return PQtransactionStatus(handle) != PQTRANS_IDLE
    }

    var backendPID: Int32 {
        PQbackendPID(self.pointer)
    }

    var serverVersion: Int32 {
        PQserverVersion(self.pointer)
    }

    var currentErrorMessage: String {
        LibPQConnection.errorMessage(self.pointer)
    }

    /// Frees the `PGconn`. Safe to call more than once.
    ///
    /// `PQfinish` sends a Terminate message; the socket is non-blocking once connected (and libpq only
    /// writes what fits while connecting), so this never waits on the server.
    func finish() {
        if let handle = self.handle {
            self.handle = nil
            PQfinish(handle)
        }
        self.noticeSink?.release()
        self.noticeSink = nil
    }

    /// Frees the `PGconn` after a deadline or a cancellation left a statement running, asking the server,
    /// off this thread, to cancel it.
    func abandon() {
        if let handle = self.handle, PQtransactionStatus(handle) == PQTRANS_ACTIVE {
            CancelRequests.send(PQgetCancel(handle))
        }
        self.finish()
    }

    /// Sends a statement and collects its results. `send` issues `PQsendQuery…` and returns its status.
    ///
    /// Returns the last successful result and the first error result (a script may produce several
    /// results; extended-protocol statements produce one).
    func run(
        deadline: ContinuousClock.Instant,
        wakeup: Wakeup,
        copyData: [UInt8]? = nil,
        send: (OpaquePointer) -> Int32
    ) throws -> (result: ResultHandle?, error: ResultHandle?) {
        let connection = self.pointer
        guard send(connection) == 1 else {
            throw SendFailure.failed(LibPQConnection.errorMessage(connection))
        }
        let socket = PQsocket(connection)

        try flushOutput(socket: socket, deadline: deadline, wakeup: wakeup)

        // Manual, 34.4: "PQgetResult must be called repeatedly until it returns a null pointer, indicating
        // that the command is done." PQisBusy says whether PQgetResult would block.
        var copyData = copyData
        var lastResult: ResultHandle?
        var firstError: ResultHandle?
        while true {
            while PQisBusy(connection) == 1 {
                _ = try LibPQConnection.wait(socket: socket, events: Int16(POLLIN), deadline: deadline, wakeup: wakeup)
                if PQconsumeInput(connection) == 0 {
                    throw SendFailure.failed(LibPQConnection.errorMessage(connection))
                }
            }
            guard let pointer = PQgetResult(connection) else { break }
            let result = ResultHandle(pointer)
            switch PQresultStatus(pointer) {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                lastResult = result
            case PGRES_COPY_IN where copyData != nil:
                try sendCopyData(copyData!, deadline: deadline, wakeup: wakeup)
                copyData = nil
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
                throw UnsupportedResult.copy
            default:
                // PGRES_FATAL_ERROR, PGRES_NONFATAL_ERROR, PGRES_BAD_RESPONSE.
                if firstError == nil { firstError = result }
            }
            if PQstatus(connection) == CONNECTION_BAD { break }
        }
        return (lastResult, firstError)
    }

    /// Streams `data` as the input of a `COPY … FROM STDIN` the server is waiting for, then ends it.
    ///
    /// Manual, 34.9.1: on a nonblocking connection `PQputCopyData` and `PQputCopyEnd` return 0 when the data
    /// could not be queued yet ("wait for write-ready and try again"); `PQflush` pushes what is queued.
    private func sendCopyData(_ data: [UInt8], deadline: ContinuousClock.Instant, wakeup: Wakeup) throws {
        let connection = self.pointer
        let socket = PQsocket(connection)
        let chunk = 1 << 16
        var sent = 0
        while sent < data.count {
            let length = min(chunk, data.count - sent)
            let status = data.withUnsafeBytes { bytes in
                PQputCopyData(connection, bytes.baseAddress!.assumingMemoryBound(to: CChar.self) + sent, Int32(length))
            }
            if status < 0 { throw SendFailure.failed(LibPQConnection.errorMessage(connection)) }
            if status == 1 {
                sent += length
            } else {
                _ = try LibPQConnection.wait(socket: socket, events: Int16(POLLOUT), deadline: deadline, wakeup: wakeup)
                if PQflush(connection) < 0 { throw SendFailure.failed(LibPQConnection.errorMessage(connection)) }
            }
        }
        while true {
            let status = PQputCopyEnd(connection, nil)
            if status < 0 { throw SendFailure.failed(LibPQConnection.errorMessage(connection)) }
            if status == 1 { break }
            _ = try LibPQConnection.wait(socket: socket, events: Int16(POLLOUT), deadline: deadline, wakeup: wakeup)
        }
        try flushOutput(socket: socket, deadline: deadline, wakeup: wakeup)
    }

    /// Manual, 34.10: "After sending any command or data on a nonblocking connection, call PQflush. If it
    /// returns 1, wait for the socket to become read- or write-ready. If it becomes write-ready, call PQflush
    /// again. If it becomes read-ready, call PQconsumeInput, then call PQflush again. Repeat until PQflush
    /// returns 0."
    private func flushOutput(socket: Int32, deadline: ContinuousClock.Instant, wakeup: Wakeup) throws {
        let connection = self.pointer
        while true {
            let flushed = PQflush(connection)
            if flushed == 0 { break }
            if flushed < 0 { throw SendFailure.failed(LibPQConnection.errorMessage(connection)) }
            let events = try LibPQConnection.wait(
                socket: socket, events: Int16(POLLIN | POLLOUT), deadline: deadline, wakeup: wakeup)
            if events & Int16(POLLIN) != 0, PQconsumeInput(connection) == 0 {
                throw SendFailure.failed(LibPQConnection.errorMessage(connection))
            }
        }
    }

    enum SendFailure: Error {
        case failed(String)
    }

    enum UnsupportedResult: Error {
        case copy
    }

    /// Waits until `socket` has one of `events`, the deadline passes, or `wakeup` is signalled.
    ///
    /// Returns the socket's `revents` (which may be `POLLERR`/`POLLHUP`; libpq then finds out what
    /// happened on its next read or write).
    static func wait(
        socket: Int32,
        events: Int16,
        deadline: ContinuousClock.Instant,
        wakeup: Wakeup
    ) throws(Interruption) -> Int16 {
        var descriptors = [
            pollfd(fd: socket, events: events, revents: 0),
            pollfd(fd: wakeup.fileDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { throw .deadline }
            let milliseconds = Int32(clamping: remaining.wholeMillisecondsRoundedUp)
            descriptors[0].revents = 0
            descriptors[1].revents = 0
            let ready = poll(&descriptors, 2, milliseconds)
            if ready < 0 {
                let error = errno
                if error == EINTR || error == EAGAIN { continue }
                // EFAULT, EINVAL: our bug; ENOMEM: nothing sensible left to do.
                preconditionFailure("poll() failed: \(String(cString: strerror(error)))")
            }
            if descriptors[1].revents != 0 { throw .cancelled }
            if descriptors[0].revents != 0 { return descriptors[0].revents }
            // Timed out: the loop re-checks the clock (poll may also return a little early).
        }
    }

    /// Logs notices and warnings (`NOTICE: relation … already exists, skipping`) at debug level.
    final class NoticeSink {
        let logger: Logger
        let target: String

        init(logger: Logger, target: String) {
            self.logger = logger
            self.target = target
        }

        func receive(_ result: OpaquePointer) {
            let severity = PQresultErrorField(result, Int32(UInt8(ascii: "V"))).map { String(cString: $0) } ?? "NOTICE"
            let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? ""
            self.logger.debug(
                "PostgreSQL \(severity.lowercased()): \(message)",
                metadata: ["postgres.server": "\(self.target)"]
            )
        }
    }

    static func errorMessage(_ connection: OpaquePointer) -> String {
        String(cString: PQerrorMessage(connection)).trimmingSpaces
    }
}
