/// An error from the event log: what happened, where, and what to do about it.
public struct LogError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; compare with the static members (`error.code == .corrupt`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case directoryNotFound, notADirectory, locked, corrupt, diskFull, ioFailure, writerStopped, closed
            case invalidRecord, offsetOutOfRange
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The log directory does not exist.
        public static let directoryNotFound = Code(.directoryNotFound)
        /// The path exists but is not a directory.
        public static let notADirectory = Code(.notADirectory)
        /// Another process holds the directory's writer lock.
        public static let locked = Code(.locked)
        /// The log's bytes are damaged in a way a crash cannot explain.
        public static let corrupt = Code(.corrupt)
        /// The disk is full (`ENOSPC`/`EDQUOT`). The append failed, the log is intact; retry once there is room.
        public static let diskFull = Code(.diskFull)
        /// A system call failed.
        public static let ioFailure = Code(.ioFailure)
        /// The writer stopped for good after an error it must not retry (e.g. a failed fsync).
        public static let writerStopped = Code(.writerStopped)
        /// The log was closed.
        public static let closed = Code(.closed)
        /// A record is not a one-line JSON object.
        public static let invalidRecord = Code(.invalidRecord)
        /// A read asked for an offset the log does not have, or an append needs offsets past 2^64 - 1.
        public static let offsetOutOfRange = Code(.offsetOutOfRange)

        public var description: String { String(describing: base) }
    }

    public let code: Code
    /// What happened and what to do, for a person.
    public let message: String
    /// The file concerned, when there is one.
    public let path: String?
    /// The byte offset in `path` where the problem is, when known.
    public let byteOffset: Int64?
    /// The failed system call, when there is one.
    package let systemError: SystemError?

    package init(code: Code, message: String, path: String? = nil, byteOffset: Int64? = nil, systemError: SystemError? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.byteOffset = byteOffset
        self.systemError = systemError
    }

    public var description: String {
        var text = message
        if let path {
            text += " [\(path)"
            if let byteOffset { text += " at byte \(byteOffset)" }
            text += "]"
        }
        if let systemError { text += " (\(systemError))" }
        return text
    }
}

extension LogError {
    package static func directoryNotFound(_ path: String) -> LogError {
        LogError(
            code: .directoryNotFound,
            message: "No event log at \(path): the directory does not exist. Check the path, or create the log by appending to it.",
            path: path)
    }

    package static func notADirectory(_ path: String) -> LogError {
        LogError(code: .notADirectory, message: "\(path) is not a directory; an event log is a directory of segment files.", path: path)
    }

    package static func locked(_ path: String, holder: String?) -> LogError {
        let who = holder.map { " (process \($0))" } ?? ""
        return LogError(
            code: .locked,
            message: "The event log in this directory is already open for writing by another process\(who). Stop that process first; read-only commands (log dump, verify, stats, tail) work alongside it.",
            path: path)
    }

    package static func corrupt(_ path: String, at byteOffset: Int64, _ reason: String) -> LogError {
        LogError(
            code: .corrupt,
            message: "The event log is damaged: \(reason). Nothing was repaired or skipped. Keep a copy of the directory, run `rananeeti log verify` on it, and restore the segment from a backup or the database.",
            path: path, byteOffset: byteOffset)
    }

    package static func diskFull(_ path: String, _ error: SystemError) -> LogError {
        LogError(
            code: .diskFull,
            message: "The disk holding the event log is full, so these records were not stored. The log is intact; free some space and retry.",
            path: path, systemError: error)
    }

    package static func io(_ what: String, _ path: String, _ error: SystemError) -> LogError {
        LogError(code: .ioFailure, message: "Could not \(what).", path: path, systemError: error)
    }

    package static func writerStopped(because cause: LogError) -> LogError {
        LogError(
            code: .writerStopped,
            message: "The event log writer has stopped and accepts nothing more: \(cause.message) Restart the process; recovery will keep every acknowledged record.",
            path: cause.path, byteOffset: cause.byteOffset, systemError: cause.systemError)
    }

    package static let closed = LogError(code: .closed, message: "The event log is closed.")

    package static let offsetsExhausted = LogError(
        code: .offsetOutOfRange,
        message: "Refused the records: the log has no offsets left for them (its last batch ends near 2^64, which only a log written by hand can do).")

    package static func invalidRecord(_ reason: String) -> LogError {
        LogError(code: .invalidRecord, message: "Refused a record: \(reason). A record must be one JSON object on one line.")
    }
}
