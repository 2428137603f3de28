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
