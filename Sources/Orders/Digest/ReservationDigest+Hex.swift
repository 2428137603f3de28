extension ReservationDigest: CustomStringConvertible, LosslessStringConvertible {
    /// The digest as 20 lowercase hexadecimal digits, e.g. `2e401f4cba1d2e90f354`.
    public var description: String {
        var text: [UInt8] = []
        text.reserveCapacity(2 * Self.byteCount)
        appendHex(to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Parses 20 lowercase hexadecimal digits, as written by ``description``.
    ///
    /// Uppercase digits are refused, so that each digest has one spelling, in URLs and in
    /// the database alike.
    ///
    /// - Parameter description: the text, e.g. the `{digest}` of `/orders/{digest}`.
    /// - Returns: nil unless the text is exactly 20 lowercase hex digits.
    public init?(_ description: String) {
        var text = description
        guard let digest = text.withUTF8Bytes({ Self(hexUTF8: $0) }) else { return nil }
        self = digest
    }

    /// ``init(_:)`` over UTF-8 bytes, for the event decoder.
    init?(hexUTF8 text: UnsafeBufferPointer<UInt8>) {
        guard text.count == 2 * Self.byteCount else { return nil }
        // Accumulate, and check every digit once at the end: no branch per digit.
        var invalid: UInt8 = 0
        var leading: UInt64 = 0
        for index in 0..<16 {
            let nibble = Self.lowercaseHexValue(text[index])
            invalid |= nibble
            leading = leading << 4 | UInt64(nibble & 0x0F)
        }
        var trailing: UInt16 = 0
        for index in 16..<20 {
            let nibble = Self.lowercaseHexValue(text[index])
            invalid |= nibble
            trailing = trailing << 4 | UInt16(nibble & 0x0F)
        }
        guard invalid & 0xF0 == 0 else { return nil }
        self.init(leading: leading, trailing: trailing)
    }

    /// The value of a lowercase hex digit, or 0xFF for any other byte.
    @inline(__always)
    private static func lowercaseHexValue(_ byte: UInt8) -> UInt8 {
        let decimal = byte &- ASCII.zero
        if decimal < 10 { return decimal }
        let letter = byte &- UInt8(ascii: "a")
        return letter < 6 ? letter + 10 : 0xFF
    }

    /// Appends the 20 hex digits of ``description``.
    package func appendHex(to output: inout [UInt8]) {
        ASCII.append(count: 2 * Self.byteCount, to: &output) { buffer in
            for index in 0..<16 {
                buffer[index] = ASCII.lowercaseHexDigit(UInt8(truncatingIfNeeded: leading >> (60 - 4 * index)))
            }
            for index in 0..<4 {
                buffer[16 + index] = ASCII.lowercaseHexDigit(UInt8(truncatingIfNeeded: trailing >> (12 - 4 * index)))
            }
        }
    }
}
