import Foundation
import Glibc
import Testing
import TestSupport

/// What the service writes is readable by its owner and group only (guests' names are in it), whatever the
/// umask it was started with: files 0640, directories 0750, the session keys 0600.
@Suite("File modes", .timeLimit(.minutes(5)))
struct FileModeTests {
    @Test("log append and serve write 0640 files and 0750 directories under umask 000 and 077", arguments: ["000", "077"])
    func modes(umask: String) async throws {
        let binary = try BuiltProducts.executable("rananeeti")
        try await withTemporaryDirectory { dir in
            let log = dir.appending("log")
            let input = dir.appending("input.jsonl")
            try #"{"name": "Ann", "people": 2, "datetime": "2031-01-01T12:00"}"#.write(toFile: input, atomically: true, encoding: .utf8)
            _ = try runTool("/bin/sh", ["-c", "umask \(umask); '\(binary)' log append '\(log)' --node-id modes < '\(input)' >/dev/null"])

            // serve creates its session keys and writes its operator listener's address; it is stopped at once.
            let port = try freeTCPPort()
            let serve = try ChildProcess(
                "/bin/sh",
                ["-c", "umask \(umask); exec '\(binary)' serve --listen 127.0.0.1:\(port) --operator-listen 127.0.0.1:0 --data-dir '\(log)' --node-id modes"])
            defer { serve.kill() }
            let deadline = ContinuousClock.now + TestTiming.patience
            while !FileManager.default.fileExists(atPath: log + "/operator-listen") {
                #expect(ContinuousClock.now < deadline, "serve did not start: \(serve.text)")
                if ContinuousClock.now >= deadline { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            serve.kill(SIGTERM)
            _ = await serve.wait()

            var seen: [String] = []
            let walker = FileManager.default.enumerator(atPath: log)!
            for case let name as String in walker {
                let path = log + "/" + name
                var info = stat()
                #expect(lstat(path, &info) == 0)
                let mode = info.st_mode & 0o777
                let isDirectory = info.st_mode & S_IFMT == S_IFDIR
                let expected: mode_t = isDirectory ? 0o750 : name == "session-keys" ? 0o600 : 0o640
                #expect(mode == expected, "\(name): \(String(mode, radix: 8)), not \(String(expected, radix: 8)) (umask \(umask))")
                seen.append(name)
            }
            var top = stat()
            #expect(stat(log, &top) == 0 && top.st_mode & 0o777 == 0o750, "the data directory itself")
            // The files the modes above were checked on: none of them may be missing from the walk.
            for name in ["node-id", "writer.lock", "session-keys", "operator-listen", "00000000000000000000.lz4"] {
                #expect(seen.contains(name), "\(name) among \(seen)")
            }
        }
    }
}
