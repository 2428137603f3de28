import Glibc

/// The one-writer-per-directory lock: `flock` on `DIR/writer.lock`, holding the owner's PID for error messages.
///
/// `flock` belongs to the open file description, so it is released when the process dies, however it dies, and
/// a second open in the same process conflicts too.
package final class DirectoryLock: Sendable {
    package static let fileName = "writer.lock"
    private let fd: Int32

    private init(fd: Int32) {
        self.fd = fd
    }

    /// Takes the lock, waiting up to `patience` for a holder that is letting go (a process that is exiting;
    /// a child process briefly sharing the lock's open file between its fork and its exec).
    package static func acquire(directory: String, patience: Duration = .seconds(2)) throws -> DirectoryLock {
        let path = directory + "/" + fileName
        let fd: Int32
        switch FileSystem.open(path, flags: O_RDWR | O_CREAT) {
        case .success(let opened): fd = opened
        case .failure(let error): throw LogError.io("open the writer lock", path, error)
        }
        let giveUpAt = ContinuousClock.now + patience
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let error = SystemError.current("flock")
            if error.code == EINTR { continue }
            if error.code == EWOULDBLOCK, ContinuousClock.now < giveUpAt {
                usleep(10_000)
                continue
            }
            defer { FileSystem.close(fd) }
            if error.code == EWOULDBLOCK {
                let holder = (try? FileSystem.readWholeFile(path).get()).map {
                    String(decoding: $0, as: UTF8.self).trimmingWhitespace
                }
                throw LogError.locked(directory, holder: holder?.isEmpty == false ? holder : nil)
            }
            throw LogError.io("lock the log directory", path, error)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = FileSystem.truncate(fd, to: 0)
        _ = pid.withUnsafeBytes { FileSystem.writeAll(fd, $0, at: 0) }
        return DirectoryLock(fd: fd)
    }

    /// Releases the lock. Called once, when the writer is done.
    package func release() {
        FileSystem.close(fd)
    }
}

extension String {
    package var trimmingWhitespace: String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
