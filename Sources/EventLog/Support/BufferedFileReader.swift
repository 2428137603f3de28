/// Reads a file through a window buffer, so that walking many small batches costs few `pread` calls.
///
/// The returned buffers are valid until the next call. Not thread-safe; one per reader.
package final class BufferedFileReader {
    package let fd: Int32
    package let path: String
    private var window: UnsafeMutableRawBufferPointer
    private var windowStart: Int64 = 0
    private var windowCount = 0
    private let preferredWindow: Int

    /// - Parameter windowSize: bytes read per `pread` when walking forward (default 1 MiB).
    package init(fd: Int32, path: String, windowSize: Int = 1 << 20) {
        self.fd = fd
        self.path = path
        self.preferredWindow = windowSize
        self.window = .allocate(byteCount: windowSize, alignment: 16)
    }

    deinit {
        window.deallocate()
    }

    /// Forgets what was read, e.g. after the file grew or was truncated.
    package func invalidate() {
        windowCount = 0
    }

    /// Exactly `count` bytes at `position`, or fewer when the file ends first.
    package func bytes(at position: Int64, count: Int) -> Result<UnsafeRawBufferPointer, SystemError> {
        if position >= windowStart, position + Int64(count) <= windowStart + Int64(windowCount) {
            let start = Int(position - windowStart)
            return .success(UnsafeRawBufferPointer(rebasing: window[start..<start + count]))
        }
        if count > window.count {
            window.deallocate()
            window = .allocate(byteCount: max(count, preferredWindow), alignment: 16)
        }
        windowStart = position
        windowCount = 0
        switch FileSystem.read(fd, into: window, at: position) {
        case .success(let n):
            windowCount = n
            return .success(UnsafeRawBufferPointer(rebasing: window[0..<min(n, count)]))
        case .failure(let error):
            return .failure(error)
        }
    }
}
