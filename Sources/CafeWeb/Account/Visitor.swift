import Identity
import Orders

/// Who is asking, as the request showed it: a signed-in browser (its session cookie), the owner of a bearer
/// access token (API clients and staff tools), or a stranger.
struct Visitor: Sendable {
    /// The session of a signed-in browser.
    var session: Session?
    /// Who a valid bearer token belongs to.
    var bearer: SignedInUser?

    /// Whoever is signed in, by either means.
    var user: SignedInUser? { bearer ?? session?.user }
    var isStaff: Bool { user?.isStaff ?? false }
    var identity: GuestIdentity? { user?.identity }
}

/// Which of a node's two listeners a request came in on.
public enum Listener: Sendable {
    /// The site and the API, for guests and staff on the internet: nothing private without sign-in.
    case `public`
    /// Health, readiness details, metrics, drills and the whole book, for operators and the machine's own
    /// agents: listens on loopback by default (`--operator-listen`), and asks nobody to sign in.
    case `operator`
}
