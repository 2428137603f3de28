import ArgumentParser
import EventLog
import Foundation
import Postgres

/// Where the archive is, for `log archive` and `log verify --archive`.
struct ArchiveOptions: ParsableArguments {
    @Option(help: "The archive: s3://BUCKET/PREFIX (PREFIX defaults to the node's id for `log archive`).")
    var archive: String?
    @Option(help: "An S3-compatible endpoint other than AWS, e.g. http://127.0.0.1:9000.")
    var endpointURL: String?
    @Option(help: "The AWS CLI to run. (default: aws)")
    var awsCLI = "aws"
    @Option(help: "The most one upload, download or listing may take, in seconds.")
    var deadlineSeconds = 600

    /// The store for `archive`, its prefix defaulting to `defaultPrefix`.
    func store(defaultPrefix: String?) throws -> ObjectStore {
        guard let archive, archive.hasPrefix("s3://") else {
            throw ValidationError("--archive must be s3://BUCKET or s3://BUCKET/PREFIX.")
        }
        let path = archive.dropFirst("s3://".count).split(separator: "/", maxSplits: 1).map(String.init)
        guard let bucket = path.first, !bucket.isEmpty else { throw ValidationError("--archive names no bucket.") }
        var prefix = path.count > 1 ? path[1] : (defaultPrefix ?? "")
        while prefix.hasSuffix("/") { prefix.removeLast() }
        guard deadlineSeconds > 0 else { throw ValidationError("--deadline-seconds must be positive.") }
        return ObjectStore(
            settings: ObjectStore.Settings(
                bucket: bucket, prefix: prefix, endpointURL: endpointURL, cli: awsCLI,
                deadline: .seconds(deadlineSeconds)))
    }
}

/// `rananeeti log archive`: copies sealed, fully projected segments to S3-compatible storage (docs/ARCHIVE.md).
struct LogArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Copy the log's sealed, fully projected segments to S3-compatible storage, each verified after upload.",
        discussion: """
            A segment is archived only when it is sealed (not the one being written) and every event in it is \
            below this node's checkpoint in the database (projected). Each is uploaded with its BLAKE2b-32 in the \
            object's metadata, then downloaded back and compared byte for byte through that hash. Segments already \
            in the archive with the same hash are skipped, so the command can run as often as a timer likes. \
            Without --retain-local nothing local is changed. With it, archived segments beyond what the rule keeps \
            are removed from the disk: first the log's start record moves past them, then they are deleted; \
            never the segment being written, one with events not yet projected, one after the local projection's \
            snapshot, or one whose archived copy (name, size, BLAKE2b) is not confirmed. Uses the AWS CLI \
            (credentials from the instance role, the environment or ~/.aws). Runs beside a serving node.
            """
    )

    @Argument(help: "The log directory (the node's data directory).") var directory: String
    @OptionGroup var archive: ArchiveOptions
    @OptionGroup var database: DatabaseOptions
    @Option(
        name: .customLong("retain-local"),
        help: ArgumentHelp(
            "Remove archived segments from the disk except those the rule keeps: an age (30d, 36h: segments with an event appended that recently) or a count (8segments: the last 8 sealed ones). Default: $\(RetentionRule.environmentKey), else nothing is removed.",
            valueName: "AGE|COUNTsegments"))
    var retainLocal: String?

    /// The retention rule asked for, if any.
    private func retention() throws -> RetentionRule? {
        let fromEnvironment = ProcessInfo.processInfo.environment[RetentionRule.environmentKey].flatMap { $0.isEmpty ? nil : $0 }
        guard let text = retainLocal ?? fromEnvironment else { return nil }
        guard let rule = RetentionRule(text) else {
            throw ValidationError("--retain-local (or \(RetentionRule.environmentKey)) must be an age such as 30d or 36h, or a count such as 8segments; got \"\(text)\".")
        }
        return rule
    }

    func run() async throws {
        let node = try nodeID()
        let store = try archive.store(defaultPrefix: node)
        guard database.isConfigured else {
            throw ValidationError("log archive needs the database (--database, RANANEETI_DATABASE or PG* variables): only segments the database has every event of are archived.")
        }
        let rule = try retention()
        // Held until the run ends: removals never overlap.
        let lock = try rule.map { _ in try ArchiveLock(directory: directory) }
        defer { withExtendedLifetime(lock) {} }
        let checkpoint = try await projectedBelow(node: node)
        let bases = try reportingLogErrors { try LogDirectory.segmentBases(directory) }
        // One listing instead of a look-up per segment: an object of the segment's name and size was uploaded
        // and read back by an earlier run (`log verify --archive` compares contents).
        let present = try reportingArchiveErrors { try store.list() }
        var archived = 0
        var skipped = 0
        var uploaded: Set<String> = []
        var waiting: [String] = []
        for base in bases.dropLast() {
            let summary = try reportingLogErrors { try LogDirectory.sealedSummary(directory, base: base) }
            let name = SegmentName.fileName(base: base)
            guard summary.nextOffset <= checkpoint else {
                waiting.append(name)
                continue
            }
            let path = LogDirectory.segmentPath(directory, base)
            if let existing = present[name] {
                guard existing.size == summary.size else {
                    warn(
                        "\(store.location)/\(name) is already there with another size (\(existing.size) bytes, the local segment \(summary.size)). Nothing was uploaded or removed; find out which is right with `rananeeti log verify \(directory) --archive \(store.location)` before going on.")
                    throw ExitCode(1)
                }
                skipped += 1
                continue
            }
            let hash = try fileHash(path)
            let metadata = [
                "blake2b": hash, "first-offset": "\(base)", "end-offset": "\(summary.nextOffset)",
                "last-hash": summary.lastHash?.description ?? "", "previous-hash": summary.firstPreviousHash?.description ?? "",
                "node": node,
            ]
            try reportingArchiveErrors { try store.put(path, as: name, metadata: metadata) }
            try verifyUpload(name, hash: hash, store: store)
            archived += 1
            uploaded.insert(name)
            print("archived \(name) (offsets \(base)..<\(summary.nextOffset), \(humanBytes(summary.size))) to \(store.location)/\(name); downloaded back, BLAKE2b \(hash) matches")
        }
        print("\(archived) segment(s) archived, \(skipped) already in \(store.location)\(waiting.isEmpty ? "" : "; \(waiting.count) sealed segment(s) wait for the projector (checkpoint \(checkpoint))").")
        if let rule {
            try LocalRetention(
                directory: directory, store: store, rule: rule, checkpoint: checkpoint, uploaded: uploaded, present: present
            ).run()
        }
    }

    /// Downloads `name` back and compares its hash with the local segment's.
    private func verifyUpload(_ name: String, hash: String, store: ObjectStore) throws {
        let scratch = NSTemporaryDirectory() + "rananeeti-archive-\(getpid())-\(name)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try reportingArchiveErrors { try store.get(name, to: scratch) }
        let downloaded = try fileHash(scratch)
        guard downloaded == hash else {
            warn(
                "\(store.location)/\(name) does not read back as uploaded (BLAKE2b \(downloaded), the local segment's \(hash)). Nothing local was removed; upload it again by running the archive again, and check the store.")
            throw ExitCode(1)
        }
    }

    private func nodeID() throws -> String {
        let path = directory + "/node-id"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(path) is missing: archive finds the node's checkpoint by its id, which serve keeps there.")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// This node's checkpoint: every event below it is in the database.
    private func projectedBelow(node: String) async throws -> UInt64 {
        let connection = try await database.connect()
        let rows = try await reportingDatabaseErrors {
            try await connection.query("SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = $1", [node])
                .decodeColumn(0, as: Int64.self)
        }
        await connection.close()
        return rows.first.map { UInt64($0) } ?? 0
    }
}

/// BLAKE2b-32 of a whole file, in hex.
func fileHash(_ path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        warn("\(path) cannot be read; nothing was uploaded or removed.")
        throw ExitCode(1)
    }
    defer { try? handle.close() }
    var hasher = Blake2b(length: 32)
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        chunk.withUnsafeBytes { hasher.update($0) }
    }
    return hasher.finish().map { String(format: "%02x", $0) }.joined()
}

/// Runs `body`, printing an archive error's words and exiting 1.
func reportingArchiveErrors<Result>(_ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch let error as ArchiveError {
        warn(error.description)
        throw ExitCode(1)
    }
}
