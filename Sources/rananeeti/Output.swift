import ArgumentParser
import EventLog
import Foundation

/// Runs `body`, turning a ``LogError`` into a message on standard error and exit status 1.
func reportingLogErrors<Result>(_ body: () throws -> Result) throws -> Result {
    do {
        return try body()
    } catch let error as LogError {
        warn(error.description)
        throw ExitCode(1)
    }
}

func reportingLogErrors<Result>(_ body: () async throws -> Result) async throws -> Result {
    do {
        return try await body()
    } catch let error as LogError {
        warn(error.description)
        throw ExitCode(1)
    }
}

/// Prints a message for a person on standard error.
func warn(_ message: String) {
    FileHandle.standardError.write(Data(("rananeeti: " + message + "\n").utf8))
}

func printJSON(_ object: [String: Any]) {
    let cleaned = object.mapValues { value -> Any in
        if case Optional<Any>.none = value { return NSNull() }
        return value
    }
    let data = (try? JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys])) ?? Data("{}".utf8)
    print(String(decoding: data, as: UTF8.self))
}

/// Standard output through a large buffer: dumping a million records must not cost a million writes.
final class BufferedOutput {
    private var buffer: [UInt8] = []

    init() {
        buffer.reserveCapacity(1 << 16)
    }

    func write(_ bytes: some Collection<UInt8>) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        var written = 0
        while written < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(1, $0.baseAddress! + written, $0.count - written) }
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                // The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
                Foundation.exit(0)
            }
            written += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
