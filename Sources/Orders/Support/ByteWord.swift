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

    /// Whether any byte is 0x80 or above (not ASCII).
    @inline(__always)
    static func hasNonASCII(_ word: UInt64) -> Bool {
        word & highBits != 0
    }

    /// Whether any byte is less than `limit`; exact for limits up to 128, and meant for
    /// words without non-ASCII bytes.
    @inline(__always)
    static func hasByte(_ word: UInt64, lessThan limit: UInt8) -> Bool {
        (word &- ones &* UInt64(limit)) & ~word & highBits != 0
    }

    /// Whether any byte equals `value`.
    @inline(__always)
    static func hasByte(_ word: UInt64, equalTo value: UInt8) -> Bool {
        let difference = word ^ (ones &* UInt64(value))
        return (difference &- ones) & ~difference & highBits != 0
    }

    /// Whether any byte is something other than printable ASCII (0x20...0x7E).
    @inline(__always)
    static func hasNonPrintableASCII(_ word: UInt64) -> Bool {
        hasNonASCII(word) || hasByte(word, lessThan: 0x20) || hasByte(word, equalTo: ASCII.delete)
    }
}
