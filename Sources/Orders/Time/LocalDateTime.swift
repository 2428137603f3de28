/// A wall-clock date and time to the minute, in the cafe's own time, with no time zone.
///
/// A booking for "16 November 2020, 20:00" means 20:00 on the cafe's clock whatever zone
/// the server or the guest is in, so no zone or UTC offset is stored, exactly like the
/// `timestamp(0)` column it ends up in. Years run from 1 to 9999 (four digits), and every
/// value is a real calendar date: there is no 2021-02-29.
///
/// The text form is `YYYY-MM-DDTHH:MM`, e.g. `2020-11-16T20:00`, which is also what an HTML
/// `datetime-local` input sends (see ``parse(_:allowingZeroSeconds:)`` for its `:00` form).
public struct LocalDateTime: Sendable, Hashable, Comparable {
    // Stored small, because a read model holds a million of these; the public accessors
    // below return plain Ints.
    private let storedYear: UInt16
    private let storedMonth: UInt8
    private let storedDay: UInt8
    private let storedHour: UInt8
    private let storedMinute: UInt8

    /// The year, 1...9999.
    public var year: Int { Int(storedYear) }
    /// The month, 1...12.
    public var month: Int { Int(storedMonth) }
    /// The day of the month, 1...31.
    public var day: Int { Int(storedDay) }
    /// The hour, 0...23.
    public var hour: Int { Int(storedHour) }
    /// The minute, 0...59.
    public var minute: Int { Int(storedMinute) }

    /// Creates a date and time from its parts, checking them against the calendar.
    ///
    /// - Parameters:
    ///   - year: 1...9999.
    ///   - month: 1...12.
    ///   - day: 1 up to the length of that month (29 for February in a leap year).
    ///   - hour: 0...23.
    ///   - minute: 0...59.
    /// - Throws: ``LocalDateTimeError/yearOutOfRange``, ``LocalDateTimeError/noSuchDate``
    ///   or ``LocalDateTimeError/noSuchTime``.
    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int) throws(LocalDateTimeError) {
        guard (1...9999).contains(year) else { throw .yearOutOfRange }
        guard GregorianCalendar.isValidDate(year: year, month: month, day: day) else { throw .noSuchDate }
        guard (0...23).contains(hour), (0...59).contains(minute) else { throw .noSuchTime }
        storedYear = UInt16(year)
        storedMonth = UInt8(month)
        storedDay = UInt8(day)
        storedHour = UInt8(hour)
        storedMinute = UInt8(minute)
    }

    public static func < (lhs: LocalDateTime, rhs: LocalDateTime) -> Bool {
        (lhs.storedYear, lhs.storedMonth, lhs.storedDay, lhs.storedHour, lhs.storedMinute)
            < (rhs.storedYear, rhs.storedMonth, rhs.storedDay, rhs.storedHour, rhs.storedMinute)
    }
}

/// Why a text or a set of parts is not a ``LocalDateTime``.
public enum LocalDateTimeError: Error, Sendable, Hashable {
    /// The text is not `YYYY-MM-DDTHH:MM` (or, where allowed, `YYYY-MM-DDTHH:MM:00`).
    case badFormat
    /// The year is outside 1...9999 (as in `0000-01-01T00:00`).
    case yearOutOfRange
    /// The month or day does not exist, as in `2021-02-29` or `2020-13-01`.
    case noSuchDate
    /// The hour or minute does not exist, as in `24:00` or `12:60`.
    case noSuchTime
    /// The text has seconds other than `:00`; bookings are made to the minute.
    case secondsNotZero
}
