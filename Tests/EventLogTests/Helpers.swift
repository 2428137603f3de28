import Foundation
import Testing

@testable import EventLog

/// A realistic record of about 200 bytes, different for each `n`.
func sampleRecord(_ n: Int) -> [UInt8] {
    let names = ["Bob", "Ana María", "Zoë", "Kenji \u{5C71}\u{7530}", "O'Brien", "Ravi \"RJ\" Joshi"]
    let json = #"{"type":"reservation.accepted","node":"node-a","digest":"\#(String(format: "%020x", n &* 2_654_435_761))","name":"\#(names[n % names.count].replacingOccurrences(of: "\"", with: "\\\""))","people":\#(n % 12 + 1),"datetime":"2026-12-\#(String(format: "%02d", n % 28 + 1))T19:30","notes":"table \#(n) by the window","testFailures":false}"#
    return Array(json.utf8)
}

/// The caller's part of a stamped line: what follows the envelope.
func callerPart(of line: ArraySlice<UInt8>) -> String {
    let text = String(decoding: line, as: UTF8.self)
    // {"offset":N,"appendedAt":"…Z",REST}
    let afterTime = text.range(of: #"Z","#)!.upperBound
    return "{" + text[afterTime...]
}

func readAll(_ reader: LogReader) throws -> [LogRecord] {
    var all: [LogRecord] = []
    while let records = try reader.nextRecords() { all.append(contentsOf: records) }
    return all
}

func segmentFiles(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".lz4") }.sorted()
}

func fileBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeFileBytes(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Byte positions of every batch in a segment, from a header walk.
func batchPositions(_ path: String) throws -> [(position: Int64, header: BatchHeader)] {
    let fd = open(path, O_RDONLY)
    defer { close(fd) }
    let size = try FileSystem.size(fd).get()
    let reader = BufferedFileReader(fd: fd, path: path)
    var found: [(Int64, BatchHeader)] = []
    var position: Int64 = 0
    while case .batch(let header, _) = try reader.batch(at: position, fileSize: size, loadPayload: false, verifyHash: false).get() {
        found.append((position, header))
        position += Int64(header.totalLength)
    }
    return found
}

/// What the independent verifier, `tools/verify_log.py`, says about a log directory: its exit status, the
/// records it printed (with `dump`) and its message on standard error.
struct IndependentVerdict {
    static let intact: Int32 = 0
    static let unfinishedTail: Int32 = 3
    static let damaged: Int32 = 4
    static let verifierFailed: Int32 = 70

    var status: Int32
    var records: Data
    var message: String

    /// Runs the verifier on `directory`; `python` is the code that runs it (the verifier's own `main()`
    /// unless a test replaces it, to see the verifier fail).
    init(_ directory: String, dump: Bool = false, python: String = "import sys; from verify_log import main; sys.exit(main())") throws {
        let tools = LogFormatTests.repositoryRoot + "/tools"
        // The records of these tests are not reservation events: the format alone is compared.
        let arguments =
            ["python3", "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); " + python, tools, directory, "--structure-only"]
            + (dump ? ["--dump"] : [])
        (status, records, message) = try runCapturingErrors("/usr/bin/env", arguments)
    }
}

/// Expects the independent verifier to find damage exactly at `byteOffset` of `file`, and to say so.
func expectIndependentDamage(
    _ directory: String, file: String, at byteOffset: Int64, _ comment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let verdict = try IndependentVerdict(directory)
    #expect(verdict.status == IndependentVerdict.damaged, "\(comment) exit \(verdict.status): \(verdict.message)", sourceLocation: sourceLocation)
    #expect(verdict.message.contains("DAMAGED: \(file) at byte \(byteOffset): "), "\(comment) \(verdict.message)", sourceLocation: sourceLocation)
}

/// Runs a program and returns its exit status, standard output and standard error.
func runCapturingErrors(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: Data, errors: String) {
    // Standard error goes to a file, so that neither output can fill a pipe and stall the child.
    let errorPath = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: errorPath.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errorPath) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = try FileHandle(forWritingTo: errorPath)
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, data, String(decoding: try Data(contentsOf: errorPath), as: UTF8.self))
}

/// Runs a program and returns its exit status and standard output.
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, output)
}

/// Removes the writer's record of how far it synced (`synced-end`): the state a crash leaves when it strikes
/// before the writer recorded the write it tore. Tests that tear or cut a closed log's last batch, to play a
/// crash during that batch's write, start from there; with the record in place, that is damage instead.
func forgetSyncedEnd(_ directory: String) {
    try? FileManager.default.removeItem(atPath: directory + "/" + SyncedEnd.fileName)
}

/// What `tools/verify_log.py --json` says about a log directory.
struct IndependentReport: Equatable, CustomStringConvertible {
    var verdict: String
    var file: String?
    var byteOffset: Int64?
    var status: Int32

    var description: String { "\(verdict) \(file ?? "-") at byte \(byteOffset.map(String.init) ?? "-") (exit \(status))" }
}

/// Runs the independent verifier (`tools/verify_log.py`) on `directory`.
func independentReport(_ directory: String, _ options: [String] = []) throws -> IndependentReport {
    let script = LogFormatTests.repositoryRoot + "/tools/verify_log.py"
    let result = try run("/usr/bin/env", ["python3", script, directory, "--json"] + options)
    let object = try JSONSerialization.jsonObject(with: result.output) as? [String: Any] ?? [:]
    return IndependentReport(
        verdict: object["verdict"] as? String ?? "no verdict", file: object["file"] as? String,
        byteOffset: (object["byteOffset"] as? NSNumber)?.int64Value, status: result.status)
}

/// The verdict `LogVerifier` gives, in the independent verifier's words, for comparing the two.
func ourVerdict(_ report: LogVerifier.Report) -> (verdict: String, file: String?, byteOffset: Int64?) {
    if let problem = report.problem { return ("damaged", problem.file, problem.byteOffset) }
    if let tail = report.unfinishedTail { return ("unfinished", tail.file, tail.byteOffset) }
    return ("intact", nil, nil)
}
