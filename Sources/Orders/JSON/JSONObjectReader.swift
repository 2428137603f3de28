/// A strict, allocation-free reader for one JSON object whose fields the caller interprets.
///
/// Event records and API bodies are flat objects of strings, integers, booleans and null,
/// so this reader hands out each field as a token that points into the input: nothing is
/// copied until the caller asks for a value, and fields it does not care about cost only
/// the scan. Nested objects and arrays are validated and skipped (reported as
/// ``JSONValue/object`` or ``JSONValue/array``), so a future event type that carries one
/// still reads as an event of an unknown type rather than as a corrupt line.
///
/// Strict means RFC 8259 and nothing more: no comments, no trailing commas, no single
/// quotes, no leading zeros, no raw control characters in strings, only valid UTF-8, and no
/// `\u` escape that leaves a lone surrogate. Anything after the closing brace other than
/// JSON whitespace is an error.
///
/// The reader borrows `bytes`; it and every token it returns are valid only while the
/// caller keeps that memory alive.
struct JSONObjectReader {
    /// Arrays and objects nested deeper than this are refused, so that hostile input
    /// cannot exhaust the stack of the recursive skip.
    static let maximumNestingDepth = 32

    let bytes: UnsafeBufferPointer<UInt8>
    private var position: Int
    private var state: State

    private enum State {
        case beforeFirstField
        case afterField
        case finished
    }

    /// Starts reading a document that must be a single JSON object.
    ///
    /// - Throws: ``JSONSyntaxError`` when the document does not start with `{`.
    init(bytes: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) {
        self.bytes = bytes
        self.position = 0
        self.state = .beforeFirstField
        skipWhitespace()
        guard position < bytes.count else {
            throw JSONSyntaxError(at: position, "expected a JSON object, found the end of the input")
        }
        guard bytes[position] == ASCII.openBrace else {
            throw JSONSyntaxError(at: position, "expected a JSON object starting with '{'")
        }
        position += 1
    }

    /// Reads the next field of the object.
    ///
    /// - Returns: the field, or `nil` after the closing brace (and on every later call).
    /// - Throws: ``JSONSyntaxError`` at the first byte that breaks the grammar.
    mutating func nextField() throws(JSONSyntaxError) -> JSONField? {
        skipWhitespace()
        switch state {
        case .finished:
            return nil
        case .beforeFirstField:
            if position < bytes.count, bytes[position] == ASCII.closeBrace {
                try finishDocument()
                return nil
            }
        case .afterField:
            guard position < bytes.count else {
                throw JSONSyntaxError(at: position, "expected ',' or '}', found the end of the input")
            }
            if bytes[position] == ASCII.closeBrace {
                try finishDocument()
                return nil
            }
            guard bytes[position] == ASCII.comma else {
                throw JSONSyntaxError(at: position, "expected ',' or '}' after a field")
            }
            position += 1
            skipWhitespace()
        }
        guard position < bytes.count, bytes[position] == ASCII.quote else {
            throw JSONSyntaxError(at: position, "expected a field name in double quotes")
        }
        let nameOffset = position
        let name = try readString()
        skipWhitespace()
        guard position < bytes.count, bytes[position] == ASCII.colon else {
            throw JSONSyntaxError(at: position, "expected ':' after a field name")
        }
        position += 1
        skipWhitespace()
        let valueOffset = position
        let value = try readValue(depth: 0)
        state = .afterField
        return JSONField(name: name, value: value, nameOffset: nameOffset, valueOffset: valueOffset)
    }

    // MARK: Tokens to values

    /// Whether a string token holds exactly `literal` (an ASCII field name, say).
    ///
    /// Literals are `StaticString`s so that comparing costs no reference counting: field
    /// names are compared for every field of every line.
    func string(_ token: JSONString, equals literal: StaticString) -> Bool {
        if token.hasEscapes {
            return decodeString(token).utf8.elementsEqual(
                UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
            )
        }
        guard token.range.count == literal.utf8CodeUnitCount else { return false }
        var index = token.range.lowerBound
        var pointer = literal.utf8Start
        while index < token.range.upperBound {
            guard bytes[index] == pointer.pointee else { return false }
            index += 1
            pointer += 1
        }
        return true
    }

    /// The text of a string token, with its escapes decoded.
    func decodeString(_ token: JSONString) -> String {
        if !token.hasEscapes {
            // Already checked to be valid UTF-8 without escapes: the bytes are the text.
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[token.range]), as: UTF8.self)
        }
        var text: [UInt8] = []
        text.reserveCapacity(token.range.count)
        var index = token.range.lowerBound
        while index < token.range.upperBound {
            let byte = bytes[index]
            guard byte == ASCII.backslash else {
                text.append(byte)
                index += 1
                continue
            }
            // readString checked every escape, so each is complete and well formed here.
            let kind = bytes[index + 1]
            switch kind {
            case UInt8(ascii: "b"): text.append(0x08)
            case UInt8(ascii: "f"): text.append(0x0C)
            case UInt8(ascii: "n"): text.append(0x0A)
            case UInt8(ascii: "r"): text.append(0x0D)
            case UInt8(ascii: "t"): text.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(hexQuad(at: index + 2)!)
                if UTF16.isLeadSurrogate(UInt16(scalar)) {
                    let trail = UInt32(hexQuad(at: index + 8)!)
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (trail - 0xDC00)
                    index += 6
                }
                UTF8.encode(Unicode.Scalar(scalar)!) { text.append($0) }
                index += 4
            default:
                text.append(kind)  // \" \\ \/ stand for themselves
            }
            index += 2
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Calls `body` with the UTF-8 bytes of a string token, decoding escapes only if there
    /// are any.
    func withUTF8<Result, Failure: Error>(
        of token: JSONString,
        _ body: (UnsafeBufferPointer<UInt8>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        if !token.hasEscapes {
            return try body(UnsafeBufferPointer(rebasing: bytes[token.range]))
        }
        return try Array(decodeString(token).utf8).withUnsafeBufferPointer(body)
    }

    // MARK: Scanning

    private mutating func finishDocument() throws(JSONSyntaxError) {
        position += 1  // the closing brace
        state = .finished
        skipWhitespace()
        guard position == bytes.count else {
            throw JSONSyntaxError(at: position, "unexpected data after the end of the JSON object")
        }
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case ASCII.space, ASCII.tab, ASCII.lineFeed, ASCII.carriageReturn: position += 1
            default: return
            }
        }
    }

    private mutating func readValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard position < bytes.count else {
            throw JSONSyntaxError(at: position, "expected a value, found the end of the input")
        }
        switch bytes[position] {
        case ASCII.quote:
            return .string(try readString())
        case ASCII.minus, ASCII.zero...ASCII.nine:
            return try readNumber()
        case UInt8(ascii: "t"):
            try readLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try readLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try readLiteral("null")
            return .null
        case ASCII.openBrace:
            try skipObject(depth: depth + 1)
            return .object
        case ASCII.openBracket:
            try skipArray(depth: depth + 1)
            return .array
        default:
            throw JSONSyntaxError(at: position, "expected a value (string, number, true, false, null, object or array)")
        }
    }

    private mutating func readLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
        let start = position
        let count = literal.utf8CodeUnitCount
        guard bytes.count - position >= count else {
            throw JSONSyntaxError(at: start, "expected '\(literal)'")
        }
        for offset in 0..<count where bytes[position + offset] != literal.utf8Start[offset] {
            throw JSONSyntaxError(at: position + offset, "expected '\(literal)'")
        }
        position += count
    }

    /// Reads a string token, checking escapes and UTF-8 but decoding nothing.
    private mutating func readString() throws(JSONSyntaxError) -> JSONString {
        let opening = position
        var index = position + 1
        var hasEscapes = false
        while true {
            // Most of a line is plain ASCII text: skip it a word at a time.
            while bytes.count - index >= ByteWord.width,
                !ByteWord.needsJSONStringAttention(ByteWord.load(bytes, at: index))
            {
                index += ByteWord.width
            }
            guard index < bytes.count else {
                throw JSONSyntaxError(at: opening, "unterminated string")
            }
            let byte = bytes[index]
            if byte == ASCII.quote {
                break
            } else if byte == ASCII.backslash {
                hasEscapes = true
                index = try checkEscape(at: index)
            } else if byte < 0x20 {
                throw JSONSyntaxError(at: index, "control character in a string must be escaped")
            } else if byte < 0x80 {
                index += 1
            } else {
                index = try checkUTF8Sequence(at: index)
            }
        }
        position = index + 1
        return JSONString(range: (opening + 1)..<index, hasEscapes: hasEscapes)
    }

    /// Checks the escape starting at the backslash at `index`; returns the index after it.
    private func checkEscape(at index: Int) throws(JSONSyntaxError) -> Int {
        guard index + 1 < bytes.count else {
            throw JSONSyntaxError(at: index, "unterminated escape sequence")
        }
        switch bytes[index + 1] {
        case ASCII.quote, ASCII.backslash, ASCII.slash,
            UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return index + 2
        case UInt8(ascii: "u"):
            guard let unit = hexQuad(at: index + 2) else {
                throw JSONSyntaxError(at: index, "expected four hexadecimal digits after \\u")
            }
            if UTF16.isTrailSurrogate(unit) {
                throw JSONSyntaxError(at: index, "lone surrogate in \\u escape (a low surrogate without a high one)")
            }
            guard UTF16.isLeadSurrogate(unit) else { return index + 6 }
            // A high surrogate must be followed at once by an escaped low surrogate: JSON
            // text is Unicode, and a lone surrogate is not a character.
            guard index + 7 < bytes.count, bytes[index + 6] == ASCII.backslash,
                bytes[index + 7] == UInt8(ascii: "u"), let trail = hexQuad(at: index + 8),
                UTF16.isTrailSurrogate(trail)
            else {
                throw JSONSyntaxError(at: index, "lone surrogate in \\u escape (a high surrogate without a low one)")
            }
            return index + 12
        default:
            throw JSONSyntaxError(at: index, "invalid escape sequence")
        }
    }

    /// The four hex digits at `index` as a UTF-16 code unit, or nil if they are not there.
    private func hexQuad(at index: Int) -> UInt16? {
        guard index >= 0, bytes.count - index >= 4 else { return nil }
        var value: UInt16 = 0
        for offset in 0..<4 {
            guard let digit = ASCII.hexDigitValue(bytes[index + offset]) else { return nil }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    /// Checks one multi-byte UTF-8 sequence starting at `index`; returns the index after it.
    ///
    /// The ranges are those of the Unicode Standard's table of well-formed UTF-8 byte
    /// sequences (Table 3-7): they exclude overlong forms, surrogates and values above
    /// U+10FFFF.
    private func checkUTF8Sequence(at index: Int) throws(JSONSyntaxError) -> Int {
        let lead = bytes[index]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            secondRange = 0x80...0x9F
        case 0xF0:
            length = 4
            secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            secondRange = 0x80...0x8F
        default: throw JSONSyntaxError(at: index, "invalid UTF-8")
        }
        guard bytes.count - index >= length, secondRange.contains(bytes[index + 1]) else {
            throw JSONSyntaxError(at: index, "invalid UTF-8")
        }
        for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 {
            throw JSONSyntaxError(at: index, "invalid UTF-8")
        }
        return index + length
    }

    private mutating func readNumber() throws(JSONSyntaxError) -> JSONValue {
        var index = position
        let negative = bytes[index] == ASCII.minus
        if negative { index += 1 }
        guard index < bytes.count, ASCII.isDigit(bytes[index]) else {
            throw JSONSyntaxError(at: index, "expected a digit")
        }
        let integerStart = index
        var magnitude: UInt64 = 0
        var fitsInUInt64 = true
        if bytes[index] == ASCII.zero {
            index += 1
            if index < bytes.count, ASCII.isDigit(bytes[index]) {
                throw JSONSyntaxError(at: index - 1, "numbers cannot have leading zeros")
            }
        } else {
            while index < bytes.count, ASCII.isDigit(bytes[index]) {
                let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[index] - ASCII.zero))
                if overflow1 || overflow2 { fitsInUInt64 = false }
                magnitude = sum
                index += 1
            }
        }
        let integerDigits = integerStart..<index
        var fractionDigits = index..<index
        var exponent = 0
        var isInteger = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            let fractionStart = index
            index = try skipDigits(from: index)
            fractionDigits = fractionStart..<index
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            index += 1
            let exponentNegative = index < bytes.count && bytes[index] == ASCII.minus
            if index < bytes.count, bytes[index] == ASCII.plus || bytes[index] == ASCII.minus { index += 1 }
            let exponentStart = index
            index = try skipDigits(from: index)
            // Saturates far beyond any exponent that can leave a 64-bit whole number.
            for digit in bytes[exponentStart..<index] {
                exponent = min(exponent * 10 + Int(digit - ASCII.zero), 1_000_000)
            }
            if exponentNegative { exponent = -exponent }
        }
        position = index
        guard isInteger else {
            return .nonIntegerNumber(
                whole: wholeValue(integerDigits: integerDigits, fractionDigits: fractionDigits, exponent: exponent)
                    .map { JSONInteger(isNegative: negative, magnitude: $0) })
        }
        guard fitsInUInt64 else { return .nonIntegerNumber(whole: nil) }
        return .integer(JSONInteger(isNegative: negative, magnitude: magnitude))
    }

    /// The magnitude of a number written with a fraction or an exponent (`2.0`, `1e3`, `2500e-2`) when its
    /// value is a whole number that fits in 64 bits: the same number as an integer, in JSON's data model.
    private func wholeValue(integerDigits: Range<Int>, fractionDigits: Range<Int>, exponent: Int) -> UInt64? {
        let digitCount = integerDigits.count + fractionDigits.count
        func digit(_ i: Int) -> UInt64 {
            let byte =
                i < integerDigits.count
                ? bytes[integerDigits.lowerBound + i] : bytes[fractionDigits.lowerBound + i - integerDigits.count]
            return UInt64(byte - ASCII.zero)
        }
        // The digits before the decimal point once the exponent has moved it.
        let point = integerDigits.count + exponent
        guard let firstNonZero = (0..<digitCount).first(where: { digit($0) != 0 }) else { return 0 }
        let afterPoint = min(max(point, 0), digitCount)..<digitCount
        guard afterPoint.allSatisfy({ digit($0) == 0 }), point > firstNonZero else { return nil }
        guard point - firstNonZero <= 20 else { return nil }  // at least 10^20: more than 64 bits
        var value: UInt64 = 0
        for i in firstNonZero..<point {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(i < digitCount ? digit(i) : 0)
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    /// Skips one or more digits; returns the index after them.
    private func skipDigits(from start: Int) throws(JSONSyntaxError) -> Int {
        var index = start
        while index < bytes.count, ASCII.isDigit(bytes[index]) { index += 1 }
        guard index > start else { throw JSONSyntaxError(at: index, "expected a digit") }
        return index
    }

    private mutating func skipObject(depth: Int) throws(JSONSyntaxError) {
        guard depth <= Self.maximumNestingDepth else {
            throw JSONSyntaxError(at: position, "nested deeper than \(Self.maximumNestingDepth) levels")
        }
        position += 1  // {
        skipWhitespace()
        if position < bytes.count, bytes[position] == ASCII.closeBrace {
            position += 1
            return
        }
        while true {
            guard position < bytes.count, bytes[position] == ASCII.quote else {
                throw JSONSyntaxError(at: position, "expected a field name in double quotes")
            }
            _ = try readString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == ASCII.colon else {
                throw JSONSyntaxError(at: position, "expected ':' after a field name")
            }
            position += 1
            skipWhitespace()
            _ = try readValue(depth: depth)
            skipWhitespace()
            guard position < bytes.count else {
                throw JSONSyntaxError(at: position, "expected ',' or '}', found the end of the input")
            }
            if bytes[position] == ASCII.closeBrace {
                position += 1
                return
            }
            guard bytes[position] == ASCII.comma else {
                throw JSONSyntaxError(at: position, "expected ',' or '}' after a field")
            }
            position += 1
            skipWhitespace()
        }
    }

    private mutating func skipArray(depth: Int) throws(JSONSyntaxError) {
        guard depth <= Self.maximumNestingDepth else {
            throw JSONSyntaxError(at: position, "nested deeper than \(Self.maximumNestingDepth) levels")
        }
        position += 1  // [
        skipWhitespace()
        if position < bytes.count, bytes[position] == ASCII.closeBracket {
            position += 1
            return
        }
        while true {
            _ = try readValue(depth: depth)
            skipWhitespace()
            guard position < bytes.count else {
                throw JSONSyntaxError(at: position, "expected ',' or ']', found the end of the input")
            }
            if bytes[position] == ASCII.closeBracket {
                position += 1
                return
            }
            guard bytes[position] == ASCII.comma else {
                throw JSONSyntaxError(at: position, "expected ',' or ']' after an array element")
            }
            position += 1
            skipWhitespace()
        }
    }
}

/// One `"name": value` pair of an object, as tokens into the reader's input.
struct JSONField {
    let name: JSONString
    let value: JSONValue
    /// Where the name's opening quote is, for error messages.
    let nameOffset: Int
    /// Where the value starts, for error messages.
    let valueOffset: Int
}

/// A string in the input: the bytes between its quotes, still escaped.
struct JSONString {
    let range: Range<Int>
    /// False for the common case, where the bytes are the text as they stand.
    let hasEscapes: Bool
}

/// An integer without fraction or exponent that fits in 64 bits of magnitude.
struct JSONInteger {
    let isNegative: Bool
    let magnitude: UInt64
}

/// A field value, as far as a flat object's reader needs to know it.
enum JSONValue {
    case string(JSONString)
    case integer(JSONInteger)
    /// A valid number with a fraction or exponent, or too large for 64 bits. `whole` is its value when it
    /// has a fraction or exponent but is a whole number within 64 bits (`2.0`, `1e2`): the same number as
    /// the integer in JSON's data model, for readers that take it as one.
    case nonIntegerNumber(whole: JSONInteger?)
    case bool(Bool)
    case null
    /// A nested object, checked and skipped.
    case object
    /// An array, checked and skipped.
    case array
}

extension JSONObjectReader {
    /// The position of a field name in `names`, or nil.
    func index(of token: JSONString, in names: [StaticString]) -> Int? {
        names.firstIndex { string(token, equals: $0) }
    }

    /// A field name as it can be shown in a message: a JSON string literal, cut to 60
    /// scalars, so that quotes, controls or a megabyte-long name cannot garble the message.
    func quotedForMessage(_ token: JSONString) -> String {
        let name = decodeString(token)
        var shown = String(String.UnicodeScalarView(name.unicodeScalars.prefix(60)))
        if shown.unicodeScalars.count < name.unicodeScalars.count { shown += "…" }
        var quoted: [UInt8] = []
        JSONStringWriter.append(shown, to: &quoted)
        return String(decoding: quoted, as: UTF8.self)
    }
}
