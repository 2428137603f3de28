public import EventLog
import Foundation
import Synchronization

/// Where the projector reads events: the node's open log (tailing it), or a log directory on its own (for
/// `rananeeti replay`, which drains what is there and stops).
public protocol ProjectorSource: Sendable {
    /// The log's directory (the node's data directory).
    var directory: String { get }
    /// A reader positioned at `offset`.
    func makeReader(from offset: UInt64) throws -> LogReader
    /// The offset after the last durable event.
    var endOffset: UInt64 { get }
    /// Returns once the end has moved past `offset`, or at once when it will not move (a closed log).
    func waitForEnd(beyond offset: UInt64) async
    /// False once nothing more will be appended that this source would see (a closed log, a snapshot).
    var mayGrow: Bool { get }
}

extension EventLog: ProjectorSource {
    public var mayGrow: Bool { writerFailure == nil && !isClosed }
}

/// A log directory read without its writer lock: what is on disk, up to the last complete batch.
///
/// Without `follow` it is a snapshot (a replay drains it and stops); with `follow` it waits for another
/// process (the server) to append more, looking every `pollInterval`.
public final class LogDirectorySource: ProjectorSource {
    public let directory: String
    private let follow: Bool
    private let pollInterval: Duration
    /// The end found for a given shape of the directory (segment files and the last one's size), so that
    /// polling an idle log costs two `stat` calls, not a walk of the last segment.
    private let cache = Mutex<(shape: [Int64], end: UInt64)?>(nil)

    public init(directory: String, follow: Bool = false, pollInterval: Duration = .milliseconds(20)) {
        self.directory = directory
        self.follow = follow
        self.pollInterval = pollInterval
    }

    public func makeReader(from offset: UInt64) throws -> LogReader {
        let reader = try LogReader(directory: directory)
        try reader.seek(to: offset)
        return reader
    }

    public var endOffset: UInt64 {
        let shape = directoryShape()
        if let cached = cache.withLock({ $0 }), cached.shape == shape { return cached.end }
        let end = (try? LogStatistics.read(directory: directory).endOffset) ?? 0
        cache.withLock { $0 = (shape, end) }
        return end
    }

    public var mayGrow: Bool { follow }

    public func waitForEnd(beyond offset: UInt64) async {
        guard follow else { return }
        while !Task.isCancelled, endOffset <= offset {
            try? await Task.sleep(for: pollInterval)
        }
    }

    private func directoryShape() -> [Int64] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".lz4") }.sorted()
        guard let last = names.last else { return [] }
        let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + last)[.size] as? Int64) ?? -1
        return [Int64(names.count), Int64(bitPattern: UInt64(last.prefix(20)) ?? 0), size]
    }
}
