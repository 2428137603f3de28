public import Foundation
import JWTKit
public import Logging

/// One OpenID Connect provider, as this application uses it: found through its discovery document, its
/// signing keys (JWKS) cached and fetched again when a token names a key not seen yet, the authorization
/// code exchanged for tokens, and tokens checked (signature, `iss`, `aud`, `exp`, `iat`, `nbf`, `nonce`).
///
/// Every request to the provider has a deadline (``IdentityConfiguration/requestTimeout``). While the
/// provider is away, sessions already open keep working: they never ask it anything.
public actor OpenIDProvider {
    /// What the discovery document says (OpenID Connect Discovery 1.0, section 3), of what is used here.
    struct Discovery: Decodable, Sendable {
        var issuer: String
        var authorization_endpoint: URL
        var token_endpoint: URL
        var jwks_uri: URL
        var token_endpoint_auth_methods_supported: [String]?
        var id_token_signing_alg_values_supported: [String]?
    }

    /// What the token endpoint answers (RFC 6749, section 5.1; OpenID Connect Core, section 3.1.3.3).
    struct TokenResponse: Decodable, Sendable {
        var id_token: String?
        var access_token: String?
        var token_type: String?
    }

    /// The signature algorithms accepted: asymmetric ones only, so that a token signed with a public key
    /// as an HMAC secret ("alg confusion") or not signed at all (`none`) is refused before any key is used.
    static let allowedAlgorithms: Set<String> = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ]
    /// How long the discovery document and the keys are used before they are fetched again.
    static let cacheLifetime: Duration = .seconds(3600)
    /// Fetches of the keys for an unknown key id: up to three at once, then one more every 30 s. A key the
    /// provider has just rotated to is fetched at once, while a stream of forged tokens naming made-up keys
    /// does not become a stream of requests to the provider.
    static let unknownKeyRefetches = (burst: 3.0, interval: Duration.seconds(30))

    public nonisolated let configuration: IdentityConfiguration
    private let http: ProviderHTTP
    private let logger: Logger
    private var discovery: (document: Discovery, fetchedAt: ContinuousClock.Instant)?
    private var keys = JWTKeyCollection()
    private var keyIDs: Set<String> = []
    private var keysFetchedAt: ContinuousClock.Instant?
    /// Fetches for unknown key ids still allowed now (a token bucket; see ``unknownKeyRefetches``).
    private var refetchBudget = (tokens: OpenIDProvider.unknownKeyRefetches.burst, at: ContinuousClock.now)

    public init(configuration: IdentityConfiguration, logger: Logger) {
        self.configuration = configuration
        self.http = ProviderHTTP(timeout: configuration.requestTimeout)
        self.logger = logger
    }

    // MARK: Discovery and keys

    private func discovered() async throws(IdentityError) -> Discovery {
        if let discovery, discovery.fetchedAt.duration(to: .now) < Self.cacheLifetime { return discovery.document }
        let url = configuration.issuer.appendingPathComponent(".well-known/openid-configuration")
        do throws(IdentityError) {
            let document: Discovery = try await fetchJSON(url, what: "discovery document")
            guard document.issuer == configuration.issuerIdentifier else {
                throw IdentityError(.misconfigured, "The discovery document at \(url) names issuer \(document.issuer), not \(configuration.issuerIdentifier): check the issuer URL.")
            }
            for endpoint in [document.authorization_endpoint, document.token_endpoint, document.jwks_uri]
            where !URLPolicy.isAllowed(endpoint) {
                throw IdentityError(.misconfigured, "The discovery document names \(endpoint), which is not https.")
            }
            discovery = (document, .now)
            return document
        } catch {
            // A stale document is better than none while the provider is briefly away.
            if let stale = discovery?.document, error.code == .providerUnavailable {
                logger.warning("provider discovery failed; using the cached document", metadata: ["error": "\(error)"])
                return stale
            }
            throw error
        }
    }

    /// Fetches the key set anew and replaces the cached keys with it.
    private func refreshKeys() async throws(IdentityError) {
        let url = try await discovered().jwks_uri
        let response = try await http.get(url)
        guard response.status == 200 else {
            throw IdentityError(.providerUnavailable, "The provider's key set at \(url) answered HTTP \(response.status).")
        }
        let jwks: JWKS
        do {
            jwks = try JSONDecoder().decode(JWKS.self, from: response.body)
        } catch {
            throw IdentityError(.providerUnavailable, "The provider's key set at \(url) is not a JWKS: \(error)")
        }
        let collection = JWTKeyCollection()
        var identifiers: Set<String> = []
        for jwk in jwks.keys {
            // Keys without an id, or of kinds this library does not know, are skipped, not fatal.
            guard let kid = jwk.keyIdentifier?.string else { continue }
            if (try? await collection.add(jwk: jwk)) != nil { identifiers.insert(kid) }
        }
        guard !identifiers.isEmpty else {
            throw IdentityError(.providerUnavailable, "The provider's key set at \(url) holds no signing key this node can use.")
        }
        keys = collection
        keyIDs = identifiers
        keysFetchedAt = .now
        logger.info("fetched the provider's signing keys", metadata: ["keys": "\(identifiers.sorted())"])
    }

    private func fetchJSON<Value: Decodable>(_ url: URL, what: String) async throws(IdentityError) -> Value {
        let response = try await http.get(url)
        guard response.status == 200 else {
            throw IdentityError(.providerUnavailable, "The provider's \(what) at \(url) answered HTTP \(response.status).")
        }
        do {
            return try JSONDecoder().decode(Value.self, from: response.body)
        } catch {
            throw IdentityError(.providerUnavailable, "The provider's \(what) at \(url) could not be read: \(error)")
        }
    }

    // MARK: The authorization code flow

    /// Where to send the browser to sign in (OpenID Connect Core, section 3.1.2.1, with PKCE S256).
    public func authorizationURL(for signIn: PendingSignIn) async throws(IdentityError) -> URL {
        let endpoint = try await discovered().authorization_endpoint
        var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false)!
        components.percentEncodedQuery = FormEncoding.encode(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") } + [
                ("response_type", "code"),
                ("client_id", configuration.clientID),
                ("redirect_uri", configuration.redirectURL.absoluteString),
                ("scope", configuration.scopes.joined(separator: " ")),
                ("state", signIn.state),
                ("nonce", signIn.nonce),
                ("code_challenge", signIn.codeChallenge),
                ("code_challenge_method", "S256"),
            ], spaceAsPlus: false)
        return components.url!
    }

    /// Exchanges an authorization code (with its PKCE verifier) for the ID token, and checks that token.
    ///
    /// - Returns: the ID token's claims.
    /// - Throws: ``IdentityError``: `providerUnavailable` when the provider cannot be reached,
    ///   `providerRefused` when it refuses the code, `tokenRejected` when its ID token does not hold.
    public func exchange(code: String, verifier: String, nonce: String) async throws(IdentityError) -> ProviderClaims {
        let document = try await discovered()
        var fields = [
            ("grant_type", "authorization_code"), ("code", code),
            ("redirect_uri", configuration.redirectURL.absoluteString), ("code_verifier", verifier),
        ]
        // client_secret_basic is the default (OpenID Connect Core, section 9); post when only that is offered.
        let methods = document.token_endpoint_auth_methods_supported ?? ["client_secret_basic"]
        let useBasic = methods.contains("client_secret_basic") || !methods.contains("client_secret_post")
        if !useBasic {
            fields += [("client_id", configuration.clientID), ("client_secret", configuration.clientSecret)]
        }
        let response = try await http.postForm(
            document.token_endpoint, fields: fields,
            basicAuthorization: useBasic ? (configuration.clientID, configuration.clientSecret) : nil)
        guard response.status == 200 else {
            let said = String(decoding: response.body.prefix(300), as: UTF8.self)
            let code: IdentityError.Code = (400..<500).contains(response.status) ? .providerRefused : .providerUnavailable
            throw IdentityError(code, "The token endpoint answered HTTP \(response.status): \(said)")
        }
        guard let tokens = try? JSONDecoder().decode(TokenResponse.self, from: response.body), let idToken = tokens.id_token
        else {
            throw IdentityError(.providerUnavailable, "The token endpoint's answer holds no id_token.")
        }
        return try await verifyIDToken(idToken, nonce: nonce)
    }

    // MARK: Tokens

    /// Checks an ID token: signature by the provider's keys, `iss`, `aud` (this client; `azp` when there are
    /// several audiences), `exp`, `iat`, `nbf`, and `nonce`.
    public func verifyIDToken(_ token: String, nonce: String) async throws(IdentityError) -> ProviderClaims {
        let claims = try await verifiedClaims(token)
        let audiences = claims.audiences
        guard audiences.contains(configuration.clientID) else {
            throw IdentityError(.tokenRejected, "The ID token is for \(audiences), not for this client.")
        }
        if audiences.count > 1, claims.string("azp") != configuration.clientID {
            throw IdentityError(.tokenRejected, "The ID token has several audiences and its azp is not this client.")
        }
        guard let sent = claims.string("nonce"), constantTimeEquals(sent, nonce) else {
            throw IdentityError(.tokenRejected, "The ID token's nonce is not the one this sign-in sent (a replayed token).")
        }
        return claims
    }

    /// Checks a bearer access token that the provider issued as a JWT (RFC 9068): signature, `iss`, `exp`,
    /// `iat`, `nbf`, and that it is meant for this application (`aud` holds the client id or a configured
    /// audience, or `client_id` is this client, as Amazon Cognito writes it).
    public func verifyAccessToken(_ token: String) async throws(IdentityError) -> ProviderClaims {
        let claims = try await verifiedClaims(token)
        let accepted = configuration.extraAccessTokenAudiences.union([configuration.clientID])
        guard !accepted.isDisjoint(with: claims.audiences) || claims.string("client_id") == configuration.clientID
        else {
            throw IdentityError(.tokenRejected, "The access token is not meant for this application (aud \(claims.audiences)).")
        }
        return claims
    }

    /// The claims of a token whose signature, issuer and times hold.
    private func verifiedClaims(_ token: String) async throws(IdentityError) -> ProviderClaims {
        let header = try Self.header(of: token)
        guard let algorithm = header.alg, Self.allowedAlgorithms.contains(algorithm) else {
            throw IdentityError(.tokenRejected, "The token's algorithm \(header.alg ?? "(none)") is not accepted.")
        }
        if let offered = try await discovered().id_token_signing_alg_values_supported, !offered.contains(algorithm) {
            throw IdentityError(.tokenRejected, "The token's algorithm \(algorithm) is not one the provider signs with.")
        }
        let stale = keysFetchedAt.map { $0.duration(to: .now) >= Self.cacheLifetime } ?? true
        let unknownKey = header.kid.map { !keyIDs.contains($0) } ?? false
        if stale || (unknownKey && takeRefetch()) {
            do throws(IdentityError) {
                try await refreshKeys()
            } catch where keysFetchedAt != nil && error.code == .providerUnavailable {
                logger.warning("could not fetch the provider's keys; using the cached ones", metadata: ["error": "\(error)"])
            }
        }
        guard let kid = header.kid, keyIDs.contains(kid) else {
            throw IdentityError(.tokenRejected, "The token names key \(header.kid ?? "(none)"), which the provider does not publish.")
        }
        let claims: ProviderClaims
        do {
            claims = try await keys.verify(token, as: UncheckedClaims.self).claims
        } catch {
            throw IdentityError(.tokenRejected, "The token's signature does not hold: \(error)")
        }
        guard claims.issuer == configuration.issuerIdentifier else {
            throw IdentityError(.tokenRejected, "The token was issued by \(claims.issuer ?? "nobody"), not \(configuration.issuerIdentifier).")
        }
        guard let subject = claims.subject, !subject.isEmpty else {
            throw IdentityError(.tokenRejected, "The token names no subject.")
        }
        let now = Date().timeIntervalSince1970
        let skew = Double(configuration.clockSkew.components.seconds)
        guard let expires = claims.seconds("exp"), expires > now - skew else {
            throw IdentityError(.tokenRejected, "The token has expired (or has no exp).")
        }
        if let issued = claims.seconds("iat"), issued > now + skew {
            throw IdentityError(.tokenRejected, "The token was issued in the future (iat), beyond the clock skew allowed.")
        }
        if let notBefore = claims.seconds("nbf"), notBefore > now + skew {
            throw IdentityError(.tokenRejected, "The token is not valid yet (nbf).")
        }
        return claims
    }

    /// Takes one fetch from the budget for unknown key ids, if one is left.
    private func takeRefetch() -> Bool {
        let elapsed = refetchBudget.at.duration(to: .now)
        let refill = Double(elapsed.components.seconds) / Double(Self.unknownKeyRefetches.interval.components.seconds)
        refetchBudget = (min(Self.unknownKeyRefetches.burst, refetchBudget.tokens + refill), .now)
        guard refetchBudget.tokens >= 1 else { return false }
        refetchBudget.tokens -= 1
        return true
    }

    struct Header: Decodable {
        var alg: String?
        var kid: String?
    }

    /// The token's header, read before any key is chosen.
    static func header(of token: String) throws(IdentityError) -> Header {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count <= 16 * 1024, let data = Base64URL.decode(parts[0]),
            let header = try? JSONDecoder().decode(Header.self, from: data)
        else {
            throw IdentityError(.tokenRejected, "The token is not a signed JWT (three base64url parts, at most 16 KiB).")
        }
        return header
    }
}

/// Compares two secrets in time that depends only on their lengths.
func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for index in x.indices { difference |= x[index] ^ y[index] }
    return difference == 0
}
