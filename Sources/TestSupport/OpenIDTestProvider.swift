public import Foundation
import FoundationNetworking
import Glibc

/// A real OpenID Connect provider for the tests: `tests/oidc/provider.py` (Authlib's authorization server) in a
/// process of its own on a free port of 127.0.0.1, with a guest, a second guest and a staff member who sign in
/// with a password on its login page.
///
/// Its Python environment (`.build-oidc-venv`, from `tests/oidc/requirements.txt`) is made by
/// `tests/oidc/setup.sh`, which `scripts/test` runs; a test that needs the provider fails, saying so, when it is
/// missing.
public final class OpenIDTestProvider: Sendable {
    /// A person the provider knows.
    public struct Person: Sendable {
        public let username: String
        public let password: String
        public let subject: String
        public let name: String
        public let email: String
        public let groups: [String]
    }

    public static let guest = Person(
        username: "gina", password: "gina-password", subject: "guest-0001", name: "Gina Guest",
        email: "gina@example.com", groups: [])
    public static let otherGuest = Person(
        username: "oscar", password: "oscar-password", subject: "guest-0002", name: "Oscar Other",
        email: "oscar@example.com", groups: [])
    public static let staff = Person(
        username: "sam", password: "sam-password", subject: "staff-0001", name: "Sam Staff",
        email: "sam@example.com", groups: ["staff"])

    /// The client this provider knows, and the redirect URL registered for it. Tests never let a browser follow
    /// the redirect: they take `code` and `state` from it and call the node themselves, so one fixed URL serves
    /// every node on any port.
    public static let clientID = "cafe-tests"
    public static let clientSecret = "cafe-tests-secret"
    public static let redirectURL = URL(string: "http://127.0.0.1:1/signin/callback")!

    /// The issuer, e.g. `http://127.0.0.1:41234`.
    public let issuer: URL
    private let pid: pid_t
    private let directory: String

    /// Starts a provider; it is stopped by ``stop()`` or when the test process exits.
    public init() async throws {
        let root = Self.repositoryRoot
        let python = root + "/.build-oidc-venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw HarnessError("\(python) is missing: run tests/oidc/setup.sh (scripts/test does) to install the test provider's Python packages.")
        }
        directory = try TemporaryDirectory(label: "oidc").path
        let people = [Self.guest, Self.otherGuest, Self.staff].map { person in
            [
                "username": person.username, "password": person.password, "sub": person.subject, "name": person.name,
                "email": person.email, "groups": person.groups,
            ] as [String: Any]
        }
        try JSONSerialization.data(withJSONObject: people).write(to: URL(fileURLWithPath: directory + "/users.json"))
        try Data(Self.clientSecret.utf8).write(to: URL(fileURLWithPath: directory + "/secret"))
        pid = try PostgresProcesses.spawn(
            [
                python, root + "/tests/oidc/provider.py", "--port-file", directory + "/port", "--client-id",
                Self.clientID, "--client-secret-file", directory + "/secret", "--redirect-uri",
                Self.redirectURL.absoluteString, "--users", directory + "/users.json", "--test-controls",
            ], outputPath: directory + "/provider.log")
        let deadline = ContinuousClock.now + TestTiming.margin(.seconds(30))
        var port: String?
        while port == nil {
            port = try? String(contentsOfFile: directory + "/port", encoding: .utf8)
            if port != nil { break }
            guard ContinuousClock.now < deadline, Glibc.kill(pid, 0) == 0 else {
                let log = (try? String(contentsOfFile: directory + "/provider.log", encoding: .utf8)) ?? ""
                Glibc.kill(pid, SIGKILL)
                throw HarnessError("the test OpenID provider did not start; its log:\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        issuer = URL(string: "http://127.0.0.1:\(port!)")!
    }

    /// Runs `body` with a provider and stops it however `body` ends.
    public static func withProvider<Result>(_ body: (OpenIDTestProvider) async throws -> Result) async throws -> Result {
        let provider = try await OpenIDTestProvider()
        defer { provider.stop() }
        return try await body(provider)
    }

    deinit { stop() }

    /// Stops the provider (SIGKILL: it holds nothing worth a clean stop).
    public func stop() {
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Freezes the provider (SIGSTOP): it accepts connections and never answers, like a provider that hangs.
    public func freeze() { Glibc.kill(pid, SIGSTOP) }

    /// Lets a frozen provider go on.
    public func thaw() { Glibc.kill(pid, SIGCONT) }

    // MARK: What a browser does

    /// Signs `person` in at the provider's login page, as a browser would after being sent to
    /// `authorizationURL`, and returns where the provider sends the browser back (with `code` and `state`).
    public func signIn(at authorizationURL: URL, as person: Person) async throws -> URL {
        var form = URLRequest(url: authorizationURL)
        form.httpMethod = "POST"
        form.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        form.httpBody = Data("username=\(person.username)&password=\(person.password)".utf8)
        let (status, headers, body) = try await Self.send(form)
        guard status == 302, let location = headers["Location"].flatMap(URL.init(string:)) else {
            throw HarnessError("the provider's login answered \(status), not a redirect: \(body)")
        }
        return location
    }

    // MARK: Test controls

    /// Signs with a new key from now on; the old one stays published when `keepOld`. Returns the new key id.
    @discardableResult
    public func rotateKeys(keepOld: Bool = true) async throws -> String {
        let answer = try await control("rotate-keys", ["keep_old": keepOld])
        return answer["kid"] as? String ?? ""
    }

    /// A token with exactly `claims`: signed with the provider's current key (`key: "current"`), with a key
    /// it never published (`"stranger"`), with its public key as an HMAC secret (`alg: "HS256"`), or unsigned
    /// (`alg: "none"`).
    public func mint(_ claims: [String: Any], alg: String = "RS256", key: String = "current", kid: String? = nil)
        async throws -> String
    {
        var body: [String: Any] = ["claims": claims, "alg": alg, "key": key]
        if let kid { body["kid"] = kid }
        return try await control("mint", body)["token"] as? String ?? ""
    }

    /// An ID token and a JWT access token for `person`, as a sign-in would give them.
    public func tokens(for person: Person, nonce: String = "n") async throws -> (idToken: String, accessToken: String) {
        let answer = try await control("tokens", ["username": person.username, "nonce": nonce])
        return (answer["id_token"] as? String ?? "", answer["access_token"] as? String ?? "")
    }

    /// Claims as the provider would write them for `person` now, to be changed by a hostile test.
    public func claims(for person: Person, audience: String = OpenIDTestProvider.clientID) -> [String: Any] {
        let now = Int(Date().timeIntervalSince1970)
        return [
            "iss": issuer.absoluteString, "sub": person.subject, "aud": audience, "iat": now, "exp": now + 600,
            "nonce": "n", "name": person.name, "email": person.email, "groups": person.groups,
        ]
    }

    private func control(_ name: String, _ body: [String: Any]) async throws -> [String: Any] {
        var request = URLRequest(url: issuer.appendingPathComponent("control/\(name)"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let (status, _, text) = try await Self.send(request)
        guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw HarnessError("the provider's /control/\(name) answered \(status): \(text)")
        }
        return object
    }

    /// One request, redirects not followed, within 30 s.
    private static func send(_ request: URLRequest) async throws -> (Int, [String: String], String) {
        var request = request
        request.timeoutInterval = 30
        let session = URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name.capitalized] = value }
        }
        return (http.statusCode, headers, String(decoding: data, as: UTF8.self))
    }

    /// The repository, from this file's place in it (Sources/TestSupport/).
    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }
}

/// Stops URLSession from following a redirect, so that the test sees where the provider sends the browser.
private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
