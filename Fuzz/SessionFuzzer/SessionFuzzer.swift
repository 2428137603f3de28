import Crypto
import Foundation
import FuzzSupport
import Identity
import Orders

/// libFuzzer's entry point: the same bytes go to every parser of what a browser or client presents as who it
/// is.
@_cdecl("LLVMFuzzerTestOneInput")
public func sessionFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    SessionFuzzer.run(input)
    return 0
}

/// Feeds arbitrary bytes to the parsers of credentials: the session and sign-in cookies
/// (``SessionCookies``), private status link tokens (``StatusLinks``), base64url, the `Authorization` header
/// (``BearerToken``) and the session key file (``SessionKeys``).
///
/// Besides "never crash, never hang": nothing the fuzzer writes opens as a session, a sign-in or a status
/// link (that would be a forgery); whatever is sealed from the input opens as itself and no longer opens
/// once any one character is changed; base64url has one spelling per value; a parsed key file holds only
/// keys long enough.
enum SessionFuzzer {
    /// Fixed keys, as a node would have: the fuzzer does not know them, just as a browser does not.
    static let keys = try! SessionKeys(text: "c2Vzc2lvbi1mdXp6ZXItdGVzdC1rZXktb25lLTMyLWJ5dGVzLWxvbmc=\nc2Vzc2lvbi1mdXp6ZXItcmV0aXJlZC1rZXktdHdvLTMyLWJ5dGVzLWxvbmc=\n")
    static let cookies = SessionCookies(keys: keys)
    static let links = StatusLinks(keys: keys)
    static let now: Int64 = 1_800_000_000
    static let digest = ReservationDigest("2e401f4cba1d2e90f354")!

    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        presented(text)
        sealedFrom(text, bytes)
        base64URL(text)
        bearer(text)
        keyFile(text)
    }

    /// What a browser or client presents: nothing opens.
    static func presented(_ text: String) {
        require(cookies.openSession(text, now: now) == nil, "a session cookie the fuzzer wrote opened: \(text)")
        require(cookies.openSignIn(text, now: now) == nil, "a sign-in cookie the fuzzer wrote opened: \(text)")
        require(!links.isValid(text, for: digest), "a status link token the fuzzer wrote opened: \(text)")
        let wellFormed = text.utf8.count == 22 && text.utf8.allSatisfy(isBase64URLByte)
        require(StatusLinks.isWellFormed(text) == wellFormed, "isWellFormed(\(text)) is \(!wellFormed)")
    }

    /// Values sealed from the input open as themselves, and not once a character is changed.
    static func sealedFrom(_ text: String, _ bytes: [UInt8]) {
        let parts = text.split(separator: "\u{1}", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        let subject = parts.first.flatMap { $0.isEmpty ? nil : $0 } ?? "subject"
        guard let identity = GuestIdentity(issuer: "https://id.example", subject: subject) else { return }
        let user = SignedInUser(
            identity: identity, name: parts.count > 1 ? parts[1] : nil, email: parts.count > 2 ? parts[2] : nil,
            isStaff: bytes.first.map { $0 & 1 == 1 } ?? false)
        let session = Session(user: user, expiresAt: now + 60, formToken: parts.count > 3 ? parts[3] : "form")
        let sealed = cookies.seal(session)
        require(cookies.openSession(sealed, now: now) == session, "a sealed session did not open as itself")
        require(cookies.openSession(sealed, now: now + 60) == nil, "an expired session opened")
        require(cookies.openSignIn(sealed, now: now) == nil, "a session cookie opened as a sign-in")

        // One character changed, wherever the input says, into any other character of the alphabet.
        var changed = Array(sealed.utf8)
        let position = bytes.count > 1 ? (Int(bytes[0]) << 8 | Int(bytes[1])) % changed.count : 0
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.".utf8)
        let replacement = alphabet[(Int(bytes.last ?? 0) % (alphabet.count - 1) + Int(alphabet.firstIndex(of: changed[position]) ?? 0) + 1) % alphabet.count]
        changed[position] = replacement
        let tampered = String(decoding: changed, as: UTF8.self)
        require(tampered == sealed || cookies.openSession(tampered, now: now) == nil, "a changed session cookie opened: \(tampered)")

        let token = links.token(for: digest)
        require(StatusLinks.isWellFormed(token) && links.isValid(token, for: digest), "a status link token did not open its reservation")
        require(!links.isValid(token, for: ReservationDigest("0000000000000000000a")!), "a status link opened another reservation")
    }

    /// One spelling per value: what decodes encodes back to the same text.
    static func base64URL(_ text: String) {
        if let data = Base64URL.decode(text) {
            require(Base64URL.encode(data) == text, "base64url \(text) is not canonical")
        }
        let again = Base64URL.decode(Base64URL.encode(Array(text.utf8)))
        require(again.map(Array.init) == Array(text.utf8), "base64url does not survive a round trip")
    }

    static func bearer(_ text: String) {
        guard let token = BearerToken.parse(authorization: text) else { return }
        require(!token.isEmpty && token.first != " " && token.last != " " && token.first != "\t" && token.last != "\t",
                "a bearer token with surrounding blanks: [\(token)]")
        // Blanks before the scheme are allowed: they are not part of a field's value (RFC 9110, section 5.5).
        require(text.drop { $0 == " " || $0 == "\t" }.lowercased().hasPrefix("bearer ") && text.contains(token),
                "a bearer token that is not in its header")
        require(BearerToken.parse(authorization: "Bearer " + token) == token, "a bearer token that does not read back")
    }

    static func keyFile(_ text: String) {
        guard let parsed = try? SessionKeys(text: text) else { return }
        require((1...3).contains(parsed.keys.count), "\(parsed.keys.count) session keys")
        require(parsed.keys.allSatisfy { $0.bitCount >= SessionKeys.minimumKeyBytes * 8 }, "a session key shorter than 32 bytes")
    }

    static func isBase64URLByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }
}
