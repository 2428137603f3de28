import Foundation

/// A real, size-limited filesystem (tmpfs) mounted on a fresh temporary directory, for tests of a full disk.
///
/// Mounting needs root (CI runs as root); ``isAvailable`` says whether this process can.
public enum SmallFilesystem {
    public static var isAvailable: Bool {
        geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/mount")
    }

    /// Mounts a tmpfs of `bytes` on a temporary directory, runs `body` with its path, then unmounts it.
    public static func with<Result>(bytes: Int, _ body: (String) async throws -> Result) async throws -> Result {
        let directory = try TemporaryDirectory(label: "smallfs")
        defer { directory.remove() }
        try runTool("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", directory.path])
        defer { _ = try? runTool("/usr/bin/umount", ["-l", directory.path]) }
        return try await body(directory.path)
    }

    /// Fills the filesystem holding `directory` until a write fails with ENOSPC, in a file that
    /// ``makeRoom(in:)`` removes again.
    public static func fill(_ directory: String) throws {
        let path = directory + "/filler"
        guard let file = fopen(path, "w") else { throw POSIXError(.EIO) }
        defer { fclose(file) }
        let chunk = [UInt8](repeating: 0x55, count: 4096)
        while fwrite(chunk, 1, chunk.count, file) == chunk.count, fflush(file) == 0 {}
        // Leave nothing: a partial last chunk also fits what little room there was.
        while fwrite(chunk, 1, 1, file) == 1, fflush(file) == 0 {}
    }

    public static func makeRoom(in directory: String) throws {
        try FileManager.default.removeItem(atPath: directory + "/filler")
    }
}

/// Runs a tool, throwing with its output when it fails.
@discardableResult
public func runTool(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw ToolFailure(command: ([executable] + arguments).joined(separator: " "), status: process.terminationStatus, output: output)
    }
    return output
}

public struct ToolFailure: Error, CustomStringConvertible {
    public var command: String
    public var status: Int32
    public var output: String
    public var description: String { "`\(command)` exited with \(status): \(output)" }
}
