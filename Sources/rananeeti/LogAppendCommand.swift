import ArgumentParser
import EventLog
import Foundation
import Orders

struct LogAppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append reservations read as JSON lines on standard input.",
        discussion: """
            Each input line is one reservation, with the fields of the JSON API:
              {"name": "Bob", "people": 2, "datetime": "2020-11-16T20:00", "notes": "window seat", "testFailures": false}
            For each non-blank line, one line is printed, in input order, as soon as the reservation is on disk:
              OFFSET DIGEST
            Up to --window lines are appended at once (they share syncs), and offsets are given in the order the
            appends complete, so they need not rise with the input.
            or, for a line that is not a valid reservation (nothing is stored for it):
              refused: REASON
            Exit status: 0 when every line was stored, 1 when any was refused or the log failed.
            The directory is created when it does not exist.
            """
    )

    @Argument(help: "The log directory.") var directory: String
    @Option(help: "The node id recorded in each event (default: the id stored in the directory, $RANANEETI_NODE_ID, else the host name).")
    var nodeID: String?
    @Option(help: "How many reservations may wait for the disk at once.") var window = 256
    @OptionGroup var logOptions: LogOptions

    func validate() throws {
        guard window >= 1 else { throw ValidationError("--window must be at least 1.") }
    }

    func run() async throws {
        var options = NodeOptions()
        options.dataDirectory = directory
        options.nodeID = nodeID
        let node = try options.resolveNodeID()
        let (hooked, testHooks) = try TestHooks.logConfiguration(environment: ProcessInfo.processInfo.environment)
        for hook in testHooks { warn("TEST HOOK active; never set it in production: \(hook)") }
        let configuration = try logOptions.apply(to: hooked)
        let log = try reportingLogErrors { try EventLog(directory: directory, configuration: configuration) }
        try options.storeNodeID(node)
        if log.recovery.createdDirectory { warn("created a new event log in \(directory)") }
        if let cut = log.recovery.cutTail { warn("recovery: \(cut.reason); cut \(cut.byteCount) unacknowledged bytes at byte \(cut.byteOffset) of \(cut.file)") }

        // Lines are read on a thread of their own (reading stdin blocks) and appended concurrently, so that
        // many share one sync; results are printed in input order.
        let outcomes = AsyncStream<Task<String, Never>>.makeStream()
        let room = DispatchSemaphore(value: window)
        let reader = Thread {
            while let line = readLine(strippingNewline: true) {
                if line.allSatisfy(\.isWhitespace) { continue }
                room.wait()
                outcomes.continuation.yield(Task { await Self.append(line, node: node, to: log) })
            }
            outcomes.continuation.finish()
        }
        reader.start()

        var refused = 0
        var failed = false
        let output = FileHandle.standardOutput
        for await task in outcomes.stream {
            let text = await task.value
            room.signal()
            if text.hasPrefix("refused:") { refused += 1 }
            if text.hasPrefix("failed:") { failed = true }
            output.write(Data((text + "\n").utf8))
        }
        await log.close()
        if refused > 0 { warn("\(refused) line(s) refused; nothing was stored for them") }
        if refused > 0 || failed { throw ExitCode(1) }
    }

    private static func append(_ line: String, node: String, to log: EventLog) async -> String {
        let reservation: Reservation
        do {
            reservation = try Reservation(jsonBody: Array(line.utf8))
        } catch {
            return "refused: \(error.description.replacingOccurrences(of: "\n", with: "; "))"
        }
        let event = ReservationEvent(node: node, reservation: reservation)
        do {
            let offset = try await log.append(event.encodeRecord())
            return "\(offset) \(event.digest)"
        } catch {
            return "failed: \(error)"
        }
    }
}
