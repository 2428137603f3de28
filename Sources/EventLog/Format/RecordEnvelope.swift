import Glibc

/// The two fields the log itself puts at the front of every record.
///
/// A record handed to the log is one JSON object on one line. The log writes it as
/// `{"offset":N,"appendedAt":"2026-11-29T03:06:17.123Z",` followed by the rest of the caller's object, so that
/// `lz4 -dc SEGMENT | jq` shows every record with its place and time. The keys `offset` and `appendedAt` are
/// therefore reserved. The log does not parse JSON: it checks only the shape it relies on.
package enum RecordEnvelope {
    /// Why `record` cannot be stored, or nil when it can.
    package static func problem(with record: UnsafeRawBufferPointer) -> String? {
        guard record.count >= 2 else { return "it is empty" }
        guard record.first == UInt8(ascii: "{"), record.last == UInt8(ascii: "}") else {
            return "it does not start with '{' and end with '}'"
        }
        if memchr(record.baseAddress!, 0x0A, record.count) != nil || memchr(record.baseAddress!, 0x0D, record.count) != nil {
            return "it contains a line break"
        }
        return nil
    }

    /// Bytes one stamped record takes at most beyond the record itself.
    package static let maximumOverhead = #"{"offset":18446744073709551615,"appendedAt":"2026-11-29T03:06:17.123Z",}"#.utf8.count + 1

    /// Appends `record` with the envelope, and a line feed, to `out`.
    ///
    /// - Parameter timestamp: the formatted `appendedAt` (24 ASCII bytes).
    package static func appendStamped(
        _ record: UnsafeRawBufferPointer, offset: UInt64, timestamp: [UInt8], to out: inout [UInt8]
    ) {
        out.append(contentsOf: #"{"offset":"#.utf8)
        appendDecimal(offset, to: &out)
        out.append(contentsOf: #","appendedAt":""#.utf8)
        out.append(contentsOf: timestamp)
        out.append(UInt8(ascii: "\""))
        let body = UnsafeRawBufferPointer(rebasing: record[1..<record.count - 1])
        if body.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) {
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: body)
        }
        out.append(UInt8(ascii: "}"))
        out.append(0x0A)
    }

    /// The offset written in a stamped line's envelope, or nil when the line does not start with one.
    package static func offset(inStampedLine line: UnsafeRawBufferPointer) -> UInt64? {
        let prefix = #"{"offset":"#.utf8
        guard line.count > prefix.count, line.prefix(prefix.count).elementsEqual(prefix) else { return nil }
        var value: UInt64 = 0
        var index = prefix.count
        while index < line.count, let digit = line[index].asciiDigit {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            if overflow1 || overflow2 { return nil }
            value = sum
            index += 1
        }
        guard index > prefix.count, index < line.count, line[index] == UInt8(ascii: ",") else { return nil }
        return value
    }
}

extension RecordEnvelope {
    /// The `appendedAt` of a stamped line whose envelope holds `offset` (as ``offset(inStampedLine:)`` read
    /// it), in ms since the Unix epoch; nil when the envelope does not go on with `"appendedAt":"<time>"`
    /// and then `,` or `}`, in exactly the form the log writes.
    package static func appendedAt(inStampedLine line: UnsafeRawBufferPointer, offset: UInt64) -> Int64? {
        var prefix = Array(#"{"offset":"#.utf8)
        appendDecimal(offset, to: &prefix)
        prefix += Array(#","appendedAt":""#.utf8)
        let timeEnd = prefix.count + 24
        guard line.count > timeEnd + 1, line.prefix(prefix.count).elementsEqual(prefix), line[timeEnd] == UInt8(ascii: "\""),
            line[timeEnd + 1] == UInt8(ascii: ",") || (line[timeEnd + 1] == UInt8(ascii: "}") && line.count == timeEnd + 2)
        else { return nil }
        return parseTimestamp(UnsafeRawBufferPointer(rebasing: line[prefix.count..<timeEnd]))
    }
}

package func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
    if value == 0 {
        out.append(UInt8(ascii: "0"))
        return
    }
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    var rest = value
    withUnsafeMutableBytes(of: &digits) { buffer in
        while rest > 0 {
            buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            count += 1
        }
        for i in stride(from: count - 1, through: 0, by: -1) {
            out.append(buffer[i])
        }
    }
}

extension UInt8 {
    fileprivate var asciiDigit: UInt8? {
        self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") ? self - UInt8(ascii: "0") : nil
    }
}
