import Foundation
import Glibc
import Logging
import ServiceLifecycle

/// systemd's notification protocol (`sd_notify(3)`), without linking libsystemd: one datagram per message to
/// the Unix socket named by `NOTIFY_SOCKET` (a leading `@` means the abstract namespace).
struct SystemdNotifier: Sendable {
    let socketPath: String
    /// How often systemd wants `WATCHDOG=1` at the latest (`WATCHDOG_USEC`), when it watches this process.
    let watchdogInterval: Duration?

    /// The notifier systemd asked for in the environment, or nil when the process was not started by systemd
    /// with `Type=notify` (then nothing is sent).
    static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> SystemdNotifier? {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty, path.utf8.count < 108 else { return nil }
        var interval: Duration?
        // WATCHDOG_PID names the process meant; absent means this one.
        if let micros = environment["WATCHDOG_USEC"].flatMap(Int64.init), micros > 0,
            environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true
        {
            interval = .microseconds(micros)
        }
        return SystemdNotifier(socketPath: path, watchdogInterval: interval)
    }

    /// Sends `message` (such as `READY=1`); false when it could not be sent (systemd then acts on its timeouts).
    @discardableResult
    func send(_ message: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count)
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        return sent == bytes.count
    }
}

/// Tells systemd when the node is up (`READY=1`, so that `Type=notify` units start only once the site
/// answers), that it is still alive (`WATCHDOG=1`, so that a process that stops answering is restarted by
/// `WatchdogSec=`), and when it is stopping (`STOPPING=1`).
///
/// Alive means more than "the process exists": each ping follows a real `GET /healthz` through the node's own
/// listener, so a wedged event loop or a stuck router stops the pings.
struct SystemdWatchdog: Service {
    let notifier: SystemdNotifier
    let host: String
    let port: Int
    let logger: Logger

    func run() async throws {
        let interval = notifier.watchdogInterval
        // Ping at half the interval, as sd_watchdog_enabled(3) advises; each check may take a quarter of it.
        let period = interval.map { $0 / 2 } ?? .seconds(1)
        let checkTimeout = interval.map { max(.milliseconds(500), $0 / 4) } ?? .seconds(2)
        await cancelWhenGracefulShutdown {
            var ready = false
            while !Task.isCancelled {
                let answered: Bool
                do {
                    answered = try await LocalHTTP.get(
                        host: LocalHTTP.loopback(for: host), port: port, path: "/healthz", timeout: checkTimeout
                    ).status == 200
                } catch {
                    answered = false
                    if ready { logger.warning("the node did not answer its own health check", metadata: ["error": "\(error)"]) }
                }
                if answered {
                    if !ready {
                        ready = notifier.send("READY=1\nSTATUS=taking reservations")
                    } else if interval != nil {
                        notifier.send("WATCHDOG=1")
                    }
                }
                // Until ready, look again soon: systemd waits for READY=1 (TimeoutStartSec bounds the wait).
                try? await Task.sleep(for: ready ? period : .milliseconds(100))
                if ready && interval == nil { break }
            }
        }
        // Either shutting down, or ready with no watchdog to feed: say so once shutting down.
        try? await gracefulShutdown()
        notifier.send("STOPPING=1")
    }
}
