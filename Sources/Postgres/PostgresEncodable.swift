/// A Swift value that can be bound to a statement parameter (`$1`, `$2`, …).
///
/// Values travel in PostgreSQL's text format; the server converts them to the parameter's type, which
/// the statement may state with a cast (`$1::int`, `$2::text[]`). `String`, `Int`, `Int64`, `Int32`,
/// `Bool`, `Double`, `Optional` (`nil` is SQL `NULL`) and `Array` of these (a PostgreSQL array, for
/// `unnest($1::text[])`) conform.
///
/// Timestamps travel as strings, such as `"2020-11-16T20:00"` bound to `$1::timestamp`.
///
/// PostgreSQL text cannot hold the NUL character: a value whose text contains one is refused with
/// ``PostgresError/Code/misuse`` before anything is sent.
public protocol PostgresEncodable: Sendable {
    /// Appends this value's text form to `buffer`. Not called when ``isPostgresNull`` is true.
    func encodePostgresText(into buffer: inout [UInt8])

    /// Appends this value as one element of an array literal (`{…}`), quoted as needed.
    ///
    /// The default quotes the text form and escapes `"` and `\`, which is right for every type; numbers
    /// and booleans skip the quotes.
    func encodePostgresArrayElement(into buffer: inout [UInt8])

    /// Whether this value is SQL `NULL`. Only `Optional.none` is.
    var isPostgresNull: Bool { get }
}

extension PostgresEncodable {
    public var isPostgresNull: Bool { false }

    public func encodePostgresArrayElement(into buffer: inout [UInt8]) {
        var text: [UInt8] = []
        self.encodePostgresText(into: &text)
        PostgresArrayLiteral.appendQuoted(text, to: &buffer)
    }
}

extension String: PostgresEncodable {
    public func encodePostgresText(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: self.utf8)
    }

    public func encodePostgresArrayElement(into buffer: inout [UInt8]) {
        var string = self
        // Native strings are contiguous UTF-8; makeContiguousUTF8 copies only bridged or odd ones.
        string.makeContiguousUTF8()
        string.utf8.withContiguousStorageIfAvailable { PostgresArrayLiteral.appendQuoted(bytes: $0, to: &buffer) }!
    }
}

extension Substring: PostgresEncodable {
    public func encodePostgresText(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: self.utf8)
    }

    public func encodePostgresArrayElement(into buffer: inout [UInt8]) {
        PostgresArrayLiteral.appendQuoted(self.utf8, to: &buffer)
    }
}

extension Int: PostgresEncodable {
    public func encodePostgresText(into buffer: inout [UInt8]) {
        PostgresArrayLiteral.appendDecimal(Int64(self), to: &buffer)
    }

    public func encodePostgresArrayElement(into buffer: inout [UInt8]) {
        self.encodePostgresText(into: &buffer)
    }
}

extension Int64: PostgresEncodable {
    public func encodePostgresText(into buffer: inout [UInt8]) {
        PostgresArrayLiteral.appendDecimal(self, to: &buffer)
    }

    public func encodePostgresArrayElement(into buffer: inout [UInt8]) {
        self.encodePostgresText(into: &buffer)
    }
}

extension Int32: PostgresEncodable {
    public func encodePostgresText(into buffer: inout [UInt8]) {
        PostgresArrayLiteral.appendDecimal(Int64(self), to: &buffer)
    }

    public func encodePostgresArrayElement(into buffer: inout [UInt8]) {
        self.encodePostgresText(into: &buffer)
    }
}

extension Bool: PostgresEncodable {
    public func encodePostgresText(into buffer: inout [UInt8]) {
        buffer.append(self ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }

    public func encodePostgresArrayElement(into buffer: inout [UInt8]) {
        self.encodePostgresText(into: &buffer)
    }
}

extension Double: PostgresEncodable {
    /// Writes the shortest text that reads back as the same `Double`; infinities and NaN use
    /// PostgreSQL's spellings (`Infinity`, `-Infinity`, `NaN`).
    public func encodePostgresText(into buffer: inout [UInt8]) {
        if self.isNaN {
            buffer.append(contentsOf: "NaN".utf8)
        } else if self.isInfinite {
            buffer.append(contentsOf: (self < 0 ? "-Infinity" : "Infinity").utf8)
        } else {
            buffer.append(contentsOf: self.description.utf8)
        }
    }

    public func encodePostgresArrayElement(into buffer: inout [UInt8]) {
        self.encodePostgresText(into: &buffer)
    }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var isPostgresNull: Bool { self == nil }

    public func encodePostgresText(into buffer: inout [UInt8]) {
        // The caller checks `isPostgresNull` first; `nil` has no text form.
        if let value = self {
            value.encodePostgresText(into: &buffer)
        }
    }

    public func encodePostgresArrayElement(into buffer: inout [UInt8]) {
        if let value = self {
            value.encodePostgresArrayElement(into: &buffer)
        } else {
            buffer.append(contentsOf: "NULL".utf8)
        }
    }
}

extension Array: PostgresEncodable where Element: PostgresEncodable {
    /// Writes a PostgreSQL array literal: `{"a","b",NULL}`. Strings are always quoted, so empty strings,
    /// the string `"NULL"`, spaces, commas, braces, quotes and backslashes all survive; `nil` elements
    /// are `NULL`. An array of arrays is a multi-dimensional array (the server requires equal lengths).
    public func encodePostgresText(into buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "{"))
        var first = true
        for element in self {
            if !first { buffer.append(UInt8(ascii: ",")) }
            first = false
            element.encodePostgresArrayElement(into: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
    }

    /// A nested array is written unquoted, as PostgreSQL's multi-dimensional array syntax requires.
    public func encodePostgresArrayElement(into buffer: inout [UInt8]) {
        self.encodePostgresText(into: &buffer)
    }
}

/// Helpers for PostgreSQL's array literal syntax (section 8.15.6 of the manual): elements are separated
/// by commas; a double-quoted element may contain anything, with `"` and `\` escaped by a backslash.
enum PostgresArrayLiteral {
    static func appendQuoted(_ bytes: some Sequence<UInt8>, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        for byte in bytes {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                buffer.append(UInt8(ascii: "\\"))
            }
            buffer.append(byte)
        }
        buffer.append(UInt8(ascii: "\""))
    }

    /// ``appendQuoted(_:to:)`` for contiguous bytes: copies the runs between `"` and `\\` in bulk.
    static func appendQuoted(bytes: UnsafeBufferPointer<UInt8>, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        var runStart = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                buffer.append(UInt8(ascii: "\\"))
                runStart = index
            }
        }
        buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        buffer.append(UInt8(ascii: "\""))
    }

    static func appendDecimal(_ value: Int64, to buffer: inout [UInt8]) {
        if value == 0 {
            buffer.append(UInt8(ascii: "0"))
            return
        }
        // Work on the magnitude as UInt64 so that Int64.min does not overflow.
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            while magnitude > 0 {
                raw[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
            if value < 0 { buffer.append(UInt8(ascii: "-")) }
            for index in stride(from: count - 1, through: 0, by: -1) {
                buffer.append(raw[index])
            }
        }
    }
}
