import ArgumentParser
import EventLog
import Foundation
import Glibc

/// How much of an archived log a node keeps on its own disk: `log archive --retain-local`.
///
/// Either an age (`30d`, `36h`: segments whose last record was appended more recently stay) or a count
/// (`8segments`: the last eight sealed segments stay). The segment being written always stays, and so does
/// every segment a restart or the projector may still read (see ``LogArchiveCommand``).
struct RetentionRule: Equatable, CustomStringConvertible {
    enum Kind: Equatable {
        case age(milliseconds: Int64)
        case segments(Int)
    }

    var kind: Kind
    var text: String

    /// The environment variable read when `--retain-local` is not given.
    static let environmentKey = "RANANEETI_ARCHIVE_RETAIN_LOCAL"

    /// Parses `30d`, `36h` or `8segments` (also `1segment`).
    init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        let unit = trimmed.dropFirst(digits.count)
        guard !digits.isEmpty, digits.count <= 6, let value = Int(digits) else { return nil }
        switch unit {
        case "d": kind = .age(milliseconds: Int64(value) * 86_400_000)
        case "h": kind = .age(milliseconds: Int64(value) * 3_600_000)
        case "segments", "segment": kind = .segments(value)
        default: return nil
        }
        self.text = trimmed
    }

    var description: String {
        switch kind {
        case .age: "segments whose last event is newer than \(text)"
        case .segments(let count): "the last \(count) sealed segment(s)"
        }
    }

    /// Whether the rule keeps the sealed segment at `index` of `count` sealed ones, last appended at `lastMillis`.
    func keeps(index: Int, of count: Int, lastMillis: Int64?, now: Int64) -> Bool {
        switch kind {
        case .age(let age): (lastMillis ?? now) > now - age
        case .segments(let kept): index >= count - kept
        }
    }
}

/// An exclusive lock on `DIR/archive.lock` for the time of one `log archive` that removes segments: two removals
/// at once could move the log's start back and forth and delete what the other's start still names.
final class ArchiveLock {
    static let fileName = "archive.lock"
    private let fd: Int32

    init(directory: String) throws {
        let path = directory + "/" + Self.fileName
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            warn("could not open \(path) (\(String(cString: strerror(errno)))): removing segments needs to write in the log directory. Nothing was removed.")
            throw ExitCode(1)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            warn("another `rananeeti log archive` is removing segments of \(directory) (it holds \(path)); nothing was removed by this one.")
            throw ExitCode(1)
        }
    }

    deinit { close(fd) }
}

/// The removal step of `log archive --retain-local`.
struct LocalRetention {
    let directory: String
    let store: ObjectStore
    let rule: RetentionRule
    /// Every event below it is in the database.
    let checkpoint: UInt64
    /// Names uploaded by this run and read back whole: confirmed without asking the store again.
    let uploaded: Set<String>
    /// The store's listing from the start of the run: name and size of what was there.
    let present: [String: ObjectStore.Object]

    /// Removes what may go, and says what it did and why it kept the rest.
    func run() throws {
        let start = try reportingLogErrors { try LogStart.read(directory: directory) }
        let bases = try reportingLogErrors { try LogDirectory.segmentBases(directory) }
        let sealed = Array(bases.dropLast())
        // A start that loads a snapshot reads the log from the snapshot's offset: every segment from there stays.
        let standings = LogSnapshot.standing(directory: directory)
        guard let snapshotLimit = standings.compactMap(\.offset).min() else {
            let why = standings.isEmpty
                ? "there is no snapshot of the node's local projection (serve writes projection.snapshot at start, every 100,000 events, every 5 minutes and at a clean stop)"
                : "no snapshot stands for this log (" + standings.compactMap(\.reason).joined(separator: "; ") + ")"
            print("Retention (\(rule.description)): kept every segment: \(why), so a restart would need the whole local log.")
            return
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var keepFrom = start.offset
        var keptBecause = "it is the segment being written"
        for (index, base) in sealed.enumerated() {
            let summary = try reportingLogErrors { try LogDirectory.sealedSummary(directory, base: base) }
            let name = SegmentName.fileName(base: base)
            if summary.nextOffset > checkpoint {
                keptBecause = "\(name) holds events not yet projected (checkpoint \(checkpoint))"
                break
            }
            if summary.nextOffset > snapshotLimit {
                keptBecause = "\(name) holds events after the local projection's snapshot (offset \(snapshotLimit)), which a restart reads"
                break
            }
            if rule.keeps(index: index, of: sealed.count, lastMillis: summary.lastAppendedAtMillis, now: now) {
                keptBecause = "the rule keeps \(name) and what follows"
                break
            }
            if let reason = try unconfirmed(base: base, size: summary.size) {
                keptBecause = reason
                break
            }
            keepFrom = summary.nextOffset
        }
        // Leftovers below the start (a run that stopped between moving the start and deleting them): deleted
        // once their archived copy is confirmed too; they are not part of the log either way.
        var refused: [UInt64: String] = [:]
        for base in try reportingLogErrors({ try LogRetention.leftoverSegments(directory: directory) }) {
            let path = LogDirectory.segmentPath(directory, base)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? -1
            if let reason = try unconfirmed(base: base, size: size) { refused[base] = reason }
        }
        let removal = try reportingLogErrors {
            try LogRetention.removeSegments(directory: directory, before: keepFrom) { refused[$0] == nil }
        }
        for (base, reason) in refused.sorted(by: { $0.key < $1.key }) {
            warn("\(LogDirectory.segmentPath(directory, base)) lies before the log's start but was not removed: \(reason).")
        }
        if removal.removedSegments.isEmpty {
            print("Retention (\(rule.description)): removed nothing; the log starts at offset \(removal.start.offset); \(keptBecause).")
        } else {
            print(
                "Retention (\(rule.description)): removed \(removal.removedSegments.count) archived segment(s) (\(humanBytes(removal.removedBytes))) from the disk; the log now starts at offset \(removal.start.offset) (\(LogStart.fileName)); kept the rest because \(keptBecause)."
            )
        }
    }

    /// Why the archived copy of the segment at `base` is not confirmed (nil when it is): it must be in the store
    /// under its name, with its size and, in its metadata, the local file's BLAKE2b-32.
    private func unconfirmed(base: UInt64, size: Int64) throws -> String? {
        let name = SegmentName.fileName(base: base)
        if uploaded.contains(name) { return nil }
        guard let listed = present[name] else { return "\(name) is not in \(store.location)" }
        guard listed.size == size else {
            return "\(store.location)/\(name) has \(listed.size) bytes, the local segment \(size)"
        }
        guard let head = try reportingArchiveErrors({ try store.head(name) }), let stored = head.metadata["blake2b"] else {
            return "\(store.location)/\(name) carries no BLAKE2b to compare with"
        }
        let own = try fileHash(LogDirectory.segmentPath(directory, base))
        guard stored == own else {
            return "\(store.location)/\(name) says BLAKE2b \(stored), the local segment is \(own); compare with `rananeeti log verify \(directory) --archive \(store.location)`"
        }
        return nil
    }
}
