import Glibc

/// Thin, errno-checked wrappers over the POSIX calls the log needs.
///
/// `EINTR` is retried; short reads and writes are completed in a loop. Every other failure is returned to the
/// caller as a ``SystemError`` so that the caller, who knows what the call meant, can decide whether it is fatal.
package enum FileSystem {
    /// The mode of every file the service writes: its owner reads and writes, its group (auditors, backups)
    /// reads, nobody else; and of its directories, 0750. Set explicitly, whatever the process's umask.
    package static let fileMode: UInt32 = 0o640
    package static let directoryMode: UInt32 = 0o750

    /// Opens `path`; a file that `O_CREAT` may have created gets exactly `mode` (the umask is not applied).
    package static func open(_ path: String, flags: Int32, mode: UInt32 = fileMode) -> Result<Int32, SystemError> {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode_t(mode))
            if fd >= 0 {
                if flags & O_CREAT != 0, fchmod(fd, mode_t(mode)) != 0 {
                    let error = SystemError.current("fchmod \(path)")
                    Glibc.close(fd)
                    return .failure(error)
                }
                return .success(fd)
            }
            if errno == EINTR { continue }
            return .failure(.current("open \(path)"))
        }
    }

    package static func close(_ fd: Int32) {
        // POSIX leaves the descriptor state unspecified after EINTR from close; Linux always releases it, so a
        // retry could close a descriptor another thread just received. Never retry.
        _ = Glibc.close(fd)
    }

    /// Writes all of `bytes` at `offset`. On failure, some prefix may have been written: the caller must truncate.
    package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) -> Result<Void, SystemError> {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n > 0 {
                done += n
            } else if n < 0 && errno == EINTR {
                continue
            } else if n == 0 {
                // A zero-byte write of a non-empty buffer means the device accepts nothing more.
                return .failure(SystemError(code: ENOSPC, operation: "pwrite"))
            } else {
                return .failure(.current("pwrite"))
            }
        }
        return .success(())
    }

    /// Reads up to `count` bytes at `offset` into `buffer`; returns how many were read (short only at end of file).
    package static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Result<Int, SystemError> {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n > 0 {
                done += n
            } else if n == 0 {
                break
            } else if errno == EINTR {
                continue
            } else {
                return .failure(.current("pread"))
            }
        }
        return .success(done)
    }

    package static func dataSync(_ fd: Int32) -> Result<Void, SystemError> {
        while true {
            if fdatasync(fd) == 0 { return .success(()) }
            if errno == EINTR { continue }
            return .failure(.current("fdatasync"))
        }
    }

    package static func fullSync(_ fd: Int32) -> Result<Void, SystemError> {
        while true {
            if fsync(fd) == 0 { return .success(()) }
            if errno == EINTR { continue }
            return .failure(.current("fsync"))
        }
    }

    package static func truncate(_ fd: Int32, to length: Int64) -> Result<Void, SystemError> {
        while true {
            if ftruncate(fd, off_t(length)) == 0 { return .success(()) }
            if errno == EINTR { continue }
            return .failure(.current("ftruncate"))
        }
    }

    package static func size(_ fd: Int32) -> Result<Int64, SystemError> {
        var info = stat()
        if fstat(fd, &info) != 0 { return .failure(.current("fstat")) }
        return .success(Int64(info.st_size))
    }

    package static func rename(_ from: String, _ to: String) -> Result<Void, SystemError> {
        if Glibc.rename(from, to) == 0 { return .success(()) }
        return .failure(.current("rename \(from) -> \(to)"))
    }

    /// Makes a directory entry change (a create or a rename) durable: fsync of the directory itself.
    package static func syncDirectory(_ path: String) -> Result<Void, SystemError> {
        open(path, flags: O_RDONLY | O_DIRECTORY).flatMap { fd in
            defer { close(fd) }
            return fullSync(fd)
        }
    }

    package static func unlink(_ path: String) -> Result<Void, SystemError> {
        if Glibc.unlink(path) == 0 || errno == ENOENT { return .success(()) }
        return .failure(.current("unlink \(path)"))
    }

    /// Names in a directory, without `.` and `..`.
    package static func listDirectory(_ path: String) -> Result<[String], SystemError> {
        guard let dir = opendir(path) else { return .failure(.current("opendir \(path)")) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }

    package enum EntryKind { case missing, directory, other }

    package static func kind(of path: String) -> EntryKind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        return (info.st_mode & S_IFMT) == S_IFDIR ? .directory : .other
    }

    /// The directory that holds `path`'s entry: `"."` for a bare name, `"/"` for a name at the root.
    package static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// Makes a directory of mode 0750 (whatever the umask); one that is there already is left as it is.
    package static func makeDirectory(_ path: String) -> Result<Void, SystemError> {
        if mkdir(path, mode_t(directoryMode)) == 0 {
            if chmod(path, mode_t(directoryMode)) == 0 { return .success(()) }
            return .failure(.current("chmod \(path)"))
        }
        if errno == EEXIST { return .success(()) }
        return .failure(.current("mkdir \(path)"))
    }

    package static func writeWholeFile(_ path: String, _ bytes: [UInt8]) -> Result<Void, SystemError> {
        open(path, flags: O_WRONLY | O_CREAT | O_TRUNC).flatMap { fd in
            defer { close(fd) }
            return bytes.withUnsafeBytes { writeAll(fd, $0, at: 0) }
        }
    }

    /// Replaces `directory/name` with `bytes` (see `writeDurably`); the temporary file is `name.tmp`, which
    /// recovery removes.
    package static func replaceFile(directory: String, name: String, with bytes: [UInt8]) -> Result<Void, SystemError> {
        writeDurably(directory + "/" + name, bytes)
    }

    /// Replaces `path` with `bytes` so that a crash or a power cut leaves the old content or the new, whole: a
    /// temporary file is written and synced, renamed over `path`, and the directory synced. The file gets
    /// exactly `mode`.
    package static func writeDurably(_ path: String, _ bytes: [UInt8], mode: UInt32 = fileMode) -> Result<Void, SystemError> {
        let temporary = path + ".tmp"
        let written = open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: mode).flatMap { fd in
            defer { close(fd) }
            return bytes.withUnsafeBytes { writeAll(fd, $0, at: 0) }.flatMap { fullSync(fd) }
        }
        let result = written.flatMap { rename(temporary, path) }.flatMap { syncDirectory(parentDirectory(of: path)) }
        if case .failure = result { _ = unlink(temporary) }
        return result
    }

    package static func readWholeFile(_ path: String) -> Result<[UInt8], SystemError> {
        open(path, flags: O_RDONLY).flatMap { fd in
            defer { close(fd) }
            return size(fd).flatMap { length in
                var bytes = [UInt8](repeating: 0, count: Int(length))
                return bytes.withUnsafeMutableBytes { read(fd, into: $0, at: 0) }.map { n in
                    bytes.removeLast(bytes.count - n)
                    return bytes
                }
            }
        }
    }
}
