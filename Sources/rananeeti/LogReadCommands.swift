import ArgumentParser
import EventLog
import Foundation
import Orders

struct LogVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every batch, every hash and the whole chain of a log.",
        discussion: """
            Exit status: 0 when the log is intact; 1 when it is damaged (the first bad place is named: file and \
            byte offset); 3 when it is intact but its last batch is unfinished (a write in progress, or a \
            crash's leftover that the next writer cuts; never acknowledged). With --archive, the segments in the \
            archive and on the local disk are checked as one log from offset 0 (docs/ARCHIVE.md).
            """
    )

    @Argument(help: "The log directory.") var directory: String
    @Flag(help: "Print the report as one JSON object.") var json = false
    @OptionGroup(title: "Archive (verify the whole history across the archive and the local disk)") var archive: ArchiveOptions

    func run() throws {
        let report: LogVerifier.Report
        if archive.archive != nil {
            report = try reportingArchiveErrors { try ArchivedHistory.verify(directory: directory, options: archive) }
        } else {
            report = try reportingLogErrors { try LogVerifier.verify(directory: directory) }
        }
        if json {
            printJSON([
                "intact": report.isIntact,
                "segments": report.segments, "batches": report.batches, "records": report.records,
                "firstOffset": report.firstOffset, "endOffset": report.endOffset, "bytesOnDisk": report.bytesOnDisk,
                "chainHead": report.lastHash?.description as Any,
                "problem": report.problem.map { ["file": $0.file, "byteOffset": $0.byteOffset, "reason": $0.reason] } as Any,
                "unfinishedTail": report.unfinishedTail.map { ["file": $0.file, "byteOffset": $0.byteOffset, "reason": $0.reason] } as Any,
                "notes": report.notes,
            ])
        } else {
            let extent = "\(report.segments) segment(s), \(report.records) record(s) (offsets \(report.firstOffset)..<\(report.endOffset)), \(report.batches) batch(es), \(report.bytesOnDisk) bytes"
            if let problem = report.problem {
                print("DAMAGED: \(problem)")
                print("Checked before the damage: \(extent).")
                print("Nothing was changed. Keep a copy of this directory; restore the damaged segment from a backup, or rebuild it from the database.")
            } else {
                print("OK: \(extent); chain head \(report.lastHash?.description ?? "(empty log)").")
                if let tail = report.unfinishedTail {
                    print("Note: the last batch is unfinished: \(tail). It was never acknowledged; a writer opening the log cuts it.")
                }
            }
            for note in report.notes { print("Note: \(note)") }
        }
        if !report.isIntact { throw ExitCode(1) }
        if report.unfinishedTail != nil { throw ExitCode(3) }
    }
}

struct LogDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the records of a log, checked, as JSON lines.",
        discussion: "Every batch is checked against its hash before its records are printed."
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        /// The stored lines, exactly.
        case jsonl
        /// One row per event, RFC 4180: offset, appendedAt, type, node, digest and the reservation's fields.
        case csv
    }

    @Argument(help: "The log directory.") var directory: String
    @Option(help: "First offset to print.") var from: UInt64?
    @Option(help: "Last offset to print (inclusive).") var to: UInt64?
    @Option(help: "Output format: jsonl (the stored lines) or csv (one row per event: offset, appendedAt, type, node, digest, name, people, datetime, notes, testFailures).")
    var format = Format.jsonl

    func validate() throws {
        if let from, let to, to < from { throw ValidationError("--to (\(to)) is before --from (\(from)).") }
    }

    func run() throws {
        try reportingLogErrors {
            let reader = try LogReader(directory: directory)
            if let from { try reader.seek(to: from) }
            let output = BufferedOutput()
            if format == .csv { output.write(Array(CSVRow.header.utf8)) }
            reading: while let records = try reader.nextRecords() {
                for record in records {
                    if let to, record.offset > to { break reading }
                    switch format {
                    case .jsonl:
                        output.write(record.bytes)
                        output.write(CollectionOfOne(0x0A))
                    case .csv:
                        output.write(Array(CSVRow.row(for: record).utf8))
                    }
                }
            }
            output.flush()
            if let tail = reader.unreadableTail {
                warn("the last batch is unfinished (\(tail.file) at byte \(tail.byteOffset): \(tail.reason)); it was never acknowledged and is not printed.")
            }
        }
    }
}

struct LogStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show a log's size, record count, compression and time span."
    )

    @Argument(help: "The log directory.") var directory: String
    @Flag(help: "Print the figures as one JSON object.") var json = false

    func run() throws {
        let stats = try reportingLogErrors { try LogStatistics.read(directory: directory) }
        let first = stats.firstAppendedAtMillis.map(formatTimestamp(millis:))
        let last = stats.lastAppendedAtMillis.map(formatTimestamp(millis:))
        if json {
            printJSON([
                "segments": stats.segments, "batches": stats.batches, "records": stats.records,
                "firstOffset": stats.firstOffset, "endOffset": stats.endOffset, "bytesOnDisk": stats.bytesOnDisk,
                "uncompressedBytes": stats.uncompressedBytes, "compressionRatio": stats.compressionRatio,
                "firstAppendedAt": first as Any, "lastAppendedAt": last as Any,
            ])
            return
        }
        let rows: [(String, String)] = [
            ("segments", "\(stats.segments)"),
            ("records", "\(stats.records) (offsets \(stats.firstOffset)..<\(stats.endOffset))"),
            ("batches", "\(stats.batches)"),
            ("bytes on disk", "\(stats.bytesOnDisk) (\(humanBytes(stats.bytesOnDisk)))"),
            ("uncompressed", "\(stats.uncompressedBytes) (\(humanBytes(stats.uncompressedBytes)))"),
            ("compression", String(format: "%.2f×", stats.compressionRatio)),
            ("bytes per record", stats.records > 0 ? String(format: "%.1f", Double(stats.bytesOnDisk) / Double(stats.records)) : "-"),
            ("first record", first ?? "-"),
            ("last record", last ?? "-"),
        ]
        for (name, value) in rows { print(name.padding(toLength: 18, withPad: " ", startingAt: 0) + value) }
    }
}

struct LogTailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print records as they are appended, like `tail -f`.",
        discussion: "Starts at the log's end unless --from is given; stops on Ctrl-C."
    )

    @Argument(help: "The log directory.") var directory: String
    @Option(help: "First offset to print (default: the current end).") var from: UInt64?
    @Option(help: "How often to look for new records, in milliseconds.") var intervalMilliseconds = 200

    func run() async throws {
        try await reportingLogErrors {
            let reader = try LogReader(directory: directory)
            let start = try from ?? LogStatistics.read(directory: directory).endOffset
            try reader.seek(to: start)
            let output = BufferedOutput()
            while !Task.isCancelled {
                while let records = try reader.nextRecords() {
                    for record in records {
                        output.write(record.bytes)
                        output.write(CollectionOfOne(0x0A))
                    }
                }
                output.flush()
                // Another process writes this log: look again shortly.
                try await Task.sleep(for: .milliseconds(intervalMilliseconds))
            }
        }
    }
}

func humanBytes(_ count: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
}

/// Events as CSV rows (RFC 4180: fields with commas, quotes or line breaks are quoted, quotes doubled).
enum CSVRow {
    static let header = "offset,appendedAt,type,node,digest,name,people,datetime,notes,testFailures\r\n"

    static func row(for record: LogRecord) -> String {
        guard let event = try? ReservationEvent.decode(line: record.bytes) else {
            return "\(record.offset),,unreadable,,,,,,,\r\n"
        }
        var fields = ["\(event.offset)", event.appendedAt.text, event.type]
        if let reservation = event.reservationEvent {
            fields += [
                reservation.node, reservation.digest.description, reservation.reservation.name,
                "\(reservation.reservation.people)", reservation.reservation.dateTime.description,
                reservation.reservation.notes, reservation.reservation.testFailures ? "true" : "false",
            ]
        } else if event.type == IdempotencyKeyEvent.eventType, let (_, key) = try? IdempotencyKeyEvent.decode(line: record.bytes) {
            fields += [key.node, key.digest.description] + Array(repeating: "", count: 5)
        } else {
            fields += Array(repeating: "", count: 7)
        }
        return fields.map(quoted).joined(separator: ",") + "\r\n"
    }

    private static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
