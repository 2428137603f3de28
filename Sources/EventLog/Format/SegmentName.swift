/// Segment files are named by their first offset, 20 digits, zero-padded: `00000000000000000042.lz4`.
package enum SegmentName {
    package static let fileExtension = ".lz4"
    package static let indexExtension = ".idx"

    package static func fileName(base: UInt64) -> String {
        paddedOffset(base) + fileExtension
    }

    package static func indexFileName(base: UInt64) -> String {
        paddedOffset(base) + indexExtension
    }

    package static func paddedOffset(_ offset: UInt64) -> String {
        let digits = String(offset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// The base offset of a segment file name, or nil when the name is not a segment's.
    package static func base(ofFileName name: String) -> UInt64? {
        guard name.hasSuffix(fileExtension) else { return nil }
        let stem = name.dropLast(fileExtension.count)
        guard stem.count == 20, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(stem)
    }
}
