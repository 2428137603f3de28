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
