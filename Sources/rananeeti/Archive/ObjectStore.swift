import Foundation

/// S3-compatible object storage through the AWS CLI (`aws s3api …`): a well-kept client that signs requests,
/// retries and reads credentials the usual way (instance role, environment, `~/.aws`). Every call runs as a child
/// process with a deadline; its failure says what happened and what to do.
struct ObjectStore {
    struct Settings {
        var bucket: String
        /// Keys are `prefix/NAME`; no leading or trailing slash.
        var prefix: String
        /// For S3-compatible stores other than AWS (and tests): `--endpoint-url`.
        var endpointURL: String?
        /// The AWS CLI executable.
        var cli: String
        /// The most one call may take, upload or download of a 64 MiB segment included.
        var deadline: Duration
    }

    struct Object {
        var key: String
        var size: Int64
        var metadata: [String: String]
    }

    let settings: Settings

    func key(_ name: String) -> String {
        settings.prefix.isEmpty ? name : settings.prefix + "/" + name
    }

    var location: String { "s3://\(settings.bucket)/\(settings.prefix)" }

    /// Uploads `path` as `name`, with `metadata` (lowercase keys). The CLI also sends a SHA-256 checksum that the
    /// store checks on receipt.
    func put(_ path: String, as name: String, metadata: [String: String]) throws {
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        _ = try run([
            "s3api", "put-object", "--bucket", settings.bucket, "--key", key(name), "--body", path,
            "--checksum-algorithm", "SHA256", "--metadata", pairs,
        ], doing: "upload \(path) to \(location)/\(name)")
    }

    /// Downloads `name` into `path`.
    func get(_ name: String, to path: String) throws {
        _ = try run(
            ["s3api", "get-object", "--bucket", settings.bucket, "--key", key(name), path],
            doing: "download \(location)/\(name)")
    }

    /// The object `name`, or nil when there is none.
    func head(_ name: String) throws -> Object? {
        do {
            let output = try run(
                ["s3api", "head-object", "--bucket", settings.bucket, "--key", key(name)], doing: "look up \(location)/\(name)")
            let json = try JSONSerialization.jsonObject(with: output) as? [String: Any] ?? [:]
            return Object(
                key: key(name), size: (json["ContentLength"] as? NSNumber)?.int64Value ?? -1,
                metadata: json["Metadata"] as? [String: String] ?? [:])
        } catch let error as ArchiveError where error.notFound {
            return nil
        }
    }

    /// The objects under the prefix, by name (the part after `prefix/`).
    func list() throws -> [String: Object] {
        var found: [String: Object] = [:]
        var token: String?
        repeat {
            var arguments = ["s3api", "list-objects-v2", "--bucket", settings.bucket, "--prefix", key("")]
            if let token { arguments += ["--continuation-token", token] }
            let output = try run(arguments, doing: "list \(location)")
            let json = output.isEmpty ? [:] : (try JSONSerialization.jsonObject(with: output) as? [String: Any] ?? [:])
            for item in json["Contents"] as? [[String: Any]] ?? [] {
                guard let key = item["Key"] as? String else { continue }
                let name = String(key.dropFirst(self.key("").count))
                found[name] = Object(key: key, size: (item["Size"] as? NSNumber)?.int64Value ?? -1, metadata: [:])
            }
            token = (json["IsTruncated"] as? Bool) == true ? json["NextContinuationToken"] as? String : nil
        } while token != nil
        return found
    }

    /// Runs the CLI with the common options; its standard output, or an error with its own words.
    private func run(_ arguments: [String], doing what: String) throws -> Data {
        var full = arguments + ["--output", "json", "--cli-connect-timeout", "10", "--cli-read-timeout", "60"]
        if let endpoint = settings.endpointURL { full += ["--endpoint-url", endpoint] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [settings.cli] + full
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ArchiveError("could not start the AWS CLI (\(settings.cli)) to \(what): \(error). Install it (pip install awscli) or name it with --aws-cli.")
        }
        // Read both pipes while the child runs (a full pipe would block it), and stop it at the deadline.
        let deadline = DispatchTime.now() + .nanoseconds(Int(settings.deadline.components.seconds) * 1_000_000_000)
        let group = DispatchGroup()
        nonisolated(unsafe) var stdout = Data()
        nonisolated(unsafe) var stderr = Data()
        DispatchQueue.global().async(group: group) { stdout = output.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { stderr = errors.fileHandleForReading.readDataToEndOfFile() }
        if group.wait(timeout: deadline) == .timedOut {
            process.terminate()
            process.waitUntilExit()
            throw ArchiveError("the AWS CLI did not finish within \(settings.deadline) to \(what); nothing was removed. Check the network and the endpoint, then run the archive again.")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ArchiveError(
                "could not \(what): \(message.isEmpty ? "the AWS CLI exited with status \(process.terminationStatus)" : message). Nothing was removed; check the bucket, the credentials and the role's rights, then run the archive again.",
                notFound: message.contains("(404)") || message.contains("Not Found") || message.contains("NoSuchKey"))
        }
        return stdout
    }
}

/// Why archiving (or verifying against the archive) stopped, in words for an operator.
struct ArchiveError: Error, CustomStringConvertible {
    var description: String
    var notFound = false

    init(_ description: String, notFound: Bool = false) {
        self.description = description
        self.notFound = notFound
    }
}
