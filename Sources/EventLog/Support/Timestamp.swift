import Glibc

/// Milliseconds since the Unix epoch, UTC, from the real-time clock.
package func currentTimeMillis() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// RFC 3339 with milliseconds in UTC, e.g. `2026-11-29T03:06:17.123Z`.
///
/// Defined for every `Int64`, as it also shows times read from a damaged or hand-made log: a year outside
/// 0000–9999 is written with a sign and all its digits (ISO 8601's expanded form), e.g.
/// `-292275055-05-16T16:47:04.192Z`.
public func formatTimestamp(millis: Int64) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(24)
    appendTimestamp(millis: millis, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
}

package func appendTimestamp(millis: Int64, to out: inout [UInt8]) {
    // Floor division by remainders, which cannot overflow at Int64.min as `millis - 999` did.
    var (seconds, milli64) = millis.quotientAndRemainder(dividingBy: 1000)
    if milli64 < 0 {
        seconds -= 1
        milli64 += 1000
    }
    var (days, secondOfDay64) = seconds.quotientAndRemainder(dividingBy: 86_400)
    if secondOfDay64 < 0 {
        days -= 1
        secondOfDay64 += 86_400
    }
    let milli = Int(milli64)
    let secondOfDay = Int(secondOfDay64)
    let (year, month, day) = civilDate(daysSinceEpoch: days)
    if (0...9999).contains(year) {
        appendDigits(Int(year), width: 4, to: &out)
    } else {
        out.append(UInt8(ascii: year < 0 ? "-" : "+"))
        let digits = String(year.magnitude)
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: max(0, 4 - digits.utf8.count)))
        out.append(contentsOf: digits.utf8)
    }
    out.append(UInt8(ascii: "-"))
    appendDigits(month, width: 2, to: &out)
    out.append(UInt8(ascii: "-"))
    appendDigits(day, width: 2, to: &out)
    out.append(UInt8(ascii: "T"))
    appendDigits(secondOfDay / 3600, width: 2, to: &out)
    out.append(UInt8(ascii: ":"))
    appendDigits(secondOfDay / 60 % 60, width: 2, to: &out)
    out.append(UInt8(ascii: ":"))
    appendDigits(secondOfDay % 60, width: 2, to: &out)
    out.append(UInt8(ascii: "."))
    appendDigits(milli, width: 3, to: &out)
    out.append(UInt8(ascii: "Z"))
}

/// The milliseconds since the Unix epoch of a timestamp written exactly as `appendTimestamp` writes one for a
/// year from 0001 to 9999 (`2026-11-29T03:06:17.123Z`: 24 ASCII bytes, a real date, no leap second), or nil.
package func parseTimestamp(_ bytes: UnsafeRawBufferPointer) -> Int64? {
    guard bytes.count == 24, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
        bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "."),
        bytes[23] == UInt8(ascii: "Z")
    else { return nil }
    func number(_ at: Int, _ width: Int) -> Int? {
        var value = 0
        for index in at..<at + width {
            guard bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
        }
        return value
    }
    guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
        let minute = number(14, 2), let second = number(17, 2), let milli = number(20, 3),
        year >= 1, (1...12).contains(month), hour < 24, minute < 60, second < 60
    else { return nil }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    guard (1...monthDays[month - 1]).contains(day) else { return nil }
    let days = daysSinceEpoch(year: Int64(year), month: Int64(month), day: Int64(day))
    return (days * 86_400 + Int64((hour * 60 + minute) * 60 + second)) * 1000 + Int64(milli)
}

/// The day count since 1970-01-01 of a proleptic Gregorian date, after H. Hinnant's `days_from_civil`.
private func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian), after H. Hinnant's `civil_from_days`.
private func civilDate(daysSinceEpoch: Int64) -> (Int64, Int, Int) {
    let z = daysSinceEpoch + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
    let month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return (year, month, day)
}

private func appendDigits(_ value: Int, width: Int, to out: inout [UInt8]) {
    var divisor = 1
    for _ in 1..<width { divisor *= 10 }
    var rest = max(0, value)
    while divisor > 0 {
        out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
        rest %= divisor
        divisor /= 10
    }
}
