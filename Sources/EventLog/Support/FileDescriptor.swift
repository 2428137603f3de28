import Glibc

/// Thin, errno-checked wrappers over the POSIX calls the log needs.
///
/// `EINTR` is retried; short reads and writes are completed in a loop. Every other failure is returned to the
/// caller as a ``SystemError`` so that the caller, who knows what the call meant, can decide whether it is fatal.
package enum FileSystem {
    package static func open(_ path: String, flags: Int32, mode: UInt32 = 0o644) -> Result<Int32, SystemError> {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode_t(mode))
            if fd >= 0 { return .success(fd) }
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

    package static func makeDirectory(_ path: String) -> Result<Void, SystemError> {
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return .success(()) }
        return .failure(.current("mkdir \(path)"))
    }

    package static func writeWholeFile(_ path: String, _ bytes: [UInt8]) -> Result<Void, SystemError> {
        open(path, flags: O_WRONLY | O_CREAT | O_TRUNC).flatMap { fd in
            defer { close(fd) }
            return bytes.withUnsafeBytes { writeAll(fd, $0, at: 0) }
        }
    }

    /// Replaces `directory/name` with `bytes` so that a crash leaves either the old file or the new one, and
    /// the new one survives once this returns: write a temporary file (`name.tmp`, which recovery removes), fsync
    /// it, rename it over the old one, fsync the directory.
    package static func replaceFile(directory: String, name: String, with bytes: [UInt8]) -> Result<Void, SystemError> {
        let path = directory + "/" + name
        let temporary = path + ".tmp"
        let written = open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC).flatMap { fd in
            defer { close(fd) }
            return bytes.withUnsafeBytes { writeAll(fd, $0, at: 0) }.flatMap { fullSync(fd) }
        }
        if case .failure(let error) = written {
            _ = unlink(temporary)
            return .failure(error)
        }
        return rename(temporary, path).flatMap { syncDirectory(directory) }
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
