public import Foundation

/// How this node signs people in: the OpenID Connect provider and this application's registration with it.
public struct IdentityConfiguration: Sendable {
    /// The provider's issuer URL, e.g. `https://accounts.google.com`; its discovery document is at
    /// `ISSUER/.well-known/openid-configuration`. Must be `https`, except on a loopback address (a provider
    /// started for tests or the demo).
    public var issuer: URL
    /// The client id this application was registered with.
    public var clientID: String
    /// The client secret. Read from a file or the environment, never from the command line.
    public var clientSecret: String
    /// Where the provider sends the browser back: this site's `/signin/callback`, exactly as registered.
    public var redirectURL: URL
    /// The scopes asked for. Defaults to `openid profile email`.
    public var scopes: [String]
    /// Who is staff.
    public var staff: StaffPolicy
    /// Audiences accepted in bearer access tokens besides the client id (e.g. an API identifier the provider
    /// puts in `aud`). Defaults to none.
    public var extraAccessTokenAudiences: Set<String>
    /// How long a session lasts from sign-in. Defaults to 12 hours.
    public var sessionLifetime: Duration
    /// How long a sign-in may take at the provider. Defaults to 10 minutes.
    public var signInLifetime: Duration
    /// The deadline of each request to the provider. Defaults to 10 seconds.
    public var requestTimeout: Duration
    /// Clock difference tolerated on `exp`, `iat` and `nbf`. Defaults to 60 seconds.
    public var clockSkew: Duration

    public init(
        issuer: URL, clientID: String, clientSecret: String, redirectURL: URL,
        scopes: [String] = ["openid", "profile", "email"], staff: StaffPolicy = StaffPolicy(),
        extraAccessTokenAudiences: Set<String> = [], sessionLifetime: Duration = .seconds(12 * 3600),
        signInLifetime: Duration = .seconds(600), requestTimeout: Duration = .seconds(10),
        clockSkew: Duration = .seconds(60)
    ) {
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.redirectURL = redirectURL
        self.scopes = scopes.contains("openid") ? scopes : ["openid"] + scopes
        self.staff = staff
        self.extraAccessTokenAudiences = extraAccessTokenAudiences
        self.sessionLifetime = sessionLifetime
        self.signInLifetime = signInLifetime
        self.requestTimeout = requestTimeout
        self.clockSkew = clockSkew
    }

    /// The issuer as the provider writes it in tokens and its discovery document (no trailing slash).
    public var issuerIdentifier: String {
        var text = issuer.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    /// Checks what can be checked without the provider.
    ///
    /// - Throws: ``IdentityError`` (`misconfigured`) saying what to change.
    public func validate() throws(IdentityError) {
        guard URLPolicy.isAllowed(issuer) else {
            throw IdentityError(.misconfigured, "The issuer URL \(issuer) must use https (plain http only on a loopback address, for tests).")
        }
        guard URLPolicy.isAllowed(redirectURL), redirectURL.path.hasSuffix("/signin/callback") else {
            throw IdentityError(.misconfigured, "The redirect URL \(redirectURL) must be this site's /signin/callback over https (plain http only on a loopback address).")
        }
        guard !clientID.isEmpty, !clientSecret.isEmpty else {
            throw IdentityError(.misconfigured, "A client id and a client secret are needed: register the site with the provider.")
        }
    }
}

/// Where the provider's endpoints may be: https, or http on loopback (a provider started beside the tests).
enum URLPolicy {
    static func isAllowed(_ url: URL) -> Bool {
        guard let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else { return false }
        if scheme == "https" { return true }
        return scheme == "http" && (host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]")
    }
}
