import ArgumentParser
import EventLog
import Foundation
import Orders
import Postgres
import Projection

struct LogVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every batch, every hash and the whole chain of a log.",
        discussion: """
            Beyond the format (docs/LOG_FORMAT.md: where the log starts, every header, hash, link and offset, \
            each record's appendedAt), every event is checked as docs/EVENTS.md describes it: one valid JSON \
            object, the rules of its type, and a reservation's digest; --structure-only leaves that out. \
            With --against-database, also check that the log still has the chain hash the database witnessed \
            for this node (DIR/node-id, or --node-id): a log restored from an older copy, cut short or \
            rewritten is caught even when it is whole in itself.
            Exit status: 0 when the log is intact; 1 when it is damaged (the first bad place is named: file and \
            byte offset) or disagrees with the database's witness; 3 when it is intact but its last batch is \
            unfinished (a write in progress, or a crash's leftover that the next writer cuts; never acknowledged). \
            With --archive, the segments in the archive and on the local disk are checked as one log from offset 0 \
            (docs/ARCHIVE.md).
            """
    )

    @Argument(help: "The log directory.") var directory: String
    @Flag(help: "Print the report as one JSON object.") var json = false
    @Flag(help: "Check the log's format only, not what each event says (faster).") var structureOnly = false
    @Flag(help: "Also compare the log with the chain hash the database witnessed for its node.") var againstDatabase = false
    @Option(help: "Also print the log's chain hash at this offset (a batch end), to compare with a witness.")
    var chainHashAt: UInt64?
    @Option(
        name: .customLong("node-id"),
        help: "With --against-database: the node whose checkpoint to compare with (default: the id in DIR/node-id).")
    var nodeID: String?
    @OptionGroup(title: "Archive (verify the whole history across the archive and the local disk)") var archive: ArchiveOptions
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        var options = LogVerifier.Options()
        if !structureOnly { options.recordCheck = { line in EventAudit.problem(in: line) } }
        let report: LogVerifier.Report
        if archive.archive != nil {
            report = try reportingArchiveErrors {
                try ArchivedHistory.verify(directory: directory, options: archive, checks: options)
            }
        } else {
            report = try reportingLogErrors { try LogVerifier.verify(directory: directory, options: options) }
        }
        let chainHash = try chainHashAt.map { offset in
            try reportingLogErrors { try LogReader(directory: directory).chainHash(at: offset) }
        }
        var witness: WitnessCheck?
        if againstDatabase {
            let id = try NodeOptions.storedNodeID(directory: directory, nodeID: nodeID)
            let connection = try await database.connect()
            witness = try await reportingDatabaseErrors {
                try await reportingLogErrors { try await WitnessCheck.run(node: id, directory: directory, on: connection) }
            }
            await connection.close()
        }
        let agrees = witness.map { $0.verdict.allowsProjection } ?? true
        if json {
            printJSON([
                "intact": report.isIntact,
                "segments": report.segments, "batches": report.batches, "records": report.records,
                "firstOffset": report.firstOffset, "endOffset": report.endOffset, "bytesOnDisk": report.bytesOnDisk,
                "start": report.start.map { ["offset": $0.offset, "chainHash": $0.chainHash.description] } as Any,
                "chainHead": report.lastHash?.description as Any,
                "problem": report.problem.map { ["file": $0.file, "byteOffset": $0.byteOffset, "reason": $0.reason] } as Any,
                "unfinishedTail": report.unfinishedTail.map { ["file": $0.file, "byteOffset": $0.byteOffset, "reason": $0.reason] } as Any,
                "notes": report.notes,
                "chainHashAt": chainHash.map { ["offset": chainHashAt!, "hash": $0?.description as Any] } as Any,
                "database": witness.map { check -> [String: Any] in
                    [
                        "node": check.node, "agrees": check.verdict.allowsProjection, "summary": check.summary,
                        "checkpoint": check.checkpoint.map { $0.nextOffset as Any } as Any,
                        "witnessOffset": check.checkpoint?.witness.map { $0.offset as Any } as Any,
                        "witnessHash": check.checkpoint?.witness.map { $0.hash.description as Any } as Any,
                    ]
                } as Any,
            ])
        } else {
            let extent = "\(report.segments) segment(s), \(report.records) record(s) (offsets \(report.firstOffset)..<\(report.endOffset)), \(report.batches) batch(es), \(report.bytesOnDisk) bytes"
            if let problem = report.problem {
                print("DAMAGED: \(problem)")
                print("Checked before the damage: \(extent).")
                print("Nothing was changed. Keep a copy of this directory; restore the damaged segment from a backup, or rebuild it from the database.")
            } else {
                print("OK: \(extent); chain head \(report.lastHash?.description ?? "(empty log)").")
                if let start = report.start {
                    print("The log starts at offset \(start.offset) (its start record, \(LogStart.fileName)): older segments were archived; the first batch chains to \(start.chainHash).")
                }
                if let tail = report.unfinishedTail {
                    print("Note: the last batch is unfinished: \(tail). It was never acknowledged; a writer opening the log cuts it.")
                }
            }
            for note in report.notes { print("Note: \(note)") }
            if let chainHash, let offset = chainHashAt {
                print("Chain hash at offset \(offset): " + (chainHash?.description ?? "none (no batch ends there)"))
            }
            if let witness { print((witness.verdict.allowsProjection ? "Database: " : "DISAGREES WITH THE DATABASE: ") + witness.summary) }
        }
        if !report.isIntact || !agrees { throw ExitCode(1) }
        if report.unfinishedTail != nil { throw ExitCode(3) }
    }
}

struct LogDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the records of a log, checked, as JSON lines.",
        discussion: """
            Every batch is checked against its hash before its records are printed. Every event is printed as \
            stored; one that is not a valid event (docs/EVENTS.md) is named on standard error, and the exit \
            status is then 1.
            """
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
            var invalid = 0
            reading: while let records = try reader.nextRecords() {
                for record in records {
                    if let to, record.offset > to { break reading }
                    if let problem = EventAudit.problem(in: record.bytes) {
                        invalid += 1
                        if invalid <= 10 { warn("the event at offset \(record.offset) is \(problem)") }
                    }
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
            if invalid > 0 {
                warn("\(invalid) event(s) printed are not valid events; `rananeeti log verify \(directory)` names the first with its file and byte.")
                throw ExitCode(1)
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
    /// `guest` is who booked (`reservation.accepted.v2`) or who cancelled (`reservation.cancelled`), written
    /// `subject@issuer`; `role` and `reason` are the cancellation's.
    static let header = "offset,appendedAt,type,node,digest,name,people,datetime,notes,testFailures,guest,role,reason\r\n"

    static func row(for record: LogRecord) -> String {
        guard let event = try? ReservationEvent.decode(line: record.bytes) else {
            return "\(record.offset),,unreadable,,,,,,,,,,\r\n"
        }
        var fields = ["\(event.offset)", event.appendedAt.text, event.type]
        switch event.kind {
        case .reservationAccepted(let reservation):
            fields += [
                reservation.node, reservation.digest.description, reservation.reservation.name,
                "\(reservation.reservation.people)", reservation.reservation.dateTime.description,
                reservation.reservation.notes, reservation.reservation.testFailures ? "true" : "false",
                reservation.guest?.description ?? "", "", "",
            ]
        case .reservationCancelled(let cancellation):
            fields += [cancellation.node, cancellation.digest.description] + Array(repeating: "", count: 5)
            fields += [cancellation.by.description, cancellation.role.rawValue, cancellation.reason]
        case .unknown(IdempotencyKeyEvent.eventType):
            if let (_, key) = try? IdempotencyKeyEvent.decode(line: record.bytes) {
                fields += [key.node, key.digest.description] + Array(repeating: "", count: 8)
            } else {
                fields += Array(repeating: "", count: 10)
            }
        case .unknown:
            fields += Array(repeating: "", count: 10)
        }
        return fields.map(quoted).joined(separator: ",") + "\r\n"
    }

    private static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
