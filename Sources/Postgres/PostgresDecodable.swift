/// A Swift value that can be read from a result column.
///
/// Results arrive in PostgreSQL's text format. `String` reads any column (timestamps, numerics, JSON,
/// …, as the server prints them); `Int`, `Int64`, `Int32`, `Double` and `Bool` read the server's text for
/// those types; `Optional` reads `NULL` as `nil`; `Array` reads a one- or multi-dimensional array.
public protocol PostgresDecodable: Sendable {
    /// Reads a value from the text the server sent (without a terminating NUL), or returns `nil` when
    /// the text is not a valid value of this type.
    init?(postgresText text: UnsafeBufferPointer<UInt8>)

    /// The value that SQL `NULL` decodes to, or `nil` when this type has none (then decoding a `NULL`
    /// fails with ``PostgresError/Code/misuse``). Only `Optional` has one.
    static var postgresNullValue: Self? { get }
}

extension PostgresDecodable {
    public static var postgresNullValue: Self? { nil }
}

extension String: PostgresDecodable {
    public init?(postgresText text: UnsafeBufferPointer<UInt8>) {
        self = String(decoding: text, as: UTF8.self)
    }
}

extension Int: PostgresDecodable {
    public init?(postgresText text: UnsafeBufferPointer<UInt8>) {
        guard let value = PostgresTextParsing.integer(text), let int = Int(exactly: value) else { return nil }
        self = int
    }
}

extension Int64: PostgresDecodable {
    public init?(postgresText text: UnsafeBufferPointer<UInt8>) {
        guard let value = PostgresTextParsing.integer(text) else { return nil }
        self = value
    }
}

extension Int32: PostgresDecodable {
    public init?(postgresText text: UnsafeBufferPointer<UInt8>) {
        guard let value = PostgresTextParsing.integer(text), let int = Int32(exactly: value) else { return nil }
        self = int
    }
}

extension Bool: PostgresDecodable {
    /// Reads `t`/`f` (how the server prints booleans) and also `true`/`false`.
    public init?(postgresText text: UnsafeBufferPointer<UInt8>) {
        switch String(decoding: text, as: UTF8.self) {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}

extension Double: PostgresDecodable {
    public init?(postgresText text: UnsafeBufferPointer<UInt8>) {
        switch String(decoding: text, as: UTF8.self) {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        case let string:
            guard let value = Double(string) else { return nil }
            self = value
        }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init?(postgresText text: UnsafeBufferPointer<UInt8>) {
        guard let value = Wrapped(postgresText: text) else { return nil }
        self = .some(value)
    }

    public static var postgresNullValue: Self? { .some(.none) }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// Reads an array literal such as `{a,"b c",NULL}` or `{{1,2},{3,4}}`, including one with explicit
    /// bounds (`[0:1]={1,2}`). `NULL` elements need an optional `Element`.
    public init?(postgresText text: UnsafeBufferPointer<UInt8>) {
        guard let elements = PostgresTextParsing.arrayElements(text) else { return nil }
        var result: [Element] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let bytes = element else {
                guard let null = Element.postgresNullValue else { return nil }
                result.append(null)
                continue
            }
            let decoded = bytes.withUnsafeBufferPointer { Element(postgresText: $0) }
            guard let decoded else { return nil }
            result.append(decoded)
        }
        self = result
    }
}

enum PostgresTextParsing {
    /// Parses an optionally signed decimal integer, without surrounding spaces.
    static func integer(_ text: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        var negative = false
        if index < text.count, text[index] == UInt8(ascii: "-") || text[index] == UInt8(ascii: "+") {
            negative = text[index] == UInt8(ascii: "-")
            index += 1
        }
        guard index < text.count else { return nil }
        var magnitude: UInt64 = 0
        while index < text.count {
            let byte = text[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
            index += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// Splits the top level of an array literal into its elements: the unescaped bytes of each, or
    /// `nil` for an unquoted `NULL`. A nested array element is returned as its literal text (`{…}`).
    static func arrayElements(_ text: UnsafeBufferPointer<UInt8>) -> [[UInt8]?]? {
        var index = 0
        let count = text.count
        // Optional dimension decoration: "[1:3]={...}" or "[1:2][1:2]={{...}}".
        if index < count, text[index] == UInt8(ascii: "[") {
            while index < count, text[index] != UInt8(ascii: "=") { index += 1 }
            index += 1
        }
        guard index < count, text[index] == UInt8(ascii: "{") else { return nil }
        index += 1

        func skipSpaces() {
            while index < count, text[index] == UInt8(ascii: " ") { index += 1 }
        }

        var elements: [[UInt8]?] = []
        skipSpaces()
        if index < count, text[index] == UInt8(ascii: "}") {
            index += 1
            return index == count ? elements : nil
        }
        while true {
            skipSpaces()
            guard index < count else { return nil }
            var element: [UInt8] = []
            switch text[index] {
            case UInt8(ascii: "\""):
                index += 1
                var closed = false
                while index < count {
                    let byte = text[index]
                    index += 1
                    if byte == UInt8(ascii: "\\") {
                        guard index < count else { return nil }
                        element.append(text[index])
                        index += 1
                    } else if byte == UInt8(ascii: "\"") {
                        closed = true
                        break
                    } else {
                        element.append(byte)
                    }
                }
                guard closed else { return nil }
                elements.append(element)
            case UInt8(ascii: "{"):
                // A nested array: keep its literal text, balanced braces, quotes respected.
                var depth = 0
                var inQuotes = false
                while index < count {
                    let byte = text[index]
                    element.append(byte)
                    index += 1
                    if inQuotes {
                        if byte == UInt8(ascii: "\\") {
                            guard index < count else { return nil }
                            element.append(text[index])
                            index += 1
                        } else if byte == UInt8(ascii: "\"") {
                            inQuotes = false
                        }
                    } else if byte == UInt8(ascii: "\"") {
                        inQuotes = true
                    } else if byte == UInt8(ascii: "{") {
                        depth += 1
                    } else if byte == UInt8(ascii: "}") {
                        depth -= 1
                        if depth == 0 { break }
                    }
                }
                guard depth == 0 else { return nil }
                elements.append(element)
            default:
                while index < count {
                    let byte = text[index]
                    if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") { break }
                    if byte == UInt8(ascii: "\\") {
                        index += 1
                        guard index < count else { return nil }
                        element.append(text[index])
                    } else {
                        element.append(byte)
                    }
                    index += 1
                }
                while element.last == UInt8(ascii: " ") { element.removeLast() }
                if element.count == 4, String(decoding: element, as: UTF8.self).uppercased() == "NULL" {
                    elements.append(nil)
                } else {
                    elements.append(element)
                }
            }
            skipSpaces()
            guard index < count else { return nil }
            if text[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard text[index] == UInt8(ascii: "}") else { return nil }
            index += 1
            return index == count ? elements : nil
        }
    }
}
