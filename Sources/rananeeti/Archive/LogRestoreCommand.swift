import ArgumentParser
import EventLog
import Foundation
import Orders

/// `rananeeti log restore`: brings archived segments back from the archive into a directory of their own, for an
/// audit or an investigation (docs/ARCHIVE.md, "Bringing segments back").
struct LogRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Download archived segments into a new directory, each checked against its BLAKE2b, and verify them as a log.",
        discussion: """
            Restores the archived segments that hold offsets --from through --through (default: all of them) into \
            DIR, which must hold no segment yet. Each download is compared with the BLAKE2b-32 the archive recorded \
            for it. When the first segment restored does not start at offset 0, DIR gets a start record \
            (log-start) naming it, so that `rananeeti log verify DIR`, `tools/verify_log.py DIR` and `log dump` read \
            DIR as a log on its own; `rananeeti log verify NODE_DIR --archive URL` checks that it links to the rest \
            of the history. DIR is a copy for reading: a node's own log never takes segments back (its start only \
            moves forward).
            """
    )

    @Argument(help: "Where the segments go: a new or empty directory (not a node's data directory).") var directory: String
    @OptionGroup var archive: ArchiveOptions
    @Option(help: "The first offset wanted: restoring starts with the segment that holds it.") var from: UInt64 = 0
    @Option(help: "The last offset wanted: restoring ends with the segment that holds it. (default: the archive's end)")
    var through: UInt64?

    func run() async throws {
        guard archive.archive != nil, let location = archive.archive, location.dropFirst("s3://".count).contains("/") else {
            throw ValidationError("log restore needs --archive s3://BUCKET/PREFIX (the node's prefix: there is no data directory to take its id from).")
        }
        let store = try archive.store(defaultPrefix: nil)
        if FileManager.default.fileExists(atPath: directory) {
            let existing = try reportingLogErrors { try LogDirectory.allSegmentBases(directory) }
            guard existing.isEmpty else {
                throw ValidationError("\(directory) already holds segments: restore into a new or empty directory.")
            }
        } else {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let listed = try reportingArchiveErrors { try store.list() }
        let bases = listed.keys.compactMap(SegmentName.base(ofFileName:)).sorted()
        guard let firstWanted = bases.last(where: { $0 <= from }) else {
            warn("\(store.location) holds no segment at or before offset \(from) (it holds \(bases.count) segment(s)\(bases.first.map { ", the first at offset \($0)" } ?? "")).")
            throw ExitCode(1)
        }
        let wanted = bases.filter { $0 >= firstWanted && $0 <= (through ?? .max) }
        var bytes: Int64 = 0
        for base in wanted {
            let name = SegmentName.fileName(base: base)
            let path = directory + "/" + name
            let expected = try reportingArchiveErrors { try store.head(name) }?.metadata["blake2b"]
            try reportingArchiveErrors { try store.get(name, to: path + ".tmp") }
            let hash = try fileHash(path + ".tmp")
            guard let expected, expected == hash else {
                try? FileManager.default.removeItem(atPath: path + ".tmp")
                warn("\(store.location)/\(name) downloads with BLAKE2b \(hash), but the archive recorded \(expected ?? "none") when it was uploaded: it was changed in the store. Nothing more was restored; run `rananeeti log verify NODE_DIR --archive \(store.location)`.")
                throw ExitCode(1)
            }
            try FileManager.default.moveItem(atPath: path + ".tmp", toPath: path)
            bytes += listed[name]?.size ?? 0
            print("restored \(name) (\(humanBytes(listed[name]?.size ?? 0))), BLAKE2b \(hash) as archived")
        }
        if let first = wanted.first, first > 0 {
            let start = try reportingLogErrors { try LogStart.advance(directory: directory, to: first) }
            print("\(directory) starts at offset \(start.offset) (\(LogStart.fileName), chained to \(start.chainHash), as the segment itself says).")
        }
        let report = try reportingLogErrors { try LogVerifier.verify(directory: directory, options: LogVerifier.Options(recordCheck: { line in EventAudit.problem(in: line) })) }
        guard let problem = report.problem else {
            print("Restored \(wanted.count) segment(s), \(humanBytes(bytes)), offsets \(report.firstOffset)..<\(report.endOffset), into \(directory); verified as a log.")
            return
        }
        warn("Restored \(wanted.count) segment(s) into \(directory), but they do not verify: \(problem).")
        throw ExitCode(1)
    }
}
