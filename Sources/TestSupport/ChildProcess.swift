public import Foundation

/// A program run by a test: its output collected, its exit awaited, killable at any moment.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    private let output = Pipe()
    private let collected = CollectedOutput()

    /// Starts `executable` with `arguments`; standard output and error are collected together.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let handle = output.fileHandleForReading
        let collected = collected
        try process.run()
        Thread {
            while case let chunk = handle.availableData, !chunk.isEmpty { collected.append(chunk) }
            collected.finish()
        }.start()
    }

    /// Waits until the output holds a match of the regular expression `pattern` and returns its first capture
    /// group, or nil when the program's output ends, or `timeout` passes, without one. Woken by each chunk of
    /// output, not by polling.
    public func firstMatch(of pattern: String, within timeout: Duration) async -> String? {
        await withCheckedContinuation { continuation in
            Thread {
                let deadline = Date() + TimeInterval(timeout.components.seconds)
                let regex = try? Regex(pattern)
                continuation.resume(returning: self.collected.waitFor(deadline: deadline) { text in
                    regex.flatMap { text.firstMatch(of: $0) }.flatMap { $0.output[1].substring.map(String.init) }
                })
            }.start()
        }
    }

    /// What the program wrote so far.
    public var text: String {
        collected.text
    }

    public var pid: Int32 { process.processIdentifier }

    public func kill(_ signal: Int32 = SIGKILL) {
        _ = Foundation.kill(process.processIdentifier, signal)
    }

    /// Waits for the program to end (on a thread, not blocking the caller's executor) and returns its status.
    /// Its output is then complete (unless a child it left behind holds the pipe open for more than 10 s).
    @discardableResult
    public func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread {
                self.process.waitUntilExit()
                _ = self.collected.waitFor(deadline: Date() + 10) { _ in nil as Void? }
                continuation.resume(returning: self.process.terminationStatus)
            }.start()
        }
    }
}

private final class CollectedOutput: @unchecked Sendable {
    private let condition = NSCondition()
    private var data = Data()
    private var finished = false

    func append(_ chunk: Data) {
        condition.withLock {
            data.append(chunk)
            condition.broadcast()
        }
    }

    func finish() {
        condition.withLock {
            finished = true
            condition.broadcast()
        }
    }

    var text: String {
        condition.withLock { String(decoding: data, as: UTF8.self) }
    }

    /// Blocks until `found` finds something in the text, the output ends, or `deadline` passes.
    func waitFor<Found>(deadline: Date, _ found: (String) -> Found?) -> Found? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let result = found(String(decoding: data, as: UTF8.self)) { return result }
            if finished || !condition.wait(until: deadline) { return nil }
        }
    }
}
