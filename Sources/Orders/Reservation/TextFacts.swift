/// What the reservation rules need to know about a text, gathered in one pass over its UTF-8.
struct TextFacts {
    /// Unicode scalars, which is what PostgreSQL's `varchar(n)` counts in a UTF-8 database.
    var scalarCount = 0
    /// A line feed (U+000A).
    var containsLineFeed = false
    /// A control character (general category Cc: U+0000–U+001F, U+007F–U+009F) other
    /// than a line feed. A carriage return counts: normalised text has none.
    var containsOtherControl = false
    /// U+2028 LINE SEPARATOR or U+2029 PARAGRAPH SEPARATOR, which are line breaks without
    /// being controls.
    var containsUnicodeLineSeparator = false
    /// A carriage return (U+000D), which clean text never has.
    var containsCarriageReturn = false
    /// Whitespace at the start or the end, which clean text never has.
    var hasSurroundingWhitespace = false

    init(of text: String) {
        var text = text
        text.withUTF8 { bytes in
            var index = 0
            while index < bytes.count {
                // Printable ASCII is one scalar per byte and nothing else to note.
                if bytes.count - index >= ByteWord.width,
                    !ByteWord.hasNonPrintableASCII(ByteWord.load(bytes, at: index))
                {
                    scalarCount += ByteWord.width
                    index += ByteWord.width
                    continue
                }
                let byte = bytes[index]
                if byte & 0xC0 != 0x80 { scalarCount += 1 }
                if byte < 0x20 || byte == ASCII.delete {
                    if byte == ASCII.lineFeed { containsLineFeed = true } else { containsOtherControl = true }
                    if byte == ASCII.carriageReturn { containsCarriageReturn = true }
                } else if byte == 0xC2, index + 1 < bytes.count, (0x80...0x9F).contains(bytes[index + 1]) {
                    containsOtherControl = true  // C1 controls, U+0080–U+009F
                } else if byte == 0xE2, index + 2 < bytes.count, bytes[index + 1] == 0x80,
                    bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9
                {
                    containsUnicodeLineSeparator = true
                }
                index += 1
            }
        }
        let scalars = text.unicodeScalars
        if let first = scalars.first, let last = scalars.last {
            hasSurroundingWhitespace = GuestText.isWhitespace(first) || GuestText.isWhitespace(last)
        }
    }
}
