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
        for scalar in text.unicodeScalars {
            let value = scalar.value
            switch value {
            case UInt32(ASCII.quote), UInt32(ASCII.backslash):
                output.append(ASCII.backslash)
                output.append(UInt8(value))
            case 0x0A: output.append(contentsOf: [ASCII.backslash, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [ASCII.backslash, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [ASCII.backslash, UInt8(ascii: "t")])
            case 0x08: output.append(contentsOf: [ASCII.backslash, UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [ASCII.backslash, UInt8(ascii: "f")])
            case 0x20...0x7E:
                output.append(UInt8(value))
            case 0..<0x1_0000:
                appendUnicodeEscape(UInt16(value), to: &output)
            default:
                for unit in UTF16.encode(scalar)! {
                    appendUnicodeEscape(unit, to: &output)
                }
            }
        }
        output.append(ASCII.quote)
    }

    private static func appendUnicodeEscape(_ unit: UInt16, to output: inout [UInt8]) {
        output.append(ASCII.backslash)
        output.append(UInt8(ascii: "u"))
        for shift in stride(from: 12, through: 0, by: -4) {
            output.append(ASCII.lowercaseHexDigits[Int((unit >> UInt16(shift)) & 0xF)])
        }
    }
}
