import ArgumentParser
import EventLog
import Foundation
import Glibc
import Logging
import Projection
import ServiceLifecycle
import UnixSignals

/// How `rananeeti drain` reaches a running node: a signal, then `GET /readyz`.
///
/// The path is narrow on purpose. `SIGUSR1` tells `serve` to stop taking reservations (`SIGUSR2` to take them
/// again); only root or the service's own user can send it, so it needs no token and opens nothing on the
/// network. The process to signal is the one holding the log's writer lock (its PID is in `DIR/writer.lock`),
/// checked to be `rananeeti serve`. Everything else is read from `/readyz` on the node's listener: whether
/// the intake is closed, and the projection's lag.
enum DrainSignal {
    static let stopTaking = SIGUSR1
    static let resumeTaking = SIGUSR2
    static let stopTakingSignal = UnixSignal.sigusr1
    static let resumeTakingSignal = UnixSignal.sigusr2
}

/// In `serve`: turns `SIGUSR1`/`SIGUSR2` into stopping and resuming the intake.
struct DrainSignalService: Service {
    let signals: UnixSignalsSequence
    let book: NodeReservationBook
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await signal in signals {
                if signal == DrainSignal.stopTakingSignal {
                    book.stopTakingReservations()
                    logger.notice("draining: this node takes no new reservations; /readyz says draining until it stops")
                } else if signal == DrainSignal.resumeTakingSignal {
                    book.resumeTakingReservations()
                    logger.notice("drain cancelled: this node takes reservations again")
                }
            }
        }
    }
}

struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Retire this node: stop taking reservations, wait until the database holds every event of its log.",
        discussion: """
            Tells the running `rananeeti serve` on the log (found by the log's writer lock) to stop taking \
            reservations (SIGUSR1): its /readyz turns 503 "draining", so the load balancer moves guests to other \
            nodes. Then waits, up to --deadline-seconds, until /readyz says no reservation is still being taken and \
            the projection's lag is 0. With no server on the log, projects the log itself.

            Exit status: 0 when every event of this log is in the database; 75 when the deadline passed first \
            (it says how many events are still only on this node; run it again later); 1 when it could not do its \
            work (it says why). --resume takes the node back into service.
            """
    )

    @OptionGroup var node: NodeOptions
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Where the node's operator endpoints listen, HOST:PORT, to read its /readyz. (Environment: RANANEETI_OPERATOR_LISTEN; default: the address serve wrote to DATA_DIR/operator-listen, else 127.0.0.1:9090)")
    var operatorListen: String?
    @Option(help: "How long to wait for the database to take this node's events, in seconds.")
    var deadlineSeconds = 600
    @Flag(help: "Take reservations again (after a drain that is no longer wanted).")
    var resume = false
    @Flag(help: "Never signal a server: project the log only when no process holds it, else say so and exit 1 (for jobs that pick up logs no node runs).")
    var offline = false

    static let deadlinePassed = ExitCode(75)

    func validate() throws {
        guard deadlineSeconds >= 0 else { throw ValidationError("--deadline-seconds must be 0 or more.") }
        guard !(offline && resume) else { throw ValidationError("--offline and --resume exclude each other: --resume signals a running server.") }
        guard ServeCommand.hostAndPort(address) != nil else {
            throw ValidationError("--operator-listen (or RANANEETI_OPERATOR_LISTEN) must be HOST:PORT, for example 127.0.0.1:9090.")
        }
    }

    var address: String {
        operatorListen ?? ProcessInfo.processInfo.environment["RANANEETI_OPERATOR_LISTEN"]
            ?? (try? String(contentsOfFile: node.directory + "/" + IdentityOptions.operatorAddressFileName, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "127.0.0.1:9090"
    }

    func run() async throws {
        try reportingLogErrors { try LogDirectory.check(node.directory) }
        let deadline = ContinuousClock.now + .seconds(deadlineSeconds)
        let nodeID = try node.resolveNodeID()
        var log: EventLog?
        do {
            log = try EventLog(directory: node.directory, configuration: EventLogConfiguration(createIfMissing: false))
        } catch let error as LogError where error.code == .locked {
            log = nil
        } catch let error as LogError {
            warn(error.description)
            throw ExitCode(1)
        }
        if let log {
            // No server: this process holds the log now, so none can start and take reservations meanwhile.
            if resume {
                await log.close()
                warn("no server runs on \(node.directory); there is nothing to resume. Start it (systemctl start rananeeti).")
                throw ExitCode(1)
            }
            try await drainWithoutServer(log: log, nodeID: nodeID, deadline: deadline)
            return
        }
        if offline {
            let holder = (try? String(contentsOfFile: node.directory + "/" + DirectoryLock.fileName, encoding: .utf8))?.trimmingWhitespace ?? "?"
            warn("the log \(node.directory) is held by a running process (pid \(holder), on this machine or, on a shared file system, another); with --offline nothing was done.")
            throw ExitCode(1)
        }
        let serverPID = try findServer()
        guard kill(serverPID, resume ? DrainSignal.resumeTaking : DrainSignal.stopTaking) == 0 else {
            warn("could not signal the server (pid \(serverPID)): \(String(cString: strerror(errno))). Run this as root or as the service's user.")
            throw ExitCode(1)
        }
        if resume {
            try await waitForResume(deadline: deadline)
        } else {
            try await waitForDrain(nodeID: nodeID, deadline: deadline)
        }
    }

    /// The PID of the `rananeeti serve` holding the log's writer lock.
    private func findServer() throws -> pid_t {
        let lockFile = node.directory + "/" + DirectoryLock.fileName
        guard let text = try? String(contentsOfFile: lockFile, encoding: .utf8), let pid = pid_t(text.trimmingWhitespace), pid > 1
        else {
            warn("\(lockFile) names no process, yet the log is locked; is another process opening it? Try again in a moment.")
            throw ExitCode(1)
        }
        // The PID could have been reused, be another machine's (a log on a shared file system), or belong to
        // `project` or `replay` (which hold the lock too, and which SIGUSR1 would kill): signal only a `serve`
        // that has this very lock file open.
        let arguments = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")))
            .map { $0.split(separator: 0).map { String(decoding: $0, as: UTF8.self) } } ?? []
        guard arguments.count >= 2, arguments[0].hasSuffix("rananeeti"), arguments[1] == "serve",
            Self.process(pid, hasOpen: lockFile)
        else {
            let what = arguments.isEmpty ? "no process of this machine" : arguments.prefix(2).joined(separator: " ")
            warn("the log \(node.directory) is held by pid \(pid) (\(what)), not by a `rananeeti serve` on this machine with this log open. Drain that server where it runs; for a `project` or `replay`, wait for it (rananeeti db status shows the lag).")
            throw ExitCode(1)
        }
        return pid
    }

    /// Whether process `pid` has `path` open (one of its `/proc/PID/fd` links leads to it).
    static func process(_ pid: pid_t, hasOpen path: String) -> Bool {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return false }
        return descriptors.contains { descriptor in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(descriptor)")) == target
        }
    }

    private struct Readiness {
        var status: String
        var intakeOpen: Bool
        var acceptsInFlight: Int
        var databaseConfigured: Bool
        var databaseReachable: Bool
        var lastError: String?
        var lagEvents: UInt64

        init?(_ body: [UInt8]) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
                let status = object["status"] as? String,
                let intake = object["intake"] as? [String: Any], let intakeOpen = intake["open"] as? Bool,
                let acceptsInFlight = intake["acceptsInFlight"] as? Int,
                let database = object["database"] as? [String: Any], let configured = database["configured"] as? Bool,
                let reachable = database["reachable"] as? Bool,
                let projection = object["projection"] as? [String: Any], let lag = projection["lagEvents"] as? Int, lag >= 0
            else { return nil }
            self.status = status
            self.intakeOpen = intakeOpen
            self.acceptsInFlight = acceptsInFlight
            self.databaseConfigured = configured
            self.databaseReachable = reachable
            self.lastError = database["lastError"] as? String
            self.lagEvents = UInt64(lag)
        }
    }

    private func readiness() async -> Result<Readiness, LocalHTTP.Failure> {
        let (host, port) = ServeCommand.hostAndPort(address)!
        do {
            let response = try await LocalHTTP.get(
                host: LocalHTTP.loopback(for: host), port: port, path: "/readyz", timeout: .seconds(5))
            guard let readiness = Readiness(response.body) else {
                return .failure(LocalHTTP.Failure(description: "/readyz at \(address) answered \(response.status) without the fields drain needs; is this a rananeeti node of this version?"))
            }
            return .success(readiness)
        } catch let error as LocalHTTP.Failure {
            return .failure(error)
        } catch {
            return .failure(LocalHTTP.Failure(description: "\(error)"))
        }
    }

    private func waitForDrain(nodeID: String, deadline: ContinuousClock.Instant) async throws {
        var last: Result<Readiness, LocalHTTP.Failure>?
        var lastReport = ContinuousClock.now - .seconds(60)
        var lastReported = ""
        while true {
            let current = await readiness()
            last = current
            if case .success(let readiness) = current {
                guard readiness.databaseConfigured else {
                    warn("node \(nodeID) runs without a database: its \(LogDirectorySource(directory: node.directory).endOffset) events exist only on this node and cannot be drained. It takes no new reservations now; `rananeeti drain --resume` takes it back.")
                    throw ExitCode(1)
                }
                if !readiness.intakeOpen, readiness.acceptsInFlight == 0, readiness.lagEvents == 0 {
                    let end = LogDirectorySource(directory: node.directory).endOffset
                    print("Drained: the database holds every event of node \(nodeID) (\(end) in its log); it takes no new reservations. It can be stopped.")
                    return
                }
                let words = readiness.lagEvents == 0 ? "finishing reservations in progress" : "\(readiness.lagEvents) events still only on this node" + (readiness.databaseReachable ? "" : "; the database does not answer (\(readiness.lastError ?? "no contact yet"))")
                if words != lastReported || ContinuousClock.now - lastReport >= .seconds(30) {
                    warn("draining node \(nodeID): \(words)")
                    lastReported = words
                    lastReport = .now
                }
            }
            guard ContinuousClock.now < deadline else { break }
            // The lag moves with every batch the projector commits; a quarter of a second is fine-grained enough.
            try await Task.sleep(for: min(.milliseconds(250), ContinuousClock.now.duration(to: deadline)))
        }
        switch last {
        case .success(let readiness)?:
            let end = LogDirectorySource(directory: node.directory).endOffset
            let lag = min(readiness.lagEvents, end)
            warn("the deadline passed: \(lag) events of node \(nodeID) (offsets \(end - lag)..<\(end) of \(node.directory)) are still only on this node; the database has not taken them (\(readiness.databaseReachable ? "it answers, the projector is behind" : "last error: \(readiness.lastError ?? "no contact yet")")). The node takes no new reservations. Run `rananeeti drain` again later, or `rananeeti replay` on this log once the database answers; keep this disk until then.")
        case .failure(let error)?:
            let end = LogDirectorySource(directory: node.directory).endOffset
            warn("the deadline passed and the node did not answer on \(address) (\(error)): up to \(end) events of node \(nodeID) may be only on this node (\(node.directory)). Check `systemctl status rananeeti`; keep this disk.")
        case nil:
            break
        }
        throw Self.deadlinePassed
    }

    private func waitForResume(deadline: ContinuousClock.Instant) async throws {
        while true {
            if case .success(let readiness) = await readiness(), readiness.intakeOpen {
                print("The node takes reservations again (/readyz: \(readiness.status)).")
                return
            }
            guard ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: min(.milliseconds(250), ContinuousClock.now.duration(to: deadline)))
        }
        warn("the node did not say it takes reservations again before the deadline; check /readyz on \(address).")
        throw Self.deadlinePassed
    }

    /// No server holds the log: project it from here, until its end or the deadline.
    private func drainWithoutServer(log: EventLog, nodeID: String, deadline: ContinuousClock.Instant) async throws {
        let end = log.endOffset
        guard database.isConfigured else {
            await log.close()
            warn("no database is configured (--database, RANANEETI_DATABASE or PG*): the \(end) events of node \(nodeID) cannot be drained.")
            throw ExitCode(1)
        }
        let logger = makeLogger(label: "rananeeti.drain", defaultLevel: .warning)
        let projector = Projector(
            source: log, node: nodeID, database: database.settings,
            configuration: Projector.Configuration(
                maximumBatchEvents: 10_000, batchDelay: .zero, failureDemoAttempts: 0,
                localDeadLetterFile: node.directory + "/dead-letters.jsonl"),
            logger: logger)
        // nil: the deadline passed first; a refusal is not a matter of time (the log disagrees with the
        // database's witness, and the message says what to do).
        let outcome = await withTaskGroup(of: Result<Void, ProjectorRefusal>?.self) { group in
            group.addTask {
                do {
                    try await projector.drain(to: end)
                    return .success(())
                } catch let refusal as ProjectorRefusal {
                    return .failure(refusal)
                } catch {
                    return nil
                }
            }
            group.addTask {
                // The deadline: a timer, not a wait for the work (the other task does the work).
                try? await Task.sleep(until: deadline)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        await log.close()
        let snapshot = projector.status.snapshot
        switch outcome {
        case .success:
            print("Drained: no server ran on \(node.directory), so this projected it; the database holds every event of node \(nodeID) (\(end) in its log).")
            return
        case .failure(let refusal):
            warn(refusal.message)
            throw ExitCode(1)
        case nil:
            break
        }
        if let checkpoint = snapshot.checkpoint {
            warn("the deadline passed: \(end - min(end, checkpoint)) events of node \(nodeID) (offsets \(checkpoint)..<\(end) of \(node.directory)) are still only on this node (last error: \(snapshot.lastError ?? "none")). Run `rananeeti drain` again later; keep this disk until then.")
        } else {
            warn("the deadline passed before the database answered (\(snapshot.lastError ?? "no contact")): none of the \(end) events of node \(nodeID) in \(node.directory) is known to be in the database. Run `rananeeti drain` again later; keep this disk until then.")
        }
        throw Self.deadlinePassed
    }
}
