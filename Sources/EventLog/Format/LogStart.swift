/// Where a log starts: the offset of its first record and the chain hash its first batch links to.
///
/// A log that has kept every segment starts at offset 0, its first batch chained to 32 zero bytes, and needs no
/// record of that. Once its oldest segments have been archived and removed, the directory keeps the file
/// `log-start` beside the segments, one line in exactly this form (`docs/LOG_FORMAT.md`, "Where a log starts"):
///
///     {"format":"rananeeti-log-start","version":1,"offset":1465,"chainHash":"<64 lowercase hex digits>"}
///
/// The start record is part of the log, not derived state: without it a log whose first segment is missing
/// could not be told from one that lost its oldest history. `log verify` requires the log to begin at the
/// recorded offset with a first batch that chains to the recorded hash, and a log without the file to begin at
/// offset 0. Segments below the recorded start are leftovers of an archive run that stopped between moving the
/// start and removing them: readers, writers and `verify` leave them alone.
public struct LogStart: Sendable, Hashable, CustomStringConvertible {
    /// The offset of the log's first record.
    public var offset: UInt64
    /// The hash of the batch before `offset` (the one its first batch chains to); 32 zero bytes at offset 0.
    public var chainHash: ChainHash

    /// The start of a log that has kept everything: offset 0, chained to 32 zero bytes.
    public static let origin = LogStart(offset: 0, chainHash: .genesis)

    /// The name of the start record in a log directory.
    public static let fileName = "log-start"

    public init(offset: UInt64, chainHash: ChainHash) {
        self.offset = offset
        self.chainHash = chainHash
    }

    public var description: String { "offset \(offset), chain hash \(chainHash)" }

    /// The recorded start of the log in `directory`, or nil when it has none (it starts at offset 0).
    ///
    /// - Throws: ``LogError/Code/corrupt`` when the file is there but not in the documented form;
    ///   ``LogError/Code/ioFailure`` when it cannot be read.
    public static func recorded(directory: String) throws -> LogStart? {
        guard let start = try RecordFile.read(directory: directory, name: fileName, what: "start record", decode: decode) else {
            return nil
        }
        guard start.offset > 0 || start.chainHash == .genesis else {
            throw LogError.corrupt(
                directory + "/" + fileName, at: 0,
                "the log's start record says offset 0 but not the 32 zero bytes a log's first batch chains to")
        }
        return start
    }

    /// Where the log in `directory` starts: its start record, or ``origin`` when it has none.
    public static func read(directory: String) throws -> LogStart {
        try recorded(directory: directory) ?? .origin
    }

    /// Moves the start of the log in `directory` forward to `offset`, the first offset of one of its segments,
    /// and returns the new start. For archiving: first move the start, then remove the segments below it (a
    /// crash in between leaves segments that everything ignores).
    ///
    /// The chain hash comes from the segment at `offset` (what its first batch chains to) and must agree with
    /// the segment before it when that is still there. The file is replaced atomically and durably (a temporary
    /// file, fsync, rename, fsync of the directory). Moving to the current start changes nothing.
    ///
    /// - Throws: ``LogError/Code/offsetOutOfRange`` when `offset` is before the current start or is not the first
    ///   offset of a segment in the directory; ``LogError/Code/corrupt`` when the segments disagree.
    @discardableResult
    public static func advance(directory: String, to offset: UInt64) throws -> LogStart {
        try LogDirectory.check(directory)
        let current = try read(directory: directory)
        if offset == current.offset { return current }
        guard offset > current.offset else {
            throw LogError(
                code: .offsetOutOfRange,
                message: "The log starts at offset \(current.offset); its start never moves back (asked for \(offset)).",
                path: directory)
        }
        let bases = try LogDirectory.segmentBases(directory)
        guard let index = bases.firstIndex(of: offset) else {
            throw LogError(
                code: .offsetOutOfRange,
                message: "A log can start only where one of its segments starts, and no segment starts at offset \(offset).",
                path: directory)
        }
        let fromSegment = try firstPreviousHash(directory: directory, base: offset)
        let fromPrevious = index > 0 ? try LogDirectory.sealedSummary(directory, base: bases[index - 1]).lastHash : nil
        let path = LogDirectory.segmentPath(directory, offset)
        let hash: ChainHash
        switch (fromSegment, fromPrevious) {
        case (let own?, let previous?) where own != previous:
            throw LogError.corrupt(path, at: 0, "the segment's first batch does not chain to the segment before it")
        case (let own?, _), (nil, let own?):
            hash = own
        case (nil, nil):
            throw LogError(
                code: .offsetOutOfRange,
                message: "The segment at offset \(offset) holds no batch yet and the one before it is gone, so the chain hash there is unknown.",
                path: path)
        }
        let start = LogStart(offset: offset, chainHash: hash)
        if case .failure(let error) = FileSystem.replaceFile(directory: directory, name: fileName, with: start.encoded) {
            throw LogError.io("write the log's start record", directory + "/" + fileName, error)
        }
        return start
    }

    /// What the first batch of the segment at `base` chains to, or nil when the segment holds no batch.
    package static func firstPreviousHash(directory: String, base: UInt64) throws -> ChainHash? {
        let path = LogDirectory.segmentPath(directory, base)
        let fd = try LogDirectory.openForReading(path)
        defer { FileSystem.close(fd) }
        let size = try LogDirectory.size(of: fd, path: path)
        switch BufferedFileReader(fd: fd, path: path).batch(at: 0, fileSize: size, loadPayload: false, verifyHash: false) {
        case .failure(let error): throw LogError.io("read a segment", path, error)
        case .success(.end): return nil
        case .success(.batch(let header, _)): return header.previousHash
        case .success(.incomplete(let reason)), .success(.damaged(let reason)), .success(.unusable(let reason)):
            throw LogError.corrupt(path, at: 0, reason)
        }
    }

    // MARK: - The file's one line

    private static let prefix = Array(#"{"format":"rananeeti-log-start","version":1,"offset":"#.utf8)

    /// The record's bytes: one line, exactly as `docs/LOG_FORMAT.md` shows it.
    package var encoded: [UInt8] {
        var bytes = Self.prefix
        appendDecimal(offset, to: &bytes)
        bytes += Array(#","chainHash":""#.utf8)
        bytes += Array(chainHash.description.utf8)
        bytes += Array("\"}\n".utf8)
        return bytes
    }

    /// Reads the one accepted spelling: the bytes must be exactly what ``encoded`` writes for some start.
    package static func decode(_ bytes: [UInt8]) -> LogStart? {
        guard bytes.starts(with: prefix) else { return nil }
        var index = prefix.count
        guard let offset = RecordFile.decimal(in: bytes, at: &index) else { return nil }
        let hashStart = index + #","chainHash":""#.utf8.count
        guard hashStart + 64 <= bytes.count, let hash = ChainHash(hex: bytes[hashStart..<hashStart + 64]) else { return nil }
        let start = LogStart(offset: offset, chainHash: hash)
        // Anything else (leading zeros, spaces, upper case, other fields) is not the documented form.
        return start.encoded == bytes ? start : nil
    }
}

extension ChainHash {
    /// Parses 64 lowercase hex digits.
    package init?<Digits: Collection<UInt8>>(hex digits: Digits) {
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var high: UInt8?
        for digit in digits {
            let value: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = digit - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let first = high {
                bytes.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        self.init(bytes: bytes)
    }

    /// Parses 64 lowercase hex digits, as ``description`` writes them.
    public init?(hex text: String) {
        self.init(hex: Array(text.utf8))
    }
}
