// The append benchmark: durable append latency and throughput of the event log, against the raw fdatasync of
// the same disk measured in the same run.
//
//     swift run -c release AppendBenchmark [--dir DIR] [--seconds S] [--quick] [--json PATH] [--only-appenders N]
//                                          [--sync-delay-ms MS]
//
// --only-appenders N runs just the raw reference and N durable appenders, and writes no JSON: for profiling.
// --sync-delay-ms MS makes every fdatasync of those appenders' log wait MS milliseconds more: a disk with a
// slower sync, such as Amazon EFS (AWS publishes "as low as 2.7 ms" per write on a regional file system), to
// see what group commit makes of it (deployment/README.md, "A log that outlives its zone").
// The big log (10 million events, memory, recovery) runs in a child process of its own (--only-big-log), so that
// its memory figures are its own and not what the scenarios before it left allocated.
//
// Prints a table and writes the figures as JSON (default bench/results/append-<UTC time>.json).

import EventLog
import Foundation
import Histogram
import TestSupport

// MARK: - Options

struct Options {
    var directory = ".build/bench-data"
    var seconds = 3.0
    var quick = false
    var jsonPath: String?
    var bigEvents = 10_000_000
    /// Over 1 GiB, and with the last of its 64 MiB segments 60 MiB full: recovery scans only the last segment
    /// (sealed ones have their index), so this is its worst case at this size.
    var bigBytes: Int64 = 17 * (64 << 20) - (4 << 20)
    var onlyAppenders: Int?
    var onlyBigLog = false
    var syncDelayMilliseconds = 0.0

    init(_ arguments: [String]) {
        var rest = arguments.makeIterator()
        while let argument = rest.next() {
            switch argument {
            case "--dir": directory = rest.next() ?? directory
            case "--seconds": seconds = Double(rest.next() ?? "") ?? seconds
            case "--json": jsonPath = rest.next()
            case "--only-appenders": onlyAppenders = Int(rest.next() ?? "")
            case "--only-big-log": onlyBigLog = true
            case "--sync-delay-ms": syncDelayMilliseconds = Double(rest.next() ?? "") ?? 0
            case "--quick":
                quick = true
                seconds = 0.5
                bigEvents = 300_000
                bigBytes = 0
            case "--help", "-h":
                print("usage: AppendBenchmark [--dir DIR] [--seconds S] [--quick] [--json PATH] [--only-appenders N] [--sync-delay-ms MS]")
                exit(0)
            default:
                FileHandle.standardError.write(Data("unknown option \(argument); try --help\n".utf8))
                exit(2)
            }
        }
    }
}

// MARK: - Measurement helpers

func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func makeHistogram() -> Histogram<UInt64> {
    Histogram(lowestDiscernibleValue: 100, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
}

struct Latency: Codable {
    var count: UInt64
    var p50Micros: Double
    var p99Micros: Double
    var p999Micros: Double
    var maxMicros: Double
    /// (percentile, µs) pairs from 0 to 100, for an HDR percentile plot (bench/plots.py).
    var percentiles: [[Double]]?

    static let plottedPercentiles: [Double] = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100]

    init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        p50Micros = Double(histogram.valueAtPercentile(50)) / 1000
        p99Micros = Double(histogram.valueAtPercentile(99)) / 1000
        p999Micros = Double(histogram.valueAtPercentile(99.9)) / 1000
        maxMicros = Double(histogram.max) / 1000
        percentiles = Self.plottedPercentiles.map { [$0, Double(histogram.valueAtPercentile($0)) / 1000] }
    }
}

struct ScenarioResult: Codable {
    var name: String
    var appenders: Int
    var eventsPerSecond: Double
    var latency: Latency?
    var bytesOnDiskPerEvent: Double?
    var compressionRatio: Double?
}

func residentMemoryBytes(field: String = "VmRSS:") -> Int64 {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field) {
        let kib = line.dropFirst(field.count).trimmingCharacters(in: .whitespaces).split(separator: " ").first
        return (Int64(kib ?? "") ?? 0) * 1024
    }
    return 0
}

func freshDirectory(_ root: String, _ name: String) -> String {
    let path = root + "/" + name
    try? FileManager.default.removeItem(atPath: path)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

// MARK: - Scenarios

/// The physical reference (a C-style loop of 200-byte `pwrite` + `fdatasync` on a growing file) and one durable
/// appender, measured in alternating slices of `slice` seconds on the same
/// disk (each in its own directory), so that both see the same moments of a disk whose latency drifts.
func interleavedSingle(
    directory: String, seconds: Double, slice: Double = 0.25, pool: RecordPool
) async throws -> (raw: ScenarioResult, durable: ScenarioResult) {
    let rawPath = freshDirectory(directory, "raw") + "/reference.dat"
    let fd = open(rawPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    precondition(fd >= 0, "cannot create \(rawPath)")
    defer { close(fd) }
    var record = [UInt8](repeating: 0x61, count: 199)
    record.append(0x0A)
    let logPath = freshDirectory(directory, "durable-1")
    let log = try EventLog(directory: logPath, configuration: EventLogConfiguration(durability: .fsync))
    var rawHistogram = makeHistogram()
    var durableHistogram = makeHistogram()
    var rawNanos: UInt64 = 0
    var durableNanos: UInt64 = 0
    var position: off_t = 0
    var index = 0
    for _ in 0..<max(1, Int((seconds / slice).rounded())) {
        var start = monotonicNanos()
        var deadline = start + UInt64(slice * 1e9)
        var now = start
        while now < deadline {
            let before = now
            let written = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, position) }
            precondition(written == record.count && fdatasync(fd) == 0, "write or fdatasync failed: errno \(errno)")
            position += off_t(written)
            now = monotonicNanos()
            _ = rawHistogram.record(now - before)
        }
        rawNanos += now - start
        start = monotonicNanos()
        deadline = start + UInt64(slice * 1e9)
        now = start
        while now < deadline {
            let before = now
            _ = try await log.append(pool.records[index % pool.records.count])
            index += 1
            now = monotonicNanos()
            _ = durableHistogram.record(now - before)
        }
        durableNanos += now - start
    }
    await log.close()
    let stats = try LogStatistics.read(directory: logPath)
    let raw = ScenarioResult(
        name: "raw pwrite(200 B) + fdatasync", appenders: 1,
        eventsPerSecond: Double(rawHistogram.totalCount) / (Double(rawNanos) / 1e9), latency: Latency(rawHistogram))
    let durable = ScenarioResult(
        name: "durable, 1 appender(s)", appenders: 1,
        eventsPerSecond: Double(durableHistogram.totalCount) / (Double(durableNanos) / 1e9),
        latency: Latency(durableHistogram), bytesOnDiskPerEvent: Double(stats.bytesOnDisk) / Double(max(1, stats.records)),
        compressionRatio: stats.compressionRatio)
    return (raw, durable)
}

final class RecordPool: Sendable {
    let records: [[UInt8]]
    init(count: Int) {
        var samples = SampleReservations(seed: 42)
        records = (0..<count).map { _ in samples.eventRecord() }
    }
    var averageSize: Double { Double(records.reduce(0) { $0 + $1.count }) / Double(records.count) }
}

/// `appenders` tasks, each appending one record at a time for `seconds`.
func concurrentAppends(
    directory: String, name: String, appenders: Int, seconds: Double, durability: EventLogConfiguration.Durability,
    pool: RecordPool, syncDelayMilliseconds: Double = 0
) async throws -> ScenarioResult {
    let path = freshDirectory(directory, name)
    var configuration = EventLogConfiguration(durability: durability)
    if syncDelayMilliseconds > 0 {
        // On the writer's own thread, before the real fdatasync: the sync as a whole takes that much longer.
        let micros = useconds_t(syncDelayMilliseconds * 1000)
        configuration.injectedFaults = InjectedLogFaults(dataSync: {
            usleep(micros)
            return nil
        })
    }
    let log = try EventLog(directory: path, configuration: configuration)
    let start = monotonicNanos()
    let deadline = start + UInt64(seconds * 1e9)
    let histogram = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
        for appender in 0..<appenders {
            group.addTask {
                var histogram = makeHistogram()
                var index = appender * 7919
                var now = monotonicNanos()
                while now < deadline {
                    let before = now
                    _ = try await log.append(pool.records[index % pool.records.count])
                    index += 1
                    now = monotonicNanos()
                    _ = histogram.record(now - before)
                }
                return histogram
            }
        }
        var merged = makeHistogram()
        for try await part in group { merged.add(part) }
        return merged
    }
    let elapsed = Double(monotonicNanos() - start) / 1e9
    await log.close()
    let stats = try LogStatistics.read(directory: path)
    return ScenarioResult(
        name: name, appenders: appenders, eventsPerSecond: Double(histogram.totalCount) / elapsed,
        latency: Latency(histogram), bytesOnDiskPerEvent: Double(stats.bytesOnDisk) / Double(max(1, stats.records)),
        compressionRatio: stats.compressionRatio)
}

/// One appender appending `batch` records per call for `seconds`.
func bulkAppends(
    directory: String, name: String, batch: Int, seconds: Double, durability: EventLogConfiguration.Durability,
    pool: RecordPool
) async throws -> ScenarioResult {
    let path = freshDirectory(directory, name)
    let log = try EventLog(directory: path, configuration: EventLogConfiguration(durability: durability))
    var histogram = makeHistogram()
    var index = 0
    let start = monotonicNanos()
    let deadline = start + UInt64(seconds * 1e9)
    var now = start
    var events = 0
    while now < deadline {
        let records = (0..<batch).map { pool.records[(index + $0) % pool.records.count] }
        index += batch
        let before = now
        events += try await log.append(contentsOf: records).count
        now = monotonicNanos()
        _ = histogram.record(now - before)
    }
    let elapsed = Double(now - start) / 1e9
    await log.close()
    let stats = try LogStatistics.read(directory: path)
    return ScenarioResult(
        name: name, appenders: 1, eventsPerSecond: Double(events) / elapsed, latency: Latency(histogram),
        bytesOnDiskPerEvent: Double(stats.bytesOnDisk) / Double(max(1, stats.records)),
        compressionRatio: stats.compressionRatio)
}

struct BigLogResult: Codable {
    var events: UInt64
    var bytesOnDisk: Int64
    var segments: Int
    var eventsPerSecond: Double
    var rssStartBytes: Int64
    var rssMaxBytes: Int64
    var rssEndBytes: Int64
    var recoveryWarmSeconds: Double
    var recoveryColdSeconds: Double?
}

/// Appends at least `events` records and `bytes` on disk (none mode, bulk), sampling memory; then times
/// opening the log (recovery), with the page cache warm and, when it can be dropped, cold.
func bigLog(directory: String, events: Int, bytes: Int64, pool: RecordPool) async throws -> BigLogResult {
    let path = freshDirectory(directory, "big")
    let log = try EventLog(directory: path, configuration: EventLogConfiguration(durability: .none))
    let rssStart = residentMemoryBytes()
    var rssMax = rssStart
    var appended = 0
    let start = monotonicNanos()
    var onDisk: Int64 = 0
    while appended < events || onDisk < bytes {
        let records = (0..<1000).map { pool.records[(appended + $0) % pool.records.count] }
        appended += try await log.append(contentsOf: records).count
        if appended % 100_000 == 0 {
            rssMax = max(rssMax, residentMemoryBytes())
            if appended >= events { onDisk = try LogStatistics.read(directory: path).bytesOnDisk }
        }
    }
    let elapsed = Double(monotonicNanos() - start) / 1e9
    await log.close()
    let rssEnd = residentMemoryBytes()
    let stats = try LogStatistics.read(directory: path)

    func timeOpen() throws -> Double {
        let before = monotonicNanos()
        let reopened = try EventLog(directory: path)
        let seconds = Double(monotonicNanos() - before) / 1e9
        precondition(reopened.recovery.nextOffset == stats.endOffset)
        let closed = DispatchSemaphore(value: 0)
        Task {
            await reopened.close()
            closed.signal()
        }
        closed.wait()
        return seconds
    }
    let warm = try (0..<3).map { _ in try timeOpen() }.sorted()[1]
    var cold: Double?
    if let dropper = FileHandle(forWritingAtPath: "/proc/sys/vm/drop_caches") {
        sync()
        dropper.write(Data("3\n".utf8))
        try? dropper.close()
        cold = try timeOpen()
    }
    return BigLogResult(
        events: stats.records, bytesOnDisk: stats.bytesOnDisk, segments: stats.segments,
        eventsPerSecond: Double(appended) / elapsed, rssStartBytes: rssStart, rssMaxBytes: rssMax,
        rssEndBytes: rssEnd, recoveryWarmSeconds: warm, recoveryColdSeconds: cold)
}

// MARK: - Main

struct Report: Codable {
    var date: String
    var command: String
    var host: String
    var averageRecordBytes: Double
    var scenarios: [ScenarioResult]
    var bigLog: BigLogResult
    var peakRSSBytes: Int64
    var ratios: [String: Double]
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

func format(_ value: Double?, _ decimals: Int = 1) -> String {
    guard let value else { return "-" }
    return String(format: "%.\(decimals)f", value)
}

/// Runs the big log in a child process of this program and reads its figures.
func bigLogInChild(options: Options) throws -> BigLogResult {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    child.arguments = ["--only-big-log", "--dir", options.directory] + (options.quick ? ["--quick"] : [])
    let output = Pipe()
    child.standardOutput = output
    try child.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    child.waitUntilExit()
    guard child.terminationStatus == 0 else {
        FileHandle.standardError.write(Data("the big-log child failed with status \(child.terminationStatus)\n".utf8))
        exit(1)
    }
    return try JSONDecoder().decode(BigLogResult.self, from: data)
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
let pool = RecordPool(count: 50_000)
if options.onlyBigLog {
    let big = try await bigLog(directory: options.directory, events: options.bigEvents, bytes: options.bigBytes, pool: pool)
    FileHandle.standardOutput.write(try JSONEncoder().encode(big))
    exit(0)
}
var scenarios: [ScenarioResult] = []

print("Append benchmark: \(options.quick ? "quick" : "full") run, \(options.seconds) s per scenario, data in \(options.directory)")
print("Average record: \(format(pool.averageSize)) bytes of JSON before the log's envelope")
// The reference and one appender alternate every 250 ms, each for the usual time in all.
let singleAppender = try await interleavedSingle(directory: options.directory, seconds: options.seconds, pool: pool)
scenarios.append(singleAppender.raw)
scenarios.append(singleAppender.durable)
if let appenders = options.onlyAppenders {
    let delayed = options.syncDelayMilliseconds > 0 ? ", each sync +\(options.syncDelayMilliseconds) ms" : ""
    let result = try await concurrentAppends(
        directory: options.directory, name: "durable, \(appenders) appender(s)\(delayed)", appenders: appenders,
        seconds: options.seconds, durability: .fsync, pool: pool, syncDelayMilliseconds: options.syncDelayMilliseconds)
    for s in [scenarios[0], scenarios[1], result] {
        print("\(s.name): \(format(s.eventsPerSecond, 0)) events/s, p50 \(format(s.latency?.p50Micros)) µs, p99 \(format(s.latency?.p99Micros)) µs")
    }
    try? FileManager.default.removeItem(atPath: options.directory)
    exit(0)
}
for appenders in [8, 64, 256] {
    scenarios.append(
        try await concurrentAppends(
            directory: options.directory, name: "durable, \(appenders) appender(s)", appenders: appenders,
            seconds: options.seconds, durability: .fsync, pool: pool))
}
scenarios.append(
    try await bulkAppends(
        directory: options.directory, name: "durable, bulk 256/call", batch: 256, seconds: options.seconds,
        durability: .fsync, pool: pool))
scenarios.append(
    try await concurrentAppends(
        directory: options.directory, name: "none, 1 appender", appenders: 1, seconds: options.seconds,
        durability: .none, pool: pool))
scenarios.append(
    try await bulkAppends(
        directory: options.directory, name: "none, bulk 256/call", batch: 256, seconds: options.seconds,
        durability: .none, pool: pool))
let big = try bigLogInChild(options: options)

print("")
print(pad("scenario", 34) + pad("events/s", 12) + pad("p50 µs", 10) + pad("p99 µs", 10) + pad("p99.9 µs", 10) + pad("max µs", 10) + pad("B/event", 9) + "ratio")
for s in scenarios {
    print(
        pad(s.name, 34) + pad(format(s.eventsPerSecond, 0), 12) + pad(format(s.latency?.p50Micros), 10)
            + pad(format(s.latency?.p99Micros), 10) + pad(format(s.latency?.p999Micros), 10)
            + pad(format(s.latency?.maxMicros), 10) + pad(format(s.bytesOnDiskPerEvent), 9)
            + format(s.compressionRatio, 2))
}
print("")
print("big log: \(big.events) events, \(big.bytesOnDisk / (1 << 20)) MiB on disk in \(big.segments) segments, \(format(big.eventsPerSecond, 0)) events/s (none, bulk 1000)")
print("memory of a process appending them (its own): RSS \(big.rssStartBytes >> 20) MiB at start, max \(big.rssMaxBytes >> 20) MiB, \(big.rssEndBytes >> 20) MiB after close")
print("recovery (open) of that log: \(format(big.recoveryWarmSeconds * 1000, 1)) ms warm, \(big.recoveryColdSeconds.map { format($0 * 1000, 1) + " ms" } ?? "n/a") cold")

let reference = scenarios[0].latency!
let single = scenarios[1].latency!
var ratios: [String: Double] = [
    "durableSingleP99OverRawP99": single.p99Micros / reference.p99Micros,
    "durableSingleP50OverRawP50": single.p50Micros / reference.p50Micros,
]
for s in scenarios where s.name.hasPrefix("durable,") && s.appenders > 1 {
    ratios["throughput\(s.appenders)OverRawSyncRate"] = s.eventsPerSecond / scenarios[0].eventsPerSecond
}
print("")
for (name, value) in ratios.sorted(by: { $0.key < $1.key }) { print("\(name): \(format(value, 2))") }
let peak = residentMemoryBytes(field: "VmHWM:")
print("peak RSS of the benchmark process: \(peak >> 20) MiB")

let now = Date()
let stamp = ISO8601DateFormatter().string(from: now)
let report = Report(
    date: stamp, command: "swift run -c release AppendBenchmark " + CommandLine.arguments.dropFirst().joined(separator: " "),
    host: ProcessInfo.processInfo.hostName, averageRecordBytes: pool.averageSize, scenarios: scenarios, bigLog: big,
    peakRSSBytes: peak, ratios: ratios)
let jsonPath = options.jsonPath ?? "bench/results/append-\(stamp.replacingOccurrences(of: ":", with: "")).json"
try FileManager.default.createDirectory(
    atPath: (jsonPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
try encoder.encode(report).write(to: URL(fileURLWithPath: jsonPath))
print("figures written to \(jsonPath)")
try? FileManager.default.removeItem(atPath: options.directory)
