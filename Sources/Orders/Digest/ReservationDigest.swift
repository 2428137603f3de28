import CBLAKE2

/// A reservation's identity: BLAKE2b with a 10-byte output over the old site's form JSON
/// (see ``LegacyForm``), written as 20 lowercase hexadecimal digits.
///
/// It is `cafe.ordersraw.ordrdgst`: the same booking sent twice, or sent to the old site
/// and to this one, has the same digest and is stored once. It is also the booking's
/// reference in URLs such as `/orders/2e401f4cba1d2e90f354`.
public struct ReservationDigest: Sendable, Hashable, Comparable {
    /// The digest length in bytes.
    public static let byteCount = 10

    // The ten bytes, big-endian: the first eight, then the last two. Two integers hash,
    // compare and copy faster than an array and need no allocation.
    let leading: UInt64
    let trailing: UInt16

    init(leading: UInt64, trailing: UInt16) {
        self.leading = leading
        self.trailing = trailing
    }

    /// The digest of `form`'s JSON text.
    public init(of form: LegacyForm) {
        let json = form.json()
        var scratch: (UInt64, UInt64) = (0, 0)  // 16 bytes, of which blake2b fills 10
        self = withUnsafeMutableBytes(of: &scratch) { output in
            let status = json.withUnsafeBytes { input in
                // Writes exactly `outlen` (10) bytes to `out`; fails only for an outlen
                // outside 1...64. See shim.h for why every call goes through this wrapper.
                cblake2_blake2b(
                    output.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    Self.byteCount,
                    input.baseAddress,
                    input.count
                )
            }
            precondition(status == 0, "blake2b refused a 10-byte digest")
            return ReservationDigest(bytes: output.prefix(Self.byteCount))
        }
    }

    /// The digest of `reservation`, the same as `reservation.digest`.
    public init(of reservation: Reservation) {
        self.init(of: LegacyForm(reservation))
    }

    /// Creates a digest from its 10 bytes.
    ///
    /// - Precondition: `bytes` holds exactly 10 bytes.
    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == Self.byteCount, "a reservation digest is 10 bytes")
        var leading: UInt64 = 0
        var trailing: UInt16 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { leading = leading << 8 | UInt64(byte) } else { trailing = trailing << 8 | UInt16(byte) }
        }
        self.leading = leading
        self.trailing = trailing
    }

    /// The 10 bytes of the digest.
    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: leading >> (56 - 8 * $0)) }
            + [UInt8(truncatingIfNeeded: trailing >> 8), UInt8(truncatingIfNeeded: trailing)]
    }

    public static func < (lhs: ReservationDigest, rhs: ReservationDigest) -> Bool {
        (lhs.leading, lhs.trailing) < (rhs.leading, rhs.trailing)
    }
}

extension Reservation {
    /// This reservation's digest: see ``ReservationDigest``.
    public var digest: ReservationDigest {
        ReservationDigest(of: self)
    }
}
