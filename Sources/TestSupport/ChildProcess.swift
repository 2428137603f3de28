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
        Thread { while case let chunk = handle.availableData, !chunk.isEmpty { collected.append(chunk) } }.start()
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
    @discardableResult
    public func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread {
                self.process.waitUntilExit()
                continuation.resume(returning: self.process.terminationStatus)
            }.start()
        }
    }
}

private final class CollectedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ chunk: Data) {
        lock.withLock { data.append(chunk) }
    }

    var text: String {
        lock.withLock { String(decoding: data, as: UTF8.self) }
    }
}
