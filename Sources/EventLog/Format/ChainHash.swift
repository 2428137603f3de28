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
