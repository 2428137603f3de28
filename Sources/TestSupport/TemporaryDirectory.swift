import Foundation

/// A fresh directory under the system's temporary directory, removed by ``remove()`` or `withTemporaryDirectory`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    /// Creates `…/rananeeti-<label>-XXXXXX`.
    public init(label: String = "test") throws {
        var template = Array((NSTemporaryDirectory() + "rananeeti-\(label)-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "mkdtemp failed: errno \(errno)"])
        }
        path = String(cString: made)
    }

    /// A path inside this directory.
    public func appending(_ name: String) -> String {
        path + "/" + name
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs `body` with a fresh temporary directory and removes it afterwards, whether `body` throws or not.
public func withTemporaryDirectory<Result>(
    label: String = "test", _ body: (TemporaryDirectory) async throws -> Result
) async throws -> Result {
    let directory = try TemporaryDirectory(label: label)
    defer { directory.remove() }
    return try await body(directory)
}
