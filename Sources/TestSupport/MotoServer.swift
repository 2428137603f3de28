public import Foundation

/// A local S3-compatible server for tests: moto in server mode (PyPI), on a free port of the loopback, with
/// fixed test credentials. Its port is read from its own "Running on" line, not guessed.
public final class MotoServer: Sendable {
    /// The endpoint, e.g. `http://127.0.0.1:41234`.
    public let endpoint: String
    private let child: ChildProcess

    /// What the AWS CLI needs to talk to it (no credentials of the machine's are used).
    public static let environment = [
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    ]

    /// The virtual environment with the AWS CLI and moto, pinned in tests/archive/requirements.txt and made by
    /// scripts/install-system-packages: `.build-archive-venv/` at the package's root.
    public static var tools: URL {
        var directory = BuiltProducts.directory
        while directory.path != "/", !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent(".build-archive-venv/bin")
    }

    /// The AWS CLI of ``tools``.
    public static var awsCLI: String { tools.appendingPathComponent("aws").path }

    /// Starts the server and waits (at most 30 s) for it to listen.
    public init() async throws {
        let python = Self.tools.appendingPathComponent("python").path
        guard FileManager.default.isExecutableFile(atPath: python), FileManager.default.isExecutableFile(atPath: Self.awsCLI) else {
            throw CocoaError(
                .executableLoad,
                userInfo: [NSLocalizedDescriptionKey: "no AWS CLI and moto in \(Self.tools.path): run scripts/install-system-packages"])
        }
        let child = try ChildProcess(python, ["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
        self.child = child
        guard let port = await child.firstMatch(of: #"Running on http://127\.0\.0\.1:(\d+)"#, within: .seconds(30)) else {
            child.kill()
            throw CocoaError(
                .executableLoad,
                userInfo: [NSLocalizedDescriptionKey: "moto did not start (pip install 'moto[server]'): \(child.text)"])
        }
        endpoint = "http://127.0.0.1:\(port)"
    }

    /// Runs the AWS CLI against this server; its status and output.
    public func aws(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let child = try ChildProcess(Self.awsCLI, arguments + ["--endpoint-url", endpoint], environment: Self.environment)
        let status = await child.wait()
        return (status, child.text)
    }

    /// Stops the server. SIGKILL: it keeps nothing, and a test runner's children may inherit SIGTERM ignored.
    public func stop() async {
        child.kill(SIGKILL)
        await child.wait()
    }
}
