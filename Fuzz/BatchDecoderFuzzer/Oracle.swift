import CBLAKE2

/// An independent reading of `docs/LOG_FORMAT.md`, written against libb2 directly and sharing no code with
/// `EventLog`, so that the fuzzer checks the engine's decisions rather than repeating them.
enum Oracle {
    static let magic: [UInt8] = [0x5E, 0x2A, 0x4D, 0x18]
    static let framedHeaderLength = 120

    /// The fields of a batch header the checks need.
    struct Header {
        var position: Int
        var count: UInt32
        var firstOffset: UInt64
        var payloadLength: Int
        var uncompressedLength: Int
        var previousHash: [UInt8]
        var hash: [UInt8]
        /// Header bytes 2–3.
        var flags: UInt16

        var totalLength: Int { Oracle.framedHeaderLength + payloadLength }
        var end: Int { position + totalLength }
    }

    /// The header at `position` when its magic, frame size and checksum are right: what the format page calls
    /// "a valid batch header" when it decides between a torn tail and damage.
    static func header(in bytes: [UInt8], at position: Int) -> Header? {
        guard position >= 0, bytes.count - position >= framedHeaderLength else { return nil }
        guard bytes[position..<position + 4].elementsEqual(magic), u32(bytes, position + 4) == 112 else { return nil }
        let h = position + 8
        guard blake2b(Array(bytes[h..<h + 104]), length: 8).elementsEqual(bytes[h + 104..<h + 112]) else { return nil }
        return Header(
            position: position, count: u32(bytes, h + 4), firstOffset: u64(bytes, h + 8),
            payloadLength: Int(u32(bytes, h + 32)), uncompressedLength: Int(u32(bytes, h + 36)),
            previousHash: Array(bytes[h + 40..<h + 72]), hash: Array(bytes[h + 72..<h + 104]),
            flags: UInt16(bytes[h + 2]) | UInt16(bytes[h + 3]) << 8)
    }

    /// Whether the batch's stored hash is BLAKE2b-32 over header bytes 0–71 and its payload, all present.
    static func hashHolds(_ header: Header, in bytes: [UInt8]) -> Bool {
        guard header.end <= bytes.count else { return false }
        let h = header.position + 8
        let covered = Array(bytes[h..<h + 72]) + bytes[(header.position + framedHeaderLength)..<header.end]
        return blake2b(covered, length: 32) == header.hash
    }

    /// Whether the format page lets a reader use a header whose checksum holds.
    static func isUsable(_ header: Header, in bytes: [UInt8]) -> Bool {
        let version = UInt16(bytes[header.position + 8]) | UInt16(bytes[header.position + 9]) << 8
        return version == 1 && header.flags & ~1 == 0 && header.count >= 1 && (11...(80 << 20)).contains(header.payloadLength)
            && header.uncompressedLength >= 3 * Int(header.count) && header.uncompressedLength <= 64 << 20
            && !header.firstOffset.addingReportingOverflow(UInt64(header.count)).overflow
    }

    /// Whether a later write group starts anywhere after `position`: a valid header without the
    /// continues-the-group flag (bit 0) with its whole payload and a matching hash, or a header whose checksum
    /// holds but that a reader cannot use.
    static func writeGroupStarts(in bytes: [UInt8], after position: Int) -> Bool {
        var candidate = position + 1
        while bytes.count - candidate >= framedHeaderLength {
            if bytes[candidate] == magic[0], let found = header(in: bytes, at: candidate),
                !isUsable(found, in: bytes) || (found.flags & 1 == 0 && hashHolds(found, in: bytes))
            {
                return true
            }
            candidate += 1
        }
        return false
    }

    static func blake2b(_ input: [UInt8], length: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        let status = input.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { cblake2_blake2b($0.baseAddress, length, raw.baseAddress, raw.count) }
        }
        precondition(status == 0)
        return out
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
    }

    static func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
    }

    static func store(_ value: some FixedWidthInteger, into bytes: inout [UInt8], at: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (i, byte) in raw.enumerated() { bytes[at + i] = byte }
        }
    }
}
