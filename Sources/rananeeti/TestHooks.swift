import EventLog
import Foundation
import Synchronization

/// TEST HOOKS, for the fault-injection suite (`bench/faults`) and the power-cut tests (`tests/powercut`) only.
/// Each is an environment variable that `serve` and `log append` read at start; unset (always, in production),
/// nothing changes. When one is set, the command warns and names it.
///
/// - `RANANEETI_TEST_CLOCK_OFFSET_FILE`: the log stamps events with the real time plus the number of
///   seconds the named file holds (`+3600`, `-86400`; one integer, re-read every 100 ms), so that the
///   suite can jump a running node's clock forwards and backwards as an NTP step would, and check that
///   `appendedAt` never goes back and that nothing breaks. Only the log's clock moves; deadlines and
///   timers use the monotonic clock and never jump.
///
/// Why not `faketime` (libfaketime) for the clock: its constructor calls `setenv`, after which Swift on
/// Linux finds no command-line arguments at all (swiftlang/swift#76080); and it shifts absolute `timerfd`
/// deadlines of the monotonic clocks by the offset even with `FAKETIME_DONT_FAKE_MONOTONIC=1`, so that
/// every `Task.sleep` stalls for the length of a backward jump. See docs/RELIABILITY.md.
enum TestHooks {
    static let clockOffsetFileKey = "RANANEETI_TEST_CLOCK_OFFSET_FILE"

    /// The log's configuration with whatever hooks `environment` sets, and a sentence for each one set.
    static func logConfiguration(environment: [String: String]) throws -> (EventLogConfiguration, [String]) {
        var configuration = EventLogConfiguration()
        var active: [String] = []
        if let path = environment[clockOffsetFileKey], !path.isEmpty {
            configuration.clockMillis = offsetClock(following: path)
            active.append("\(clockOffsetFileKey)=\(path): the log's clock follows the offset in this file")
        }
        return (configuration, active)
    }

    struct TestHookError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// A clock for `EventLogConfiguration.clockMillis` that follows the file; starts a thread that re-reads
    /// the file for the life of the process.
    private static func offsetClock(following path: String) -> @Sendable () -> Int64 {
        let offset = OffsetMilliseconds()
        offset.reload(from: path)
        Thread.detachNewThread {
            while true {
                Thread.sleep(forTimeInterval: 0.1)
                offset.reload(from: path)
            }
        }
        return {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000 + offset.value
        }
    }

    private final class OffsetMilliseconds: Sendable {
        private let milliseconds = Atomic<Int64>(0)

        var value: Int64 { milliseconds.load(ordering: .relaxed) }

        /// Takes the file's whole number of seconds; keeps the last value when the file is missing or unreadable.
        func reload(from path: String) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                let seconds = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { return }
            milliseconds.store(seconds * 1000, ordering: .relaxed)
        }
    }
}
