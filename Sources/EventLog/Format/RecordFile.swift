/// The small one-line files a log keeps beside its segments (`log-start`, `synced-end`): read whole, and
/// accepted only in their one documented spelling, so that damage to one never passes for another value.
package enum RecordFile {
    /// The record in `directory/name` as `decode` reads it, or nil when the file is not there.
    ///
    /// - Throws: ``LogError/Code/corrupt`` (at the file, byte 0) when `decode` refuses the bytes;
    ///   ``LogError/Code/ioFailure`` when the file cannot be read.
    package static func read<Record>(
        directory: String, name: String, what: String, decode: ([UInt8]) -> Record?
    ) throws -> Record? {
        let path = directory + "/" + name
        guard FileSystem.kind(of: path) != .missing else { return nil }
        let bytes: [UInt8]
        switch FileSystem.readWholeFile(path) {
        case .success(let read): bytes = read
        case .failure(let error): throw LogError.io("read the log's \(what)", path, error)
        }
        guard let record = decode(bytes) else {
            throw LogError.corrupt(path, at: 0, "the log's \(what) (\(name)) is not in the documented form")
        }
        return record
    }

    /// The decimal digits at `index` as a number, moving `index` past them; nil when there are none or the
    /// number does not fit in 64 bits. (Leading zeros are read; the callers refuse them by comparing what they
    /// decoded, written again, with the bytes.)
    package static func decimal(in bytes: [UInt8], at index: inout Int) -> UInt64? {
        var value: UInt64 = 0
        let start = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            let (times10, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
            guard !overflow, !overflow2 else { return nil }
            value = sum
            index += 1
        }
        return index > start ? value : nil
    }
}
