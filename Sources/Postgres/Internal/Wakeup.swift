import Glibc

/// A self-pipe that interrupts a `poll(2)` on the connection's thread from any other thread.
///
/// Task cancellation handlers run on the cancelling thread; they call ``signal()``, and the
/// connection's wait loop, which polls ``fileDescriptor`` beside the server's socket, returns at once.
final class Wakeup: Sendable {
    /// The end to poll for `POLLIN`.
    let fileDescriptor: Int32
    private let writeEnd: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        // pipe(2) can fail only for lack of descriptors; nothing sensible can run without them.
        precondition(pipe(&fds) == 0, "pipe() failed: \(String(cString: strerror(errno)))")
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
        }
        self.fileDescriptor = fds[0]
        self.writeEnd = fds[1]
    }

    deinit {
        close(self.fileDescriptor)
        close(self.writeEnd)
    }

    /// Wakes the poller. Safe from any thread, any number of times.
    func signal() {
        var byte: UInt8 = 1
        // A full pipe (EAGAIN) already means "signalled"; EINTR is retried.
        while write(self.writeEnd, &byte, 1) < 0 && errno == EINTR {}
    }

    /// Forgets earlier signals; called before each operation starts waiting.
    func drain() {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while true {
            let count = withUnsafeMutableBytes(of: &buffer) { read(self.fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 { continue }
            if count < 0 && errno == EINTR { continue }
            return
        }
    }
}
