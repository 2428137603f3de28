import Foundation
import Orders

/// Dates as the cafe sees them: "today" in its time zone, days after a date, and dates in words.
struct CafeCalendar: Sendable {
    let timeZone: TimeZone

    /// Proleptic Gregorian in UTC, for arithmetic on wall-clock dates that carry no zone.
    private static let wallClock: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    private var zoned: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }

    /// 00:00 today on the cafe's clock.
    func startOfToday(now: Date = Date()) -> LocalDateTime {
        let parts = zoned.dateComponents([.year, .month, .day], from: now)
        // A clock outside the years 1...9999 is broken; 9999-12-31 then shows nothing rather than trapping.
        return (try? LocalDateTime(year: parts.year!, month: parts.month!, day: parts.day!, hour: 0, minute: 0))
            ?? (try! LocalDateTime(year: 9999, month: 12, day: 31, hour: 0, minute: 0))
    }

    /// The cafe's wall-clock time now, to the minute: what "upcoming" is measured against.
    func now(at now: Date = Date()) -> LocalDateTime {
        let parts = zoned.dateComponents([.year, .month, .day, .hour, .minute], from: now)
        return (try? LocalDateTime(
            year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!))
            ?? (try! LocalDateTime(year: 9999, month: 12, day: 31, hour: 23, minute: 59))
    }

    /// `dateTime` moved by whole days, or nil beyond the years 1...9999.
    func adding(days: Int, to dateTime: LocalDateTime) -> LocalDateTime? {
        guard let date = Self.date(of: dateTime),
            let moved = Self.wallClock.date(byAdding: .day, value: days, to: date)
        else { return nil }
        let parts = Self.wallClock.dateComponents([.year, .month, .day, .hour, .minute], from: moved)
        return try? LocalDateTime(
            year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!)
    }

    /// Whole days from `start` to `end` (both taken at their dates' midnight).
    func days(from start: LocalDateTime, to end: LocalDateTime) -> Int {
        guard let from = Self.date(of: start), let to = Self.date(of: end) else { return 0 }
        return Self.wallClock.dateComponents([.day], from: from, to: to).day ?? 0
    }

    /// Parses `YYYY-MM-DD` as 00:00 of that day; nil for anything else.
    static func parseDay(_ text: String) -> LocalDateTime? {
        guard text.utf8.count == 10 else { return nil }
        return LocalDateTime(text + "T00:00")
    }

    /// `YYYY-MM-DD` of `dateTime`.
    static func dayText(_ dateTime: LocalDateTime) -> String {
        String(dateTime.description.prefix(10))
    }

    /// "Monday 16 November 2020".
    static func longDay(_ dateTime: LocalDateTime) -> String {
        let weekday = date(of: dateTime).map { wallClock.component(.weekday, from: $0) } ?? 0
        let weekdayName = (1...7).contains(weekday) ? weekdayNames[weekday - 1] + " " : ""
        return "\(weekdayName)\(dateTime.day) \(monthNames[dateTime.month - 1]) \(dateTime.year)"
    }

    /// "20:00".
    static func time(_ dateTime: LocalDateTime) -> String {
        String(dateTime.description.suffix(5))
    }

    /// "Monday 16 November 2020 at 20:00".
    static func longDateTime(_ dateTime: LocalDateTime) -> String {
        "\(longDay(dateTime)) at \(time(dateTime))"
    }

    /// A moment the log recorded (UTC), on the cafe's clock: "16 Nov 2020, 20:00:05".
    func moment(_ timestamp: EventTimestamp) -> String {
        let date = Date(timeIntervalSince1970: Double(timestamp.millisecondsSinceEpoch) / 1000)
        let parts = zoned.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        let month = parts.month.map { String(Self.monthNames[$0 - 1].prefix(3)) } ?? ""
        return "\(parts.day ?? 0) \(month) \(parts.year ?? 0), \(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))"
    }

    private static func date(of dateTime: LocalDateTime) -> Date? {
        wallClock.date(
            from: DateComponents(
                year: dateTime.year, month: dateTime.month, day: dateTime.day, hour: dateTime.hour,
                minute: dateTime.minute))
    }

    private static let weekdayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ]
}
