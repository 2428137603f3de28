import ArgumentParser
import EventLog
import Foundation
import Logging
import Orders
import Postgres
import Projection

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Project a node's log into the database up to its end, then exit.",
        discussion: """
            After an outage, drains the backlog from the node's checkpoint with a progress bar. Safe to re-run: \
            rows are keyed by digest, so nothing is written twice. --from 0 re-sends everything (e.g. after rows \
            were lost) without creating a single duplicate, and never moves the checkpoint back.
            """
    )

    @OptionGroup var node: NodeOptions
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Re-send from this offset instead of the node's checkpoint.") var from: UInt64?
    @Flag(help: "Say what a replay would do, and change nothing.") var dryRun = false

    func run() async throws {
        try reportingLogErrors { try LogDirectory.check(node.directory) }
        let nodeID = try node.resolveNodeID()
        let logger = makeLogger(label: "rananeeti.replay", defaultLevel: .warning)
        // Hold the writer lock when it is free, so that no server starts on this log mid-replay.
        var log: EventLog?
        do {
            log = try EventLog(directory: node.directory, configuration: EventLogConfiguration(createIfMissing: false))
        } catch let error as LogError where error.code == .locked {
            if from == nil && !dryRun {
                print("A server is running on \(node.directory) and projects its log itself; nothing to replay. See its lag with `rananeeti db status`; to re-send old events, use --from OFFSET.")
                return
            }
        } catch let error as LogError {
            warn(error.description)
            throw ExitCode(1)
        }
        let source: any ProjectorSource = log ?? LogDirectorySource(directory: node.directory)
        defer { if let log { Task { await log.close() } } }
        let end = source.endOffset
        // Say at once, in plain words, when the database cannot be reached (the drain itself would retry).
        await (try database.connect()).close()
        if dryRun {
            try await dryRunReport(source: source, nodeID: nodeID, end: end)
        } else {
            try await replay(source: source, nodeID: nodeID, end: end, logger: logger)
        }
        if let log { await log.close() }
    }

    private func replay(source: any ProjectorSource, nodeID: String, end: UInt64, logger: Logger) async throws {
        let projector = Projector(
            source: source, node: nodeID, database: database.settings,
            configuration: Projector.Configuration(maximumBatchEvents: 10_000, batchDelay: .zero, failureDemoAttempts: 0,
                                                   localDeadLetterFile: node.directory + "/dead-letters.jsonl"),
            logger: logger)
        let bar = ProgressBar(total: end)
        let started = ContinuousClock.now
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await projector.drain(from: from.map { Projector.DrainStart.offset($0) } ?? .checkpoint, to: end) { snapshot in
                        bar.update(position: snapshot.position ?? 0, error: nil)
                    }
                }
                // Say plainly when the database cannot be reached, while the projector keeps retrying.
                group.addTask {
                    var lastError: String?
                    await projector.status.watch { snapshot in
                        if let error = snapshot.lastError, error != lastError {
                            lastError = error
                            bar.update(position: snapshot.position ?? 0, error: error)
                        }
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        } catch let refusal as ProjectorRefusal {
            FileHandle.standardError.write(Data("\n".utf8))
            warn(refusal.message)
            throw ExitCode(1)
        }
        let snapshot = projector.status.snapshot
        bar.finish()
        let elapsed = started.duration(to: .now)
        print("Replayed node \(nodeID) up to offset \(end) in \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow))): \(snapshot.eventsInserted) inserted, \(snapshot.eventsDuplicate) already there, \(snapshot.eventsDeadLettered) dead-lettered.")
        if snapshot.eventsDeadLettered > 0 { print("See them with `rananeeti db dead-letters`.") }
    }

    private func dryRunReport(source: any ProjectorSource, nodeID: String, end: UInt64) async throws {
        let connection = try await database.connect()
        defer { Task { await connection.close() } }
        try await reportingDatabaseErrors {
            let rows = try await connection.query("SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = $1", [nodeID])
            let checkpoint = try rows.first.map { UInt64(try $0.decode(Int64.self, column: 0)) } ?? 0
            let start = from ?? checkpoint
            guard start < end else {
                print("Node \(nodeID): checkpoint \(checkpoint), log end \(end): nothing to replay.")
                return
            }
            let reader = try source.makeReader(from: start)
            var digests: [String] = []
            var unreadable = 0
            var present = 0
            var events = 0
            func countPresent() async throws {
                guard !digests.isEmpty else { return }
                present += try await connection.query(
                    "SELECT count(*) FROM cafe.ordersraw WHERE ordrdgst = ANY($1::bpchar[])", [digests])[0].decode(Int.self, column: 0)
                digests.removeAll(keepingCapacity: true)
            }
            while let records = try reader.nextRecords() {
                for record in records where record.offset < end {
                    events += 1
                    guard let event = try? ReservationEvent.decode(line: record.bytes) else {
                        unreadable += 1
                        continue
                    }
                    if let reservation = event.reservationEvent { digests.append(reservation.digest.description) }
                }
                if digests.count >= 10_000 { try await countPresent() }
                if reader.nextOffset >= end { break }
            }
            try await countPresent()
            print("Dry run for node \(nodeID): checkpoint \(checkpoint), log end \(end); would send offsets \(start)..<\(end):")
            print("  \(events) events: \(events - present - unreadable) new rows, \(present) already in cafe.ordersraw, \(unreadable) unreadable (would be dead-lettered).")
            print("Nothing was changed.")
        }
    }
}

/// A one-line progress bar on standard error: events, events per second, time left.
final class ProgressBar: @unchecked Sendable {
    private let total: UInt64
    private let started = ContinuousClock.now
    private let lock = NSLock()
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private let isTerminal = isatty(2) == 1

    init(total: UInt64) {
        self.total = total
    }

    func update(position: UInt64, error: String?) {
        lock.withLock {
            if let error {
                FileHandle.standardError.write(Data("\nrananeeti: the database is not answering (\(error)); retrying with backoff…\n".utf8))
            }
            let now = ContinuousClock.now
            guard error != nil || now - lastDraw >= (isTerminal ? .milliseconds(100) : .seconds(2)) else { return }
            lastDraw = now
            draw(position: position, now: now)
        }
    }

    func finish() {
        lock.withLock {
            draw(position: total, now: .now)
            FileHandle.standardError.write(Data("\n".utf8))
        }
    }

    private func draw(position: UInt64, now: ContinuousClock.Instant) {
        let seconds = max(0.001, Double((now - started).components.seconds) + Double((now - started).components.attoseconds) / 1e18)
        let fraction = total == 0 ? 1 : min(1, Double(position) / Double(total))
        let rate = Double(position) / seconds
        let left = rate > 0 ? Double(total - min(total, position)) / rate : 0
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
        let line = String(format: "[%@] %3.0f%%  %llu/%llu events  %.0f events/s  ETA %.0fs", bar, fraction * 100, position, total, rate, left)
        FileHandle.standardError.write(Data(((isTerminal ? "\r" : "") + line + (isTerminal ? "" : "\n")).utf8))
    }
}
