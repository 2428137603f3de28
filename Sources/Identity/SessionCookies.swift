import Foundation
import Orders

/// Turns sessions and sign-ins in progress into cookie values and back: sealed with ``SessionKeys``
/// (AES-GCM), so that a browser can neither read nor change them, and any node can open them.
public struct SessionCookies: Sendable {
    /// The cookie that carries a ``Session``.
    public static let sessionCookieName = "rananeeti_session"
    /// The cookie that carries a ``PendingSignIn`` between the redirect to the provider and its callback.
    public static let signInCookieName = "rananeeti_signin"

    private let sessions: SealedValues
    private let signIns: SealedValues

    public init(keys: SessionKeys) {
        self.sessions = SealedValues(keys: keys, purpose: .sessionCookie)
        self.signIns = SealedValues(keys: keys, purpose: .signInCookie)
    }

    // MARK: Sessions

    /// The payload as JSON with short keys: a cookie is at most 4 KB, and the browser sends it with every
    /// request.
    private struct SessionPayload: Codable {
        var iss: String
        var sub: String
        var name: String?
        var email: String?
        var staff: Bool
        var exp: Int64
        var form: String
    }

    public func seal(_ session: Session) -> String {
        let payload = SessionPayload(
            iss: session.user.identity.issuer, sub: session.user.identity.subject, name: session.user.name,
            email: session.user.email, staff: session.user.isStaff, exp: session.expiresAt, form: session.formToken)
        return sessions.seal(try! JSONEncoder().encode(payload))
    }

    /// The session in `cookie`, or nil when it was not sealed by our keys, is damaged, or has expired by
    /// `now` (seconds since 1970).
    public func openSession(_ cookie: String, now: Int64) -> Session? {
        guard let data = sessions.open(cookie),
            let payload = try? JSONDecoder().decode(SessionPayload.self, from: data),
            payload.exp > now,
            let identity = GuestIdentity(issuer: payload.iss, subject: payload.sub)
        else { return nil }
        return Session(
            user: SignedInUser(identity: identity, name: payload.name, email: payload.email, isStaff: payload.staff),
            expiresAt: payload.exp, formToken: payload.form)
    }

    // MARK: Sign-ins in progress

    private struct SignInPayload: Codable {
        var state: String
        var nonce: String
        var verifier: String
        var returnTo: String
        var exp: Int64
    }

    public func seal(_ signIn: PendingSignIn) -> String {
        let payload = SignInPayload(
            state: signIn.state, nonce: signIn.nonce, verifier: signIn.codeVerifier, returnTo: signIn.returnTo,
            exp: signIn.expiresAt)
        return signIns.seal(try! JSONEncoder().encode(payload))
    }

    /// The sign-in in `cookie`, or nil when it is not ours, damaged, or expired by `now`.
    public func openSignIn(_ cookie: String, now: Int64) -> PendingSignIn? {
        guard let data = signIns.open(cookie),
            let payload = try? JSONDecoder().decode(SignInPayload.self, from: data),
            payload.exp > now
        else { return nil }
        return PendingSignIn(
            state: payload.state, nonce: payload.nonce, codeVerifier: payload.verifier, returnTo: payload.returnTo,
            expiresAt: payload.exp)
    }
}
