public import Crypto
import Foundation

/// The secret keys that seal session cookies and sign private status links, shared by every node.
///
/// The first key is the current one: it seals everything new. The others (at most two more) are older keys
/// still accepted, so that keys can be rotated without signing everybody out: add the new key first, keep the
/// old one second until the longest session has expired, then drop it (`docs/IDENTITY.md`).
///
/// Each purpose gets a key of its own, derived with HKDF-SHA256, so that a cookie of one kind can never be
/// passed off as another and a status link reveals nothing about the cookie key.
public struct SessionKeys: Sendable {
    /// The keys as configured, current first.
    public let keys: [SymmetricKey]

    /// The shortest key accepted, in bytes.
    public static let minimumKeyBytes = 32

    /// Creates a key ring.
    ///
    /// - Throws: ``IdentityError`` (`misconfigured`) when there is no key, more than three, or one shorter
    ///   than 32 bytes.
    public init(keys: [SymmetricKey]) throws(IdentityError) {
        guard (1...3).contains(keys.count) else {
            throw IdentityError(.misconfigured, "Session keys: give one to three keys (the current one first); got \(keys.count).")
        }
        guard keys.allSatisfy({ $0.bitCount >= Self.minimumKeyBytes * 8 }) else {
            throw IdentityError(.misconfigured, "Session keys must be at least \(Self.minimumKeyBytes) random bytes each (e.g. `openssl rand -base64 32`).")
        }
        self.keys = keys
    }

    /// Reads keys written one per line in base64 (standard or URL alphabet), current first; blank lines and
    /// lines starting with `#` are skipped.
    ///
    /// - Throws: ``IdentityError`` (`misconfigured`) naming the line that is not a key.
    public init(text: String) throws(IdentityError) {
        var keys: [SymmetricKey] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let standard = line.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            let padded = standard + String(repeating: "=", count: (4 - standard.utf8.count % 4) % 4)
            guard let bytes = Data(base64Encoded: padded) else {
                throw IdentityError(.misconfigured, "Session keys: line \(index + 1) is not base64. Write one key per line, e.g. from `openssl rand -base64 32`.")
            }
            keys.append(SymmetricKey(data: bytes))
        }
        try self.init(keys: keys)
    }

    /// A new random key, written as a line of the key file.
    public static func generateKeyLine() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// What a derived key is for; each one is separate.
    enum Purpose: String {
        case sessionCookie = "rananeeti session cookie v1"
        case signInCookie = "rananeeti sign-in cookie v1"
        case statusLink = "rananeeti status link v1"
    }

    /// The derived keys for `purpose`, current first.
    func derived(for purpose: Purpose) -> [SymmetricKey] {
        keys.map { key in
            HKDF<SHA256>.deriveKey(
                inputKeyMaterial: key, salt: Data("rananeeti".utf8), info: Data(purpose.rawValue.utf8),
                outputByteCount: 32)
        }
    }
}

/// Seals values with AES-GCM under the keys of one purpose, and opens what any of those keys sealed.
///
/// A sealed value is `v1.` followed by base64url of nonce, ciphertext and tag (AES.GCM's combined form). The
/// purpose is also authenticated, so a value sealed for one purpose does not open for another.
struct SealedValues: Sendable {
    private let keys: [SymmetricKey]
    private let purpose: SessionKeys.Purpose

    init(keys: SessionKeys, purpose: SessionKeys.Purpose) {
        self.keys = keys.derived(for: purpose)
        self.purpose = purpose
    }

    private static let prefix = "v1."

    func seal(_ plaintext: Data) -> String {
        // AES.GCM.seal fails only for a nonce or key of a wrong size; ours are made right here.
        let box = try! AES.GCM.seal(plaintext, using: keys[0], authenticating: Data(purpose.rawValue.utf8))
        return Self.prefix + Base64URL.encode(box.combined!)
    }

    /// The plaintext, or nil when `text` was not sealed by one of the keys for this purpose (tampered,
    /// truncated, another purpose, or a key that has been retired).
    func open(_ text: String) -> Data? {
        guard text.hasPrefix(Self.prefix), let combined = Base64URL.decode(text.dropFirst(Self.prefix.count)),
            let box = try? AES.GCM.SealedBox(combined: combined)
        else { return nil }
        for key in keys {
            if let plaintext = try? AES.GCM.open(box, using: key, authenticating: Data(purpose.rawValue.utf8)) {
                return plaintext
            }
        }
        return nil
    }
}
