/// The bytes the JSON reader and writers compare against, by name.
enum ASCII {
    static let tab = UInt8(ascii: "\t")
    static let lineFeed = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let quote = UInt8(ascii: "\"")
    static let plus = UInt8(ascii: "+")
    static let comma = UInt8(ascii: ",")
    static let minus = UInt8(ascii: "-")
    static let slash = UInt8(ascii: "/")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
    static let colon = UInt8(ascii: ":")
    static let openBracket = UInt8(ascii: "[")
    static let backslash = UInt8(ascii: "\\")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let delete: UInt8 = 0x7F

    static func isDigit(_ byte: UInt8) -> Bool {
        byte &- zero < 10
    }

    /// The value of a hexadecimal digit of either case, or nil.
    static func hexDigitValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case zero...nine: byte - zero
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The lowercase hexadecimal digit for the low four bits of `value`.
    @inline(__always)
    static func lowercaseHexDigit(_ value: UInt8) -> UInt8 {
        let nibble = value & 0x0F
        return nibble < 10 ? zero + nibble : UInt8(ascii: "a") - 10 + nibble
    }

    /// Appends exactly `count` bytes that `write` fills in.
    ///
    /// Fixed-width fields (digits, hex) are written into a stack buffer and appended at
    /// once: appending them byte by byte costs a uniqueness and a capacity check per byte.
    @inline(__always)
    static func append(
        count: Int,
        to output: inout [UInt8],
        _ write: (UnsafeMutableBufferPointer<UInt8>) -> Void
    ) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer in
            write(buffer)
            output.append(contentsOf: UnsafeBufferPointer(buffer))
        }
    }

    /// Writes `value` as exactly `width` decimal digits, zero-padded, at `index`.
    @inline(__always)
    static func writeDecimal(_ value: Int, width: Int, into buffer: UnsafeMutableBufferPointer<UInt8>, at index: Int) {
        var rest = value
        for offset in stride(from: width - 1, through: 0, by: -1) {
            buffer[index + offset] = zero + UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        }
    }

    /// Appends `value` as exactly `width` decimal digits, zero-padded.
    static func appendDecimal(_ value: Int, width: Int, to output: inout [UInt8]) {
        append(count: width, to: &output) { writeDecimal(value, width: width, into: $0, at: 0) }
    }

    /// Appends `value` in decimal, without padding.
    static func appendDecimal(_ value: UInt64, to output: inout [UInt8]) {
        var digits = 1
        var limit: UInt64 = 10
        while digits < 20, value >= limit {
            digits += 1
            limit = limit &* 10
        }
        append(count: digits, to: &output) { buffer in
            var rest = value
            for index in stride(from: digits - 1, through: 0, by: -1) {
                buffer[index] = zero + UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
        }
    }

    /// Reads exactly `width` decimal digits at `index`, or returns nil if any is not a digit.
    static func decimal(in bytes: UnsafeBufferPointer<UInt8>, at index: Int, width: Int) -> Int? {
        var value = 0
        for offset in 0..<width {
            let byte = bytes[index + offset]
            guard isDigit(byte) else { return nil }
            value = value * 10 + Int(byte - zero)
        }
        return value
    }
}
