import Glibc

/// An `errno` value captured right after the failing call, before anything else can overwrite it.
package struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    package let code: Int32
    /// The call that failed, e.g. `"fdatasync"`.
    package let operation: String

    package init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// Reads `errno` now. Call this immediately after the failing system call.
    package static func current(_ operation: String) -> SystemError {
        SystemError(code: errno, operation: operation)
    }

    /// True for "no space left on device" and "disk quota exceeded": conditions that pass once room is made.
    package var isOutOfSpace: Bool { code == ENOSPC || code == EDQUOT }

    package var description: String {
        "\(operation): \(String(cString: strerror(code))) (errno \(code))"
    }
}
