import Crypto
import Foundation
public import Orders

/// Private links to a reservation's status page: `/orders/DIGEST?token=TOKEN`.
///
/// A digest is derived from a reservation's content, so anyone who can guess what was booked could compute
/// it; the token cannot be computed without the session keys. It is an HMAC-SHA256 of the digest under a key
/// derived for this purpose (128 bits, base64url): every node, with or without its database, can check it,
/// and nothing needs storing. Whoever booked gets the link; a signed-in guest and staff need no token.
public struct StatusLinks: Sendable {
    private let keys: [SymmetricKey]

    public init(keys: SessionKeys) {
        self.keys = keys.derived(for: .statusLink)
    }

    /// The token for `digest`, under the current key.
    public func token(for digest: ReservationDigest) -> String {
        Self.token(for: digest, key: keys[0])
    }

    /// Whether `token` opens `digest` (under any accepted key), in time that does not depend on where a wrong
    /// token differs.
    public func isValid(_ token: String, for digest: ReservationDigest) -> Bool {
        guard let presented = Base64URL.decode(token), presented.count == Self.tokenBytes else { return false }
        var valid = false
        for key in keys {
            let expected = Self.mac(digest, key: key)
            var difference: UInt8 = 0
            for (a, b) in zip(presented, expected) { difference |= a ^ b }
            valid = valid || difference == 0
        }
        return valid
    }

    private static let tokenBytes = 16

    /// Whether `text` has a token's form (22 base64url characters), whether or not it opens anything: anything
    /// else in a link is a malformed request.
    public static func isWellFormed(_ text: String) -> Bool {
        text.utf8.count == 22
            && text.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    true
                default: false
                }
            }
    }

    private static func mac(_ digest: ReservationDigest, key: SymmetricKey) -> [UInt8] {
        let code = HMAC<SHA256>.authenticationCode(for: Data("status:\(digest)".utf8), using: key)
        return Array(Array(code).prefix(tokenBytes))
    }

    private static func token(for digest: ReservationDigest, key: SymmetricKey) -> String {
        Base64URL.encode(mac(digest, key: key))
    }
}
