import Foundation
import Glibc

/// Child processes and `/proc` for the PostgreSQL test harness.
enum PostgresProcesses {
    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts `arguments[0]` (an absolute path) in a process group of its own, so that a Ctrl-C meant for
    /// the test runner does not reach it, with all signals at their defaults and none blocked.
    ///
    /// - Parameters:
    ///   - standardInput: A descriptor to become the child's stdin, or `nil` for `/dev/null`.
    ///   - outputPath: A file that receives stdout and stderr (appended), or `nil` for `/dev/null`.
    static func spawn(_ arguments: [String], standardInput: Int32? = nil, outputPath: String? = nil) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let standardInput {
            posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, outputPath ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of ours: SwiftNIO accepts connections without close-on-exec, and a server that
        // outlives the test holding a copy of a connection would keep it open after the test's server closed
        // it (the slow-client test saw its deadlines "fail" that way).
        closeInheritedDescriptors(&actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let status = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard status == 0 else {
            throw SpawnError(description: "could not start \(arguments[0]): \(String(cString: strerror(status)))")
        }
        return pid
    }

    /// Adds "close every descriptor from 3 up" to `actions`, with glibc's
    /// `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; Debian 12 has 2.36). Looked up at run time,
    /// as the Glibc module does not export it.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
    }

    /// Runs a command to completion (blocking the calling thread) and returns its exit status.
    static func run(_ arguments: [String], outputPath: String? = nil) throws -> Int32 {
        let pid = try spawn(arguments, outputPath: outputPath)
        return waitForExit(pid)
    }

    /// Blocks until `pid` (our child) exits and returns its exit status (128 + signal when killed).
    @discardableResult
    static func waitForExit(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return exitStatus(status)
    }

    /// Returns the exit status if `pid` (our child) has exited, reaping it, or `nil` while it runs.
    static func exitStatusIfExited(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { return exitStatus(status) }
        if result < 0 && errno == ECHILD { return -1 }
        return nil
    }

    private static func exitStatus(_ status: Int32) -> Int32 {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; these are their glibc definitions.
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Every process whose parent chain leads to `root`, read from `/proc/*/stat`.
    static func descendants(of root: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let closing = stat.lastIndex(of: ")")
            else { continue }
            // "pid (comm) state ppid …"; comm may contain spaces and parentheses, so split after the last ')'.
            let fields = stat[stat.index(after: closing)...].split(separator: " ")
            guard fields.count > 1, let parent = pid_t(fields[1]) else { continue }
            children[parent, default: []].append(pid)
        }
        var result: [pid_t] = []
        var queue = [root]
        while let next = queue.popLast() {
            for child in children[next] ?? [] {
                result.append(child)
                queue.append(child)
            }
        }
        return result
    }

    /// A free TCP port on 127.0.0.1, as the kernel picks one for a socket bound to port 0.
    ///
    /// The port is free when this returns; another process could take it before the caller binds it, so
    /// callers that fail to bind retry with a new port.
    static func freeLoopbackPort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw SpawnError(description: "socket() failed: \(String(cString: strerror(errno)))") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(socket, address, length) == 0 && getsockname(socket, address, &length) == 0
            }
        }
        guard bound else { throw SpawnError(description: "bind() failed: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs blocking work on a new thread, so that it never occupies Swift's cooperative pool.
    static func onDedicatedThread<Value: Sendable>(
        _ work: @escaping @Sendable () throws -> Value
    ) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try work() })
            }
            thread.start()
        }
    }
}
