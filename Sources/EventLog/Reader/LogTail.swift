/// The records of a log from an offset on, as they become durable: an `AsyncSequence` that waits at the end of
/// the log for more, and finishes when the log is closed.
///
/// - Throws: ``LogError`` when a batch is damaged, or when the writer stopped on an error.
public struct LogTail: AsyncSequence, Sendable {
    public typealias Element = LogRecord

    private let directory: String
    private let board: FrontierBoard
    private let start: UInt64

    package init(directory: String, board: FrontierBoard, start: UInt64) {
        self.directory = directory
        self.board = board
        self.start = start
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(reader: LogReader(directory: directory, board: board), board: board, start: start)
    }

    public struct Iterator: AsyncIteratorProtocol {
        private let reader: LogReader
        private let board: FrontierBoard
        private var start: UInt64?
        private var buffer: [LogRecord] = []
        private var bufferIndex = 0

        fileprivate init(reader: LogReader, board: FrontierBoard, start: UInt64) {
            self.reader = reader
            self.board = board
            self.start = start
        }

        public mutating func next() async throws -> LogRecord? {
            if bufferIndex == buffer.count {
                guard let records = try await nextRecords(upTo: .max) else { return nil }
                buffer = records
                bufferIndex = 0
            }
            defer { bufferIndex += 1 }
            return buffer[bufferIndex]
        }

        /// Waits until at least one record is durable past the last one returned, then returns up to `limit`
        /// records that are available now, without waiting for more. Returns nil at the end (log closed, or the
        /// task cancelled).
        public mutating func nextRecords(upTo limit: Int) async throws -> [LogRecord]? {
            precondition(limit > 0)
            if bufferIndex < buffer.count {
                let taken = Array(buffer[bufferIndex..<Swift.min(buffer.count, bufferIndex + limit)])
                bufferIndex += taken.count
                return taken
            }
            if let start {
                try reader.seek(to: start)
                self.start = nil
            }
            while true {
                let finished = board.finished
                if let records = try reader.nextRecords(), !records.isEmpty {
                    guard records.count > limit else { return records }
                    buffer = records
                    bufferIndex = limit
                    return Array(records[0..<limit])
                }
                if let finished {
                    if finished.code == .closed { return nil }
                    throw finished
                }
                if Task.isCancelled { return nil }
                await board.wait(beyond: reader.nextOffset)
            }
        }
    }
}
