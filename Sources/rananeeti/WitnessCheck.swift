import ArgumentParser
import EventLog
import Foundation
import Postgres
import Projection

/// A node's log held against what the database witnessed of it: shared by `log verify --against-database`,
/// `db status --data-dir` and `db adopt-log`.
struct WitnessCheck {
    var node: String
    var directory: String
    var logStart: LogStart
    var logEnd: UInt64
    /// The log's chain hash at its end (the head of its chain).
    var logHead: ChainHash?
    /// The database's row for the node; nil when it has none.
    var checkpoint: NodeCheckpoint?
    var verdict: LogWitness.Verdict

    /// Reads the log in `directory` and the node's row, and judges them. Changes nothing.
    static func run(node: String, directory: String, on connection: PostgresConnection) async throws -> WitnessCheck {
        let logStart = try LogStart.read(directory: directory)
        let logEnd = try LogStatistics.read(directory: directory).endOffset
        let reader = try LogReader(directory: directory)
        let logHead = try reader.chainHash(at: logEnd)
        let checkpoint = try await NodeCheckpoint.read(node: node, on: connection)
        var logHash: ChainHash?
        if let witness = checkpoint?.witness, witness.offset >= logStart.offset, witness.offset <= logEnd {
            logHash = try reader.chainHash(at: witness.offset)
        }
        let verdict = LogWitness.judge(
            checkpoint: checkpoint?.nextOffset ?? 0, witness: checkpoint?.witness, logEnd: logEnd,
            logStart: logStart.offset, logHash: logHash)
        return WitnessCheck(
            node: node, directory: directory, logStart: logStart, logEnd: logEnd, logHead: logHead,
            checkpoint: checkpoint, verdict: verdict)
    }

    /// One paragraph for a person: what the database holds of this log, and whether the log agrees.
    var summary: String {
        guard let checkpoint else {
            return "The database has no checkpoint for node \(node): nothing of this log was projected there yet, so there is nothing to compare."
        }
        if let refusal = LogWitness.refusal(verdict, node: node, directory: directory) { return refusal }
        switch verdict {
        case .agrees(let witness):
            return "The database projected node \(node) up to offset \(checkpoint.nextOffset) and witnessed chain hash \(witness.hash) at offset \(witness.offset); the log has the same hash there: they agree."
        case .witnessArchived(let witness):
            return "The database witnessed chain hash \(witness.hash) at offset \(witness.offset), which this log has archived (it starts at offset \(logStart.offset)); compare the archive with it. The log reaches the database's checkpoint, \(checkpoint.nextOffset)."
        default:
            return "The database projected node \(node) up to offset \(checkpoint.nextOffset) but has witnessed nothing of its chain yet (nothing projected since witnesses were kept, or since an adoption); the log reaches that offset."
        }
    }
}

extension NodeOptions {
    /// The node id for reading a directory: `nodeID` (from `--node-id`) when given, else the id stored in
    /// `DIR/node-id`. Writes nothing.
    static func storedNodeID(directory: String, nodeID: String?) throws -> String {
        if let nodeID { return nodeID }
        let file = directory + "/" + Self.nodeIDFileName
        guard let stored = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines),
            !stored.isEmpty
        else {
            throw ValidationError("No node id: \(file) is missing and --node-id was not given. Say which node's checkpoint this log is to be compared with.")
        }
        return stored
    }
}
