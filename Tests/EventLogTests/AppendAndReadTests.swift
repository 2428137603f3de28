import Foundation
import Testing

@testable import EventLog
import TestSupport

@Suite("Appending and reading", .timeLimit(.minutes(5)))
struct AppendAndReadTests {
    @Test("records come back in order, with their offsets and the caller's bytes")
    func roundTrip() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            var offsets: [UInt64] = []
            for n in 0..<50 { offsets.append(try await log.append(sampleRecord(n))) }
            let bulk = try await log.append(contentsOf: (50..<300).map(sampleRecord))
            #expect(offsets == Array(0..<50))
            #expect(bulk == 50..<300)
            #expect(log.endOffset == 300)
            let records = try readAll(try log.makeReader())
            #expect(records.map(\.offset) == Array(0..<300))
            for record in records {
                #expect(callerPart(of: record.bytes) == String(decoding: sampleRecord(Int(record.offset)), as: UTF8.self))
                let line = String(decoding: record.bytes, as: UTF8.self)
                #expect(line.hasPrefix(#"{"offset":\#(record.offset),"appendedAt":""#))
                #expect((try? JSONSerialization.jsonObject(with: Data(record.bytes))) != nil, "each line is valid JSON")
            }
            await log.close()
        }
    }

    @Test("an empty object gets the envelope without a dangling comma")
    func emptyObject() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            _ = try await log.append(Array("{}".utf8))
            let line = try #require(try readAll(try log.makeReader()).first)
            let object = try JSONSerialization.jsonObject(with: Data(line.bytes)) as? [String: Any]
            #expect(object?.keys.sorted() == ["appendedAt", "offset"])
            await log.close()
        }
    }

    @Test("records that are not one-line JSON objects are refused and change nothing")
    func refusesBadRecords() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            for bad in ["", "[1]", "{\"a\":1}\n", "{\"a\":\n1}", "x{}", "{\"a\":1}\r"] {
                await #expect(throws: LogError.self) { _ = try await log.append(Array(bad.utf8)) }
            }
            #expect(log.endOffset == 0)
            #expect(try await log.append(sampleRecord(1)) == 0)
            await log.close()
        }
    }

    @Test("reopening continues the offsets and the hash chain; everything verifies")
    func reopen() async throws {
        try await withTemporaryDirectory { dir in
            for round in 0..<3 {
                let log = try EventLog(directory: dir.path)
                #expect(log.recovery.nextOffset == UInt64(round * 10))
                #expect(log.recovery.cutTail == nil)
                for n in 0..<10 { _ = try await log.append(sampleRecord(round * 10 + n)) }
                await log.close()
            }
            let report = try LogVerifier.verify(directory: dir.path)
            #expect(report.isIntact)
            #expect(report.records == 30)
            #expect(report.unfinishedTail == nil)
            #expect(try readAll(LogReader(directory: dir.path)).count == 30)
        }
    }

    @Test("segments roll at the size limit, chain across files, and all records read back")
    func segmentsRoll() async throws {
        try await withTemporaryDirectory { dir in
            let configuration = EventLogConfiguration(segmentSizeLimit: 4096)
            let log = try EventLog(directory: dir.path, configuration: configuration)
            for n in 0..<200 { _ = try await log.append(sampleRecord(n)) }
            let segments = try segmentFiles(dir.path)
            #expect(segments.count > 5)
            #expect(segments.first == "00000000000000000000.lz4")
            // Every segment is named by the offset of its first record.
            for name in segments {
                let base = UInt64(name.dropLast(4))!
                let first = try #require(try batchPositions(dir.appending(name)).first)
                #expect(first.header.firstOffset == base)
            }
            #expect(try readAll(try log.makeReader()).map(\.offset) == Array(0..<200))
            await log.close()
            let report = try LogVerifier.verify(directory: dir.path)
            #expect(report.isIntact, "\(String(describing: report.problem))")
            #expect(report.segments == segments.count)
            // Reopen: recovery reads only the last segment and keeps the chain.
            let again = try EventLog(directory: dir.path, configuration: configuration)
            #expect(again.recovery.nextOffset == 200)
            _ = try await again.append(sampleRecord(200))
            await again.close()
            #expect(try LogVerifier.verify(directory: dir.path).isIntact)
        }
    }

    @Test("concurrent appenders get distinct, contiguous offsets and share syncs", arguments: [1, 8, 64])
    func concurrentAppenders(appenders: Int) async throws {
        try await withTemporaryDirectory { dir in
            let observer = CountingObserver()
            let log = try EventLog(directory: dir.path, observer: observer)
            let perAppender = 40
            let offsets = try await withThrowingTaskGroup(of: [UInt64].self) { group in
                for a in 0..<appenders {
                    group.addTask {
                        var mine: [UInt64] = []
                        for n in 0..<perAppender { mine.append(try await log.append(sampleRecord(a * 1000 + n))) }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(offsets.sorted() == Array(0..<UInt64(appenders * perAppender)))
            let records = try readAll(try log.makeReader())
            #expect(records.count == appenders * perAppender)
            await log.close()
            if appenders >= 8 {
                #expect(observer.writes < appenders * perAppender, "group commit: fewer syncs than appends")
            }
        }
    }

    @Test("a reader can start at any offset, in any segment")
    func seekAnywhere() async throws {
        try await withTemporaryDirectory { dir in
            let configuration = EventLogConfiguration(segmentSizeLimit: 200_000)
            let log = try EventLog(directory: dir.path, configuration: configuration)
            // Many small batches so the sparse index has entries inside segments.
            for chunk in 0..<40 {
                _ = try await log.append(contentsOf: (chunk * 100..<(chunk + 1) * 100).map(sampleRecord))
                for n in 0..<5 { _ = try await log.append(sampleRecord(100_000 + chunk * 5 + n)) }
            }
            let total = log.endOffset
            let reader = try log.makeReader()
            for start in [0, 1, 99, 100, 101, 2_000, 3_999, total - 1, total].map({ UInt64($0) }) {
                try reader.seek(to: start)
                let records = try readAll(reader)
                #expect(records.first?.offset == (start < total ? start : nil))
                #expect(UInt64(records.count) == total - start)
            }
            #expect(throws: LogError.self) { try reader.seek(to: total + 1) }
            await log.close()
            // The same from another process's point of view, with index files present, then deleted.
            for pass in 0..<2 {
                if pass == 1 {
                    for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasSuffix(".idx") {
                        try FileManager.default.removeItem(atPath: dir.appending(name))
                    }
                }
                let outside = try LogReader(directory: dir.path)
                try outside.seek(to: 2_345)
                #expect(try readAll(outside).first?.offset == 2_345)
            }
        }
    }

    @Test("a stale index is rebuilt, not trusted")
    func staleIndex() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path, configuration: EventLogConfiguration(segmentSizeLimit: 8192))
            for n in 0..<100 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            let index = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".idx") }.min())
            var bytes = try fileBytes(dir.appending(index))
            bytes[bytes.count / 2] ^= 0xFF
            try writeFileBytes(dir.appending(index), bytes)
            let reader = try LogReader(directory: dir.path)
            try reader.seek(to: 5)
            #expect(try readAll(reader).map(\.offset) == Array(5..<100))
            #expect(try fileBytes(dir.appending(index)) != bytes, "the index was rewritten")
        }
    }

    @Test("a tail yields records as they become durable and ends when the log closes")
    func tail() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path, configuration: EventLogConfiguration(segmentSizeLimit: 4096))
            _ = try await log.append(sampleRecord(0))
            let consumer = Task {
                var seen: [UInt64] = []
                for try await record in log.records(from: 0) { seen.append(record.offset) }
                return seen
            }
            for n in 1..<120 { _ = try await log.append(sampleRecord(n)) }
            await log.close()
            #expect(try await consumer.value == Array(0..<120))
        }
    }

    @Test("the stock lz4 tool prints a segment's JSON lines")
    func stockLZ4() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            for n in 0..<20 { _ = try await log.append(sampleRecord(n)) }
            _ = try await log.append(contentsOf: (20..<100).map(sampleRecord))
            await log.close()
            let segment = dir.appending(try segmentFiles(dir.path)[0])
            let result = try run("/usr/bin/lz4", ["-dc", segment])
            #expect(result.status == 0)
            let lines = String(decoding: result.output, as: UTF8.self).split(separator: "\n")
            #expect(lines.count == 100)
            for (n, line) in lines.enumerated() {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(object["offset"] as? Int == n)
                #expect(callerPart(of: ArraySlice(line.utf8)) == String(decoding: sampleRecord(n), as: UTF8.self))
            }
        }
    }

    @Test("appendedAt never goes backwards, even when the clock does")
    func clockJumpsBack() async throws {
        try await withTemporaryDirectory { dir in
            let clock = ManualClock(millis: 1_800_000_000_000)
            let configuration = EventLogConfiguration(clockMillis: { clock.now })
            let log = try EventLog(directory: dir.path, configuration: configuration)
            _ = try await log.append(sampleRecord(0))
            clock.now -= 3_600_000
            _ = try await log.append(sampleRecord(1))
            let times = try readAll(try log.makeReader()).map { record -> String in
                let object = try? JSONSerialization.jsonObject(with: Data(record.bytes)) as? [String: Any]
                return object?["appendedAt"] as? String ?? ""
            }
            #expect(times == ["2027-01-15T08:00:00.000Z", "2027-01-15T08:00:00.000Z"])
            await log.close()
        }
    }

    @Test("a second writer on the same directory is refused with a clear error")
    func oneWriter() async throws {
        try await withTemporaryDirectory { dir in
            let log = try EventLog(directory: dir.path)
            #expect {
                _ = try EventLog(directory: dir.path)
            } throws: { error in
                (error as? LogError)?.code == .locked && "\(error)".contains("\(getpid())")
            }
            await log.close()
            let again = try EventLog(directory: dir.path)
            await again.close()
        }
    }

    @Test("a missing directory is a clear error for readers")
    func missingDirectory() throws {
        #expect {
            _ = try LogReader(directory: "/nonexistent/rananeeti-log")
        } throws: { error in
            (error as? LogError)?.code == .directoryNotFound
        }
    }

    @Test("timestamps are RFC 3339 UTC with milliseconds")
    func timestampFormat() {
        #expect(formatTimestamp(millis: 0) == "1970-01-01T00:00:00.000Z")
        #expect(formatTimestamp(millis: 1_606_154_400_123) == "2020-11-23T18:00:00.123Z")
        #expect(formatTimestamp(millis: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(formatTimestamp(millis: -1) == "1969-12-31T23:59:59.999Z")
    }
}

final class CountingObserver: EventLogObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var _writes = 0
    var writes: Int { lock.withLock { _writes } }
    func logDidWrite(records: Int, bytes: Int, syncDuration: Duration?) {
        lock.withLock { _writes += 1 }
    }
}

final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var _now: Int64
    init(millis: Int64) { _now = millis }
    var now: Int64 {
        get { lock.withLock { _now } }
        set { lock.withLock { _now = newValue } }
    }
}
