/// Trimming and line-break normalisation of what guests type.
enum GuestText {
    /// `text` without leading and trailing whitespace (Unicode's White_Space property, so
    /// no-break and ideographic spaces go too). Returns `text` itself when there is none.
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isWhitespace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isWhitespace($0) })!
        if first == scalars.startIndex, scalars.index(after: last) == scalars.endIndex {
            return text
        }
        return String(scalars[first...last])
    }

    /// Whether `scalar` has Unicode's White_Space property.
    ///
    /// The same answer as `scalar.properties.isWhitespace`, which looks the property up in
    /// the Unicode tables and is the slowest part of checking a name otherwise. The set
    /// has been these 25 scalars since Unicode 6.3 (2013).
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: true
        default: false
        }
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
