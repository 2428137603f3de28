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
        let local = Set(try LogDirectory.segmentBases(directory).map(SegmentName.fileName(base:)))
        let archived = try store.list().keys.filter { SegmentName.base(ofFileName: $0) != nil }
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
        var report = try LogVerifier.verify(directory: scratch, options: checks)
        // Name each place where it really is.
        func located(_ path: String) -> String {
            let name = (path as NSString).lastPathComponent
            return local.contains(name) ? directory + "/" + name : "\(store.location)/\(name)"
        }
        report.problem = report.problem.map { LogVerifier.Report.Problem(file: located($0.file), byteOffset: $0.byteOffset, reason: $0.reason) }
        report.unfinishedTail = report.unfinishedTail.map { LogVerifier.Report.Problem(file: located($0.file), byteOffset: $0.byteOffset, reason: $0.reason) }
        if report.problem == nil, let first = disagreements.first { report.problem = first }
        let fromArchive = archived.filter { !local.contains($0) }.count
        report.notes = report.notes.filter { !$0.hasPrefix("index ") }
        report.notes.append(
            "checked \(fromArchive) segment(s) from \(store.location) and \(local.count) from \(directory)"
                + (archived.count > fromArchive ? "; \(archived.count - fromArchive) segment(s) in both places, compared by BLAKE2b" : ""))
        return report
    }
}
