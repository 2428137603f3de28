/// The fields of an `application/x-www-form-urlencoded` body, decoded as the WHATWG URL standard's
/// parser does: `&` separates pairs, `=` names from values, `+` is a space, `%XX` a byte (a `%` not
/// followed by two hex digits stays as it is); the decoded bytes must be UTF-8.
///
/// It lives beside ``ReservationForm`` rather than in the HTTP layer so that it is plain bytes in,
/// strings out, and can be tested (and fuzzed) without a web server. The HTTP layer picks the
/// reservation's fields out of it by its own field names.
package struct URLEncodedForm: Sendable {
    /// The pairs in body order; a repeated name keeps every value.
    package let pairs: [(name: String, value: String)]

    /// The first value of `name`, or nil when the body has no such field.
    package subscript(name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    /// Parses a form body; nil when a name or value does not decode to UTF-8.
    package init?(body: some Collection<UInt8>) {
        let parsed = withContiguousBytes(of: body) { bytes in Self.parse(bytes) }
        guard let parsed else { return nil }
        pairs = parsed
    }

    private static func parse(_ body: UnsafeBufferPointer<UInt8>) -> [(name: String, value: String)]? {
        var pairs: [(name: String, value: String)] = []
        for part in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = part.firstIndex(of: UInt8(ascii: "="))
            let rawName = part[part.startIndex..<(equals ?? part.endIndex)]
            let rawValue = equals.map { part[part.index(after: $0)...] } ?? part[part.endIndex...]
            guard let name = decode(rawName), let value = decode(rawValue) else { return nil }
            pairs.append((name, value))
        }
        return pairs
    }

    private static func decode(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> String? {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                decoded.append(UInt8(ascii: " "))
                index += 1
            } else if byte == UInt8(ascii: "%"), bytes.endIndex - index >= 3,
                let high = ASCII.hexDigitValue(bytes[index + 1]), let low = ASCII.hexDigitValue(bytes[index + 2])
            {
                decoded.append(high << 4 | low)
                index += 3
            } else {
                decoded.append(byte)
                index += 1
            }
        }
        return String(validating: decoded, as: UTF8.self)
    }
}
