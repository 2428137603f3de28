import CLZ4

/// Compresses one batch payload into one standard LZ4 frame (the format `lz4 -dc` reads).
///
/// One-shot `LZ4F_compressFrame` keeps its state on the stack for the fast levels, so nothing is kept between
/// calls and the compressor is a plain namespace.
package enum LZ4FrameCompressor {
    /// Appends the LZ4 frame for `source` to `destination` and returns the frame's length in bytes.
    package static func compress(_ source: UnsafeRawBufferPointer, appendingTo destination: inout [UInt8]) -> Int {
        var preferences = LZ4F_preferences_t()
        // Independent blocks: a frame decodes without any earlier state; the content size in the frame header
        // lets a reader allocate exactly once. contentSize != 0 asks LZ4F_compressFrame to fill in the real size.
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.frameInfo.contentSize = UInt64(max(source.count, 1))
        preferences.compressionLevel = 0
        let bound = LZ4F_compressFrameBound(source.count, &preferences)
        let start = destination.count
        destination.append(contentsOf: repeatElement(0, count: bound))
        let written = destination.withUnsafeMutableBytes { out in
            LZ4F_compressFrame(out.baseAddress! + start, bound, source.baseAddress, source.count, &preferences)
        }
        // Compression into a buffer of LZ4F_compressFrameBound bytes cannot fail (lz4frame.h).
        precondition(LZ4F_isError(written) == 0, "LZ4F_compressFrame failed: \(String(cString: LZ4F_getErrorName(written)))")
        destination.removeLast(bound - written)
        return written
    }
}

/// Decompresses LZ4 frames; owns a reusable `LZ4F_dctx`. Not thread-safe: one per reader.
package final class LZ4FrameDecompressor {
    private let context: OpaquePointer

    package init() {
        var context: OpaquePointer?
        let status = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        // Only fails when memory cannot be allocated.
        precondition(LZ4F_isError(status) == 0 && context != nil, "LZ4F_createDecompressionContext failed")
        self.context = context!
    }

    deinit {
        LZ4F_freeDecompressionContext(context)
    }

    package enum Failure: Error, Equatable {
        /// The frame is malformed (the library's reason).
        case malformed(String)
        /// The frame decodes to a different number of bytes than the batch header promised.
        case lengthMismatch(expected: Int, actual: Int)
    }

    /// Decodes exactly one frame that must expand to exactly `expectedLength` bytes.
    package func decompress(_ frame: UnsafeRawBufferPointer, expectedLength: Int) -> Result<[UInt8], Failure> {
        LZ4F_resetDecompressionContext(context)
        // One spare byte lets us notice a frame that expands to more than promised.
        var output = [UInt8](repeating: 0, count: expectedLength + 1)
        var produced = 0
        var consumed = 0
        while true {
            var sourceLength = frame.count - consumed
            var destinationLength = output.count - produced
            let hint = output.withUnsafeMutableBytes { out in
                LZ4F_decompress(
                    context, out.baseAddress! + produced, &destinationLength,
                    frame.baseAddress.map { $0 + consumed }, &sourceLength, nil)
            }
            if LZ4F_isError(hint) != 0 {
                return .failure(.malformed(String(cString: LZ4F_getErrorName(hint))))
            }
            produced += destinationLength
            consumed += sourceLength
            if hint == 0 { break }  // the frame is complete
            if produced > expectedLength {
                return .failure(.lengthMismatch(expected: expectedLength, actual: produced))
            }
            if sourceLength == 0 && destinationLength == 0 {
                return .failure(.malformed("frame ends early"))
            }
        }
        guard consumed == frame.count else { return .failure(.malformed("bytes after the end of the frame")) }
        guard produced == expectedLength else {
            return .failure(.lengthMismatch(expected: expectedLength, actual: produced))
        }
        output.removeLast()
        return .success(output)
    }
}

/// The form `docs/LOG_FORMAT.md` prescribes for a batch's payload frame, beyond what makes it a valid LZ4 frame.
package enum LZ4FrameForm {
    /// FLG: version 01, independent blocks, no block checksums, content size present, no content checksum, no
    /// dictionary ID.
    package static let flags: UInt8 = 0x68
    /// BD: a block maximum size of 64 KB, 256 KB, 1 MB or 4 MB, reserved bits clear.
    package static let blockDescriptors: Set<UInt8> = [0x40, 0x50, 0x60, 0x70]

    /// Why `frame` is not in the prescribed form for a payload of `contentSize` bytes, or nil.
    package static func problem(_ frame: UnsafeRawBufferPointer, contentSize: Int) -> String? {
        guard frame.count >= 15, frame.loadLE(UInt32.self, at: 0) == 0x184D_2204 else {
            return "the batch's payload is not an LZ4 frame with a content size"
        }
        guard frame[4] == flags else {
            return "the batch's LZ4 frame has flags 0x\(String(frame[4], radix: 16)), not 0x68 (independent blocks, content size, no checksums, no dictionary)"
        }
        guard blockDescriptors.contains(frame[5]) else {
            return "the batch's LZ4 frame has block descriptor 0x\(String(frame[5], radix: 16))"
        }
        let declared = frame.loadLE(UInt64.self, at: 6)
        guard declared == UInt64(contentSize) else {
            return "the batch's LZ4 frame says it holds \(declared) bytes, its header \(contentSize)"
        }
        return nil
    }
}
