import Crypto
public import Foundation
public import Logging
import Orders
import Synchronization

/// A sign-in under way: what this browser sent to the provider, kept in a sealed cookie until the provider
/// sends it back.
public struct PendingSignIn: Sendable, Hashable {
    /// Binds the callback to this browser's sign-in (CSRF on the redirect, RFC 6749 section 10.12).
    public let state: String
    /// Binds the ID token to this sign-in (replay, OpenID Connect Core section 15.5.2).
    public let nonce: String
    /// The PKCE verifier (RFC 7636): only this browser's sign-in can redeem the code.
    public let codeVerifier: String
    /// Where to go once signed in: a path on this site.
    public let returnTo: String
    /// When it expires (seconds since 1970).
    public let expiresAt: Int64

    public init(state: String, nonce: String, codeVerifier: String, returnTo: String, expiresAt: Int64) {
        self.state = state
        self.nonce = nonce
        self.codeVerifier = codeVerifier
        self.returnTo = returnTo
        self.expiresAt = expiresAt
    }

    /// `BASE64URL(SHA256(verifier))`, the S256 challenge.
    public var codeChallenge: String {
        Base64URL.encode(Array(SHA256.hash(data: Data(codeVerifier.utf8))))
    }
}

/// Signing people in and recognising them afterwards, on any node, without a database: the sign-in flow
/// against one OpenID Connect provider, sealed session cookies, bearer access tokens, and who is staff.
public final class SignInService: Sendable {
    public let provider: OpenIDProvider
    public let cookies: SessionCookies
    private let configuration: IdentityConfiguration
    private let logger: Logger
    /// `state` values already used on this node, until they expire: a replayed callback is refused even if it
    /// comes with its cookie. (The provider also redeems each code only once.)
    private let usedStates = Mutex<[String: Int64]>([:])
    private static let usedStateCapacity = 100_000

    public init(configuration: IdentityConfiguration, keys: SessionKeys, logger: Logger) {
        self.provider = OpenIDProvider(configuration: configuration, logger: logger)
        self.cookies = SessionCookies(keys: keys)
        self.configuration = configuration
        self.logger = logger
    }

    /// Starts a sign-in: where to send the browser, and the cookie to set for its return.
    ///
    /// - Parameter returnTo: where to go afterwards; anything but a path on this site becomes `/`.
    public func begin(returnTo: String?) async throws(IdentityError) -> (redirect: URL, cookie: String) {
        let now = Int64(Date().timeIntervalSince1970)
        let signIn = PendingSignIn(
            state: Self.randomToken(bytes: 16), nonce: Self.randomToken(bytes: 16),
            codeVerifier: Self.randomToken(bytes: 32), returnTo: Self.localPath(returnTo),
            expiresAt: now + configuration.signInLifetime.components.seconds)
        let redirect = try await provider.authorizationURL(for: signIn)
        return (redirect, cookies.seal(signIn))
    }

    /// Finishes a sign-in when the provider sends the browser back.
    ///
    /// - Parameters:
    ///   - code, state, error: the callback's query parameters.
    ///   - cookie: the sign-in cookie set by ``begin(returnTo:)``.
    /// - Returns: the new session, its cookie value, and where to go.
    public func complete(code: String?, state: String?, error: String?, cookie: String?)
        async throws(IdentityError) -> (session: Session, cookie: String, returnTo: String)
    {
        let now = Int64(Date().timeIntervalSince1970)
        guard let cookie, let signIn = cookies.openSignIn(cookie, now: now), let state,
            constantTimeEquals(state, signIn.state)
        else {
            throw IdentityError(.signInNotStarted, "A sign-in callback came without a matching sign-in cookie (expired, another browser, or forged).")
        }
        guard markUsed(state, until: signIn.expiresAt, now: now) else {
            throw IdentityError(.signInNotStarted, "A sign-in callback reused a state value already used on this node (a replay).")
        }
        if let error {
            throw IdentityError(.signInNotStarted, "The provider ended the sign-in with error \(error.prefix(100)).")
        }
        guard let code, !code.isEmpty else {
            throw IdentityError(.providerRefused, "The sign-in callback holds no authorization code.")
        }
        let claims = try await provider.exchange(code: code, verifier: signIn.codeVerifier, nonce: signIn.nonce)
        let user = try user(from: claims)
        let session = Session(
            user: user, expiresAt: now + configuration.sessionLifetime.components.seconds,
            formToken: Self.randomToken(bytes: 16))
        logger.info("signed in", metadata: ["subject": "\(user.identity)", "staff": "\(user.isStaff)"])
        return (session, cookies.seal(session), signIn.returnTo)
    }

    /// The session a cookie carries, if it is ours and current.
    public func session(fromCookie cookie: String) -> Session? {
        cookies.openSession(cookie, now: Int64(Date().timeIntervalSince1970))
    }

    /// Who a bearer access token (a JWT from the provider) belongs to.
    public func user(fromBearerToken token: String) async throws(IdentityError) -> SignedInUser {
        try user(from: try await provider.verifyAccessToken(token))
    }

    private func user(from claims: ProviderClaims) throws(IdentityError) -> SignedInUser {
        guard let issuer = claims.issuer, let subject = claims.subject,
            let identity = GuestIdentity(issuer: issuer, subject: subject)
        else {
            throw IdentityError(.tokenRejected, "The token's issuer or subject is empty, too long, or not one line.")
        }
        func text(_ name: String) -> String? {
            guard let value = claims.string(name)?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty
            else { return nil }
            return String(value.unicodeScalars.filter { !$0.properties.generalCategory.isControl }.prefix(100).map(Character.init))
        }
        return SignedInUser(
            identity: identity, name: text("name"), email: text("email"), isStaff: configuration.staff.isStaff(claims))
    }

    /// Records `state` as used; false when it already was.
    private func markUsed(_ state: String, until expiry: Int64, now: Int64) -> Bool {
        usedStates.withLock { used in
            if used.count >= Self.usedStateCapacity { used = used.filter { $0.value > now } }
            guard used[state] == nil else { return false }
            used[state] = expiry
            return true
        }
    }

    /// Random bytes as base64url, from the system's cryptographic generator.
    static func randomToken(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// A new token for forms of a signed-in page.
    public static func newFormToken() -> String { randomToken(bytes: 16) }

    /// `path` when it is a path on this site (one leading slash, no scheme, no backslash), else `/`: a
    /// sign-in must not become a way to send people elsewhere.
    static func localPath(_ path: String?) -> String {
        guard let path, path.hasPrefix("/"), !path.hasPrefix("//"), !path.contains("\\"), path.utf8.count <= 512,
            path.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
        else { return "/" }
        return path
    }
}

extension Unicode.GeneralCategory {
    var isControl: Bool { self == .control || self == .format || self == .lineSeparator || self == .paragraphSeparator }
}
