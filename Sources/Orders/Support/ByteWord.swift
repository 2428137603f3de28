/// Tests on eight bytes at once ("SIMD within a register"), so that the loops scanning
/// text can skip plain ASCII eight bytes per step and look at single bytes only near
/// something that needs attention.
///
/// Each test answers "does any byte of the word ...?" exactly; the bit tricks are those of
/// Sean Anderson's "Bit Twiddling Hacks" (haszero, hasless). They are exact as to whether
/// such a byte exists, which is all the callers use; which byte it is, they find by looking
/// at the bytes one at a time.
enum ByteWord {
    static let width = 8
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// The eight bytes at `index`, which the caller has checked are in `bytes`.
    @inline(__always)
    static func load(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> UInt64 {
        UnsafeRawPointer(bytes.baseAddress! + index).loadUnaligned(as: UInt64.self)
    }

    /// Whether any byte is something other than printable ASCII (0x20...0x7E).
    @inline(__always)
    static func hasNonPrintableASCII(_ word: UInt64) -> Bool {
        (word | lessThanBits(word, 0x20) | zeroBits(word ^ (ones &* UInt64(ASCII.delete)))) & highBits != 0
    }

    /// Whether any byte needs a JSON string reader's attention: a quote, a backslash, a
    /// control character, or the start of non-ASCII UTF-8.
    ///
    /// One combined mask rather than four tests joined by `||`, which compile to branches
    /// that the processor mispredicts on ordinary text.
    @inline(__always)
    static func needsJSONStringAttention(_ word: UInt64) -> Bool {
        let quotes = zeroBits(word ^ (ones &* UInt64(ASCII.quote)))
        let backslashes = zeroBits(word ^ (ones &* UInt64(ASCII.backslash)))
        return (word | lessThanBits(word, 0x20) | quotes | backslashes) & highBits != 0
    }

    /// High bits set where bytes may be zero (exact as to whether any is).
    @inline(__always)
    private static func zeroBits(_ word: UInt64) -> UInt64 {
        (word &- ones) & ~word
    }

    /// High bits set where bytes may be below `limit` (exact as to whether any is, for
    /// limits up to 128 and bytes below 0x80).
    @inline(__always)
    private static func lessThanBits(_ word: UInt64, _ limit: UInt8) -> UInt64 {
        (word &- ones &* UInt64(limit)) & ~word
    }
}
