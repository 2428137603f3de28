/// Writes JSON string literals byte for byte as Python's `json.dumps` does by default
/// (`ensure_ascii=True`).
///
/// The digest is a hash of the old site's JSON text, so this must match CPython's
/// `py_encode_basestring_ascii` exactly, for any string: `\"` and `\\`; the short escapes
/// `\n \r \t \b \f`; every other scalar outside `0x20...0x7E` (other controls, DEL and all
/// of non-ASCII) as `\uXXXX` with lowercase hex digits; and scalars above U+FFFF as a
/// UTF-16 surrogate pair of two such escapes.
enum PythonJSONStringWriter {
    /// Appends `text` as a quoted, ASCII-only JSON string.
    static func append(_ text: String, to output: inout [UInt8]) {
        output.append(ASCII.quote)
        var text = text
        text.withUTF8 { bytes in
            // Copy runs of printable ASCII in one go; escape everything else.
            var runStart = 0
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte >= 0x20, byte <= 0x7E, byte != ASCII.quote, byte != ASCII.backslash {
                    index += 1
                    continue
                }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                let (scalar, length) = decodeScalar(in: bytes, at: index)
                appendEscape(for: scalar, to: &output)
                index += length
                runStart = index
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
        output.append(ASCII.quote)
    }

    /// The scalar whose UTF-8 starts at `index`, and its length in bytes. A Swift string's
    /// UTF-8 is always valid, so the lead byte alone gives the length.
    @inline(__always)
    private static func decodeScalar(in bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (UInt32, Int) {
        let lead = UInt32(bytes[index])
        switch lead {
        case 0..<0x80:
            return (lead, 1)
        case 0xC0..<0xE0:
            return ((lead & 0x1F) << 6 | UInt32(bytes[index + 1] & 0x3F), 2)
        case 0xE0..<0xF0:
            return ((lead & 0x0F) << 12 | UInt32(bytes[index + 1] & 0x3F) << 6 | UInt32(bytes[index + 2] & 0x3F), 3)
        default:
            let value =
                (lead & 0x07) << 18 | UInt32(bytes[index + 1] & 0x3F) << 12 | UInt32(bytes[index + 2] & 0x3F) << 6
                | UInt32(bytes[index + 3] & 0x3F)
            return (value, 4)
        }
    }

    private static func appendEscape(for value: UInt32, to output: inout [UInt8]) {
        switch value {
        case UInt32(ASCII.quote), UInt32(ASCII.backslash):
            output.append(ASCII.backslash)
            output.append(UInt8(value))
        case 0x0A: output.append(contentsOf: [ASCII.backslash, UInt8(ascii: "n")])
        case 0x0D: output.append(contentsOf: [ASCII.backslash, UInt8(ascii: "r")])
        case 0x09: output.append(contentsOf: [ASCII.backslash, UInt8(ascii: "t")])
        case 0x08: output.append(contentsOf: [ASCII.backslash, UInt8(ascii: "b")])
        case 0x0C: output.append(contentsOf: [ASCII.backslash, UInt8(ascii: "f")])
        case 0..<0x1_0000:
            appendUnicodeEscape(UInt16(value), to: &output)
        default:
            // Above the Basic Multilingual Plane: a UTF-16 surrogate pair, as Python writes it.
            let offset = value - 0x1_0000
            appendUnicodeEscape(UInt16(0xD800 + (offset >> 10)), to: &output)
            appendUnicodeEscape(UInt16(0xDC00 + (offset & 0x3FF)), to: &output)
        }
    }

    private static func appendUnicodeEscape(_ unit: UInt16, to output: inout [UInt8]) {
        ASCII.append(count: 6, to: &output) { buffer in
            buffer[0] = ASCII.backslash
            buffer[1] = UInt8(ascii: "u")
            for index in 0..<4 {
                buffer[2 + index] = ASCII.lowercaseHexDigit(UInt8(truncatingIfNeeded: unit >> (12 - 4 * index)))
            }
        }
    }
}
