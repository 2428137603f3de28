import Glibc

/// The files of one log directory.
package enum LogDirectory {
    /// Fails with a clear error when `path` is missing or not a directory.
    package static func check(_ path: String) throws {
        switch FileSystem.kind(of: path) {
        case .directory: return
        case .missing: throw LogError.directoryNotFound(path)
        case .other: throw LogError.notADirectory(path)
        }
    }

    /// The base offsets of the log's segment files, ascending: those from the log's start on (``LogStart``).
    /// Segments below a recorded start are leftovers of archiving that nothing reads.
    package static func segmentBases(_ path: String) throws -> [UInt64] {
        let start = try LogStart.recorded(directory: path)?.offset ?? 0
        return try allSegmentBases(path).filter { $0 >= start }
    }

    /// The base offsets of every segment file in the directory, ascending, below the log's start too.
    package static func allSegmentBases(_ path: String) throws -> [UInt64] {
        switch FileSystem.listDirectory(path) {
        case .success(let names): return names.compactMap(SegmentName.base(ofFileName:)).sorted()
        case .failure(let error): throw LogError.io("list the log directory", path, error)
        }
    }

    /// Names of leftover temporary files from an interrupted segment or index creation.
    package static func temporaryFiles(_ path: String) throws -> [String] {
        switch FileSystem.listDirectory(path) {
        case .success(let names): return names.filter { $0.hasSuffix(".tmp") }.sorted()
        case .failure(let error): throw LogError.io("list the log directory", path, error)
        }
    }

    package static func segmentPath(_ directory: String, _ base: UInt64) -> String {
        directory + "/" + SegmentName.fileName(base: base)
    }

    /// The summary of a sealed segment: from its index file when that is current, else by walking its headers
    /// (and then saving a fresh index, when the directory is writable).
    package static func sealedSummary(_ directory: String, base: UInt64) throws -> SegmentSummary {
        let path = segmentPath(directory, base)
        let fd = try openForReading(path)
        defer { FileSystem.close(fd) }
        let size = try LogDirectory.size(of: fd, path: path)
        if let summary = SegmentIndexFile.load(directory: directory, base: base, size: size) {
            return summary
        }
        let reader = BufferedFileReader(fd: fd, path: path)
        let scan: SegmentScan
        switch SegmentScanner.scan(reader, fileSize: size, base: base, expectedPreviousHash: nil, verifyHashes: false) {
        case .success(let result): scan = result
        case .failure(let error): throw LogError.io("read a segment", path, error)
        }
        switch scan.stop {
        case .cleanEnd: break
        case .tornTail(let position, let reason), .corrupt(let position, let reason):
            // A sealed segment was synced whole before the next one began: nothing in it may be torn.
            throw LogError.corrupt(path, at: position, "a sealed segment is damaged (\(reason))")
        }
        guard scan.summary.batchCount > 0 else {
            throw LogError.corrupt(path, at: 0, "a sealed segment holds no batch")
        }
        _ = SegmentIndexFile.save(scan.summary, directory: directory)
        return scan.summary
    }

    /// The size of the open segment `fd` (at `path`, for the error).
    package static func size(of fd: Int32, path: String) throws -> Int64 {
        switch FileSystem.size(fd) {
        case .success(let value): return value
        case .failure(let error): throw LogError.io("read the size of a segment", path, error)
        }
    }

    package static func openForReading(_ path: String) throws -> Int32 {
        switch FileSystem.open(path, flags: O_RDONLY) {
        case .success(let fd): return fd
        case .failure(let error): throw LogError.io("open a segment", path, error)
        }
    }
}
