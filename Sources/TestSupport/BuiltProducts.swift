public import Foundation

/// Executables built by SwiftPM beside the test bundle (`.build/<configuration>/`).
public enum BuiltProducts {
    /// The directory of the running test bundle, where SwiftPM puts the package's executables.
    public static var directory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// The path of executable `name`, built by `swift build` (the test script builds everything first).
    public static func executable(_ name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ToolFailure(
                command: name, status: -1,
                output: "\(path) does not exist: run `swift build` (or scripts/test) before `swift test`.")
        }
        return path
    }
}
