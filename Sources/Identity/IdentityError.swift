/// Why someone could not be signed in, or a token or cookie was not accepted.
///
/// The ``message`` is for the operator's log: it may name the provider and what it said. What a guest sees
/// is ``guestMessage``, fixed wording that reveals nothing about the provider or the token.
public struct IdentityError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure, for choosing the answer (a 400 for a bad callback, a 401 for a bad token, a 503
    /// when the provider cannot be reached).
    public enum Code: Sendable, Hashable {
        /// The provider could not be reached, or did not answer in time, or answered with nonsense.
        case providerUnavailable
        /// The provider refused (e.g. the authorization code was already used, or the client is unknown).
        case providerRefused
        /// The sign-in callback does not belong to a sign-in this browser started (missing, expired or
        /// replayed `state`), or the guest cancelled at the provider.
        case signInNotStarted
        /// A token was not accepted: bad signature, wrong issuer or audience, expired, wrong nonce, an
        /// algorithm that is not allowed, or not a JWT at all.
        case tokenRejected
        /// The configuration cannot work (e.g. the discovery document names another issuer).
        case misconfigured
    }

    public let code: Code
    /// What happened, for operators.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// What a guest may be told: what happened and what to do, without internals.
    public var guestMessage: String {
        switch code {
        case .providerUnavailable, .misconfigured:
            "Signing in is not possible right now: the sign-in service is not reachable. Please try again in a few minutes; bookings you already made are safe."
        case .providerRefused, .tokenRejected:
            "The sign-in did not succeed. Please start again from the sign-in button."
        case .signInNotStarted:
            "This sign-in link has expired or was already used. Please start again from the sign-in button."
        }
    }

    public var description: String { message }
}
