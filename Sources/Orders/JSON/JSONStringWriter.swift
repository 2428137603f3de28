/// Writes JSON string literals for event records: the shortest standard escaping.
///
/// Only what RFC 8259 requires is escaped — `"`, `\` and the C0 controls, with the short
/// forms `\n \r \t \b \f` where they exist — and everything else, non-ASCII included, is
/// copied as UTF-8. The output therefore never holds a raw line break, which is what lets
/// an event be one line of the log.
enum JSONStringWriter {
    /// Appends `text` as a quoted JSON string.
    static func append(_ text: String, to output: inout [UInt8]) {
        output.append(ASCII.quote)
        var text = text
        text.withUTF8 { bytes in
            // Copy runs of bytes that need no escape in one go; escapes are rare.
            var runStart = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == ASCII.quote || byte == ASCII.backslash else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                appendEscape(for: byte, to: &output)
                runStart = index + 1
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        }
        output.append(ASCII.quote)
    }

    private static func appendEscape(for byte: UInt8, to output: inout [UInt8]) {
        output.append(ASCII.backslash)
        switch byte {
        case ASCII.quote, ASCII.backslash: output.append(byte)
        case 0x08: output.append(UInt8(ascii: "b"))
        case 0x0C: output.append(UInt8(ascii: "f"))
        case ASCII.lineFeed: output.append(UInt8(ascii: "n"))
        case ASCII.carriageReturn: output.append(UInt8(ascii: "r"))
        case ASCII.tab: output.append(UInt8(ascii: "t"))
        default:
            output.append(contentsOf: [UInt8(ascii: "u"), ASCII.zero, ASCII.zero])
            output.append(ASCII.lowercaseHexDigit(byte >> 4))
            output.append(ASCII.lowercaseHexDigit(byte))
        }
    }
}
