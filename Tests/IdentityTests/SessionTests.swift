import Crypto
import Foundation
import Identity
import Orders
import Testing

/// Sealed cookies and private links: what every node can check without a database.
@Suite("Sessions, sign-in cookies and status links")
struct SessionTests {
    static let now: Int64 = 1_800_000_000
    static let gina = GuestIdentity(issuer: "https://id.example", subject: "guest-0001")!

    static func keys(_ lines: [String]) throws -> SessionKeys {
        try SessionKeys(text: lines.joined(separator: "\n"))
    }

    static func session(expiresAt: Int64 = now + 3600, staff: Bool = false) -> Session {
        Session(
            user: SignedInUser(identity: gina, name: "Gina Guest", email: "gina@example.com", isStaff: staff),
            expiresAt: expiresAt, formToken: "form-token")
    }

    @Test("a sealed session opens with the keys that sealed it, whole")
    func roundTrip() throws {
        let cookies = SessionCookies(keys: try Self.keys([SessionKeys.generateKeyLine()]))
        let sealed = cookies.seal(Self.session(staff: true))
        #expect(cookies.openSession(sealed, now: Self.now) == Self.session(staff: true))
        #expect(!sealed.contains("Gina"), "the cookie does not show what it holds")
        #expect(sealed.utf8.count < 1024)
    }

    @Test("every changed, cut or added character makes the cookie worthless")
    func tampering() throws {
        let cookies = SessionCookies(keys: try Self.keys([SessionKeys.generateKeyLine()]))
        let sealed = Array(cookies.seal(Self.session()).utf8)
        for index in sealed.indices {
            var changed = sealed
            changed[index] = changed[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect(cookies.openSession(String(decoding: changed, as: UTF8.self), now: Self.now) == nil, "byte \(index)")
        }
        #expect(cookies.openSession(String(decoding: sealed.dropLast(), as: UTF8.self), now: Self.now) == nil)
        #expect(cookies.openSession(String(decoding: sealed + [UInt8(ascii: "A")], as: UTF8.self), now: Self.now) == nil)
        #expect(cookies.openSession("", now: Self.now) == nil)
        #expect(cookies.openSession("v1.", now: Self.now) == nil)
    }

    @Test("an expired session, another node's keys, or a sign-in cookie passed off as a session: refused")
    func refused() throws {
        let line = SessionKeys.generateKeyLine()
        let cookies = SessionCookies(keys: try Self.keys([line]))
        #expect(cookies.openSession(cookies.seal(Self.session(expiresAt: Self.now)), now: Self.now) == nil)
        let stranger = SessionCookies(keys: try Self.keys([SessionKeys.generateKeyLine()]))
        #expect(stranger.openSession(cookies.seal(Self.session()), now: Self.now) == nil)
        let signIn = PendingSignInFixture.make(expiresAt: Self.now + 600)
        #expect(cookies.openSession(cookies.seal(signIn), now: Self.now) == nil, "purposes are kept apart")
        #expect(cookies.openSignIn(cookies.seal(signIn), now: Self.now) == signIn)
        #expect(cookies.openSignIn(cookies.seal(signIn), now: Self.now + 600) == nil, "sign-ins expire")
    }

    @Test("rotation: the old key still opens what it sealed while listed second, and new cookies use the new key")
    func rotation() throws {
        let old = SessionKeys.generateKeyLine()
        let new = SessionKeys.generateKeyLine()
        let before = SessionCookies(keys: try Self.keys([old]))
        let during = SessionCookies(keys: try Self.keys([new, old]))
        let after = SessionCookies(keys: try Self.keys([new]))
        let sealedBefore = before.seal(Self.session())
        #expect(during.openSession(sealedBefore, now: Self.now) != nil)
        #expect(after.openSession(sealedBefore, now: Self.now) == nil)
        #expect(after.openSession(during.seal(Self.session()), now: Self.now) != nil)
    }

    @Test("key files: base64 lines, comments and blanks skipped; too short, too many or not base64 refused")
    func keyFiles() throws {
        let line = SessionKeys.generateKeyLine()
        #expect(try SessionKeys(text: "# current\n\(line)\n\n").keys.count == 1)
        #expect(throws: IdentityError.self) { try SessionKeys(text: "") }
        #expect(throws: IdentityError.self) { try SessionKeys(text: Data(repeating: 1, count: 16).base64EncodedString()) }
        #expect(throws: IdentityError.self) { try SessionKeys(text: "not base64!") }
        #expect(throws: IdentityError.self) { try SessionKeys(text: Array(repeating: line, count: 4).joined(separator: "\n")) }
    }

    @Test("status links open one reservation, under any listed key, and nothing else")
    func statusLinks() throws {
        let old = SessionKeys.generateKeyLine()
        let links = StatusLinks(keys: try Self.keys([old]))
        let digest = ReservationDigest("2e401f4cba1d2e90f354")!
        let other = ReservationDigest("8a2f1dbfc18c8f751533")!
        let token = links.token(for: digest)
        #expect(links.isValid(token, for: digest))
        #expect(!links.isValid(token, for: other))
        #expect(!links.isValid(links.token(for: other), for: digest))
        #expect(!links.isValid("", for: digest))
        #expect(!links.isValid(String(token.dropLast()), for: digest))
        #expect(!links.isValid(token + "A", for: digest))
        #expect(!links.isValid(digest.description, for: digest), "the digest alone is not a token")
        let rotated = StatusLinks(keys: try Self.keys([SessionKeys.generateKeyLine(), old]))
        #expect(rotated.isValid(token, for: digest), "links handed out before a rotation still work")
        #expect(!StatusLinks(keys: try Self.keys([SessionKeys.generateKeyLine()])).isValid(token, for: digest))
    }

    @Test("staff: a listed subject, a verified listed e-mail, or a claim holding the value")
    func staffPolicy() {
        func claims(_ values: [String: ProviderClaims.Value]) -> ProviderClaims { ProviderClaims(values: values) }
        let bySubject = StaffPolicy(subjects: ["staff-0001"])
        #expect(bySubject.isStaff(claims(["sub": .string("staff-0001")])))
        #expect(!bySubject.isStaff(claims(["sub": .string("guest-0001")])))
        let byEmail = StaffPolicy(emails: ["Sam@Example.com"])
        #expect(byEmail.isStaff(claims(["sub": .string("x"), "email": .string("sam@example.com")])))
        #expect(!byEmail.isStaff(claims(["sub": .string("x"), "email": .string("sam@example.com"), "email_verified": .bool(false)])))
        #expect(!byEmail.isStaff(claims(["sub": .string("x"), "email": .string("sam@example.com"), "email_verified": .string("false")])))
        let byGroup = StaffPolicy(claim: ("groups", "staff"))
        #expect(byGroup.isStaff(claims(["groups": .array([.string("cooks"), .string("staff")])])))
        #expect(byGroup.isStaff(claims(["groups": .string("staff")])))
        #expect(!byGroup.isStaff(claims(["groups": .array([.string("staff-not")])])))
        #expect(!byGroup.isStaff(claims(["groups": .number(1)])))
        #expect(!StaffPolicy().isStaff(claims(["sub": .string("staff-0001"), "groups": .array([.string("staff")])])))
    }
}

/// A sign-in in progress with made-up values.
enum PendingSignInFixture {
    static func make(expiresAt: Int64) -> PendingSignIn {
        PendingSignIn(state: "state-1", nonce: "nonce-1", codeVerifier: "verifier-1", returnTo: "/my", expiresAt: expiresAt)
    }
}
