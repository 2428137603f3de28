import Dispatch
import Glibc
import Synchronization

/// Stops the fuzzer with a message when a property of the code under test does not hold.
///
/// libFuzzer treats the trap as a crash and saves the input; the replay driver stops at the input's name.
package func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition {
        let input = replayedInput.map { " (input \($0))" } ?? ""
        printError("property violated at \(file):\(line)\(input): \(message())\n")
        abort()
    }
}

/// The file the replay driver is running, for messages.
nonisolated(unsafe) private var replayedInput: String?

/// Runs async code to completion from the synchronous fuzzer entry point.
///
/// The fuzzer calls in on its own thread, never on the cooperative pool, so waiting here cannot starve the
/// task it waits for.
package func runBlocking<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
    let result = Mutex<Value?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        let value = await body()
        result.withLock { $0 = value }
        done.signal()
    }
    done.wait()
    return result.withLock { $0! }
}

/// A scratch directory for one fuzzer process, on tmpfs when there is one (`/dev/shm`): the fuzzer writes a
/// log per input, and `fdatasync` on tmpfs costs nothing.
package func makeScratchDirectory(label: String) -> String {
    let parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
    var template = Array("\(parent)/rananeeti-\(label)-XXXXXX".utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        fatalError("mkdtemp in \(parent) failed: errno \(errno)")
    }
    return String(cString: made)
}

/// Removes `path` and everything under it (no symbolic links are followed).
package func removeTree(_ path: String) {
    var status = stat()
    guard lstat(path, &status) == 0 else { return }
    if status.st_mode & S_IFMT == S_IFDIR {
        for name in listDirectory(path) { removeTree(path + "/" + name) }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// Names in a directory, without `.` and `..`; empty when it cannot be read.
package func listDirectory(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

package func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if n == 0 { return bytes }
        bytes += chunk[0..<n]
    }
}

package func writeWholeFile(_ path: String, _ bytes: some Collection<UInt8>) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    precondition(fd >= 0, "cannot create \(path): errno \(errno)")
    defer { close(fd) }
    let array = Array(bytes)
    var written = 0
    while written < array.count {
        let n = array.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
        if n < 0 && errno == EINTR { continue }
        precondition(n > 0, "cannot write \(path): errno \(errno)")
        written += n
    }
}

/// The replay driver of a fuzz target built without libFuzzer: runs `body` once on every file named on the
/// command line (directories are walked one level deep) and says how many it ran. A failing property stops
/// it naming the input; `FUZZ_REPLAY_VERBOSE=1` names each input before it runs, to find one that crashes.
package func replay(arguments: [String], body: ([UInt8]) -> Void) -> Int32 {
    let verbose = getenv("FUZZ_REPLAY_VERBOSE") != nil
    var files: [String] = []
    for argument in arguments {
        var status = stat()
        guard stat(argument, &status) == 0 else {
            printError("no such file or directory: \(argument)\n")
            return 2
        }
        if status.st_mode & S_IFMT == S_IFDIR {
            files += listDirectory(argument).map { argument + "/" + $0 }.filter { !$0.hasSuffix("/README.md") }
        } else {
            files.append(argument)
        }
    }
    for file in files {
        guard let bytes = readWholeFile(file) else {
            printError("cannot read \(file)\n")
            return 2
        }
        if verbose { printError("replaying \(file)\n") }
        replayedInput = file
        body(bytes)
    }
    print("replayed \(files.count) inputs, all properties held")
    return 0
}

/// Writes `text` to standard error at once (unbuffered, so it is there before an abort).
package func printError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { raw in
        var written = 0
        while written < raw.count {
            let n = write(2, raw.baseAddress! + written, raw.count - written)
            if n <= 0 { return }
            written += n
        }
    }
}
