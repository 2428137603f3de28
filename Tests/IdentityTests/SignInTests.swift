import Foundation
import Identity
import Logging
import Orders
import Testing
import TestSupport

/// Signing in against a real OpenID Connect provider (tests/oidc/provider.py, its own process), and every kind
/// of token or callback that must be refused.
@Suite("Sign-in against a real provider", .timeLimit(.minutes(5)))
struct SignInTests {
    /// - Parameter requestTimeout: generous unless a test is about the deadline: the provider is a Python
    ///   process that signs every token, on a machine that may be running other tests.
    static func service(
        _ provider: OpenIDTestProvider, staff: StaffPolicy = StaffPolicy(claim: ("groups", "staff")),
        requestTimeout: Duration = TestTiming.margin(.seconds(30))
    ) throws -> SignInService {
        let configuration = IdentityConfiguration(
            issuer: provider.issuer, clientID: OpenIDTestProvider.clientID,
            clientSecret: OpenIDTestProvider.clientSecret, redirectURL: OpenIDTestProvider.redirectURL, staff: staff,
            requestTimeout: requestTimeout)
        try configuration.validate()
        return SignInService(
            configuration: configuration, keys: try SessionKeys(text: SessionKeys.generateKeyLine()),
            logger: Logger(label: "identity-test"))
    }

    /// The whole flow as a browser goes through it: our redirect, the provider's login, the callback.
    static func signIn(
        _ service: SignInService, _ provider: OpenIDTestProvider, as person: OpenIDTestProvider.Person,
        returnTo: String = "/my"
    ) async throws -> (session: Session, cookie: String, returnTo: String) {
        let (redirect, cookie) = try await service.begin(returnTo: returnTo)
        let callback = try await provider.signIn(at: redirect, as: person)
        let query = URLComponents(url: callback, resolvingAgainstBaseURL: false)!.queryItems ?? []
        return try await service.complete(
            code: query.first { $0.name == "code" }?.value, state: query.first { $0.name == "state" }?.value,
            error: query.first { $0.name == "error" }?.value, cookie: cookie)
    }

    @Test("a guest and a staff member sign in with code, PKCE, state and nonce; the session names them")
    func signInFlow() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            let service = try Self.service(provider)
            let (redirect, _) = try await service.begin(returnTo: "/my")
            let query = Dictionary(
                uniqueKeysWithValues: (URLComponents(url: redirect, resolvingAgainstBaseURL: false)!.queryItems ?? [])
                    .map { ($0.name, $0.value ?? "") })
            #expect(query["response_type"] == "code")
            #expect(query["code_challenge_method"] == "S256")
            #expect(query["code_challenge"]?.count == 43)
            #expect((query["state"]?.count ?? 0) >= 22 && (query["nonce"]?.count ?? 0) >= 22)
            #expect(query["scope"] == "openid profile email")

            let guest = try await Self.signIn(service, provider, as: OpenIDTestProvider.guest)
            #expect(guest.session.user.identity == GuestIdentity(issuer: provider.issuer.absoluteString, subject: OpenIDTestProvider.guest.subject))
            #expect(guest.session.user.name == "Gina Guest")
            #expect(guest.session.user.email == "gina@example.com")
            #expect(!guest.session.user.isStaff)
            #expect(guest.returnTo == "/my")
            #expect(service.session(fromCookie: guest.cookie) == guest.session)

            let staff = try await Self.signIn(service, provider, as: OpenIDTestProvider.staff, returnTo: "https://evil.example/")
            #expect(staff.session.user.isStaff)
            #expect(staff.returnTo == "/", "a sign-in never sends anyone off the site")
        }
    }

    @Test("a replayed or forged callback, or one without its cookie, is refused before the code is used")
    func callbackReplay() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            let service = try Self.service(provider)
            let (redirect, cookie) = try await service.begin(returnTo: nil)
            let callback = try await provider.signIn(at: redirect, as: OpenIDTestProvider.guest)
            let query = URLComponents(url: callback, resolvingAgainstBaseURL: false)!.queryItems ?? []
            let code = query.first { $0.name == "code" }?.value
            let state = query.first { $0.name == "state" }?.value

            let noCookie = await #expect(throws: IdentityError.self) {
                try await service.complete(code: code, state: state, error: nil, cookie: nil)
            }
            #expect(noCookie?.code == .signInNotStarted)
            let wrongState = await #expect(throws: IdentityError.self) {
                try await service.complete(code: code, state: "forged", error: nil, cookie: cookie)
            }
            #expect(wrongState?.code == .signInNotStarted)
            let otherBrowser = try await service.begin(returnTo: nil).cookie
            let otherCookie = await #expect(throws: IdentityError.self) {
                try await service.complete(code: code, state: state, error: nil, cookie: otherBrowser)
            }
            #expect(otherCookie?.code == .signInNotStarted)

            _ = try await service.complete(code: code, state: state, error: nil, cookie: cookie)
            let replay = await #expect(throws: IdentityError.self) {
                try await service.complete(code: code, state: state, error: nil, cookie: cookie)
            }
            #expect(replay?.code == .signInNotStarted)

            let cancelled = try await service.begin(returnTo: nil)
            let cancelledState = URLComponents(url: cancelled.redirect, resolvingAgainstBaseURL: false)!.queryItems!
                .first { $0.name == "state" }!.value
            let denied = await #expect(throws: IdentityError.self) {
                try await service.complete(code: nil, state: cancelledState, error: "access_denied", cookie: cancelled.cookie)
            }
            #expect(denied?.code == .signInNotStarted)
        }
    }

    @Test("forged, expired, future, wrong-audience, wrong-issuer, wrong-nonce, unsigned and HS256 tokens are refused")
    func hostileTokens() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            let service = try Self.service(provider)
            let claims = provider.claims(for: OpenIDTestProvider.guest)
            // A token the provider really signed, as a control: the checks below fail for their reason alone.
            let genuine = try await provider.mint(claims)
            #expect(try await service.provider.verifyIDToken(genuine, nonce: "n").subject == OpenIDTestProvider.guest.subject)

            var cases: [(String, String)] = []
            cases.append(("signed with a key the provider never published", try await provider.mint(claims, key: "stranger")))
            var expired = claims
            expired["exp"] = Int(Date().timeIntervalSince1970) - 3600
            cases.append(("expired an hour ago", try await provider.mint(expired)))
            var future = claims
            future["iat"] = Int(Date().timeIntervalSince1970) + 3600
            cases.append(("issued an hour from now", try await provider.mint(future)))
            cases.append(("for another client", try await provider.mint(provider.claims(for: OpenIDTestProvider.guest, audience: "another-app"))))
            var otherIssuer = claims
            otherIssuer["iss"] = "https://evil.example"
            cases.append(("from another issuer", try await provider.mint(otherIssuer)))
            var otherNonce = claims
            otherNonce["nonce"] = "replayed"
            cases.append(("with another sign-in's nonce", try await provider.mint(otherNonce)))
            var noExpiry = claims
            noExpiry.removeValue(forKey: "exp")
            cases.append(("without exp", try await provider.mint(noExpiry)))
            cases.append(("alg none", try await provider.mint(claims, alg: "none")))
            cases.append(("HS256 with the public key as secret", try await provider.mint(claims, alg: "HS256")))
            cases.append(("naming a key id nobody published", try await provider.mint(claims, key: "stranger", kid: "made-up")))
            cases.append(("not a JWT", "eyJhbGciOiJSUzI1NiJ9.garbage"))
            // The signature's first character: all six of its bits are the signature's (the last character's
            // lowest bits may be padding that decodes to the same bytes whatever they are).
            var flipped = Array(genuine)
            let signatureStart = flipped.lastIndex(of: ".")! + 1
            flipped[signatureStart] = flipped[signatureStart] == "A" ? "B" : "A"
            cases.append(("a flipped signature byte", String(flipped)))
            for (what, token) in cases {
                let error = await #expect(throws: IdentityError.self, "\(what)") {
                    try await service.provider.verifyIDToken(token, nonce: "n")
                }
                #expect(error?.code == .tokenRejected, "\(what): \(error?.message ?? "")")
            }
        }
    }

    @Test("a rotated signing key is fetched when a token names it; a bearer access token names its person")
    func keyRotationAndBearerTokens() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            let service = try Self.service(provider)
            let first = try await provider.tokens(for: OpenIDTestProvider.guest)
            #expect(try await service.user(fromBearerToken: first.accessToken).identity.subject == OpenIDTestProvider.guest.subject)

            try await provider.rotateKeys(keepOld: false)
            let second = try await provider.tokens(for: OpenIDTestProvider.staff)
            let staff = try await service.user(fromBearerToken: second.accessToken)
            #expect(staff.isStaff)
            let retired = await #expect(throws: IdentityError.self) {
                try await service.user(fromBearerToken: first.accessToken)
            }
            #expect(retired?.code == .tokenRejected, "a token signed by a key the provider no longer publishes")

            let forAnotherApp = try await provider.mint(provider.claims(for: OpenIDTestProvider.guest, audience: "another-app"))
            let wrongAudience = await #expect(throws: IdentityError.self) {
                try await service.user(fromBearerToken: forAnotherApp)
            }
            #expect(wrongAudience?.code == .tokenRejected)
        }
    }

    @Test("a provider that hangs costs a sign-in its deadline, and says the provider is unavailable")
    func hangingProvider() async throws {
        try await OpenIDTestProvider.withProvider { provider in
            let service = try Self.service(provider, requestTimeout: .seconds(2))
            provider.freeze()
            defer { provider.thaw() }
            let started = ContinuousClock.now
            let error = await #expect(throws: IdentityError.self) { try await service.begin(returnTo: nil) }
            #expect(error?.code == .providerUnavailable)
            // The 2 s deadline (the transfer's timeout or the node's own timer, whichever fires first) ended
            // the call: the bound leaves a busy machine room to wake either (15 s were seen with the whole
            // suite and a build on two cores); a provider that hangs would otherwise hold it for good.
            #expect(started.duration(to: .now) < TestTiming.margin(.seconds(30)))
            #expect(error?.guestMessage.contains("not reachable") == true)
        }
    }
}
