import Glibc

/// The sparse index of a sealed segment, kept beside it as `NNNN….idx`.
///
/// Derived state: it can always be rebuilt from the segment, so it is written without fsync and trusted only when
/// its checksum holds and it describes the segment's current size. Layout (little-endian): magic "RNIX", version,
/// the segment summary, the entries (offset u64, position i64), and a BLAKE2b-256 over all of it.
package enum SegmentIndexFile {
    private static let magic: UInt32 = 0x5849_4E52  // "RNIX"
    private static let version: UInt16 = 1
    private static let fixedLength = 144
    private static let checksumLength = 32

    package static func encode(_ summary: SegmentSummary) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(fixedLength + summary.index.count * 16 + checksumLength)
        out.appendLE(magic)
        out.appendLE(version)
        out.appendLE(UInt16(0))
        out.appendLE(summary.base)
        out.appendLE(UInt64(bitPattern: summary.size))
        out.appendLE(summary.nextOffset)
        out.appendLE(UInt64(summary.batchCount))
        out.appendLE(UInt64(bitPattern: summary.uncompressedBytes))
        out.appendLE(UInt64(bitPattern: summary.firstAppendedAtMillis ?? 0))
        out.appendLE(UInt64(bitPattern: summary.lastAppendedAtMillis ?? 0))
        out.appendLE(UInt64(bitPattern: summary.lastBatchPosition ?? -1))
        out.append(contentsOf: (summary.firstPreviousHash ?? .genesis).bytes)
        out.append(contentsOf: (summary.lastHash ?? .genesis).bytes)
        out.appendLE(UInt32(summary.index.count))
        out.appendLE(UInt32(summary.batchCount > 0 ? 1 : 0))
        for entry in summary.index {
            out.appendLE(entry.offset)
            out.appendLE(UInt64(bitPattern: entry.position))
        }
        let checksum = out.withUnsafeBytes { Blake2b.hash($0, length: checksumLength) }
        out.append(contentsOf: checksum)
        return out
    }

    /// The summary stored in `bytes`, or nil when they are not a valid index for a segment `base` of `size` bytes.
    package static func decode(_ bytes: [UInt8], base: UInt64, size: Int64) -> SegmentSummary? {
        guard bytes.count >= fixedLength + checksumLength else { return nil }
        return bytes.withUnsafeBytes { raw -> SegmentSummary? in
            let body = UnsafeRawBufferPointer(rebasing: raw[0..<raw.count - checksumLength])
            guard Blake2b.hash(body, length: checksumLength).elementsEqual(raw[(raw.count - checksumLength)...])
            else { return nil }
            guard raw.loadLE(UInt32.self, at: 0) == magic, raw.loadLE(UInt16.self, at: 4) == version else { return nil }
            guard raw.loadLE(UInt64.self, at: 8) == base, Int64(bitPattern: raw.loadLE(UInt64.self, at: 16)) == size
            else { return nil }
            let entryCount = Int(raw.loadLE(UInt32.self, at: 136))
            guard body.count == fixedLength + entryCount * 16 else { return nil }
            let hasBatches = raw.loadLE(UInt32.self, at: 140) & 1 == 1
            guard let batchCount = Int(exactly: raw.loadLE(UInt64.self, at: 32)) else { return nil }
            var summary = SegmentSummary(base: base)
            summary.size = size
            summary.nextOffset = raw.loadLE(UInt64.self, at: 24)
            summary.batchCount = batchCount
            summary.uncompressedBytes = Int64(bitPattern: raw.loadLE(UInt64.self, at: 40))
            if hasBatches {
                summary.firstAppendedAtMillis = Int64(bitPattern: raw.loadLE(UInt64.self, at: 48))
                summary.lastAppendedAtMillis = Int64(bitPattern: raw.loadLE(UInt64.self, at: 56))
                summary.lastBatchPosition = Int64(bitPattern: raw.loadLE(UInt64.self, at: 64))
                summary.firstPreviousHash = ChainHash(UnsafeRawBufferPointer(rebasing: raw[72..<104]))
                summary.lastHash = ChainHash(UnsafeRawBufferPointer(rebasing: raw[104..<136]))
            }
            summary.index.reserveCapacity(entryCount)
            for i in 0..<entryCount {
                let at = fixedLength + i * 16
                summary.index.append(
                    SparseIndexEntry(
                        offset: raw.loadLE(UInt64.self, at: at),
                        position: Int64(bitPattern: raw.loadLE(UInt64.self, at: at + 8))))
            }
            return isPossible(summary) ? summary : nil
        }
    }

    /// Whether a walk over a segment of `summary.size` bytes could have produced `summary`.
    ///
    /// The checksum only says that the bytes are the ones written; this says that what they describe can
    /// exist, so that an index written wrong (by a bug, or by hand) is rebuilt rather than believed: a
    /// segment with batches but no chain hashes would let the next segment's link go unchecked, and an
    /// entry outside the segment would send a reader to the wrong byte.
    private static func isPossible(_ summary: SegmentSummary) -> Bool {
        let minimumBatchLength = Int64(BatchFormat.framedHeaderLength + BatchFormat.minimumPayloadLength)
        guard summary.size >= 0, summary.nextOffset >= summary.base, summary.uncompressedBytes >= 0,
            (summary.lastHash != nil) == (summary.batchCount > 0),
            Int64(summary.batchCount) <= summary.size / minimumBatchLength,
            UInt64(summary.batchCount) <= summary.recordCount
        else { return false }
        if let last = summary.lastBatchPosition {
            guard last >= 0, last <= summary.size - minimumBatchLength else { return false }
        }
        // Entries: the first batch first, then ever later batches, all inside the segment.
        let firstEntry = SparseIndexEntry(offset: summary.base, position: 0)
        guard summary.index.first.map({ $0 == firstEntry }) ?? (summary.batchCount == 0) else { return false }
        for (earlier, later) in zip(summary.index, summary.index.dropFirst()) {
            guard later.offset > earlier.offset, later.position > earlier.position else { return false }
        }
        if let last = summary.index.last {
            guard last.offset < summary.nextOffset, last.position <= (summary.lastBatchPosition ?? -1) else {
                return false
            }
        }
        return true
    }

    /// Writes the index through a temporary name and a rename, so a reader never sees half of one.
    package static func save(_ summary: SegmentSummary, directory: String) -> Result<Void, SystemError> {
        let path = directory + "/" + SegmentName.indexFileName(base: summary.base)
        let temporary = path + ".tmp"
        return FileSystem.writeWholeFile(temporary, encode(summary)).flatMap { FileSystem.rename(temporary, path) }
    }

    package static func load(directory: String, base: UInt64, size: Int64) -> SegmentSummary? {
        let path = directory + "/" + SegmentName.indexFileName(base: base)
        guard case .success(let bytes) = FileSystem.readWholeFile(path) else { return nil }
        return decode(bytes, base: base, size: size)
    }
}
