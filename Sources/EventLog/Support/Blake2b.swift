import CBLAKE2

/// Incremental BLAKE2b (libb2) for the batch chain hash and the header checksum.
///
/// The state is a value: start one, feed it the pieces in order, and take the digest. No key is used.
package struct Blake2b {
    private var state = blake2b_state()
    private let length: Int

    /// - Parameter length: the digest length in bytes, 1...64.
    package init(length: Int) {
        precondition((1...64).contains(length), "BLAKE2b digest length must be 1...64 bytes")
        self.length = length
        // blake2b_init only fails for an out-of-range length, which the precondition rules out.
        let status = blake2b_init(&state, length)
        precondition(status == 0, "blake2b_init failed")
    }

    package mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let status = blake2b_update(&state, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        precondition(status == 0, "blake2b_update failed")
    }

    package mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    package mutating func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        let status = out.withUnsafeMutableBufferPointer { blake2b_final(&state, $0.baseAddress!, length) }
        precondition(status == 0, "blake2b_final failed")
        return out
    }

    /// One-shot digest of `bytes`.
    package static func hash(_ bytes: UnsafeRawBufferPointer, length: Int) -> [UInt8] {
        var hasher = Blake2b(length: length)
        hasher.update(bytes)
        return hasher.finish()
    }
}
