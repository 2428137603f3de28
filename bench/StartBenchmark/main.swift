// The start benchmark: how long `rananeeti serve` takes to answer /readyz, and how much memory it then holds,
// for logs of 10^3 … 10^7 events of history.
//
//     swift build -c release --product rananeeti --product StartBenchmark
//     .build/release/StartBenchmark [--sizes 1000,10000,100000,1000000,10000000] [--dir DIR] [--json PATH] [--keep]
//
// Each log is a history as a cafe would have it: one reservation every 31.5 seconds (10 million in ten years),
// each for a date-time up to 60 days after it was taken, written with the log's clock set to those past times.
// For each size it starts a release `serve` (log-only, as a node whose database is away) and measures, from the
// spawn to the first 200 from /readyz:
//
//   - the first start, with no snapshot: it reads the whole log once, keeping only what is kept, and writes one;
//   - three warm starts (the snapshot and the log in the page cache): the median;
//   - a cold start, after `echo 3 > /proc/sys/vm/drop_caches` (root only; skipped otherwise).
//
// and each time the resident memory at ready (VmRSS) and its peak (VmHWM). Prints a table and writes JSON
// (default bench/results/start-<UTC time>.json); bench/plots.py draws it.

import EventLog
import Foundation
import Orders
import TestSupport

struct Options {
    var sizes = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
    var directory = ".build/bench-start"
    var jsonPath: String?
    var keep = false
    var binary = ".build/release/rananeeti"

    init(_ arguments: [String]) {
        var rest = arguments.makeIterator()
        while let argument = rest.next() {
            switch argument {
            case "--sizes": sizes = (rest.next() ?? "").split(separator: ",").compactMap { Int($0) }
            case "--dir": directory = rest.next() ?? directory
            case "--json": jsonPath = rest.next()
            case "--keep": keep = true
            case "--binary": binary = rest.next() ?? binary
            case "--help", "-h":
                print("usage: StartBenchmark [--sizes N,N,…] [--dir DIR] [--json PATH] [--keep] [--binary PATH]")
                exit(0)
            default:
                FileHandle.standardError.write(Data("unknown option \(argument); try --help\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let millisecondsBetweenReservations: Int64 = 31_500

// MARK: - The history

final class HistoryClock: @unchecked Sendable {
    // Only the writer thread reads it, and only while the generator waits for the append it is stamping.
    var millis: Int64 = 0
}

/// Writes `count` reservations of history into a new log in `directory`, ending about now.
func generate(count: Int, directory: String) async throws {
    let clock = HistoryClock()
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    clock.millis = now - Int64(count) * millisecondsBetweenReservations
    let log = try EventLog(
        directory: directory,
        configuration: EventLogConfiguration(durability: .none, clockMillis: { clock.millis }))
    var samples = SampleReservations(seed: UInt64(count))
    var random = SplitMix64(seed: 42)
    let batch = 1_000
    var written = 0
    while written < count {
        let n = min(batch, count - written)
        var records: [[UInt8]] = []
        records.reserveCapacity(n)
        for i in 0..<n {
            let takenAt = clock.millis + Int64(i) * millisecondsBetweenReservations
            let ahead = Int64(random.next() % 60) * 86_400_000 + Int64(random.next() % 14 + 8) * 3_600_000
            let date = GregorianCalendar.date(daysSinceUnixEpoch: Int((takenAt + ahead) / 86_400_000))
            let sample = samples.reservation()
            let reservation = try Reservation(
                name: sample.name, people: sample.people,
                dateTime: LocalDateTime(
                    year: date.year, month: date.month, day: date.day, hour: 8 + Int(random.next() % 14),
                    minute: Int(random.next() % 4) * 15),
                notes: sample.notes)
            records.append(ReservationEvent(node: "bench", reservation: reservation).encodeRecord())
        }
        _ = try await log.append(contentsOf: records)
        written += n
        clock.millis += Int64(n) * millisecondsBetweenReservations
    }
    await log.close()
    try "bench".write(toFile: directory + "/node-id", atomically: true, encoding: .utf8)
}

// MARK: - Starting a node

struct Start: Codable {
    var secondsToReady: Double
    /// CPU time (user + system) the process used until it was ready: what a busy machine stretches least.
    var cpuSecondsToReady: Double?
    var residentMegabytes: Double
    var peakResidentMegabytes: Double
}

/// User + system CPU seconds of a process so far, from /proc/PID/stat (fields 14 and 15, in clock ticks).
func cpuSeconds(of pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command's closing parenthesis: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether GET /readyz on `port` answers 200 now.
func isReady(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return false }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let request = Array("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    guard send(fd, request, request.count, 0) == request.count else { return false }
    var buffer = [UInt8](repeating: 0, count: 64)
    let received = recv(fd, &buffer, buffer.count, 0)
    return received >= 12 && String(decoding: buffer[9..<12], as: UTF8.self) == "200"
}

/// VmRSS and VmHWM of a process, in MB (10^6 bytes).
func memory(of pid: Int32) -> (resident: Double, peak: Double) {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (0, 0) }
    func kilobytes(_ field: String) -> Double {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }) else { return 0 }
        return Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return (kilobytes("VmRSS") * 1024 / 1e6, kilobytes("VmHWM") * 1024 / 1e6)
}

/// ``startNode(directory:port:)`` on a free port, again on another when one was taken meanwhile (the machine is
/// shared: another program may bind the port between the probe and serve's bind).
func startNode(directory: String) throws -> Start {
    var attempt = 0
    while true {
        attempt += 1
        do {
            return try startNode(directory: directory, port: freePort())
        } catch let error as CocoaError where attempt < 3 {
            FileHandle.standardError.write(Data("start failed (\(error.localizedDescription)); again on another port\n".utf8))
        }
    }
}

func startNode(directory: String, port: Int) throws -> Start {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: options.binary)
    process.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--operator-listen", "127.0.0.1:0", "--data-dir", directory, "--node-id", "bench"]
    // Log-only: no database setting reaches it.
    var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && !$0.key.hasPrefix("RANANEETI_") }
    environment["RANANEETI_LOG_LEVEL"] = "warning"
    process.environment = environment
    process.standardOutput = FileHandle.nullDevice
    let logPath = directory + ".serve.log"
    FileManager.default.createFile(atPath: logPath, contents: nil)
    process.standardError = FileHandle(forWritingAtPath: logPath) ?? FileHandle.nullDevice
    let start = DispatchTime.now()
    try process.run()
    let deadline = start.uptimeNanoseconds + 600_000_000_000
    while !isReady(port: port) {
        guard process.isRunning, DispatchTime.now().uptimeNanoseconds < deadline else {
            process.terminate()
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "serve did not become ready; see \(logPath)"])
        }
        usleep(2_000)
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    let cpu = cpuSeconds(of: process.processIdentifier)
    let (resident, peak) = memory(of: process.processIdentifier)
    process.terminate()  // SIGTERM: a clean stop, which writes the last snapshot
    process.waitUntilExit()
    return Start(secondsToReady: seconds, cpuSecondsToReady: cpu, residentMegabytes: resident, peakResidentMegabytes: peak)
}

func dropCaches() -> Bool {
    sync()
    return (try? "3".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)) != nil
}

// MARK: - Running

struct SizeResult: Codable {
    var events: Int
    var logMegabytes: Double
    var snapshotMegabytes: Double
    var generateSeconds: Double
    var firstStart: Start
    var warmStarts: [Start]
    var warmMedian: Start
    var coldStart: Start?
}

struct Report: Codable {
    var date: String
    var cores: Int
    /// /proc/loadavg when the run ended: what else the machine was doing.
    var loadAverage: String?
    var recentDays: Int
    var sizes: [SizeResult]
}

func megabytes(inDirectory directory: String, suffix: String) -> Double {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    let bytes = names.filter { $0.hasSuffix(suffix) }.reduce(0) { total, name in
        total + ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int) ?? 0)
    }
    return Double(bytes) / 1e6
}

guard FileManager.default.isExecutableFile(atPath: options.binary) else {
    FileHandle.standardError.write(Data("no \(options.binary): swift build -c release --product rananeeti first\n".utf8))
    exit(2)
}
try? FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
var results: [SizeResult] = []
print("events      log MB  snapshot MB  first start s  warm start s (CPU s)  cold start s  RSS MB (warm, cold)  peak RSS MB")
for size in options.sizes {
    let directory = options.directory + "/log-\(size)"
    try? FileManager.default.removeItem(atPath: directory)
    let generateStart = DispatchTime.now()
    try await generate(count: size, directory: directory)
    let generateSeconds = Double(DispatchTime.now().uptimeNanoseconds - generateStart.uptimeNanoseconds) / 1e9
    let first = try startNode(directory: directory)
    var warm: [Start] = []
    for _ in 0..<3 { warm.append(try startNode(directory: directory)) }
    let median = warm.sorted { $0.secondsToReady < $1.secondsToReady }[1]
    let cold = dropCaches() ? try startNode(directory: directory) : nil
    let result = SizeResult(
        events: size, logMegabytes: megabytes(inDirectory: directory, suffix: ".lz4"),
        snapshotMegabytes: megabytes(inDirectory: directory, suffix: ".snapshot"), generateSeconds: generateSeconds,
        firstStart: first, warmStarts: warm, warmMedian: median, coldStart: cold)
    results.append(result)
    print(
        String(
            format: "%-10d  %6.0f  %11.1f  %13.2f  %12.3f (%5.2f)  %12@  %8.0f, %-9@  %11.0f", size, result.logMegabytes,
            result.snapshotMegabytes, first.secondsToReady, median.secondsToReady, median.cpuSecondsToReady ?? 0,
            cold.map { String(format: "%.3f", $0.secondsToReady) } ?? "-", median.residentMegabytes,
            cold.map { String(format: "%.0f", $0.residentMegabytes) } ?? "-",
            ([first, median] + (cold.map { [$0] } ?? [])).map(\.peakResidentMegabytes).max()!))
    if !options.keep { try? FileManager.default.removeItem(atPath: directory) }
}

let stamp = ISO8601DateFormatter().string(from: Date())
let path = options.jsonPath ?? "bench/results/start-\(stamp.replacingOccurrences(of: ":", with: "")).json"
let loadAverage = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
let report = Report(
    date: stamp, cores: ProcessInfo.processInfo.activeProcessorCount, loadAverage: loadAverage, recentDays: 31, sizes: results)
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
try encoder.encode(report).write(to: URL(fileURLWithPath: path))
print("figures written to \(path)")
