public import Orders

/// Someone signed in: who the provider says they are, and what they may do here.
public struct SignedInUser: Sendable, Hashable {
    /// Issuer and subject: the person's stable identity.
    public let identity: GuestIdentity
    /// The `name` claim, to prefill the booking form; the guest may still change the name on the table.
    public let name: String?
    /// The `email` claim, shown beside "signed in as".
    public let email: String?
    /// Whether they are one of the cafe's staff (``StaffPolicy``), decided when they signed in.
    public let isStaff: Bool

    public init(identity: GuestIdentity, name: String?, email: String?, isStaff: Bool) {
        self.identity = identity
        self.name = name
        self.email = email
        self.isStaff = isStaff
    }

    /// How pages greet them: the name, else the e-mail address, else the subject.
    public var displayName: String { name ?? email ?? identity.subject }
}

/// A signed-in browser's session, as its sealed cookie carries it: no node keeps sessions, so every node
/// honours them without a database.
public struct Session: Sendable, Hashable {
    public let user: SignedInUser
    /// When the session ends (seconds since 1970), however active the browser is.
    public let expiresAt: Int64
    /// The token every form of a signed-in page carries, so that a post from another site (which cannot
    /// read it) is refused.
    public let formToken: String

    public init(user: SignedInUser, expiresAt: Int64, formToken: String) {
        self.user = user
        self.expiresAt = expiresAt
        self.formToken = formToken
    }
}
