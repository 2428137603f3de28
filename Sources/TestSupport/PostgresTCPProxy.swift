import Foundation
import Glibc

/// A loopback TCP forwarder that a test can turn into a black hole, for proving that no call waits past
/// its deadline when the network, not the server, fails.
///
/// It listens on a free port of 127.0.0.1 and forwards each connection to a target (a PostgreSQL
/// server). Its ``Mode`` can change at any time; ``setMode(_:)`` returns once the change has taken effect:
///
/// - ``Mode/forward``: bytes flow both ways (connections parked by a black hole resume).
/// - ``Mode/blackHole``: connections are accepted and kept, but no byte moves in either direction — like a
///   network path that silently drops everything, or an Aurora writer that vanished mid-failover. Clients'
///   writes succeed (the kernel buffers them); their reads never return.
/// - ``Mode/refuse``: the listening socket is closed, so new connections are refused (`ECONNREFUSED`),
///   and open ones are reset.
///
/// One thread runs the proxy with `poll(2)`; ``close()`` (or deinit) stops it and closes every socket.
public final class TCPProxy: Sendable {
    /// What the proxy does with connections.
    public enum Mode: Sendable, Equatable {
        /// Forward bytes both ways.
        case forward
        /// Accept and hold connections; forward nothing.
        case blackHole
        /// Refuse new connections and reset open ones.
        case refuse
    }

    /// The port the proxy listens on (127.0.0.1).
    public let port: Int
    /// Where connections are forwarded.
    public let targetHost: String
    /// Where connections are forwarded.
    public let targetPort: Int

    private let control: ProxyControl

    /// Starts a proxy to `targetHost:targetPort` (IPv4) in `mode`.
    public init(targetHost: String = "127.0.0.1", targetPort: Int, mode: Mode = .forward) throws {
        self.targetHost = targetHost
        self.targetPort = targetPort
        let listener = try ProxyLoop.listen(port: 0)
        self.port = listener.port
        self.control = ProxyControl(mode: mode)
        let loop = ProxyLoop(
            control: self.control, listenFD: listener.fd, port: listener.port,
            target: (targetHost, targetPort))
        self.control.start(loop)
        self.control.set(mode)
    }

    /// Runs `body` with a proxy and closes it however `body` ends.
    public static func withProxy<Result>(
        targetHost: String = "127.0.0.1",
        targetPort: Int,
        mode: Mode = .forward,
        _ body: (TCPProxy) async throws -> Result
    ) async throws -> Result {
        let proxy = try TCPProxy(targetHost: targetHost, targetPort: targetPort, mode: mode)
        defer { proxy.close() }
        return try await body(proxy)
    }

    deinit {
        self.control.stop()
    }

    /// The current mode.
    public var mode: Mode { self.control.mode }

    /// Changes the mode and returns once the proxy's thread has applied it.
    public func setMode(_ mode: Mode) {
        self.control.set(mode)
    }

    /// The number of client connections the proxy holds (forwarded or parked).
    public var connectionCount: Int { self.control.connectionCount }

    /// Stops the proxy: closes every connection and the listener, and waits for its thread to exit.
    public func close() {
        self.control.stop()
    }
}

/// The state shared between the test's threads and the proxy's thread.
private final class ProxyControl: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is guarded by `condition`.
    private let condition = NSCondition()
    private var requestedMode: TCPProxy.Mode
    private var appliedGeneration = 0
    private var requestedGeneration = 0
    private var stopRequested = false
    private var stopped = false
    private var connections = 0
    private var wakeWrite: Int32 = -1
    private(set) var wakeRead: Int32 = -1

    init(mode: TCPProxy.Mode) {
        self.requestedMode = mode
        var fds: [Int32] = [-1, -1]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        self.wakeRead = fds[0]
        self.wakeWrite = fds[1]
    }

    func start(_ loop: ProxyLoop) {
        let thread = Thread { loop.run() }
        thread.name = "tcp-proxy"
        thread.start()
    }

    var mode: TCPProxy.Mode {
        self.condition.withLock { self.requestedMode }
    }

    var connectionCount: Int {
        self.condition.withLock { self.connections }
    }

    func set(_ mode: TCPProxy.Mode) {
        self.condition.lock()
        defer { self.condition.unlock() }
        guard !self.stopped else { return }
        self.requestedMode = mode
        self.requestedGeneration += 1
        let generation = self.requestedGeneration
        self.wake()
        while self.appliedGeneration < generation && !self.stopped {
            self.condition.wait()
        }
    }

    func stop() {
        self.condition.lock()
        defer { self.condition.unlock() }
        guard !self.stopped else { return }
        self.stopRequested = true
        self.wake()
        while !self.stopped {
            self.condition.wait()
        }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(self.wakeWrite, &byte, 1)
    }

    // Called by the loop.

    /// The mode to apply, its generation, and whether to stop.
    func read() -> (mode: TCPProxy.Mode, generation: Int, stop: Bool) {
        self.condition.withLock { (self.requestedMode, self.requestedGeneration, self.stopRequested) }
    }

    func applied(generation: Int, connections: Int) {
        self.condition.withLock {
            self.appliedGeneration = max(self.appliedGeneration, generation)
            self.connections = connections
            self.condition.broadcast()
        }
    }

    func finished() {
        self.condition.withLock {
            close(self.wakeRead)
            close(self.wakeWrite)
            self.stopped = true
            self.condition.broadcast()
        }
    }
}

/// The proxy's event loop; runs on its own thread and owns every socket.
private final class ProxyLoop: @unchecked Sendable {
    // @unchecked Sendable: handed to the proxy thread once and used only there.
    private final class Pair {
        let client: Int32
        var upstream: Int32 = -1
        var toUpstream: [UInt8] = []
        var toClient: [UInt8] = []
        var closing = false
        init(client: Int32) { self.client = client }
    }

    private let control: ProxyControl
    private var listenFD: Int32
    private let port: Int
    private let target: (host: String, port: Int)
    private var pairs: [Pair] = []
    private var mode: TCPProxy.Mode = .forward

    init(control: ProxyControl, listenFD: Int32, port: Int, target: (String, Int)) {
        self.control = control
        self.listenFD = listenFD
        self.port = port
        self.target = target
    }

    static func listen(port: Int) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = ProxyLoop.loopback(port: port)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && Glibc.listen(fd, 128) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw HarnessError("could not listen on 127.0.0.1:\(port): \(message)")
        }
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    private static func loopback(port: Int, host: String = "127.0.0.1") -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = UInt16(port).bigEndian
        return address
    }

    func run() {
        while true {
            let (mode, generation, stop) = self.control.read()
            if stop { break }
            self.apply(mode)
            self.control.applied(generation: generation, connections: self.pairs.count)

            var descriptors = [pollfd(fd: self.control.wakeRead, events: Int16(POLLIN), revents: 0)]
            if self.listenFD >= 0 {
                descriptors.append(pollfd(fd: self.listenFD, events: Int16(POLLIN), revents: 0))
            }
            let polled = self.mode == .forward ? self.pairs.filter { $0.upstream >= 0 } : []
            do {
                for pair in polled {
                    var clientEvents: Int16 = 0
                    var upstreamEvents: Int16 = 0
                    if !pair.closing && pair.toUpstream.isEmpty { clientEvents |= Int16(POLLIN) }
                    if !pair.toClient.isEmpty { clientEvents |= Int16(POLLOUT) }
                    if !pair.closing && pair.toClient.isEmpty { upstreamEvents |= Int16(POLLIN) }
                    if !pair.toUpstream.isEmpty { upstreamEvents |= Int16(POLLOUT) }
                    descriptors.append(pollfd(fd: pair.client, events: clientEvents, revents: 0))
                    descriptors.append(pollfd(fd: pair.upstream, events: upstreamEvents, revents: 0))
                }
            }
            let ready = poll(&descriptors, nfds_t(descriptors.count), -1)
            if ready < 0 { continue }  // EINTR

            var drain = [UInt8](repeating: 0, count: 64)
            while Glibc.read(self.control.wakeRead, &drain, drain.count) > 0 {}

            // The mode may have changed while polling: re-read it before moving any byte.
            let current = self.control.read()
            if current.stop { break }
            if current.mode != self.mode { continue }

            var index = 1
            if self.listenFD >= 0 {
                if descriptors[index].revents != 0 { self.acceptAll() }
                index += 1
            }
            do {
                for pair in polled {
                    let clientEvents = descriptors[index].revents
                    let upstreamEvents = descriptors[index + 1].revents
                    index += 2
                    self.service(pair, clientEvents: clientEvents, upstreamEvents: upstreamEvents)
                }
            }
            self.pairs.removeAll { pair in
                let done = pair.closing && pair.toClient.isEmpty && pair.toUpstream.isEmpty
                if done { self.closePair(pair, reset: false) }
                return done
            }
        }
        for pair in self.pairs { self.closePair(pair, reset: false) }
        self.pairs.removeAll()
        if self.listenFD >= 0 { close(self.listenFD) }
        self.control.finished()
    }

    private func apply(_ mode: TCPProxy.Mode) {
        defer { self.mode = mode }
        switch mode {
        case .refuse:
            if self.listenFD >= 0 {
                close(self.listenFD)
                self.listenFD = -1
            }
            for pair in self.pairs { self.closePair(pair, reset: true) }
            self.pairs.removeAll()
        case .forward, .blackHole:
            if self.listenFD < 0 {
                self.listenFD = (try? ProxyLoop.listen(port: self.port).fd) ?? -1
            }
            if mode == .forward {
                for pair in self.pairs where pair.upstream < 0 {
                    self.connectUpstream(pair)
                }
                self.pairs.removeAll { pair in
                    let failed = pair.upstream < 0
                    if failed { self.closePair(pair, reset: true) }
                    return failed
                }
            }
        }
    }

    private func acceptAll() {
        while true {
            // accept4(SOCK_CLOEXEC) is not exposed by the Glibc module; the flag is set right after.
            let client = accept(self.listenFD, nil, nil)
            if client < 0 { return }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            _ = fcntl(client, F_SETFL, O_NONBLOCK)
            let pair = Pair(client: client)
            if self.mode == .forward {
                self.connectUpstream(pair)
                if pair.upstream < 0 {
                    self.closePair(pair, reset: true)
                    continue
                }
            }
            self.pairs.append(pair)
        }
    }

    /// Connects to the target; a loopback connect completes or fails at once, so it is done blocking.
    private func connectUpstream(_ pair: Pair) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        var address = ProxyLoop.loopback(port: self.target.port, host: self.target.host)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            return
        }
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        pair.upstream = fd
    }

    private func service(_ pair: Pair, clientEvents: Int16, upstreamEvents: Int16) {
        let readable = Int16(POLLIN | POLLHUP | POLLERR)
        if clientEvents & readable != 0, !pair.closing, pair.toUpstream.isEmpty {
            if !self.receive(from: pair.client, into: &pair.toUpstream) { pair.closing = true }
        }
        if upstreamEvents & readable != 0, !pair.closing, pair.toClient.isEmpty {
            if !self.receive(from: pair.upstream, into: &pair.toClient) { pair.closing = true }
        }
        if !self.send(&pair.toUpstream, to: pair.upstream) || !self.send(&pair.toClient, to: pair.client) {
            pair.closing = true
            pair.toClient.removeAll()
            pair.toUpstream.removeAll()
        }
    }

    /// Reads what is available; returns false at end of file or on an error.
    private func receive(from fd: Int32, into buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = Glibc.read(fd, &chunk, chunk.count)
        if count > 0 {
            buffer.append(contentsOf: chunk[0..<count])
            return true
        }
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return true }
        return false
    }

    /// Writes what it can; returns false on an error.
    private func send(_ buffer: inout [UInt8], to fd: Int32) -> Bool {
        guard !buffer.isEmpty else { return true }
        let count = buffer.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if count > 0 {
            buffer.removeFirst(count)
            return true
        }
        return count < 0 && (errno == EAGAIN || errno == EINTR)
    }

    private func closePair(_ pair: Pair, reset: Bool) {
        for fd in [pair.client, pair.upstream] where fd >= 0 {
            if reset {
                // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            close(fd)
        }
    }
}
