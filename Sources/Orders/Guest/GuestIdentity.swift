/// Who someone is, as their OpenID Connect provider names them: the provider's issuer URL and the subject it
/// gives the person (`iss` and `sub` of an ID token). Together they are stable and unique (OpenID Connect Core
/// 1.0, section 5.7), unlike a name or an e-mail address, which people change.
///
/// Stored in events (who booked, who cancelled), so both are checked like the text a guest types: one line,
/// no control characters, and bounded (255 Unicode scalars each, the longest `sub` the specification allows).
public struct GuestIdentity: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The provider's issuer identifier, e.g. `https://accounts.google.com`.
    public let issuer: String
    /// The provider's identifier of the person, e.g. `248289761001`.
    public let subject: String

    /// The most Unicode scalars in `issuer` and in `subject`.
    public static let scalarLimit = 255

    /// Creates an identity, or nil when either part is empty, too long, or not one clean line.
    public init?(issuer: String, subject: String) {
        guard Self.isAcceptable(issuer), Self.isAcceptable(subject) else { return nil }
        self.issuer = issuer
        self.subject = subject
    }

    static func isAcceptable(_ text: String) -> Bool {
        let facts = TextFacts(of: text)
        return facts.scalarCount > 0 && facts.scalarCount <= scalarLimit && !facts.hasSurroundingWhitespace
            && !facts.containsLineFeed && !facts.containsOtherControl && !facts.containsUnicodeLineSeparator
    }

    public static func < (a: GuestIdentity, b: GuestIdentity) -> Bool {
        (a.issuer, a.subject) < (b.issuer, b.subject)
    }

    /// `subject@issuer`, for logs and messages to operators.
    public var description: String { "\(subject)@\(issuer)" }
}
