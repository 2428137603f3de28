/// How far the log was synced, as its writer last wrote it down: the `synced-end` file beside the segments.
///
/// A crash can tear only the write group that was being written, at the end of the last segment, and
/// recovery cuts such a tail: its records were never acknowledged. A group that was synced and acknowledged,
/// and damaged later (a flipped bit, a lost sector), looks the same to a reader of the bytes alone, unless a
/// later group follows it. The writer therefore records, atomically and durably, the end of what it had
/// synced whenever it has had nothing to write for a moment (``idleDelay``) and when it closes; recovery and
/// `verify` call anything missing or damaged before that point damage, never a torn tail
/// (`docs/LOG_FORMAT.md`, "How far the log was synced"). The file is one line in exactly this form:
///
///     {"format":"rananeeti-synced-end","version":1,"segment":1465,"bytes":73810,"offset":1502,"chainHash":"<64 hex>"}
///
/// `segment` names the segment (its first offset), `bytes` the end of its last synced batch, `offset` the
/// offset after that batch and `chainHash` its hash. What stays undetectable: damage to, or loss of, what was
/// synced after the record was last written (at most the writes of the last `idleDelay` before a crash, when
/// appends kept coming), and a log put back whole with its record (an older copy of the volume; the
/// database's witness catches that).
package struct SyncedEnd: Sendable, Hashable {
    package var segment: UInt64
    package var bytes: Int64
    package var offset: UInt64
    package var chainHash: ChainHash

    package static let fileName = "synced-end"
    /// How long the writer waits with nothing to write before it records how far it synced: short enough
    /// that an idle log is covered almost at once, long enough that a steady stream of appends (one every few
    /// milliseconds) never pays for it.
    package static let idleDelay: Duration = .milliseconds(100)

    package init(segment: UInt64, bytes: Int64, offset: UInt64, chainHash: ChainHash) {
        self.segment = segment
        self.bytes = bytes
        self.offset = offset
        self.chainHash = chainHash
    }

    /// The record of the log in `directory`, or nil when it has none.
    ///
    /// - Throws: ``LogError/Code/corrupt`` when the file is there but not in the documented form.
    package static func read(directory: String) throws -> SyncedEnd? {
        try RecordFile.read(directory: directory, name: fileName, what: "synced-end record", decode: decode)
    }

    /// Replaces the record atomically and durably. A failure leaves the old record, which covers less: it is
    /// reported to the caller, who may go on (the record only narrows what recovery may cut).
    package func write(directory: String) -> Result<Void, SystemError> {
        FileSystem.replaceFile(directory: directory, name: Self.fileName, with: encoded)
    }

    package var encoded: [UInt8] {
        var line = Array(#"{"format":"rananeeti-synced-end","version":1,"segment":"#.utf8)
        appendDecimal(segment, to: &line)
        line += Array(#","bytes":"#.utf8)
        appendDecimal(UInt64(bytes), to: &line)
        line += Array(#","offset":"#.utf8)
        appendDecimal(offset, to: &line)
        line += Array(#","chainHash":""#.utf8)
        line += Array(chainHash.description.utf8)
        line += Array("\"}\n".utf8)
        return line
    }

    /// Reads the one accepted spelling: the bytes must be exactly what ``encoded`` writes for some record.
    package static func decode(_ bytes: [UInt8]) -> SyncedEnd? {
        var fields: [UInt64] = []
        var index = 0
        for key in [#"{"format":"rananeeti-synced-end","version":1,"segment":"#, #","bytes":"#, #","offset":"#] {
            let prefix = Array(key.utf8)
            guard bytes.count >= index + prefix.count, bytes[index..<index + prefix.count].elementsEqual(prefix) else {
                return nil
            }
            index += prefix.count
            guard let value = RecordFile.decimal(in: bytes, at: &index) else { return nil }
            fields.append(value)
        }
        let hashStart = index + #","chainHash":""#.utf8.count
        guard fields[1] <= UInt64(Int64.max), hashStart + 64 <= bytes.count,
            let hash = ChainHash(hex: bytes[hashStart..<hashStart + 64])
        else { return nil }
        let record = SyncedEnd(segment: fields[0], bytes: Int64(fields[1]), offset: fields[2], chainHash: hash)
        // Anything else (leading zeros, spaces, other fields, no line feed) is not the documented form.
        return record.encoded == bytes ? record : nil
    }
}

extension SyncedEnd {
    /// What a walk over the segments of a log must find for this record (`docs/LOG_FORMAT.md`, "How far the log
    /// was synced"), and what it means when it does not.
    package struct Check {
        package let record: SyncedEnd
        package let directory: String
        /// Whether a batch of the record's segment ended at its `bytes` with its offset and hash.
        package private(set) var pointFound = false

        package init(record: SyncedEnd, directory: String) {
            self.record = record
            self.directory = directory
        }

        package var path: String { directory + "/" + SyncedEnd.fileName }

        /// Notes a good batch of segment `base` that ends at byte `end`.
        package mutating func saw(_ header: BatchHeader, endingAt end: Int64, inSegment base: UInt64) {
            guard base == record.segment, end == record.bytes else { return }
            pointFound = header.endOffset == record.offset && header.hash == record.chainHash
        }

        /// A torn tail at `position` of segment `base` (the last), as the reading rules see it: damage when
        /// the record says it was synced. Returns the reason, or nil when it is a tail indeed.
        package func damage(tornTailAt position: Int64, inSegment base: UInt64, reason: String) -> String? {
            guard base == record.segment, position < record.bytes else { return nil }
            return "\(reason); the log was synced up to byte \(record.bytes) of this segment (offset \(record.offset)), so this is damage to acknowledged records, not a torn write"
        }

        /// After the walk: where the log fails the record, if it does (rules 2 to 4), as (file, byte, reason).
        /// `goodBytes` is how far the record's segment held good batches, nil when it is not in the log.
        package func problem(goodBytes: Int64?) -> (file: String, byteOffset: Int64, reason: String)? {
            guard let goodBytes else {
                return (path, 0, "the log was synced up to offset \(record.offset) in segment \(SegmentName.fileName(base: record.segment)), which is not in the log: its end is missing")
            }
            guard goodBytes >= record.bytes else {
                return (LogDirectory.segmentPath(directory, record.segment), goodBytes,
                        "the segment ends at byte \(goodBytes), but the log was synced up to byte \(record.bytes) (offset \(record.offset)): acknowledged records are missing")
            }
            guard pointFound else {
                return (path, 0, "no batch of segment \(SegmentName.fileName(base: record.segment)) ends at byte \(record.bytes) with offset \(record.offset) and chain hash \(record.chainHash), as the log's synced-end record says: the record or the log is damaged")
            }
            return nil
        }
    }
}
