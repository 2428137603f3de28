import Foundation
import Glibc
import Postgres
import Synchronization

/// A private PostgreSQL 15 server for tests: its own `mktemp -d` directory, its own free port on
/// 127.0.0.1, trust authentication, `fsync=off`.
///
/// ```swift
/// // Most tests: one server per test process, one database per test.
/// let connectionString = try await PostgresServer.shared().createDatabase()
///
/// // Tests that stop, restart or freeze the server: a server of their own.
/// try await PostgresServer.withServer { server in
///     let connectionString = try await server.createDatabase()
///     try server.freeze()
///     …
/// }
/// ```
///
/// As root (CI runs as root, and `initdb` refuses to), the directory is given to the `postgres` user,
/// `initdb` runs under `runuser -u postgres`, and the server under `setpriv`, which execs it, so that
/// ``postmasterPID`` is the postmaster itself. Otherwise both run as the current user.
///
/// Every server has a watchdog: a small shell process that waits for the test process to go away
/// (however it goes: normal exit, crash, `kill -9`) and then stops the server and deletes its directory.
/// ``destroy()`` does the same at once; ``withServer(settings:_:)`` calls it however its body ends.
///
/// Users who are members of the role `password_users` must log in with a password (SCRAM); everyone
/// else is trusted. Tests of authentication failures create such a user.
public final class PostgresServer: Sendable {
    /// How ``stop(mode:)`` shuts the server down (`pg_ctl stop -m`).
    public enum StopMode: Sendable {
        /// Sessions are ended and a checkpoint written (SIGINT).
        case fast
        /// Every process quits at once, as in a crash; the next start runs recovery (SIGQUIT).
        case immediate
    }

    /// The temporary directory: `data/` (the cluster), the Unix socket, `server.log`.
    public let directory: String
    /// Always `127.0.0.1`.
    public let host = "127.0.0.1"
    /// The TCP port, the same across ``stop(mode:)`` and ``start()``.
    public var port: Int { self.state.withLock { $0.port } }

    private let settings: [String: String]
    private let state: Mutex<State>
    private let watchdog: Watchdog

    private struct State {
        var port = 0
        var postmasterPID: pid_t?
        var isFrozen = false
        var isDestroyed = false
    }

    private static let binaries = "/usr/lib/postgresql/15/bin"
    private static let startTimeout: Duration = .seconds(60)
    private static let stopTimeout: Duration = .seconds(30)

    /// The data directory (`directory/data`).
    public var dataDirectory: String { self.directory + "/data" }

    /// The server's output (`directory/server.log`); worth reading when a test fails.
    public var logPath: String { self.directory + "/server.log" }

    /// The postmaster's process id, or `nil` while stopped.
    public var postmasterPID: Int32? { self.state.withLock { $0.postmasterPID } }

    /// A libpq connection string for `database` as `user` (`postgres` is the superuser).
    public func connectionString(database: String = "postgres", user: String = "postgres") -> String {
        "host=\(self.host) port=\(self.port) user=\(user) dbname=\(database)"
    }

    private init(directory: String, settings: [String: String], watchdog: Watchdog) {
        self.directory = directory
        self.settings = settings
        self.watchdog = watchdog
        self.state = Mutex(State())
    }

    deinit {
        // The watchdog notices the closed socket and cleans up whatever `destroy()` did not.
        self.watchdog.release()
    }

    // MARK: Making servers

    /// Creates a cluster with `initdb` and starts a server on it.
    ///
    /// - Parameter settings: Extra server settings, passed as `-c key=value` (for example
    ///   `["default_transaction_read_only": "on"]`).
    /// - Throws: When `initdb` or the server fails; the message quotes the server log.
    public static func start(settings: [String: String] = [:]) async throws -> PostgresServer {
        let directory = try makeDirectory()
        let watchdog: Watchdog
        do {
            watchdog = try Watchdog(directory: directory)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        let server = PostgresServer(directory: directory, settings: settings, watchdog: watchdog)
        do {
            try await server.initializeCluster()
            // A port may be taken between choosing and binding it: try a few.
            var attempt = 0
            while true {
                attempt += 1
                server.state.withLock { $0.port = (try? PostgresProcesses.freeLoopbackPort()) ?? 0 }
                do {
                    try await server.start()
                    break
                } catch let error as HarnessError where error.portInUse && attempt < 5 {
                    continue
                }
            }
            try await server.executeAsSuperuser("CREATE ROLE password_users NOLOGIN")
            return server
        } catch {
            await server.destroy()
            throw error
        }
    }

    /// Starts a server, runs `body` with it, and destroys the server however `body` ends.
    public static func withServer<Result>(
        settings: [String: String] = [:],
        _ body: (PostgresServer) async throws -> Result
    ) async throws -> Result {
        let server = try await start(settings: settings)
        do {
            let result = try await body(server)
            await server.destroy()
            return result
        } catch {
            await server.destroy()
            throw error
        }
    }

    /// The server shared by all tests of this process, started on first use.
    ///
    /// One server per test process (not per test) keeps the suite fast: a test takes its own database
    /// from it with ``createDatabase(name:)``. Nothing stops it explicitly: when the test process exits,
    /// its watchdog stops the server and deletes its directory. Tests must not stop or freeze it; they
    /// start their own server for that.
    public static func shared() async throws -> PostgresServer {
        try await sharedServer.value
    }

    private static let sharedServer = Task { try await PostgresServer.start() }

    // MARK: Databases

    /// Creates a database and returns a connection string for it.
    ///
    /// - Parameter name: The database name; default a fresh `test_…` name. Names are quoted as identifiers.
    public func createDatabase(name: String? = nil) async throws -> String {
        let name = name ?? "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresConnection.withConnection(
            self.administratorConnectionString, deadline: .now + .seconds(30)
        ) { connection in
            try await connection.executeScript(
                "CREATE DATABASE " + Self.quotedIdentifier(name),
                deadline: .now + .seconds(30)
            )
        }
        return self.connectionString(database: name)
    }

    /// Runs `sql` as the superuser in database `postgres` (for setup such as roles).
    public func executeAsSuperuser(_ sql: String) async throws {
        try await PostgresConnection.withConnection(self.administratorConnectionString, deadline: .now + .seconds(30)) {
            try await $0.executeScript(sql, deadline: .now + .seconds(30))
        }
    }

    /// The superuser in `postgres`, able to write even on a server started with
    /// `default_transaction_read_only=on`.
    private var administratorConnectionString: String {
        self.connectionString() + " options='-c default_transaction_read_only=off'"
    }

    /// `"name"` with embedded quotes doubled, for SQL identifiers.
    public static func quotedIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: Operations

    /// Starts the server on the existing data directory and port, and returns once it accepts
    /// connections (after crash recovery, when the last stop was immediate).
    public func start() async throws {
        let alreadyRunning = self.state.withLock { state -> Bool in
            state.isDestroyed || state.postmasterPID != nil
        }
        guard !alreadyRunning else { throw HarnessError("start(): the server is running or destroyed") }

        var arguments = [Self.binaries + "/postgres", "-D", self.dataDirectory, "-h", self.host, "-p", String(self.port)]
        arguments += ["-k", self.directory, "-c", "fsync=off", "-c", "full_page_writes=off"]
        arguments += ["-c", "max_connections=200", "-c", "log_min_messages=warning"]
        for (key, value) in self.settings.sorted(by: { $0.key < $1.key }) {
            arguments += ["-c", "\(key)=\(value)"]
        }
        if geteuid() == 0 {
            arguments = ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + arguments
        }
        let logSize = (try? FileManager.default.attributesOfItem(atPath: self.logPath)[.size] as? Int) ?? 0
        let pid = try PostgresProcesses.spawn(arguments, outputPath: self.logPath)
        self.state.withLock { $0.postmasterPID = pid }

        // Ready when a connection succeeds; failed when the process exits first.
        let deadline = ContinuousClock.now + Self.startTimeout
        while true {
            if let status = PostgresProcesses.exitStatusIfExited(pid) {
                self.state.withLock { $0.postmasterPID = nil }
                let log = self.logTail(from: logSize)
                throw HarnessError(
                    "PostgreSQL exited with status \(status) while starting; its log says:\n\(log)",
                    portInUse: log.contains("could not bind") || log.contains("Address already in use")
                )
            }
            do {
                let connection = try await PostgresConnection.connect(
                    self.connectionString(), deadline: min(deadline, .now + .seconds(2)))
                await connection.close()
                return
            } catch {
                if ContinuousClock.now >= deadline {
                    throw HarnessError(
                        "PostgreSQL did not accept connections within \(Self.startTimeout) (\(error)); its log "
                            + "says:\n\(self.logTail(from: logSize))")
                }
            }
            // Poll interval between connection attempts (a refused connect returns at once).
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops the server and waits until `postmaster.pid` is gone and the process has exited.
    ///
    /// A frozen server is thawed first. If it has not stopped within 30 s, every process is killed and
    /// this throws.
    public func stop(mode: StopMode = .fast) async throws {
        guard let pid = self.state.withLock({ $0.postmasterPID }) else { return }
        try? self.thaw()
        kill(pid, mode == .fast ? SIGINT : SIGQUIT)
        let pidFile = self.dataDirectory + "/postmaster.pid"
        let deadline = ContinuousClock.now + Self.stopTimeout
        var exited = false
        while ContinuousClock.now < deadline {
            if !exited, PostgresProcesses.exitStatusIfExited(pid) != nil { exited = true }
            if exited && !FileManager.default.fileExists(atPath: pidFile) {
                self.state.withLock { $0.postmasterPID = nil }
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        for child in PostgresProcesses.descendants(of: pid) { kill(child, SIGKILL) }
        kill(pid, SIGKILL)
        _ = try await PostgresProcesses.onDedicatedThread { PostgresProcesses.waitForExit(pid) }
        self.state.withLock { $0.postmasterPID = nil }
        throw HarnessError("PostgreSQL did not stop within \(Self.stopTimeout); it was killed")
    }

    /// Stops the postmaster and all its children with SIGSTOP: the server then holds connections open and
    /// answers nothing, like a hung host. The kernel still completes new TCP handshakes (the listen
    /// backlog), so a connect "succeeds" and then hears nothing.
    public func freeze() throws {
        guard let pid = self.state.withLock({ $0.postmasterPID }) else {
            throw HarnessError("freeze(): the server is not running")
        }
        // The postmaster first, so that it forks no new child while the children are being stopped.
        kill(pid, SIGSTOP)
        for child in PostgresProcesses.descendants(of: pid) { kill(child, SIGSTOP) }
        self.state.withLock { $0.isFrozen = true }
    }

    /// Resumes a server stopped by ``freeze()`` (SIGCONT to the children, then the postmaster).
    public func thaw() throws {
        guard let pid = self.state.withLock({ $0.postmasterPID }) else {
            throw HarnessError("thaw(): the server is not running")
        }
        for child in PostgresProcesses.descendants(of: pid) { kill(child, SIGCONT) }
        kill(pid, SIGCONT)
        self.state.withLock { $0.isFrozen = false }
    }

    /// Stops the server (immediately) and deletes its directory. Safe to call more than once.
    public func destroy() async {
        let first = self.state.withLock { state -> Bool in
            defer { state.isDestroyed = true }
            return !state.isDestroyed
        }
        guard first else { return }
        try? await self.stop(mode: .immediate)
        try? FileManager.default.removeItem(atPath: self.directory)
        self.watchdog.release()
    }

    // MARK: Setup

    private static func makeDirectory() throws -> String {
        var template = Array((FileManager.default.temporaryDirectory.path + "/rananeeti-pg-XXXXXX").utf8CString)
        guard let pointer = mkdtemp(&template) else {
            throw HarnessError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        let directory = String(cString: pointer)
        if geteuid() == 0 {
            guard let user = getpwnam("postgres") else {
                try? FileManager.default.removeItem(atPath: directory)
                throw HarnessError("running as root, but there is no `postgres` user to run PostgreSQL as")
            }
            guard chown(directory, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                try? FileManager.default.removeItem(atPath: directory)
                throw HarnessError("chown \(directory) failed: \(String(cString: strerror(errno)))")
            }
        }
        return directory
    }

    private func initializeCluster() async throws {
        var arguments = [
            Self.binaries + "/initdb", "-D", self.dataDirectory, "-U", "postgres", "--auth=trust", "--no-sync",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions",
        ]
        if geteuid() == 0 {
            arguments = ["/usr/sbin/runuser", "-u", "postgres", "--"] + arguments
        }
        let log = self.directory + "/initdb.log"
        let command = arguments
        let status = try await PostgresProcesses.onDedicatedThread {
            try PostgresProcesses.run(command, outputPath: log)
        }
        guard status == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw HarnessError("initdb failed with status \(status):\n\(output)")
        }
        // Members of `password_users` need a password; everyone else is trusted.
        let hba = """
            local all all trust
            host all +password_users 127.0.0.1/32 scram-sha-256
            host all all 127.0.0.1/32 trust
            host all all ::1/128 trust

            """
        try hba.write(toFile: self.dataDirectory + "/pg_hba.conf", atomically: false, encoding: .utf8)
    }

    private func logTail(from offset: Int) -> String {
        guard let data = FileManager.default.contents(atPath: self.logPath), data.count > offset else { return "" }
        let text = String(decoding: data[offset...], as: UTF8.self)
        return text.split(separator: "\n").suffix(20).joined(separator: "\n")
    }
}

/// A failure of the test harness itself (not of the code under test).
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    var portInUse = false

    init(_ description: String, portInUse: Bool = false) {
        self.description = description
        self.portInUse = portInUse
    }
}

/// A shell process that stops a server and deletes its directory once the test process lets go of it.
///
/// It blocks reading a socket whose only other end this process holds (close-on-exec, so no other child
/// inherits it). The socket reaches end-of-file when ``release()`` closes it or when this process dies,
/// however it dies; the shell then sends SIGCONT and SIGQUIT to the server, waits for it, kills what is
/// left, and removes the directory.
final class Watchdog: Sendable {
    private let writeEnd: Mutex<Int32>
    private let pid: pid_t

    private static let script = #"""
        dir="$1"
        read -r _
        if [ -d "$dir" ]; then
          if [ -f "$dir/data/postmaster.pid" ]; then
            pid=$(head -n 1 "$dir/data/postmaster.pid")
            kids=$(pgrep -P "$pid")
            kill -CONT "$pid" $kids 2>/dev/null
            kill -QUIT "$pid" 2>/dev/null
            i=0
            while [ -f "$dir/data/postmaster.pid" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
            kill -KILL "$pid" $kids 2>/dev/null
          fi
          rm -rf "$dir"
        fi
        """#

    init(directory: String) throws {
        // A socket pair rather than a pipe: it can be made close-on-exec atomically (SOCK_CLOEXEC), so no
        // child spawned by another thread meanwhile inherits the write end and keeps it open after this
        // process dies. The watchdog gets the read end as its stdin through dup2, which clears the flag.
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw HarnessError("socketpair failed: \(String(cString: strerror(errno)))")
        }
        do {
            self.pid = try PostgresProcesses.spawn(
                ["/bin/sh", "-c", Watchdog.script, "rananeeti-pg-watchdog", directory], standardInput: fds[0])
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
        close(fds[0])
        self.writeEnd = Mutex(fds[1])
    }

    /// Lets the watchdog run its cleanup now (it finds nothing to do after ``PostgresServer/destroy()``).
    func release() {
        let fd = self.writeEnd.withLock { fd -> Int32 in
            defer { fd = -1 }
            return fd
        }
        guard fd >= 0 else { return }
        close(fd)
        // Reap it without blocking anyone; it exits within a few seconds at most.
        let pid = self.pid
        Thread.detachNewThread { PostgresProcesses.waitForExit(pid) }
    }
}
