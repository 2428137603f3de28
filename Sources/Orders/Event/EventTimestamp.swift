/// When the log appended an event: a UTC time to the millisecond, as the text the log
/// wrote and as a number.
///
/// The text is RFC 3339 in exactly one shape, `YYYY-MM-DDTHH:MM:SS.sssZ` (e.g.
/// `2026-11-29T03:06:17.123Z`): UTC written as `Z`, three fraction digits, no leap second,
/// years 0001–9999. Because only that shape is accepted, the text and the number determine
/// each other, so only the number is stored and ``text`` is written again on demand: a read
/// model holding a million events saves a string allocation per event.
public struct EventTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public let millisecondsSinceEpoch: Int64

    /// The time as the log wrote it, e.g. `2026-11-29T03:06:17.123Z`.
    public var text: String {
        let days = millisecondsSinceEpoch.quotientAndRemainder(dividingBy: Self.millisecondsPerDay)
        let (dayNumber, milliseconds) =
            days.remainder < 0
            ? (Int(days.quotient) - 1, Int(days.remainder + Self.millisecondsPerDay))
            : (Int(days.quotient), Int(days.remainder))
        let date = GregorianCalendar.date(daysSinceUnixEpoch: dayNumber)
        var text: [UInt8] = []
        text.reserveCapacity(24)
        ASCII.appendDecimal(date.year, width: 4, to: &text)
        text.append(ASCII.minus)
        ASCII.appendDecimal(date.month, width: 2, to: &text)
        text.append(ASCII.minus)
        ASCII.appendDecimal(date.day, width: 2, to: &text)
        text.append(UInt8(ascii: "T"))
        ASCII.appendDecimal(milliseconds / 3_600_000, width: 2, to: &text)
        text.append(ASCII.colon)
        ASCII.appendDecimal(milliseconds / 60_000 % 60, width: 2, to: &text)
        text.append(ASCII.colon)
        ASCII.appendDecimal(milliseconds / 1000 % 60, width: 2, to: &text)
        text.append(UInt8(ascii: "."))
        ASCII.appendDecimal(milliseconds % 1000, width: 3, to: &text)
        text.append(UInt8(ascii: "Z"))
        return String(decoding: text, as: UTF8.self)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS.sssZ`; nil for any other shape or an impossible date.
    public init?(_ text: String) {
        var text = text
        guard let timestamp = text.withUTF8Bytes({ Self(utf8: $0) }) else { return nil }
        self = timestamp
    }

    /// The time `millisecondsSinceEpoch` after 1970-01-01T00:00:00Z.
    ///
    /// - Parameter millisecondsSinceEpoch: milliseconds since 1970-01-01T00:00:00Z.
    /// - Returns: nil outside the years 0001...9999, which the text cannot express.
    public init?(millisecondsSinceEpoch: Int64) {
        guard Self.representable.contains(millisecondsSinceEpoch) else { return nil }
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    /// 0001-01-01T00:00:00.000Z ... 9999-12-31T23:59:59.999Z.
    private static let representable: ClosedRange<Int64> = -62_135_596_800_000...253_402_300_799_999

    /// ``init(_:)`` over UTF-8 bytes, for the event decoder.
    init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        guard bytes.count == 24, bytes[4] == ASCII.minus, bytes[7] == ASCII.minus,
            bytes[10] == UInt8(ascii: "T"), bytes[13] == ASCII.colon, bytes[16] == ASCII.colon,
            bytes[19] == UInt8(ascii: "."), bytes[23] == UInt8(ascii: "Z"),
            let year = ASCII.decimal(in: bytes, at: 0, width: 4),
            let month = ASCII.decimal(in: bytes, at: 5, width: 2),
            let day = ASCII.decimal(in: bytes, at: 8, width: 2),
            let hour = ASCII.decimal(in: bytes, at: 11, width: 2),
            let minute = ASCII.decimal(in: bytes, at: 14, width: 2),
            let second = ASCII.decimal(in: bytes, at: 17, width: 2),
            let millisecond = ASCII.decimal(in: bytes, at: 20, width: 3),
            year >= 1, GregorianCalendar.isValidDate(year: year, month: month, day: day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        let days = GregorianCalendar.daysSinceUnixEpoch(year: year, month: month, day: day)
        let secondOfDay = (hour * 60 + minute) * 60 + second
        self.millisecondsSinceEpoch = Int64(days) * Self.millisecondsPerDay + Int64(secondOfDay * 1000 + millisecond)
    }

    private static let millisecondsPerDay: Int64 = 86_400_000

    public var description: String { text }

    public static func < (lhs: EventTimestamp, rhs: EventTimestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }
}
