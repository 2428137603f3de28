import EventLog
import Foundation

/// A log's whole history across its archive and its local disk, for `log verify --archive`.
enum ArchivedHistory {
    /// Verifies the segments of the archive and of `directory` as one log: the archive's copies of segments no
    /// longer on the local disk are downloaded into a scratch directory beside links to the local ones, and the
    /// whole is verified from its first segment; a segment in both places must be the same bytes (its BLAKE2b in
    /// the archive's metadata). Places in the report name the archive's object or the local file.
    static func verify(
        directory: String, options: ArchiveOptions, checks: LogVerifier.Options = LogVerifier.Options()
    ) throws -> LogVerifier.Report {
        let node = (try? String(contentsOfFile: directory + "/node-id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let store = try options.store(defaultPrefix: node)
        try LogDirectory.check(directory)
        // The local log from its start record on (segments left below it are not part of it: the archive's
        // copies stand for that history).
        let localStart: LogStart?
        do {
            localStart = try LogStart.recorded(directory: directory)
        } catch let error as LogError where error.code == .corrupt {
            var report = LogVerifier.Report()
            report.problem = LogVerifier.Report.Problem(file: directory + "/" + LogStart.fileName, byteOffset: 0, reason: error.message)
            return report
        }
        let localBases = try LogDirectory.segmentBases(directory)
        let local = Set(localBases.map(SegmentName.fileName(base:)))
        let archived = try store.list().keys.filter { SegmentName.base(ofFileName: $0) != nil }
        if let start = localStart, let problem = try startProblem(start, directory: directory, localFirst: localBases.first, archived: archived, store: store) {
            var report = LogVerifier.Report()
            report.start = start
            report.problem = problem
            return report
        }
        let scratch = NSTemporaryDirectory() + "rananeeti-verify-\(getpid())"
        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var disagreements: [LogVerifier.Report.Problem] = []
        for name in archived.sorted() {
            if local.contains(name) {
                let stored = try store.head(name)?.metadata["blake2b"]
                let own = try fileHash(directory + "/" + name)
                if stored != own {
                    disagreements.append(
                        LogVerifier.Report.Problem(
                            file: "\(store.location)/\(name)", byteOffset: 0,
                            reason: "the archive's copy (BLAKE2b \(stored ?? "none")) is not the local segment (\(own))"))
                }
            } else {
                try store.get(name, to: scratch + "/" + name)
            }
        }
        for name in local {
            try FileManager.default.createSymbolicLink(atPath: scratch + "/" + name, withDestinationPath: directory + "/" + name)
            let index = String(name.dropLast(SegmentName.fileExtension.count)) + SegmentName.indexExtension
            if FileManager.default.fileExists(atPath: directory + "/" + index) {
                try FileManager.default.createSymbolicLink(atPath: scratch + "/" + index, withDestinationPath: directory + "/" + index)
            }
        }
        // How far the writer had synced: about the local log's last segment, so it holds for the whole too.
        let syncedEnd = directory + "/" + SyncedEnd.fileName
        if FileManager.default.fileExists(atPath: syncedEnd) {
            try FileManager.default.createSymbolicLink(atPath: scratch + "/" + SyncedEnd.fileName, withDestinationPath: syncedEnd)
        }
        var report = try LogVerifier.verify(directory: scratch, options: checks)
        // Name each place where it really is.
        func located(_ path: String) -> String {
            let name = (path as NSString).lastPathComponent
            return local.contains(name) || name == SyncedEnd.fileName ? directory + "/" + name : "\(store.location)/\(name)"
        }
        // A hole between the archive's last segment and the local log's first.
        if let problem = report.problem, let first = localBases.first, problem.byteOffset == 0,
            (problem.file as NSString).lastPathComponent == SegmentName.fileName(base: first),
            problem.reason.hasPrefix("segment starts at offset")
        {
            report.problem?.reason += ": offsets between are neither in \(store.location) nor on the disk"
        }
        report.problem = report.problem.map { LogVerifier.Report.Problem(file: located($0.file), byteOffset: $0.byteOffset, reason: $0.reason) }
        report.unfinishedTail = report.unfinishedTail.map { LogVerifier.Report.Problem(file: located($0.file), byteOffset: $0.byteOffset, reason: $0.reason) }
        if report.problem == nil, let first = disagreements.first { report.problem = first }
        let fromArchive = archived.filter { !local.contains($0) }.count
        report.notes = report.notes.filter { !$0.hasPrefix("index ") }
        if let start = localStart {
            report.notes.append(
                "the local log starts at offset \(start.offset) (its start record, \(LogStart.fileName)); the history before it is from the archive, and chains to it")
        }
        report.notes.append(
            "checked \(fromArchive) segment(s) from \(store.location) and \(local.count) from \(directory)"
                + (archived.count > fromArchive ? "; \(archived.count - fromArchive) segment(s) in both places, compared by BLAKE2b" : ""))
        return report
    }

    /// What is wrong where the archive hands over to the local log, or nil: the local start record must agree
    /// with the first local segment, and the archive must hold the history from offset 0 up to it.
    private static func startProblem(
        _ start: LogStart, directory: String, localFirst: UInt64?, archived: [String], store: ObjectStore
    ) throws -> LogVerifier.Report.Problem? {
        let record = directory + "/" + LogStart.fileName
        guard let localFirst, localFirst == start.offset else {
            return LogVerifier.Report.Problem(
                file: record, byteOffset: 0,
                reason: "the log's start record says it starts at offset \(start.offset), but its first segment starts at offset \(localFirst.map(String.init) ?? "(none)")")
        }
        let own = try LogStart.firstPreviousHash(directory: directory, base: localFirst)
        if let own, own != start.chainHash {
            return LogVerifier.Report.Problem(
                file: LogDirectory.segmentPath(directory, localFirst), byteOffset: 0,
                reason: "the first batch does not chain to the hash of the log's start record (\(start.chainHash))")
        }
        let before = archived.compactMap(SegmentName.base(ofFileName:)).filter { $0 < start.offset }
        guard before.contains(0) else {
            return LogVerifier.Report.Problem(
                file: "\(store.location)/\(SegmentName.fileName(base: 0))", byteOffset: 0,
                reason: "the local log starts at offset \(start.offset) (its start record), and the archive holds no segment at offset 0: offsets 0..<\(before.min() ?? start.offset) are neither in \(store.location) nor on the disk")
        }
        return nil
    }
}
