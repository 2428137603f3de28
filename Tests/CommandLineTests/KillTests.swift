import Foundation
import Synchronization
import Testing

import EventLog
import Orders
import TestSupport

/// A child process appends in a loop and is killed with SIGKILL at random moments: every offset it reported
/// durable must be readable afterwards, with its exact content. (SIGKILL keeps the page cache: what it proves
/// is recovery after a crash mid-commit; durability against a power cut is tests/powercut's subject.)
@Suite("SIGKILL while appending", .timeLimit(.minutes(5)))
struct KillTests {
    @Test("every acknowledged append survives SIGKILL, over 25 rounds")
    func killedAppender() async throws {
        signal(SIGPIPE, SIG_IGN)  // writes into a killed child's stdin must fail, not kill the test
        let binary = try BuiltProducts.executable("rananeeti")
        var rng = SplitMix64.forTest("KillTests")
        try await withTemporaryDirectory(label: "kill") { dir in
            let logPath = dir.appending("log")
            var acknowledged: [UInt64: Reservation] = [:]
            var samples = SampleReservations(seed: rng.seed)
            var midCommit = 0
            for round in 0..<25 {
                let killAfter = Int(rng.next() % 400) + 1
                let acks = try runAndKill(binary: binary, log: logPath, round: round, killAfter: killAfter, samples: &samples)
                #expect(acks.count >= killAfter, "round \(round): the child acknowledged \(acks.count) before the kill")
                for (offset, reservation) in acks {
                    #expect(acknowledged[offset] == nil, "offset \(offset) acknowledged twice")
                    acknowledged[offset] = reservation
                }
                // Reopen as the next writer would: recovery may cut a torn tail, never an acknowledged record.
                let log = try EventLog(directory: logPath)
                // Where the kill landed: in a write (a torn tail was cut), after a sync but before the answers
                // (records past the last acknowledged one), or between commits.
                let unanswered = Int(log.endOffset) - Int((acknowledged.keys.max() ?? 0) + 1)
                let landed =
                    if let cut = log.recovery.cutTail { "mid-commit, in a write: recovery cut \(cut.byteCount) torn bytes" }
                    else if unanswered > 0 { "mid-commit, after a sync: \(unanswered) durable record(s) not yet answered" }
                    else { "between commits" }
                if landed.hasPrefix("mid-commit") { midCommit += 1 }
                print("KillTests round \(round): killed after \(acks.count) acknowledgements, \(landed)")
                var found = 0
                for record in try readRecords(log) {
                    guard let expected = acknowledged[record.offset] else { continue }
                    let event = try ReservationEvent.decode(line: record.bytes)
                    #expect(event.reservationEvent?.reservation == expected, "offset \(record.offset) changed")
                    #expect(event.reservationEvent?.digest == ReservationDigest(of: expected))
                    found += 1
                }
                #expect(found == acknowledged.count, "round \(round): \(acknowledged.count - found) acknowledged record(s) missing")
                await log.close()
                #expect(try LogVerifier.verify(directory: logPath).isIntact)
            }
            #expect(acknowledged.count > 25)
            print("KillTests: \(midCommit) of 25 kills landed mid-commit")
            #expect(midCommit > 0, "no kill landed mid-commit: these rounds did not test a crash during a commit")
        }
    }

    private func readRecords(_ log: EventLog) throws -> [LogRecord] {
        let reader = try log.makeReader()
        var all: [LogRecord] = []
        while let records = try reader.nextRecords() { all += records }
        return all
    }

    /// Starts `rananeeti log append`, feeds it reservations, and kills it with SIGKILL after `killAfter`
    /// acknowledgements, while more appends are in flight. Returns what it acknowledged.
    private func runAndKill(
        binary: String, log: String, round: Int, killAfter: Int, samples: inout SampleReservations
    ) throws -> [(UInt64, Reservation)] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["log", "append", log, "--node-id", "kill-test"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()

        let reservations = (0..<5_000).map { _ in samples.reservation() }
        let lines = reservations.map { r in
            #"{"name":\#(jsonString(r.name)),"people":\#(r.people),"datetime":"\#(r.dateTime)","notes":\#(jsonString(r.notes)),"testFailures":\#(r.testFailures)}"#
                + "\n"
        }
        let feeder = Thread {
            for line in lines {
                do { try input.fileHandleForWriting.write(contentsOf: Data(line.utf8)) } catch { return }
            }
        }
        feeder.start()

        var acks: [(UInt64, Reservation)] = []
        var pending = Data()
        let reader = output.fileHandleForReading
        reading: while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                let parts = line.split(separator: " ")
                guard parts.count == 2, let offset = UInt64(parts[0]) else {
                    Issue.record("unexpected output line: \(line)")
                    continue
                }
                let reservation = reservations[acks.count]
                #expect(String(parts[1]) == ReservationDigest(of: reservation).description)
                acks.append((offset, reservation))
                if acks.count == killAfter {
                    kill(process.processIdentifier, SIGKILL)
                }
            }
        }
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        #expect(process.terminationReason == .uncaughtSignal, "round \(round): the child was meant to be killed")
        return acks
    }
}

private func jsonString(_ text: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
    return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
}

