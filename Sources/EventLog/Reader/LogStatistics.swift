/// Figures about a log directory, from its index files and batch headers (payloads are not read).
public struct LogStatistics: Sendable {
    public var segments = 0
    public var batches = 0
    public var firstOffset: UInt64 = 0
    public var endOffset: UInt64 = 0
    public var records: UInt64 { endOffset - firstOffset }
    /// Size of the segment files.
    public var bytesOnDisk: Int64 = 0
    /// Size of the records as JSON lines, before compression.
    public var uncompressedBytes: Int64 = 0
    /// `appendedAt` of the first and last record, in ms since the Unix epoch.
    public var firstAppendedAtMillis: Int64?
    public var lastAppendedAtMillis: Int64?

    /// Uncompressed bytes per byte on disk (headers included); 0 for an empty log.
    public var compressionRatio: Double {
        bytesOnDisk > 0 ? Double(uncompressedBytes) / Double(bytesOnDisk) : 0
    }

    /// Reads the statistics of the log in `directory`; safe beside a running writer.
    public static func read(directory: String) throws -> LogStatistics {
        try LogDirectory.check(directory)
        var stats = LogStatistics()
        let bases = try LogDirectory.segmentBases(directory)
        stats.firstOffset = bases.first ?? 0
        stats.endOffset = stats.firstOffset
        for (index, base) in bases.enumerated() {
            let path = LogDirectory.segmentPath(directory, base)
            let fd = try LogDirectory.openForReading(path)
            defer { FileSystem.close(fd) }
            let size = try LogDirectory.size(of: fd, path: path)
            let summary: SegmentSummary
            if index < bases.count - 1 {
                summary = try LogDirectory.sealedSummary(directory, base: base)
            } else {
                // The last segment has no index file: walk its headers.
                let reader = BufferedFileReader(fd: fd, path: path)
                switch SegmentScanner.scan(reader, fileSize: size, base: base, expectedPreviousHash: nil, verifyHashes: false) {
                case .success(let scan): summary = scan.summary
                case .failure(let error): throw LogError.io("read a segment", path, error)
                }
            }
            stats.segments += 1
            stats.bytesOnDisk += size
            stats.batches += summary.batchCount
            stats.endOffset = summary.nextOffset
            stats.uncompressedBytes += summary.uncompressedBytes
            if stats.firstAppendedAtMillis == nil { stats.firstAppendedAtMillis = summary.firstAppendedAtMillis }
            if let last = summary.lastAppendedAtMillis { stats.lastAppendedAtMillis = last }
        }
        return stats
    }
}
