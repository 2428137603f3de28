import Glibc

/// Removing a log's oldest segments once they are kept elsewhere (an archive): the mechanics, not the policy.
///
/// The order is what makes a crash at any point harmless (`docs/LOG_FORMAT.md`, "Where a log starts"):
///
/// 1. the start record is moved forward to the first segment kept (``LogStart/advance(directory:to:)``:
///    temporary file, fsync, rename, fsync of the directory);
/// 2. the segment files below it, and their index files, are unlinked;
/// 3. the directory is fsync'd, so that the removals are durable.
///
/// A crash after (1) leaves segments below the start: every reader, writer and verifier ignores them, and the
/// next removal deletes them. A crash before (1) changes nothing. The start record never names a segment that
/// is not there, because it is moved before anything is deleted and only to a segment that is kept.
///
/// The writer of the log may be running: it never reads sealed segments, and its in-process readers take the
/// start record into account at every seek (``LogReader``). Removals must not run concurrently with each other;
/// the caller serializes them (`rananeeti log archive` holds `archive.lock`).
public enum LogRetention {
    /// What a removal did.
    public struct Removal: Sendable, Equatable {
        /// Where the log starts now.
        public var start: LogStart
        /// Base offsets of the segment files removed (below the start), ascending.
        public var removedSegments: [UInt64]
        /// Bytes of the segment files removed.
        public var removedBytes: Int64
    }

    /// Moves the log's start in `directory` to `offset` (the first offset of a segment, at or after the current
    /// start), then removes every segment file below it with its index, and syncs the directory. With `offset`
    /// at the current start it removes only leftovers of an earlier removal that stopped half-way.
    ///
    /// - Parameter allowed: called with the base offset of each segment file below the new start before it is
    ///   removed; return false to keep that file (for example, one whose archived copy could not be confirmed). A kept
    ///   file below the start is not part of the log; it is only not deleted yet.
    /// - Throws: ``LogError`` when the start cannot move there (see ``LogStart/advance(directory:to:)``) or a
    ///   file cannot be removed; what was removed before the error stays removed, and the log is whole.
    @discardableResult
    public static func removeSegments(
        directory: String, before offset: UInt64, removing allowed: (UInt64) -> Bool = { _ in true }
    ) throws -> Removal {
        let start = try LogStart.advance(directory: directory, to: offset)
        var removal = Removal(start: start, removedSegments: [], removedBytes: 0)
        for base in try LogDirectory.allSegmentBases(directory) where base < start.offset && allowed(base) {
            let path = LogDirectory.segmentPath(directory, base)
            var size: Int64 = 0
            if case .success(let fd) = FileSystem.open(path, flags: O_RDONLY) {
                size = (try? LogDirectory.size(of: fd, path: path)) ?? 0
                FileSystem.close(fd)
            }
            switch FileSystem.unlink(path) {
            case .success: break
            case .failure(let error) where error.code == ENOENT: continue
            case .failure(let error): throw LogError.io("remove a segment below the log's start", path, error)
            }
            _ = FileSystem.unlink(directory + "/" + SegmentName.indexFileName(base: base))
            removal.removedSegments.append(base)
            removal.removedBytes += size
        }
        // Index files whose segment is gone (an index written by the writer after its segment was removed).
        if case .success(let names) = FileSystem.listDirectory(directory) {
            for name in names where name.hasSuffix(SegmentName.indexExtension) {
                guard let base = UInt64(name.prefix(20)), name.count == 20 + SegmentName.indexExtension.count,
                    base < start.offset, allowed(base)
                else { continue }
                if FileSystem.kind(of: LogDirectory.segmentPath(directory, base)) == .missing {
                    _ = FileSystem.unlink(directory + "/" + name)
                }
            }
        }
        if case .failure(let error) = FileSystem.syncDirectory(directory) {
            throw LogError.io("sync the log directory after removing segments", directory, error)
        }
        return removal
    }

    /// Base offsets of segment files below the log's start: left over from a removal that stopped between
    /// moving the start and deleting them. Not part of the log.
    public static func leftoverSegments(directory: String) throws -> [UInt64] {
        let start = try LogStart.read(directory: directory)
        return try LogDirectory.allSegmentBases(directory).filter { $0 < start.offset }
    }
}
