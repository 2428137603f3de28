import Foundation
import Glibc
import Postgres
import Testing
import TestSupport

/// `rananeeti drain` against a real `serve` process and a real PostgreSQL that is stopped and started again;
/// `serve` under a systemd-like notification socket.
@Suite("Retiring a node: drain, and serve's systemd notifications", .timeLimit(.minutes(5)))
struct DrainCommandTests {
    let binary: String

    init() throws {
        binary = try BuiltProducts.executable("rananeeti")
    }

    func rananeeti(_ arguments: [String], environment: [String: String]? = nil) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(binary, arguments, environment: environment)
        let status = await child.wait()
        return (status, child.text)
    }

    @Test("with the database down drain says how many events are only on this node (75); once it is back, 0; the node refuses new reservations meanwhile")
    func drainThroughAnOutage() async throws {
        try await PostgresServer.withServer { server in
            let database = try await server.createDatabase()
            #expect(try await rananeeti(["db", "migrate", "--database", database]).status == 0)
            try await withTemporaryDirectory { dir in
                let logPath = dir.appending("log")
                let port = try freeTCPPort()
                let node = try ServeProcess(
                    binary: binary,
                    arguments: ["--listen", "127.0.0.1:\(port)", "--data-dir", logPath, "--node-id", "drain-node", "--database", database + " connect_timeout=2"],
                    port: port)
                defer { node.child.kill(SIGKILL) }
                try await node.waitUntil("ready") { $0.status == 200 }

                for index in 0..<3 {
                    #expect(try node.post(reservation(index)).status == 201)
                }
                try await node.waitUntil("projected") { ($0.json?["projection"] as? [String: Any])?["lagEvents"] as? Int == 0 }

                try await server.stop(mode: .fast)
                for index in 3..<5 {
                    #expect(try node.post(reservation(index)).status == 201)
                }
                // drain finds the operator listener through DATA_DIR/operator-listen.
                let drain = ["drain", "--data-dir", logPath]
                // The orphan job's way: a log that a server runs is left alone.
                let offline = try await rananeeti(drain + ["--offline", "--deadline-seconds", "2"])
                #expect(offline.status == 1, "\(offline.output)")
                #expect(offline.output.contains("with --offline nothing was done"), "\(offline.output)")
                #expect(try node.get("/readyz").status == 200)
                let refused = try await rananeeti(drain + ["--deadline-seconds", "2"])
                #expect(refused.status == 75, "\(refused.output)")
                #expect(refused.output.contains("2 events of node drain-node (offsets 3..<5"), "\(refused.output)")

                // Retired: unready for the load balancer, new reservations refused, known ones still answered.
                let readiness = try node.get("/readyz")
                #expect(readiness.status == 503)
                #expect(readiness.json?["status"] as? String == "draining")
                let newOne = try node.post(reservation(9))
                #expect(newOne.status == 503)
                #expect(newOne.json?["type"] as? String == "/api/v1/problems/node-draining")
                #expect(try node.post(reservation(4)).status == 200)

                try await server.start()
                let drained = try await rananeeti(drain + ["--deadline-seconds", "120"])
                #expect(drained.status == 0, "\(drained.output)\n\(node.child.text)")
                #expect(drained.output.contains("Drained"))
                #expect(try await rowCount(database) == 5)

                let resumed = try await rananeeti(drain + ["--resume", "--deadline-seconds", "30"])
                #expect(resumed.status == 0, "\(resumed.output)")
                #expect(try node.get("/readyz").status == 200)
                #expect(try node.post(reservation(9)).status == 201)

                node.child.kill(SIGTERM)
                #expect(await node.child.wait() == 0, "\(node.child.text)")
                #expect(node.child.text.contains("draining: this node takes no new reservations"))
            }
        }
    }

    @Test("with no server on the log, drain projects it itself, within its deadline")
    func drainWithoutServer() async throws {
        let database = try await PostgresServer.shared().createDatabase()
        #expect(try await rananeeti(["db", "migrate", "--database", database]).status == 0)
        try await withTemporaryDirectory { dir in
            let logPath = dir.appending("log")
            let input = dir.appending("input.jsonl")
            try (0..<4).map { #"{"name": "Guest \#($0)", "people": 2, "datetime": "2030-03-0\#($0 + 1)T19:00"}"# }
                .joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
            _ = try runTool("/bin/sh", ["-c", "'\(binary)' log append '\(logPath)' --node-id offline-node < '\(input)'"])

            let unreachable = try await rananeeti(
                ["drain", "--data-dir", logPath, "--deadline-seconds", "2", "--database", "host=127.0.0.1 port=1 connect_timeout=1"])
            #expect(unreachable.status == 75, "\(unreachable.output)")
            #expect(unreachable.output.contains("none of the 4 events of node offline-node"), "\(unreachable.output)")

            let drained = try await rananeeti(["drain", "--data-dir", logPath, "--deadline-seconds", "120", "--database", database])
            #expect(drained.status == 0, "\(drained.output)")
            #expect(try await rowCount(database) == 4)
        }
    }

    @Test("drain signals only a serve: a projector holding the log is left alone")
    func refusesOtherHolders() async throws {
        let database = try await PostgresServer.shared().createDatabase()
        #expect(try await rananeeti(["db", "migrate", "--database", database]).status == 0)
        try await withTemporaryDirectory { dir in
            let logPath = dir.appending("log")
            _ = try runTool("/bin/sh", ["-c", "echo '{\"name\": \"Ann\", \"people\": 2, \"datetime\": \"2030-01-01T19:00\"}' | '\(binary)' log append '\(logPath)' --node-id held-node"])
            let projector = try ChildProcess(binary, ["project", "--data-dir", logPath, "--database", database], environment: ["RANANEETI_LOG_LEVEL": "info"])
            defer { projector.kill(SIGKILL) }
            let deadline = ContinuousClock.now + TestTiming.patience
            while !projector.text.contains("projecting"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let refused = try await rananeeti(["drain", "--data-dir", logPath, "--deadline-seconds", "5"])
            #expect(refused.status == 1)
            #expect(refused.output.contains("not by a `rananeeti serve`"), "\(refused.output)")
            #expect(projector.process.isRunning)
            projector.kill(SIGTERM)
            #expect(await projector.wait() == 0)
        }
    }

    @Test("under systemd, serve says READY=1 once the site answers, feeds the watchdog, and says STOPPING=1")
    func systemdNotifications() async throws {
        try await withTemporaryDirectory { dir in
            let socketPath = dir.appending("notify.sock")
            let listener = try NotifySocket(path: socketPath)
            let port = try freeTCPPort()
            let node = try ServeProcess(
                binary: binary, arguments: ["--listen", "127.0.0.1:\(port)", "--data-dir", dir.appending("log"), "--node-id", "notify-node"],
                port: port, environment: ["NOTIFY_SOCKET": socketPath, "WATCHDOG_USEC": "400000"])
            defer { node.child.kill(SIGKILL) }
            let ready = try await listener.receive(within: TestTiming.patience)
            #expect(ready.hasPrefix("READY=1"), "\(ready)")
            // Not before the site answers.
            #expect(try node.get("/healthz").status == 200)
            #expect(try await listener.receive(within: TestTiming.patience) == "WATCHDOG=1")
            #expect(try await listener.receive(within: TestTiming.patience) == "WATCHDOG=1")
            node.child.kill(SIGTERM)
            var message = ""
            while message != "STOPPING=1" { message = try await listener.receive(within: TestTiming.patience) }
            #expect(await node.child.wait() == 0, "\(node.child.text)")
        }
    }

    @Test("serve refuses a rate limit or trusted proxy it cannot read, and says what it expects")
    func rateLimitSettingsValidated() async throws {
        let bad = try await rananeeti(["serve", "--post-rate-limit", "fast", "--data-dir", "/nonexistent/x"])
        #expect(bad.status != 0)
        #expect(bad.output.contains("RATE[/BURST]"), "\(bad.output)")
        let proxy = try await rananeeti(["serve", "--post-rate-limit", "5/20", "--trusted-proxy", "10.0.0.0/99", "--data-dir", "/nonexistent/x"])
        #expect(proxy.status != 0)
        #expect(proxy.output.contains("is not an IP address or CIDR"), "\(proxy.output)")
    }

    private func reservation(_ index: Int) -> String {
        #"{"name": "Drain \#(index)", "people": 2, "datetime": "2030-04-0\#(index % 9 + 1)T19:00"}"#
    }

    private func rowCount(_ database: String) async throws -> Int {
        try await PostgresConnection.withConnection(database) { connection in
            try await connection.query("SELECT count(*) FROM cafe.ordersraw")[0].decode(Int.self, column: 0)
        }
    }
}

/// A `rananeeti serve` child on a known port, spoken to with curl.
struct ServeProcess {
    let child: ChildProcess
    let port: Int
    /// The data directory, where serve writes its operator listener's address.
    let dataDirectory: String

    struct Answer {
        var status: Int
        var body: String
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }
    }

    /// Starts `serve` with `arguments` (which name `--data-dir`), its operator listener on a free port.
    init(binary: String, arguments: [String], port: Int, environment: [String: String] = [:]) throws {
        child = try ChildProcess(
            binary, ["serve", "--operator-listen", "127.0.0.1:0"] + arguments,
            environment: ["RANANEETI_LOG_LEVEL": "info"].merging(environment) { $1 })
        self.port = port
        dataDirectory = arguments[arguments.firstIndex(of: "--data-dir")! + 1]
    }

    func get(_ path: String) throws -> Answer {
        try curl(["http://127.0.0.1:\(port)\(path)"])
    }

    /// A GET on the operator listener (its address from DATA_DIR/operator-listen).
    func operatorGet(_ path: String) throws -> Answer {
        guard let address = try? String(contentsOfFile: dataDirectory + "/operator-listen", encoding: .utf8) else {
            throw TestFailure("serve has not written its operator address yet")
        }
        return try curl(["http://\(address.trimmingCharacters(in: .whitespacesAndNewlines))\(path)"])
    }

    func post(_ json: String) throws -> Answer {
        try curl(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", json, "http://127.0.0.1:\(port)/api/v1/reservations"])
    }

    /// Asks the operator listener's `/readyz` until `condition` holds, for at most ``TestTiming/patience``.
    func waitUntil(_ what: String, _ condition: (Answer) -> Bool) async throws {
        let deadline = ContinuousClock.now + TestTiming.patience
        var last: Answer?
        while ContinuousClock.now < deadline {
            if let answer = try? operatorGet("/readyz") {
                last = answer
                if condition(answer) { return }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("the node was not \(what) within \(TestTiming.patience): \(last.map { "\($0.status) \($0.body)" } ?? "no answer")\n\(child.text)")
    }

    private func curl(_ arguments: [String]) throws -> Answer {
        let output = try runTool("/usr/bin/curl", ["-s", "--max-time", "10", "-w", "\n%{http_code}"] + arguments)
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        guard let status = lines.last.flatMap({ Int($0) }), status > 0 else { throw TestFailure("no HTTP answer: \(output)") }
        return Answer(status: status, body: lines.dropLast().joined(separator: "\n"))
    }
}

/// A port that was free a moment ago.
func freeTCPPort() throws -> Int {
    guard let port = LoopbackTCP.freePort() else { throw TestFailure("no free port on 127.0.0.1: \(errno)") }
    return port
}

/// The receiving end of `NOTIFY_SOCKET`: a Unix datagram socket, as systemd listens on.
final class NotifySocket: @unchecked Sendable {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestFailure("bind \(path): \(errno)") }
    }

    deinit { close(fd) }

    /// The next datagram, waiting at most `timeout` (on a thread: poll blocks).
    func receive(within timeout: Duration) async throws -> String {
        let fd = fd
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let milliseconds = Int32(clamping: timeout.components.seconds * 1000)
                guard poll(&poller, 1, milliseconds) == 1 else {
                    continuation.resume(throwing: TestFailure("no notification within \(timeout)"))
                    return
                }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                continuation.resume(returning: n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : "")
            }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
