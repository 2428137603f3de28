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
        var leading: UInt64 = 0
        for index in 0..<16 {
            guard let nibble = Self.lowercaseHexValue(text[index]) else { return nil }
            leading = leading << 4 | UInt64(nibble)
        }
        var trailing: UInt16 = 0
        for index in 16..<20 {
            guard let nibble = Self.lowercaseHexValue(text[index]) else { return nil }
            trailing = trailing << 4 | UInt16(nibble)
        }
        self.init(leading: leading, trailing: trailing)
    }

    private static func lowercaseHexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case ASCII.zero...ASCII.nine: byte - ASCII.zero
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    /// Appends the 20 hex digits of ``description``.
    func appendHex(to output: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) {
            output.append(ASCII.lowercaseHexDigits[Int(truncatingIfNeeded: leading >> UInt64(shift)) & 0xF])
        }
        for shift in stride(from: 12, through: 0, by: -4) {
            output.append(ASCII.lowercaseHexDigits[Int(truncatingIfNeeded: trailing >> UInt16(shift)) & 0xF])
        }
    }
}
