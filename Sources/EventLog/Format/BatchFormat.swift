/// The byte layout of one batch, as `docs/LOG_FORMAT.md` describes it. Pure functions; no I/O.
///
/// A batch is two standard LZ4 frames back to back:
///
///     skippable frame:  magic 0x184D2A5E (u32 LE) · frame size 112 (u32 LE) · header (112 bytes)
///     LZ4 frame:        the batch's JSON lines, one record per line, each ending in "\n"
///
/// Header, all integers little-endian:
///
///     0   u16   format version (1)
///     2   u16   flags: bit 0 set when the batch continues the write group of the batch before it; others 0
///     4   u32   record count (>= 1)
///     8   u64   offset of the first record
///     16  i64   appendedAt of the first record, ms since the Unix epoch (UTC)
///     24  i64   appendedAt of the last record, ms since the Unix epoch (UTC)
///     32  u32   length of the LZ4 frame that follows, in bytes
///     36  u32   length of the JSON lines once decompressed, in bytes
///     40  [32]  previous hash: the hash of the batch before this one (32 zero bytes for the first batch of a log)
///     72  [32]  hash: BLAKE2b-256 over header bytes 0..<72 followed by the LZ4 frame bytes
///     104 [8]   header checksum: BLAKE2b-64 over header bytes 0..<104
package enum BatchFormat {
    package static let headerMagic: UInt32 = 0x184D_2A5E
    package static let headerLength = 112
    /// The skippable frame's magic and size words plus the header.
    package static let framedHeaderLength = 8 + headerLength
    package static let formatVersion: UInt16 = 1
    /// Flag bit 0: this batch was written by the same `pwrite` and made durable by the same `fdatasync` as the
    /// batch before it. Recovery needs it to tell the leftovers of one unfinished group from damage.
    package static let continuesWriteGroupFlag: UInt16 = 1
    package static let knownFlags: UInt16 = continuesWriteGroupFlag
    package static let hashedHeaderLength = 72
    package static let checksummedHeaderLength = 104
    /// A standard LZ4 frame is at least magic (4) + frame descriptor (3) + end mark (4) bytes.
    package static let minimumPayloadLength = 11
    /// Upper bound on a batch's decompressed size that any reader accepts: a corrupt length can never make a
    /// reader allocate more than this.
    package static let maximumUncompressedLength = 64 << 20
    package static let maximumPayloadLength = 80 << 20
}

/// The decoded header of one batch.
package struct BatchHeader: Equatable, Sendable {
    package var count: UInt32
    package var firstOffset: UInt64
    package var firstAppendedAtMillis: Int64
    package var lastAppendedAtMillis: Int64
    package var payloadLength: UInt32
    package var uncompressedLength: UInt32
    package var previousHash: ChainHash
    package var hash: ChainHash
    /// Written in the same write group as the batch before it (flag bit 0); false for the first batch of a group.
    package var continuesWriteGroup = false

    /// The offset after this batch's last record.
    package var endOffset: UInt64 { firstOffset + UInt64(count) }
    /// Bytes this batch occupies in its segment, skippable frame included.
    package var totalLength: Int { BatchFormat.framedHeaderLength + Int(payloadLength) }
}

/// Why a header could not be decoded.
package enum HeaderProblem: Error, Equatable, Sendable {
    case wrongMagic(UInt32)
    case wrongFrameSize(UInt32)
    case checksumMismatch
    case unsupportedVersion(UInt16)
    case implausibleField(String)

    /// Whether the header's checksum held, so that the header is whole and as some writer wrote it, and only
    /// this version cannot use it (another format version, a field out of range). A crash cannot leave such a
    /// header behind, so it is damage, never a torn tail.
    package var checksumHeld: Bool {
        switch self {
        case .wrongMagic, .wrongFrameSize, .checksumMismatch: false
        case .unsupportedVersion, .implausibleField: true
        }
    }

    package var description: String {
        switch self {
        case .wrongMagic(let magic): "no batch header here (found 0x\(String(magic, radix: 16)))"
        case .wrongFrameSize(let size): "batch header frame has size \(size), expected \(BatchFormat.headerLength)"
        case .checksumMismatch: "batch header checksum does not match"
        case .unsupportedVersion(let version): "batch format version \(version) is not supported"
        case .implausibleField(let what): "batch header field out of range: \(what)"
        }
    }
}

extension BatchFormat {
    /// Decodes and checks a framed header (`framedHeaderLength` bytes).
    package static func decodeHeader(_ bytes: UnsafeRawBufferPointer) -> Result<BatchHeader, HeaderProblem> {
        precondition(bytes.count >= framedHeaderLength)
        let magic = bytes.loadLE(UInt32.self, at: 0)
        guard magic == headerMagic else { return .failure(.wrongMagic(magic)) }
        let frameSize = bytes.loadLE(UInt32.self, at: 4)
        guard frameSize == UInt32(headerLength) else { return .failure(.wrongFrameSize(frameSize)) }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<framedHeaderLength])
        let expected = Blake2b.hash(UnsafeRawBufferPointer(rebasing: header[0..<checksummedHeaderLength]), length: 8)
        guard header[checksummedHeaderLength..<headerLength].elementsEqual(expected) else {
            return .failure(.checksumMismatch)
        }
        let version = header.loadLE(UInt16.self, at: 0)
        guard version == formatVersion else { return .failure(.unsupportedVersion(version)) }
        let flags = header.loadLE(UInt16.self, at: 2)
        guard flags & ~knownFlags == 0 else {
            return .failure(.implausibleField("flags 0x\(String(flags, radix: 16)) (only bit 0 is defined)"))
        }
        let decoded = BatchHeader(
            count: header.loadLE(UInt32.self, at: 4),
            firstOffset: header.loadLE(UInt64.self, at: 8),
            firstAppendedAtMillis: Int64(bitPattern: header.loadLE(UInt64.self, at: 16)),
            lastAppendedAtMillis: Int64(bitPattern: header.loadLE(UInt64.self, at: 24)),
            payloadLength: header.loadLE(UInt32.self, at: 32),
            uncompressedLength: header.loadLE(UInt32.self, at: 36),
            previousHash: ChainHash(UnsafeRawBufferPointer(rebasing: header[40..<72])),
            hash: ChainHash(UnsafeRawBufferPointer(rebasing: header[72..<104])),
            continuesWriteGroup: flags & continuesWriteGroupFlag != 0
        )
        guard decoded.count >= 1 else { return .failure(.implausibleField("record count 0")) }
        guard Int(decoded.payloadLength) >= minimumPayloadLength, Int(decoded.payloadLength) <= maximumPayloadLength
        else { return .failure(.implausibleField("payload length \(decoded.payloadLength)")) }
        guard Int(decoded.uncompressedLength) <= maximumUncompressedLength,
            UInt64(decoded.uncompressedLength) >= 3 * UInt64(decoded.count)  // every record is at least "{}\n"
        else { return .failure(.implausibleField("uncompressed length \(decoded.uncompressedLength)")) }
        guard decoded.firstOffset <= UInt64.max - UInt64(decoded.count) else {
            return .failure(.implausibleField("first offset \(decoded.firstOffset)"))
        }
        return .success(decoded)
    }

    /// The chain hash of a batch: BLAKE2b-256 over header bytes 0..<72 and the payload frame.
    package static func chainHash(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> ChainHash {
        var hasher = Blake2b(length: 32)
        hasher.update(UnsafeRawBufferPointer(rebasing: header[0..<hashedHeaderLength]))
        hasher.update(payload)
        return ChainHash(bytes: hasher.finish())
    }

    /// Appends one complete batch (framed header + LZ4 frame) for `lines` to `output`.
    ///
    /// - Parameters:
    ///   - lines: the records, each a JSON object followed by "\n".
    ///   - continuesWriteGroup: the batch goes into the same `pwrite` as the batch before it.
    /// - Returns: the batch's header (with its hash).
    package static func appendBatch(
        lines: UnsafeRawBufferPointer,
        count: Int,
        firstOffset: UInt64,
        appendedAtMillis: ClosedRange<Int64>,
        previousHash: ChainHash,
        continuesWriteGroup: Bool = false,
        to output: inout [UInt8]
    ) -> BatchHeader {
        precondition(count >= 1 && lines.count <= maximumUncompressedLength)
        let batchStart = output.count
        output.appendLE(headerMagic)
        output.appendLE(UInt32(headerLength))
        let headerStart = output.count
        output.append(contentsOf: repeatElement(0, count: headerLength))
        let payloadStart = output.count
        let payloadLength = LZ4FrameCompressor.compress(lines, appendingTo: &output)
        precondition(payloadLength <= maximumPayloadLength)

        var header = BatchHeader(
            count: UInt32(count), firstOffset: firstOffset,
            firstAppendedAtMillis: appendedAtMillis.lowerBound, lastAppendedAtMillis: appendedAtMillis.upperBound,
            payloadLength: UInt32(payloadLength), uncompressedLength: UInt32(lines.count),
            previousHash: previousHash, hash: .genesis, continuesWriteGroup: continuesWriteGroup)
        output.withUnsafeMutableBytes { buffer in
            let h = UnsafeMutableRawBufferPointer(rebasing: buffer[headerStart..<headerStart + headerLength])
            h.storeLE(formatVersion, at: 0)
            h.storeLE(continuesWriteGroup ? continuesWriteGroupFlag : 0, at: 2)
            h.storeLE(header.count, at: 4)
            h.storeLE(header.firstOffset, at: 8)
            h.storeLE(UInt64(bitPattern: header.firstAppendedAtMillis), at: 16)
            h.storeLE(UInt64(bitPattern: header.lastAppendedAtMillis), at: 24)
            h.storeLE(header.payloadLength, at: 32)
            h.storeLE(header.uncompressedLength, at: 36)
            h.copyBytes(at: 40, from: previousHash.bytes)
            let payload = UnsafeRawBufferPointer(rebasing: buffer[payloadStart..<payloadStart + payloadLength])
            header.hash = chainHash(header: UnsafeRawBufferPointer(h), payload: payload)
            h.copyBytes(at: 72, from: header.hash.bytes)
            let checksum = Blake2b.hash(UnsafeRawBufferPointer(rebasing: h[0..<checksummedHeaderLength]), length: 8)
            h.copyBytes(at: checksummedHeaderLength, from: checksum)
        }
        assert(output.count - batchStart == header.totalLength)
        return header
    }
}

// MARK: - Little-endian helpers

extension UnsafeRawBufferPointer {
    package func loadLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    package func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    package func copyBytes(at offset: Int, from bytes: [UInt8]) {
        UnsafeMutableRawBufferPointer(rebasing: self[offset..<offset + bytes.count]).copyBytes(from: bytes)
    }
}

extension Array where Element == UInt8 {
    package mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
