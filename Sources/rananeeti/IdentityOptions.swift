import ArgumentParser
import CafeWeb
import EventLog
import Foundation
import Identity
import Logging

/// Sign-in, sessions and the operator listener for `serve`: every setting from a flag or its environment
/// variable (secrets only from a file or the environment, never from the command line, where `ps` shows them).
struct IdentityOptions: ParsableArguments {
    @Option(help: "The OpenID Connect provider's issuer URL, e.g. https://accounts.google.com; its discovery document says the rest. (Environment: RANANEETI_OIDC_ISSUER; default: nobody signs in)")
    var oidcIssuer: String?
    @Option(help: "The client id this site is registered with at the provider. (Environment: RANANEETI_OIDC_CLIENT_ID)")
    var oidcClientId: String?
    @Option(help: "A file holding the client secret (mode 0600). (Environment: RANANEETI_OIDC_CLIENT_SECRET_FILE, or the secret itself in RANANEETI_OIDC_CLIENT_SECRET)")
    var oidcClientSecretFile: String?
    @Option(help: "Where the provider sends browsers back: this site's https://…/signin/callback, exactly as registered. (Environment: RANANEETI_OIDC_REDIRECT_URL)")
    var oidcRedirectUrl: String?
    @Option(help: "The scopes asked for, space-separated. (Environment: RANANEETI_OIDC_SCOPES; default \"openid profile email\")")
    var oidcScopes: String?
    @Option(help: "An audience accepted in bearer access tokens besides the client id; repeat for more. (Environment: RANANEETI_OIDC_ACCESS_TOKEN_AUDIENCES, comma-separated)")
    var oidcAccessTokenAudience: [String] = []
    @Option(help: "A subject (the provider's `sub`) who is staff; repeat for more. (Environment: RANANEETI_STAFF_SUBJECTS, comma-separated)")
    var staffSubject: [String] = []
    @Option(help: "An e-mail address (verified by the provider) that is staff; repeat for more. (Environment: RANANEETI_STAFF_EMAILS, comma-separated)")
    var staffEmail: [String] = []
    @Option(help: "NAME=VALUE: whoever's claim NAME holds VALUE (or lists it) is staff, e.g. cognito:groups=staff. (Environment: RANANEETI_STAFF_CLAIM)")
    var staffClaim: String?
    @Flag(inversion: .prefixedNo, help: "Whether booking needs a signed-in guest. (Environment: RANANEETI_REQUIRE_SIGN_IN=true|false; default: on when a provider is configured)")
    var requireSignIn: Bool?
    @Option(help: "A file of session keys, one base64 line each (`openssl rand -base64 32`), the current first; the same file on every node. (Environment: RANANEETI_SESSION_KEYS_FILE, or the lines themselves in RANANEETI_SESSION_KEYS; default: DATA_DIR/session-keys, made on first use, which suits one node)")
    var sessionKeysFile: String?
    @Option(help: "Where the operator endpoints listen (/metrics, /readyz details, /admin/*, the whole book), HOST:PORT; port 0 takes a free one. The address is written to DATA_DIR/operator-listen. (Environment: RANANEETI_OPERATOR_LISTEN; default 127.0.0.1:9090)")
    var operatorListen: String?

    static let sessionKeysFileName = "session-keys"
    /// Where `serve` writes the operator listener's address once it listens (`HOST:PORT`).
    static let operatorAddressFileName = "operator-listen"

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    var operatorAddress: String {
        operatorListen ?? environment["RANANEETI_OPERATOR_LISTEN"] ?? "127.0.0.1:9090"
    }

    var issuer: String? { oidcIssuer ?? environment["RANANEETI_OIDC_ISSUER"] }

    func validate() throws {
        guard ServeCommand.hostAndPort(operatorAddress) != nil else {
            throw ValidationError("--operator-listen (or RANANEETI_OPERATOR_LISTEN) must be HOST:PORT, for example 127.0.0.1:9090.")
        }
        if let claim = staffClaim ?? environment["RANANEETI_STAFF_CLAIM"], Self.claimRule(claim) == nil {
            throw ValidationError("--staff-claim (or RANANEETI_STAFF_CLAIM) must be NAME=VALUE, such as cognito:groups=staff.")
        }
    }

    /// The session keys: from the configured file or variable, else the data directory's own file, made (mode
    /// 0600) on first use.
    func sessionKeys(dataDirectory: String, logger: Logger) throws -> SessionKeys {
        do {
            if let path = sessionKeysFile ?? environment["RANANEETI_SESSION_KEYS_FILE"] {
                return try SessionKeys(text: try Self.readSecret(path, what: "session keys file"))
            }
            if let text = environment["RANANEETI_SESSION_KEYS"] { return try SessionKeys(text: text) }
        } catch let error as IdentityError {
            throw ValidationError(error.message)
        }
        let path = dataDirectory + "/" + Self.sessionKeysFileName
        if !FileManager.default.fileExists(atPath: path) {
            if case .failure(let error) = FileSystem.makeDirectory(dataDirectory) {
                throw ValidationError("Could not create the data directory \(dataDirectory): \(error).")
            }
            try NodeOptions.writeDurably(path, SessionKeys.generateKeyLine() + "\n", mode: 0o600)
            logger.notice(
                "made session keys for this node; give every node the same file (--session-keys-file) so that sessions and links work on all of them",
                metadata: ["file": "\(path)"])
        }
        do {
            return try SessionKeys(text: try Self.readSecret(path, what: "session keys file"))
        } catch let error as IdentityError {
            throw ValidationError(error.message)
        }
    }

    /// Sign-in with the configured provider, or nil when no issuer is configured.
    func signIn(keys: SessionKeys, logger: Logger) throws -> SignInService? {
        guard let issuerText = issuer else { return nil }
        guard let issuerURL = URL(string: issuerText),
            let clientID = oidcClientId ?? environment["RANANEETI_OIDC_CLIENT_ID"],
            let redirectText = oidcRedirectUrl ?? environment["RANANEETI_OIDC_REDIRECT_URL"],
            let redirectURL = URL(string: redirectText)
        else {
            throw ValidationError(
                "With --oidc-issuer, give --oidc-client-id and --oidc-redirect-url too (or RANANEETI_OIDC_CLIENT_ID and RANANEETI_OIDC_REDIRECT_URL), as registered with the provider.")
        }
        let secret: String
        if let path = oidcClientSecretFile ?? environment["RANANEETI_OIDC_CLIENT_SECRET_FILE"] {
            secret = try Self.readSecret(path, what: "client secret file")
        } else if let value = environment["RANANEETI_OIDC_CLIENT_SECRET"] {
            secret = value
        } else {
            throw ValidationError(
                "The provider's client secret is needed: --oidc-client-secret-file FILE, or RANANEETI_OIDC_CLIENT_SECRET_FILE or RANANEETI_OIDC_CLIENT_SECRET. (It is never taken from the command line.)")
        }
        let scopes = (oidcScopes ?? environment["RANANEETI_OIDC_SCOPES"]).map { $0.split(separator: " ").map(String.init) }
        let staff = StaffPolicy(
            subjects: Set(list(staffSubject, "RANANEETI_STAFF_SUBJECTS")),
            emails: Set(list(staffEmail, "RANANEETI_STAFF_EMAILS")),
            claim: (staffClaim ?? environment["RANANEETI_STAFF_CLAIM"]).flatMap(Self.claimRule))
        let configuration = IdentityConfiguration(
            issuer: issuerURL, clientID: clientID, clientSecret: secret, redirectURL: redirectURL,
            scopes: scopes ?? ["openid", "profile", "email"], staff: staff,
            extraAccessTokenAudiences: Set(list(oidcAccessTokenAudience, "RANANEETI_OIDC_ACCESS_TOKEN_AUDIENCES")))
        do {
            try configuration.validate()
        } catch {
            throw ValidationError(error.message)
        }
        if staff == StaffPolicy() {
            logger.warning("sign-in is configured but nobody is staff: the book is only on the operator listener (--staff-subject, --staff-email, --staff-claim)")
        }
        return SignInService(configuration: configuration, keys: keys, logger: logger)
    }

    /// Whether booking needs a signed-in guest: the flag, the variable, else whether there is sign-in at all.
    func requiresSignIn(hasProvider: Bool) -> Bool {
        if let requireSignIn { return requireSignIn }
        if let text = environment["RANANEETI_REQUIRE_SIGN_IN"] { return ["1", "true", "yes", "on"].contains(text.lowercased()) }
        return hasProvider
    }

    private func list(_ flags: [String], _ variable: String) -> [String] {
        if !flags.isEmpty { return flags }
        return (environment[variable] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    static func claimRule(_ text: String) -> (name: String, value: String)? {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex, text.index(after: equals) != text.endIndex
        else { return nil }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    /// A secret from a file, trimmed; refused when the file can be read by others than its owner's group.
    static func readSecret(_ path: String, what: String) throws -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let permissions = attributes?[.posixPermissions] as? Int,
            let text = try? String(contentsOfFile: path, encoding: .utf8)
        else {
            throw ValidationError("The \(what) \(path) cannot be read.")
        }
        guard permissions & 0o007 == 0 else {
            throw ValidationError(
                "The \(what) \(path) can be read by every user (mode \(String(permissions, radix: 8))); make it private: chmod 600 \(path).")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
