import Glibc

/// Creates an empty segment file so that it, and its name in the directory, survive a crash before use.
package enum SegmentCreation {
    package enum Failure: Error {
        case recoverable(LogError)
        case fatal(LogError)
    }

    /// Creates `DIR/<base>.lz4` through a temporary name: create, fsync, rename, fsync the directory.
    /// Returns a read-write descriptor on the new segment.
    package static func create(directory: String, base: UInt64) -> Result<Int32, Failure> {
        let path = directory + "/" + SegmentName.fileName(base: base)
        let temporary = path + ".tmp"
        let fd: Int32
        switch FileSystem.open(temporary, flags: O_RDWR | O_CREAT | O_TRUNC) {
        case .success(let opened): fd = opened
        case .failure(let error):
            return .failure(classify(error, "create a new segment", temporary))
        }
        if case .failure(let error) = FileSystem.fullSync(fd) {
            FileSystem.close(fd)
            _ = FileSystem.unlink(temporary)
            return .failure(.fatal(.io("sync a new segment", temporary, error)))
        }
        if case .failure(let error) = FileSystem.rename(temporary, path) {
            FileSystem.close(fd)
            _ = FileSystem.unlink(temporary)
            return .failure(classify(error, "name a new segment", path))
        }
        if case .failure(let error) = FileSystem.syncDirectory(directory) {
            FileSystem.close(fd)
            return .failure(.fatal(.io("sync the log directory", directory, error)))
        }
        return .success(fd)
    }

    private static func classify(_ error: SystemError, _ what: String, _ path: String) -> Failure {
        error.isOutOfSpace ? .recoverable(.diskFull(path, error)) : .recoverable(.io(what, path, error))
    }
}
