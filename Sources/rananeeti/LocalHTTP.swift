import Foundation
import Glibc

/// A minimal HTTP/1.1 GET for the node's own endpoints (`/readyz`, `/healthz`) on this host: `drain` reads the
/// node's readiness and the watchdog checks that the server answers. Blocking sockets with one deadline for
/// the whole exchange, on a thread of its own; no TLS, no redirects, no chunked bodies (the server sends a
/// `Content-Length` and closes, as asked).
enum LocalHTTP {
    struct Response: Sendable {
        var status: Int
        var body: [UInt8]
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The largest answer read; `/readyz` is a few hundred bytes.
    static let maximumResponseBytes = 1 << 20

    /// GETs `path` from `host:port`, within `timeout` for connecting, sending and reading together.
    static func get(host: String, port: Int, path: String, timeout: Duration) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            // A blocking exchange must not hold one of the cooperative pool's few threads.
            Thread.detachNewThread {
                continuation.resume(with: Result { try getBlocking(host: host, port: port, path: path, timeout: timeout) })
            }
        }
    }

    /// The address a client on this host uses for a server listening on `host`: a wildcard listens on loopback too.
    static func loopback(for host: String) -> String {
        switch host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::", "[::]": "::1"
        default: host
        }
    }

    private static func getBlocking(host: String, port: Int, path: String, timeout: Duration) throws -> Response {
        let deadline = ContinuousClock.now + timeout
        let fd = try connect(host: host, port: port, deadline: deadline)
        defer { close(fd) }
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nConnection: close\r\nAccept: application/json\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            try wait(fd, for: Int16(POLLOUT), until: deadline, doing: "send the request")
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw Failure(description: "could not send to \(hostHeader): \(String(cString: strerror(errno)))")
            }
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            try wait(fd, for: Int16(POLLIN), until: deadline, doing: "read the answer")
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw Failure(description: "could not read from \(hostHeader): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            received.append(contentsOf: buffer[0..<n])
            guard received.count <= maximumResponseBytes else {
                throw Failure(description: "the answer from \(hostHeader) is larger than \(maximumResponseBytes) bytes")
            }
            if let response = parse(received, complete: false) { return response }
        }
        guard let response = parse(received, complete: true) else {
            throw Failure(description: "\(hostHeader) did not answer with HTTP")
        }
        return response
    }

    /// The response in `bytes`, once its head and (by `Content-Length`, or the end of the stream) body are there.
    private static func parse(_ bytes: [UInt8], complete: Bool) -> Response? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let headEnd = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            return nil
        }
        let head = String(decoding: bytes[..<headEnd], as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else { return nil }
        let body = Array(bytes[(headEnd + 4)...])
        let length = lines.dropFirst().compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }.first
        if let length {
            return body.count >= length ? Response(status: status, body: Array(body.prefix(length))) : nil
        }
        return complete ? Response(status: status, body: body) : nil
    }

    private static func connect(host: String, port: Int, deadline: ContinuousClock.Instant) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw Failure(description: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(first) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { continue }
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
            guard errno == EINPROGRESS else {
                lastError = String(cString: strerror(errno))
                close(fd)
                continue
            }
            do {
                try wait(fd, for: Int16(POLLOUT), until: deadline, doing: "connect")
            } catch {
                close(fd)
                throw error
            }
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
            if socketError == 0 { return fd }
            lastError = String(cString: strerror(socketError))
            close(fd)
        }
        throw Failure(description: "cannot connect to \(host):\(port): \(lastError)")
    }

    private static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant, doing what: String) throws {
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw Failure(description: "timed out trying to \(what)") }
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            var poller = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&poller, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0, errno != EINTR { throw Failure(description: "poll failed: \(String(cString: strerror(errno)))") }
        }
    }
}
