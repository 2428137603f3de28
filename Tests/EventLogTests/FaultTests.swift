import Foundation
import Testing

@testable import EventLog
import TestSupport

@Suite("Faults", .timeLimit(.minutes(5)))
struct FaultTests {
    @Test(
        "a full disk fails the append clearly, leaves the log valid, and appends work again once there is room",
        .enabled(if: SmallFilesystem.isAvailable, "needs root to mount a small tmpfs"))
    func diskFull() async throws {
        try await SmallFilesystem.with(bytes: 512 << 10) { mount in
            let directory = mount + "/log"
            let log = try EventLog(directory: directory, configuration: EventLogConfiguration(segmentSizeLimit: 64 << 10))
            var acknowledged: [UInt64: [UInt8]] = [:]
            for n in 0..<50 { acknowledged[try await log.append(sampleRecord(n))] = sampleRecord(n) }
            try SmallFilesystem.fill(mount)
            var failure: LogError?
            for n in 50..<5_000 {
                do {
                    acknowledged[try await log.append(sampleRecord(n))] = sampleRecord(n)
                } catch let error as LogError {
                    failure = error
                    break
                }
            }
            let error = try #require(failure, "the disk never filled")
            #expect(error.code == .diskFull)
            #expect(error.message.contains("free some space"))
            #expect(log.writerFailure == nil, "a full disk is not fatal")
            // The log on disk is valid and holds exactly what was acknowledged.
            #expect(try LogVerifier.verify(directory: directory).isIntact)
            #expect(try readAll(log.makeReader()).count == acknowledged.count)

            try SmallFilesystem.makeRoom(in: mount)
            let next = try await log.append(sampleRecord(9_999))
            #expect(next == UInt64(acknowledged.count), "no gap: the failed offsets are reused")
            acknowledged[next] = sampleRecord(9_999)
            await log.close()

            let reopened = try EventLog(directory: directory)
            let records = try readAll(reopened.makeReader())
            #expect(records.count == acknowledged.count)
            for record in records {
                #expect(callerPart(of: record.bytes) == String(decoding: acknowledged[record.offset]!, as: UTF8.self))
            }
            await reopened.close()
            #expect(try LogVerifier.verify(directory: directory).isIntact)
        }
    }

    @Test("a failed fsync stops the writer for good: no retry, every later append fails and says why")
    func fsyncFailureIsFatal() async throws {
        try await withTemporaryDirectory { dir in
            let syncs = ManualClock(millis: 0)  // a thread-safe counter
            var configuration = EventLogConfiguration()
            configuration.injectedFaults = InjectedLogFaults(dataSync: {
                syncs.now += 1
                return syncs.now == 6 ? SystemError(code: EIO, operation: "fdatasync") : nil
            })
            let observer = StopObserver()
            let log = try EventLog(directory: dir.path, configuration: configuration, observer: observer)
            var acknowledged: [UInt64] = []
            var failures: [LogError] = []
            for n in 0..<10 {
                do {
                    acknowledged.append(try await log.append(sampleRecord(n)))
                } catch let error as LogError {
                    failures.append(error)
                }
            }
            #expect(acknowledged == [0, 1, 2, 3, 4])
            #expect(failures.count == 5)
            #expect(failures.allSatisfy { $0.code == .writerStopped })
            #expect(failures.first?.message.contains("Restart the process") == true)
            #expect(syncs.now == 6, "the failed sync was not retried")
            #expect(log.writerFailure?.code == .writerStopped)
            #expect(observer.stopped)
            // A tail ends with the error instead of waiting forever.
            await #expect(throws: LogError.self) {
                for try await _ in log.records(from: 0) {}
            }
            await log.close()
            // After a restart every acknowledged record is there.
            let reopened = try EventLog(directory: dir.path)
            let offsets = try readAll(reopened.makeReader()).map(\.offset)
            #expect(Array(offsets.prefix(5)) == acknowledged)
            await reopened.close()
        }
    }
}

final class StopObserver: EventLogObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var _stopped = false
    var stopped: Bool { lock.withLock { _stopped } }
    func logWriterDidStop(_ error: LogError) { lock.withLock { _stopped = true } }
}
