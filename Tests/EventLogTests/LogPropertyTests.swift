import Foundation
import Synchronization
import Testing

@testable import EventLog
import TestSupport

/// Random sequences of operations on a real log, checked against a model after every step.
///
/// The model is the list of acknowledged records: the caller's bytes at each offset. Operations: single,
/// bulk and concurrent appends of records from a few bytes to larger than a batch (so that appends split
/// into batches and small segments roll); clean close and reopen; crashes, simulated by closing and then
/// tearing the last segment inside the batches of an append whose acknowledgement is treated as lost
/// (a cut at a random byte, a flipped byte in the last batch), and by torn writes after the end (random
/// bytes, zeros, a batch cut short); readers from random offsets, in-process and from outside. After each
/// step: every acknowledged record reads back with its exact bytes and offset, offsets are contiguous,
/// `appendedAt` never decreases, `LogVerifier` finds the log intact, and recovery cuts nothing before the
/// end of the last acknowledged batch. Of an append that was never acknowledged, a crash may keep any
/// whole batches before the cut (and the model takes them), never part of a batch.
///
/// Deterministic: each seed gives one sequence. A failure names its seed; rerun it alone with
/// `RANANEETI_PROPERTY_SEEDS=SEED swift test --filter LogPropertyTests`, or explore with
/// `RANANEETI_PROPERTY_SEEDS=random`.
@Suite("Log properties: random operations against a model", .timeLimit(.minutes(5)))
struct LogPropertyTests {
    static let defaultSeeds: [UInt64] = [1, 2, 3, 0x5EED_CAFE]

    static var seeds: [UInt64] {
        guard let text = ProcessInfo.processInfo.environment["RANANEETI_PROPERTY_SEEDS"] else { return defaultSeeds }
        if text == "random" { return (0..<4).map { _ in UInt64.random(in: 0...UInt64.max) } }
        return text.split(separator: ",").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
    }

    @Test("every acknowledged record survives any mix of appends, reopens, crashes and torn writes", arguments: seeds)
    func randomOperations(seed: UInt64) async throws {
        print("LogPropertyTests: seed \(seed)")
        try await withTemporaryDirectory(label: "property") { dir in
            var run = try PropertyRun(seed: seed, directory: dir.path)
            try await run.execute(steps: 120)
        }
    }
}

/// One random sequence and its model.
private struct PropertyRun {
    let seed: UInt64
    let directory: String
    var random: SplitMix64
    let configuration: EventLogConfiguration
    let clock: Clock
    /// The acknowledged records, by offset: the caller's bytes.
    var model: [[UInt8]] = []
    var log: EventLog?
    var counts: [String: Int] = [:]

    /// The log's clock, set by the test: it also jumps back, and `appendedAt` must not.
    final class Clock: Sendable {
        let millis = Mutex<Int64>(1_795_921_577_123)
        func advance(by step: Int64) { millis.withLock { $0 += step } }
    }

    init(seed: UInt64, directory: String) throws {
        self.seed = seed
        self.directory = directory
        random = SplitMix64(seed: seed)
        let clock = Clock()
        self.clock = clock
        configuration = EventLogConfiguration(
            segmentSizeLimit: [1_500, 6_000, 40_000].randomElement(using: &random)!,
            maximumBatchBytes: [700, 4_096, 1 << 20].randomElement(using: &random)!,
            clockMillis: { clock.millis.withLock { $0 } })
    }

    /// Failed checks so far; a step that fails one ends the run.
    let failures = FailureCount()

    final class FailureCount {
        var count = 0
    }
    /// What the current step did, for the failure message.
    var lastOperation = ""
    var lastKind = ""
    var timeByKind: [String: Duration] = [:]

    /// Fails the test with the seed and step in the message.
    func check(_ condition: Bool, _ message: @autoclosure () -> String, step: Int) {
        if !condition {
            failures.count += 1
            Issue.record("seed \(seed), step \(step) (\(lastOperation)): \(message())")
        }
    }

    mutating func execute(steps: Int) async throws {
        log = try EventLog(directory: directory, configuration: configuration)
        var history: [String] = []
        for step in 0..<steps {
            clock.advance(by: Int64.random(in: -2_000...5_000, using: &random))
            let roll = Int.random(in: 0..<100, using: &random)
            let failuresBefore = failures.count
            let started = ContinuousClock.now
            defer { timeByKind[lastKind, default: .zero] += ContinuousClock.now - started }
            do {
                switch roll {
                case 0..<30: try await appendOne(step)
                case 30..<48: try await appendBulk(step)
                case 48..<58: try await appendConcurrently(step)
                case 58..<66: try await reopen(step)
                case 66..<80: try await crashDuringAppend(step)
                case 80..<88: try await tornWriteAfterEnd(step)
                default: try readFromRandomOffsets(step)
                }
                history.append(lastOperation)
            } catch {
                history.append(lastOperation)
                Issue.record("seed \(seed), step \(step) (\(lastOperation)): \(error)\nlast steps: \(history.suffix(8).joined(separator: "; "))")
                await log?.close()
                return
            }
            if failures.count > failuresBefore {
                Issue.record("seed \(seed): stopped after step \(step); last steps: \(history.suffix(8).joined(separator: "; "))")
                await log?.close()
                return
            }
        }
        await log?.close()
        try checkEverything(steps)
        print("LogPropertyTests: seed \(seed): \(model.count) records; \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value) (\(timeByKind[$0.key, default: .zero].formatted(.units(allowed: [.milliseconds]))))" }.joined(separator: ", "))")
    }

    // MARK: - Records

    /// A record of a random size: mostly small, sometimes kilobytes, now and then larger than a batch.
    mutating func makeRecord() -> [UInt8] {
        let size: Int
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<70: size = Int.random(in: 0...300, using: &random)
        case 70..<95: size = Int.random(in: 300...3_000, using: &random)
        default: size = Int.random(in: 3_000...12_000, using: &random)
        }
        var record = Array(#"{"n":\#(model.count),"text":""#.utf8)
        if Bool.random(using: &random) {
            // Compressible text.
            let words = ["table", "window", "caf\u{e9}", "\u{1F382}", "2026-12-24T19:30", "seats"]
            while record.count < size { record += Array((words.randomElement(using: &random)! + " ").utf8) }
        } else {
            // Any bytes but a line break: the log does not parse what it stores.
            while record.count < size {
                let byte = UInt8.random(in: 0...255, using: &random)
                if byte != 0x0A && byte != 0x0D { record.append(byte) }
            }
        }
        return record + Array(#""}"#.utf8)
    }

    // MARK: - Operations

    mutating func note(_ kind: String, _ detail: String) {
        lastKind = kind
        lastOperation = kind + ": " + detail
        counts[kind, default: 0] += 1
    }

    mutating func appendOne(_ step: Int) async throws {
        let record = makeRecord()
        let offset = try await log!.append(record)
        check(offset == UInt64(model.count), "a single append got offset \(offset), expected \(model.count)", step: step)
        model.append(record)
        note("append", "\(record.count) bytes at \(offset)")
    }

    mutating func appendBulk(_ step: Int) async throws {
        let records = (0..<Int.random(in: 1...40, using: &random)).map { _ in makeRecord() }
        let offsets = try await log!.append(contentsOf: records)
        check(offsets == UInt64(model.count)..<UInt64(model.count + records.count), "a bulk append got \(offsets)", step: step)
        model += records
        note("bulk", "\(offsets)")
    }

    mutating func appendConcurrently(_ step: Int) async throws {
        let groups = (0..<Int.random(in: 2...8, using: &random)).map { _ in
            (0..<Int.random(in: 1...4, using: &random)).map { _ in makeRecord() }
        }
        let log = self.log!
        let results = try await withThrowingTaskGroup(of: (Range<UInt64>, [[UInt8]]).self) { group in
            for records in groups { group.addTask { (try await log.append(contentsOf: records), records) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var taken: [UInt64: [UInt8]] = [:]
        for (offsets, records) in results {
            check(offsets.count == records.count, "a concurrent append of \(records.count) got \(offsets)", step: step)
            for (offset, record) in zip(offsets, records) { taken[offset] = record }
        }
        let total = groups.reduce(0) { $0 + $1.count }
        check(taken.keys.sorted() == Array(UInt64(model.count)..<UInt64(model.count + total)), "concurrent appends left gaps or overlaps", step: step)
        for offset in taken.keys.sorted() { model.append(taken[offset]!) }
        note("concurrent", "\(groups.count) appends, \(total) records")
    }

    mutating func reopen(_ step: Int) async throws {
        await log!.close()
        log = nil
        note("reopen", "close and open")
        try openAndCheck(step, expectCut: false, acknowledgedEnd: nil)
    }

    /// Appends, treats the acknowledgement as lost, and tears the last segment inside what that append wrote.
    mutating func crashDuringAppend(_ step: Int) async throws {
        let records = (0..<Int.random(in: 1...12, using: &random)).map { _ in makeRecord() }
        // The record of how far the log was synced, as the crash will leave it: not yet covering this append.
        let syncedEndPath = directory + "/" + SyncedEnd.fileName
        let syncedEnd = try? fileBytes(syncedEndPath)
        let offsets = try await log!.append(contentsOf: records)
        check(offsets.lowerBound == UInt64(model.count), "an append got \(offsets)", step: step)
        await log!.close()
        log = nil
        if let syncedEnd { try writeFileBytes(syncedEndPath, syncedEnd) } else { forgetSyncedEnd(directory) }

        let path = try lastSegmentPath()
        var bytes = try fileBytes(path)
        let batches = try batchPositions(path)
        let lost = batches.filter { $0.header.firstOffset >= UInt64(model.count) }
        guard let first = lost.first, let last = lost.last else {
            Issue.record("seed \(seed), step \(step): the unacknowledged append has no batch in the last segment")
            return
        }
        // What survives: the unacknowledged append's batches that the damage leaves whole.
        let survivors: [(position: Int64, header: BatchHeader)]
        if Bool.random(using: &random) {
            let cut = Int.random(in: Int(first.position)..<bytes.count, using: &random)
            bytes.removeLast(bytes.count - cut)
            survivors = lost.filter { $0.position + Int64($0.header.totalLength) <= Int64(cut) }
            note("crash-cut", "unacknowledged \(offsets) in \(lost.count) batches, cut at byte \(cut)")
        } else {
            let at = Int.random(in: Int(last.position)..<bytes.count, using: &random)
            bytes[at] ^= UInt8.random(in: 1...255, using: &random)
            survivors = Array(lost.dropLast())
            note("crash-flip", "unacknowledged \(offsets) in \(lost.count) batches, byte \(at) flipped")
        }
        let torn = tornWrite(lastBatch: try fileBytes(path)[Int(last.position)...])
        bytes += torn
        lastOperation += ", \(torn.count) torn bytes after"
        try writeFileBytes(path, bytes)

        let acknowledgedEnd = first.position
        try openAndCheck(step, expectCut: nil, acknowledgedEnd: acknowledgedEnd)
        // The model takes what survived, in whole batches: those records are durable now.
        let kept = survivors.reduce(0) { $0 + Int($1.header.count) }
        check(log!.endOffset == UInt64(model.count + kept), "after the crash the log ends at \(log!.endOffset), expected \(model.count + kept)", step: step)
        model += records.prefix(kept)
        try checkEverything(step, verified: true)
    }

    /// A torn write after the log's end: only what no append was ever told about.
    mutating func tornWriteAfterEnd(_ step: Int) async throws {
        await log!.close()
        log = nil
        let path = try lastSegmentPath()
        let bytes = try fileBytes(path)
        let batches = try batchPositions(path)
        let tail = tornWrite(lastBatch: batches.last.map { bytes[Int($0.position)...] } ?? [])
        try writeFileBytes(path, bytes + tail)
        note("torn-write", "\(tail.count) bytes after the end")
        try openAndCheck(step, expectCut: !tail.isEmpty, acknowledgedEnd: Int64(bytes.count))
    }

    /// Bytes a crash may leave after the end: nothing, random bytes, zeros (preallocation), or the start of a
    /// batch (here a copy of the last one, cut short).
    mutating func tornWrite(lastBatch: ArraySlice<UInt8>) -> [UInt8] {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return []
        case 1: return (0..<Int.random(in: 1...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        case 2: return [UInt8](repeating: 0, count: Int.random(in: 1...4_096, using: &random))
        default:
            guard lastBatch.count > 1 else { return [0x5E] }
            return Array(lastBatch.prefix(Int.random(in: 1..<lastBatch.count, using: &random)))
        }
    }

    mutating func readFromRandomOffsets(_ step: Int) throws {
        note("readers", "from random offsets")
        for _ in 0..<3 {
            let offset = UInt64.random(in: 0...UInt64(model.count), using: &random)
            let inProcess = try log!.makeReader(from: offset)
            let outside = try LogReader(directory: directory)
            try outside.seek(to: offset)
            for (name, reader) in [("in-process", inProcess), ("outside", outside)] {
                let records = try readAll(reader)
                check(records.map(\.offset) == Array(offset..<UInt64(model.count)), "a \(name) reader from \(offset) read offsets \(records.first?.offset.description ?? "none")…\(records.last?.offset.description ?? "")", step: step)
                for record in records where !matches(record, model[Int(record.offset)]) {
                    check(false, "a \(name) reader from \(offset): record \(record.offset) differs", step: step)
                }
            }
        }
        #expect(throws: LogError.self) { _ = try log!.makeReader(from: UInt64(model.count) + 1) }
    }

    // MARK: - Checks

    /// Opens the log (recovering it) and checks what recovery did and that the log is whole.
    ///
    /// - Parameters:
    ///   - expectCut: whether recovery must (true), must not (false) or may (nil) cut a tail.
    ///   - acknowledgedEnd: the byte in the last segment after the last acknowledged batch: nothing before it
    ///     may be cut.
    mutating func openAndCheck(_ step: Int, expectCut: Bool?, acknowledgedEnd: Int64?) throws {
        let opened = try openLog()
        log = opened
        if let expectCut {
            check((opened.recovery.cutTail != nil) == expectCut, "recovery \(opened.recovery)", step: step)
        }
        if let cut = opened.recovery.cutTail, let acknowledgedEnd {
            check(cut.byteOffset >= acknowledgedEnd, "recovery cut at byte \(cut.byteOffset), before the acknowledged end \(acknowledgedEnd)", step: step)
        }
        check(opened.recovery.nextOffset >= UInt64(model.count), "recovery lost records: next offset \(opened.recovery.nextOffset), \(model.count) acknowledged", step: step)
        let report = try LogVerifier.verify(directory: directory)
        check(report.isIntact && report.unfinishedTail == nil, "verify after recovery: \(report.problem?.description ?? "a torn tail")", step: step)
    }

    /// Opens the log, waiting out a lock that a process spawned by another test holds for a moment.
    ///
    /// The writer's lock is `flock` on a descriptor opened close-on-exec, but between `posix_spawn`'s clone and
    /// its exec (tests in this process run `python3`, `lz4` and `rananeeti`) the child shares the descriptor,
    /// so a close followed at once by an open can find the lock still held, by this very process.
    func openLog() throws -> EventLog {
        let deadline = ContinuousClock.now + TestTiming.margin(.seconds(2))
        while true {
            do {
                return try EventLog(directory: directory, configuration: configuration)
            } catch let error as LogError where error.code == .locked && ContinuousClock.now < deadline {
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }

    /// Everything in the log is the model, in order, with `appendedAt` never decreasing.
    ///
    /// - Parameter verified: `LogVerifier` has just checked the log; do not again.
    func checkEverything(_ step: Int, verified: Bool = false) throws {
        let records = try readAll(try LogReader(directory: directory))
        check(records.count >= model.count, "\(records.count) records read, \(model.count) acknowledged", step: step)
        check(records.map(\.offset) == Array(0..<UInt64(records.count)), "offsets are not contiguous", step: step)
        var previousTime = ""
        for record in records {
            if Int(record.offset) < model.count, !matches(record, model[Int(record.offset)]) {
                check(false, "record \(record.offset) differs from what was appended", step: step)
            }
            let time = appendedAt(of: record)
            check(time >= previousTime, "appendedAt goes back at offset \(record.offset)", step: step)
            previousTime = time
        }
        guard !verified else { return }
        let report = try LogVerifier.verify(directory: directory)
        check(report.isIntact && report.records == UInt64(records.count), "verify: \(report.problem?.description ?? "\(report.records) records")", step: step)
    }

    /// Whether a stored line is `record` with the log's envelope in front: `{"offset":N,"appendedAt":"…",`
    /// and then the record after its opening brace (records here are never empty objects).
    func matches(_ line: LogRecord, _ record: [UInt8]) -> Bool {
        let prefix = Array(#"{"offset":\#(line.offset),"appendedAt":""#.utf8)
        let stampLength = prefix.count + 24 + 2  // the time, its closing quote, the comma
        guard line.bytes.count == stampLength + record.count - 1 else { return false }
        return line.bytes.withUnsafeBytes { stored in
            record.withUnsafeBytes { original in
                memcmp(stored.baseAddress!, prefix, prefix.count) == 0
                    && stored[stampLength - 1] == UInt8(ascii: ",")
                    && memcmp(stored.baseAddress! + stampLength, original.baseAddress! + 1, original.count - 1) == 0
            }
        }
    }

    /// A line's `appendedAt`; fixed width and ASCII, so text order is time order.
    func appendedAt(of line: LogRecord) -> String {
        let start = line.bytes.startIndex + #"{"offset":\#(line.offset),"appendedAt":""#.utf8.count
        return String(decoding: line.bytes[start..<min(start + 24, line.bytes.endIndex)], as: UTF8.self)
    }

    func lastSegmentPath() throws -> String {
        directory + "/" + (try segmentFiles(directory).last!)
    }
}
