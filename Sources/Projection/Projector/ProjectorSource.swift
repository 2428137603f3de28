public import EventLog

/// Where the projector reads events: the node's open log (tailing it), or a log directory on its own (for
/// `rananeeti replay`, which drains what is there and stops).
public protocol ProjectorSource: Sendable {
    /// A reader positioned at `offset`.
    func makeReader(from offset: UInt64) throws -> LogReader
    /// The offset after the last durable event.
    var endOffset: UInt64 { get }
    /// Returns once the end has moved past `offset`, or at once when it will not move (a closed log).
    func waitForEnd(beyond offset: UInt64) async
}

extension EventLog: ProjectorSource {}

/// A log directory read without its writer lock: what is on disk when asked, up to the last complete batch.
public struct LogDirectorySource: ProjectorSource {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public func makeReader(from offset: UInt64) throws -> LogReader {
        let reader = try LogReader(directory: directory)
        try reader.seek(to: offset)
        return reader
    }

    public var endOffset: UInt64 {
        (try? LogStatistics.read(directory: directory).endOffset) ?? 0
    }

    public func waitForEnd(beyond offset: UInt64) async {}
}
