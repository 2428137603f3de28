extension LocalDateTime: CustomStringConvertible, LosslessStringConvertible {
    /// The date and time as `YYYY-MM-DDTHH:MM`, e.g. `2020-11-16T20:00`.
    public var description: String {
        var text: [UInt8] = []
        text.reserveCapacity(16)
        appendText(to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Parses the exact form `YYYY-MM-DDTHH:MM` (what ``description`` writes); nil for
    /// anything else.
    public init?(_ description: String) {
        guard let value = try? Self.parse(description, allowingZeroSeconds: false) else { return nil }
        self = value
    }

    /// Parses `YYYY-MM-DDTHH:MM`, and with `allowingZeroSeconds` also
    /// `YYYY-MM-DDTHH:MM:00`.
    ///
    /// Browsers send an HTML `datetime-local` value with `:00` seconds when the input's
    /// step asks for them; a booking is to the minute, so other seconds are refused rather
    /// than dropped. Nothing is trimmed: surrounding whitespace is a ``LocalDateTimeError/badFormat``.
    ///
    /// - Parameters:
    ///   - text: the date and time, four-digit year, two-digit everything else, a `T` between.
    ///   - allowingZeroSeconds: accept a `:00` seconds suffix. Defaults to true.
    /// - Throws: ``LocalDateTimeError`` saying what is wrong.
    public static func parse(
        _ text: some StringProtocol,
        allowingZeroSeconds: Bool = true
    ) throws(LocalDateTimeError) -> LocalDateTime {
        var text = String(text)
        return try text.withUTF8Bytes { bytes throws(LocalDateTimeError) in
            try parse(utf8: bytes, allowingZeroSeconds: allowingZeroSeconds)
        }
    }

    /// ``parse(_:allowingZeroSeconds:)`` over UTF-8 bytes, for the JSON readers.
    static func parse(
        utf8 bytes: UnsafeBufferPointer<UInt8>,
        allowingZeroSeconds: Bool
    ) throws(LocalDateTimeError) -> LocalDateTime {
        let hasSeconds = bytes.count == 19
        guard bytes.count == 16 || (hasSeconds && allowingZeroSeconds) else { throw .badFormat }
        guard bytes[4] == ASCII.minus, bytes[7] == ASCII.minus, bytes[10] == UInt8(ascii: "T"),
            bytes[13] == ASCII.colon,
            let year = ASCII.decimal(in: bytes, at: 0, width: 4),
            let month = ASCII.decimal(in: bytes, at: 5, width: 2),
            let day = ASCII.decimal(in: bytes, at: 8, width: 2),
            let hour = ASCII.decimal(in: bytes, at: 11, width: 2),
            let minute = ASCII.decimal(in: bytes, at: 14, width: 2)
        else { throw .badFormat }
        var seconds = 0
        if hasSeconds {
            guard bytes[16] == ASCII.colon, let value = ASCII.decimal(in: bytes, at: 17, width: 2) else {
                throw .badFormat
            }
            seconds = value
        }
        let dateTime = try LocalDateTime(year: year, month: month, day: day, hour: hour, minute: minute)
        guard seconds == 0 else { throw .secondsNotZero }
        return dateTime
    }

    /// Appends the 16 bytes of ``description``.
    package func appendText(to output: inout [UInt8]) {
        ASCII.append(count: 16, to: &output) { buffer in
            ASCII.writeDecimal(year, width: 4, into: buffer, at: 0)
            buffer[4] = ASCII.minus
            ASCII.writeDecimal(month, width: 2, into: buffer, at: 5)
            buffer[7] = ASCII.minus
            ASCII.writeDecimal(day, width: 2, into: buffer, at: 8)
            buffer[10] = UInt8(ascii: "T")
            ASCII.writeDecimal(hour, width: 2, into: buffer, at: 11)
            buffer[13] = ASCII.colon
            ASCII.writeDecimal(minute, width: 2, into: buffer, at: 14)
        }
    }
}
