// The projector benchmark: rows per second into a private PostgreSQL 15 for several batch sizes, the time to
// drain a backlog of a million events, and a re-projection (replay from offset 0), each next to a `COPY` of the
// same rows into the same table in the same run; and the projection lag under a steady 1,000 reservations/s.
//
//     swift run -c release ProjectorBenchmark [--events N] [--quick] [--json PATH] [--only-rebuild]
//
// --only-rebuild stops after timing the local projection's rebuild, and writes no JSON.

import EventLog
import Foundation
import Logging
import Orders
import Postgres
import Projection
import TestSupport

struct Options {
    var events = 1_000_000
    var steadySeconds = 10.0
    var quick = false
    var jsonPath: String?
    var onlyRebuild = false

    init(_ arguments: [String]) {
        var rest = arguments.makeIterator()
        while let argument = rest.next() {
            switch argument {
            case "--events": events = Int(rest.next() ?? "") ?? events
            case "--json": jsonPath = rest.next()
            case "--only-rebuild": onlyRebuild = true
            case "--quick":
                quick = true
                events = 50_000
                steadySeconds = 3
            default:
                FileHandle.standardError.write(Data("usage: ProjectorBenchmark [--events N] [--quick] [--json PATH] [--only-rebuild]\n".utf8))
                exit(2)
            }
        }
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = start.duration(to: .now)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

struct Figure: Codable {
    var name: String
    var rows: Int
    var seconds: Double
    var rowsPerSecond: Double
    var ratioToCopy: Double?
}

struct LagFigures: Codable {
    var reservationsPerSecond: Double
    var events: Int
    var p50Milliseconds: Int64
    var p99Milliseconds: Int64
    var maxMilliseconds: Int64
    /// (seconds since the steady run began, lag in ms) for each reservation, in the order taken: the plot of lag
    /// over time (bench/plots.py).
    var series: [[Double]]?
}

struct Report: Codable {
    var date: String
    var command: String
    var events: Int
    var figures: [Figure]
    var steadyLag: LagFigures
    var localProjectionRebuildSeconds: Double
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let logger: Logger = {
    var logger = Logger(label: "rananeeti.bench")
    logger.logLevel = ProcessInfo.processInfo.environment["BENCH_LOG"] != nil ? .debug : .error
    return logger
}()

print("Projector benchmark: \(options.events) events; private PostgreSQL 15 with fsync=on")
let server = try await PostgresServer.start(settings: ["fsync": "on", "full_page_writes": "on", "max_wal_size": "4GB"])
let work = try TemporaryDirectory(label: "projector-bench")
defer { work.remove() }
let database = try await server.createDatabase()
try await PostgresConnection.withConnection(database) { _ = try await SchemaMigrator().migrate(connection: $0) }
let settings = DatabaseSettings(
    connectionString: database,
    options: PostgresConnection.Options(queryTimeout: .seconds(120), statementTimeout: .seconds(110)))

// The backlog: realistic reservations, each a different digest.
let logPath = work.appending("log")
var samples = SampleReservations(seed: 2026)
var csv = ""
csv.reserveCapacity(options.events * 90)
do {
    let log = try EventLog(directory: logPath, configuration: EventLogConfiguration(durability: .none))
    var batch: [[UInt8]] = []
    var seen = Set<ReservationDigest>()
    while seen.count < options.events {
        let drawn = samples.reservation()
        let reservation = try Reservation(name: drawn.name, people: drawn.people, dateTime: drawn.dateTime, notes: drawn.notes)
        let event = ReservationEvent(node: "bench", reservation: reservation)
        guard seen.insert(event.digest).inserted else { continue }
        batch.append(event.encodeRecord())
        func quoted(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        csv += "\(event.digest),\(quoted(reservation.name)),\(reservation.people),\(reservation.dateTime),\(quoted(reservation.notes))\n"
        if batch.count == 1000 {
            _ = try await log.append(contentsOf: batch)
            batch.removeAll(keepingCapacity: true)
        }
    }
    if !batch.isEmpty { _ = try await log.append(contentsOf: batch) }
    await log.close()
}
let csvPath = work.appending("rows.csv")
try csv.write(toFile: csvPath, atomically: false, encoding: .utf8)
try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: csvPath)
try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: work.path)

// The local projection a node rebuilds from its log at start-up: the same log, read and decoded in full.
var rebuildTimes: [Double] = []
for _ in 0..<3 {
    let projection = LocalProjection()
    let started = ContinuousClock.now
    try projection.rebuild(from: LogReader(directory: logPath), expectedEvents: UInt64(options.events))
    rebuildTimes.append(seconds(since: started))
    precondition(projection.count == options.events)
}
let rebuildSeconds = rebuildTimes.sorted()[1]
print("local projection rebuilt from \(options.events) events in \(String(format: "%.2f", rebuildSeconds)) s (median of 3)")
if options.onlyRebuild {
    await server.destroy()
    exit(0)
}

func reset() async throws {
    try await PostgresConnection.withConnection(database) { connection in
        try await connection.executeScript("TRUNCATE cafe.ordersraw; TRUNCATE cafe.projector_checkpoints; TRUNCATE cafe.dead_letters; CHECKPOINT")
    }
}

/// The reference: psql's \copy of the same rows into the same (emptied) table.
func copyRows() async throws -> Figure {
    try await reset()
    let started = ContinuousClock.now
    try runTool(
        "/usr/bin/psql",
        [database, "-v", "ON_ERROR_STOP=1", "-q", "-c",
         "\\copy cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt) FROM '\(csvPath)' WITH (FORMAT csv)"])
    let elapsed = seconds(since: started)
    return Figure(name: "COPY (reference)", rows: options.events, seconds: elapsed, rowsPerSecond: Double(options.events) / elapsed)
}

/// The projector draining `count` events with batches of `batch` events.
func drain(count: Int, batch: Int, name: String, from start: Projector.DrainStart = .checkpoint, fresh: Bool = true) async throws -> Figure {
    if fresh { try await reset() }
    let source = LogDirectorySource(directory: logPath)
    let projector = Projector(
        source: source, node: "bench", database: settings,
        configuration: Projector.Configuration(maximumBatchEvents: batch, batchDelay: .zero, failureDemoAttempts: 0), logger: logger)
    let started = ContinuousClock.now
    try await projector.drain(from: start, to: UInt64(count))
    let elapsed = seconds(since: started)
    let snapshot = projector.status.snapshot
    precondition(snapshot.lastError == nil || snapshot.consecutiveFailures == 0, "projection failed: \(snapshot.lastError ?? "")")
    return Figure(name: name, rows: count, seconds: elapsed, rowsPerSecond: Double(count) / elapsed)
}

var figures: [Figure] = []
let copy = try await copyRows()
figures.append(copy)
print("COPY of \(options.events) rows: \(String(format: "%.2f", copy.seconds)) s, \(Int(copy.rowsPerSecond)) rows/s")
for (batch, count) in [(1, options.quick ? 2_000 : 20_000), (100, options.quick ? 20_000 : 200_000), (1000, options.quick ? 50_000 : 200_000), (10_000, options.quick ? 50_000 : 200_000)] {
    var figure = try await drain(count: min(count, options.events), batch: batch, name: "projector, \(batch) per batch")
    figure.ratioToCopy = figure.rowsPerSecond / copy.rowsPerSecond
    figures.append(figure)
    print("\(figure.name): \(Int(figure.rowsPerSecond)) rows/s (\(String(format: "%.0f", 100 * figure.ratioToCopy!))% of COPY)")
}
var backlog = try await drain(count: options.events, batch: 10_000, name: "backlog drain (replay, 10000 per batch)")
backlog.ratioToCopy = backlog.rowsPerSecond / copy.rowsPerSecond
figures.append(backlog)
print("backlog of \(options.events) events drained in \(String(format: "%.2f", backlog.seconds)) s: \(Int(backlog.rowsPerSecond)) rows/s (\(String(format: "%.0f", 100 * backlog.ratioToCopy!))% of COPY)")
var again = try await drain(count: options.events, batch: 10_000, name: "re-projection from offset 0 (rows already there)", from: .offset(0), fresh: false)
again.ratioToCopy = again.rowsPerSecond / copy.rowsPerSecond
figures.append(again)
print("re-projection of \(options.events) events already in the table: \(Int(again.rowsPerSecond)) events/s")

// Steady load: 1,000 reservations/s appended durably one by one while the projector runs as in `serve`.
try await reset()
let steadyPath = work.appending("steady")
let steadyLog = try EventLog(directory: steadyPath)
let projection = LocalProjection()
let book = NodeReservationBook(log: steadyLog, projection: projection, node: "steady")
let steady = Projector(source: steadyLog, node: "steady", database: settings, projection: projection, configuration: Projector.Configuration(failureDemoAttempts: 0), logger: logger)
let running = Task { try await steady.run() }
var steadySamples = SampleReservations(seed: 7)
let rate = 1000.0
let total = Int(rate * options.steadySeconds)
let steadyStart = ContinuousClock.now
var digests: [ReservationDigest] = []
for n in 0..<total {
    let due = steadyStart + .nanoseconds(Int64(Double(n) / rate * 1e9))
    if ContinuousClock.now < due { try await Task.sleep(until: due, clock: .continuous) }
    let drawn = steadySamples.reservation()
    let reservation = try Reservation(name: drawn.name, people: drawn.people, dateTime: drawn.dateTime, notes: drawn.notes + " #\(n)")
    digests.append(try await book.accept(reservation).status.digest)
}
let achieved = Double(total) / seconds(since: steadyStart)
try await steady.status.wait(timeout: .seconds(600)) { $0.checkpoint ?? 0 >= UInt64(total) }
running.cancel()
_ = await running.result
await steadyLog.close()
let timeline = digests.compactMap { digest -> (Int64, Int64)? in
    guard let status = projection.status(of: digest), let accepted = status.acceptedAt, let projected = status.projectedAt else { return nil }
    return (accepted.millisecondsSinceEpoch, projected.millisecondsSinceEpoch - accepted.millisecondsSinceEpoch)
}
var lags = timeline.map(\.1).sorted()
if lags.isEmpty { lags = [0] }
let lag = LagFigures(
    reservationsPerSecond: achieved, events: lags.count, p50Milliseconds: lags[lags.count / 2],
    p99Milliseconds: lags[min(lags.count - 1, lags.count * 99 / 100)], maxMilliseconds: lags.last!,
    series: timeline.map { [Double($0.0 - timeline[0].0) / 1000, Double($0.1)] })
print("steady \(Int(achieved)) reservations/s for \(options.steadySeconds) s: projection lag p50 \(lag.p50Milliseconds) ms, p99 \(lag.p99Milliseconds) ms, max \(lag.maxMilliseconds) ms")

await server.destroy()
let stamp = ISO8601DateFormatter().string(from: Date())
let report = Report(
    date: stamp, command: "swift run -c release ProjectorBenchmark " + CommandLine.arguments.dropFirst().joined(separator: " "),
    events: options.events, figures: figures, steadyLag: lag, localProjectionRebuildSeconds: rebuildSeconds)
let jsonPath = options.jsonPath ?? "bench/results/projector-\(stamp.replacingOccurrences(of: ":", with: "")).json"
try FileManager.default.createDirectory(atPath: (jsonPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
let encoder = JSONEncoder()
encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
try encoder.encode(report).write(to: URL(fileURLWithPath: jsonPath))
print("figures written to \(jsonPath)")
