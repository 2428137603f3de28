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

    init(of text: String) {
        var text = text
        text.withUTF8 { bytes in
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte & 0xC0 != 0x80 { scalarCount += 1 }
                if byte < 0x20 || byte == ASCII.delete {
                    if byte == ASCII.lineFeed { containsLineFeed = true } else { containsOtherControl = true }
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
    }
}

/// Trimming and line-break normalisation of what guests type.
enum GuestText {
    /// `text` without leading and trailing whitespace (Unicode's White_Space property, so
    /// no-break and ideographic spaces go too). Returns `text` itself when there is none.
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        if first == scalars.startIndex, scalars.index(after: last) == scalars.endIndex {
            return text
        }
        return String(scalars[first...last])
    }

    /// `text` with every CRLF and lone CR turned into LF.
    ///
    /// Browsers submit a textarea's line breaks as CRLF, pasted text may carry old Mac
    /// CRs, and API clients send LF: normalising makes the same notes the same bytes, and
    /// so the same digest. Returns `text` itself when it has no CR.
    static func normalizingLineBreaks(_ text: String) -> String {
        guard text.utf8.contains(ASCII.carriageReturn) else { return text }
        var normalised: [UInt8] = []
        normalised.reserveCapacity(text.utf8.count)
        var previousWasCarriageReturn = false
        // Working on bytes is safe: CR and LF never occur inside a multi-byte sequence.
        for byte in text.utf8 {
            if byte == ASCII.carriageReturn {
                normalised.append(ASCII.lineFeed)
            } else if !(byte == ASCII.lineFeed && previousWasCarriageReturn) {
                normalised.append(byte)
            }
            previousWasCarriageReturn = byte == ASCII.carriageReturn
        }
        return String(decoding: normalised, as: UTF8.self)
    }
}
