/// The 32-byte BLAKE2b hash that chains each batch to the one before it.
public struct ChainHash: Hashable, Sendable, CustomStringConvertible {
    /// The bytes in file order.
    public let bytes: [UInt8]

    /// The hash the first batch of a log chains to: 32 zero bytes.
    public static let genesis = ChainHash(bytes: [UInt8](repeating: 0, count: 32))

    package init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a chain hash has 32 bytes")
        self.bytes = bytes
    }

    package init(_ buffer: UnsafeRawBufferPointer) {
        self.init(bytes: Array(buffer.prefix(32)))
    }

    /// Lowercase hex, 64 characters.
    public var description: String {
        var text = ""
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0F)])
        }
        return text
    }
}

private let hexDigits: [Character] = Array("0123456789abcdef")

/// A place in a log's hash chain: the offset after a batch, and that batch's hash. It names the log's whole
/// history up to `offset`: no other history of the same log has the same hash there.
public struct ChainPoint: Sendable, Hashable, CustomStringConvertible {
    /// The offset after the batch: the number of records the chain covers, counted from the log's origin.
    public var offset: UInt64
    /// The hash of the batch that ends at `offset` (32 zero bytes at offset 0).
    public var hash: ChainHash

    public init(offset: UInt64, hash: ChainHash) {
        self.offset = offset
        self.hash = hash
    }

    public var description: String { "\(hash) at offset \(offset)" }
}
