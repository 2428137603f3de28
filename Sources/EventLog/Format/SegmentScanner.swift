/// One entry of a segment's sparse index: the batch holding `offset` starts at byte `position`.
package struct SparseIndexEntry: Equatable, Sendable {
    package var offset: UInt64
    package var position: Int64
}

/// What a walk over one segment learned.
package struct SegmentSummary: Equatable, Sendable {
    package var base: UInt64
    /// Bytes from the start of the file to the end of the last good batch.
    package var size: Int64 = 0
    package var nextOffset: UInt64
    package var batchCount = 0
    package var uncompressedBytes: Int64 = 0
    package var firstPreviousHash: ChainHash?
    package var lastHash: ChainHash?
    package var lastBatchPosition: Int64?
    package var firstAppendedAtMillis: Int64?
    package var lastAppendedAtMillis: Int64?
    package var index: [SparseIndexEntry] = []

    package init(base: UInt64) {
        self.base = base
        self.nextOffset = base
    }

    package var recordCount: UInt64 { nextOffset - base }
}

/// Where and why a walk over a segment stopped before its end.
package enum ScanStop: Equatable, Sendable {
    case cleanEnd
    /// A batch cut short, or the last batch failing its hash with nothing valid after it: what a crash during
    /// the last write leaves behind. Only the last segment's writer may cut it.
    case tornTail(position: Int64, reason: String)
    /// Damage that a crash cannot explain.
    case corrupt(position: Int64, reason: String)
}

package struct SegmentScan: Sendable {
    package var summary: SegmentSummary
    package var stop: ScanStop
}

package enum SegmentScanner {
    /// Bytes between two entries of a sparse index (64 KiB).
    package static let defaultIndexInterval: Int64 = 64 << 10

    /// Walks a segment from its first byte to `fileSize`, checking every header, the offsets' continuity and the
    /// chain, and (when `verifyHashes`) every batch hash.
    ///
    /// - Parameters:
    ///   - expectedPreviousHash: what the first batch must chain to, when known.
    ///   - visit: called for each good batch with its position and payload (payload only when verifying).
    package static func scan(
        _ reader: BufferedFileReader,
        fileSize: Int64,
        base: UInt64,
        expectedPreviousHash: ChainHash?,
        verifyHashes: Bool,
        visit: ((BatchHeader, Int64, UnsafeRawBufferPointer) -> String?)? = nil
    ) -> Result<SegmentScan, SystemError> {
        var summary = SegmentSummary(base: base)
        var position: Int64 = 0
        var expectedPrevious = expectedPreviousHash
        while true {
            let found: BatchAtPosition
            switch reader.batch(at: position, fileSize: fileSize, loadPayload: visit != nil, verifyHash: verifyHashes) {
            case .failure(let error): return .failure(error)
            case .success(let result): found = result
            }
            switch found {
            case .end:
                return .success(SegmentScan(summary: summary, stop: .cleanEnd))
            case .unusable(let reason):
                return .success(SegmentScan(summary: summary, stop: .corrupt(position: position, reason: reason)))
            case .incomplete(let reason), .damaged(let reason):
                // A crash leaves pieces of its last write group at the end of the file, and no later group;
                // a whole batch starting a group anywhere after this point means damage instead
                // (BatchReader, `writeGroupStartExists`).
                switch reader.writeGroupStartExists(after: position, fileSize: fileSize) {
                case .failure(let error): return .failure(error)
                case .success(true):
                    let reason = reason + "; a later write group follows, so this is not a torn write"
                    return .success(SegmentScan(summary: summary, stop: .corrupt(position: position, reason: reason)))
                case .success(false):
                    return .success(SegmentScan(summary: summary, stop: .tornTail(position: position, reason: reason)))
                }
            case .batch(let header, let payload):
                if header.firstOffset != summary.nextOffset {
                    let reason = "batch starts at offset \(header.firstOffset), expected \(summary.nextOffset)"
                    return .success(SegmentScan(summary: summary, stop: .corrupt(position: position, reason: reason)))
                }
                if let expected = expectedPrevious, header.previousHash != expected {
                    let reason = "batch does not chain to the batch before it (previous hash \(header.previousHash), expected \(expected))"
                    return .success(SegmentScan(summary: summary, stop: .corrupt(position: position, reason: reason)))
                }
                if let visit, let problem = visit(header, position, payload) {
                    return .success(SegmentScan(summary: summary, stop: .corrupt(position: position, reason: problem)))
                }
                summary.record(header, at: position)
                position += Int64(header.totalLength)
                summary.size = position
                expectedPrevious = header.hash
            }
        }
    }
}
