public import EventLog
public import Postgres

/// What the database knows of a node's log: how far it was projected, and the chain hash it witnessed.
public struct NodeCheckpoint: Sendable, Hashable {
    /// The node's id.
    public var node: String
    /// The first offset not yet projected.
    public var nextOffset: UInt64
    /// The log's chain as the database last witnessed it (a batch boundary at or below `nextOffset`); nil
    /// before the first commit that stored one, and after an adoption.
    public var witness: ChainPoint?
    /// How many rewinds of the database the node's projectors found and healed.
    public var rewindsHealed: UInt64

    /// The node's row in `cafe.projector_checkpoints`, or nil when the database has none. Changes nothing.
    public static func read(node: String, on connection: PostgresConnection, deadline: ContinuousClock.Instant? = nil) async throws -> NodeCheckpoint? {
        let rows = try await connection.query(
            "SELECT next_offset, witness_offset, witness_hash, rewinds_healed FROM cafe.projector_checkpoints WHERE node_id = $1",
            [node], deadline: deadline ?? .now + .seconds(10))
        guard let row = rows.first else { return nil }
        let (next, witnessOffset, witnessHash, rewinds) = try row.decode((Int64, Int64?, String?, Int64).self)
        return NodeCheckpoint(
            node: node, nextOffset: UInt64(next), witness: ChainPoint(offset: witnessOffset, hash: witnessHash),
            rewindsHealed: UInt64(max(0, rewinds)))
    }
}

/// The database witnesses each log's chain; this judges a log against that witness. A pure decision: the
/// callers (the projector at every session, `log verify --against-database`, `db status`, `db adopt-log`)
/// read the log and the row, and act on the verdict.
public enum LogWitness {
    /// How a log stands against what the database witnessed of it.
    public enum Verdict: Sendable, Hashable {
        /// The log has the witnessed hash at the witnessed offset, and reaches the checkpoint.
        case agrees(ChainPoint)
        /// The database has witnessed nothing of this log yet (nothing projected, or only before witnesses
        /// were kept, or since an adoption); the log reaches the checkpoint.
        case nothingWitnessed
        /// The witnessed offset lies in history the log has archived (before its start record); the log
        /// reaches the checkpoint. The archive can be checked against the witness instead.
        case witnessArchived(ChainPoint)
        /// The database has events of this log beyond its end: the log is an older copy, or was cut short.
        case logBehind(databaseEnd: UInt64, logEnd: UInt64)
        /// The log has another hash at the witnessed offset, or no batch ends there: it is not the history
        /// the database saw (rewritten, or another log under this node's id).
        case rewritten(witness: ChainPoint, logHash: ChainHash?)

        /// Whether the projector may go on projecting this log.
        public var allowsProjection: Bool {
            switch self {
            case .agrees, .nothingWitnessed, .witnessArchived: true
            case .logBehind, .rewritten: false
            }
        }
    }

    /// Judges a log that ends at `logEnd` and starts at `logStart` against the database's row.
    ///
    /// - Parameter logHash: the log's chain hash at the witnessed offset (``LogReader/chainHash(at:)``); nil
    ///   when no batch of the log ends there. Not consulted when the witness is archived or past the log's end.
    public static func judge(
        checkpoint: UInt64, witness: ChainPoint?, logEnd: UInt64, logStart: UInt64, logHash: ChainHash?
    ) -> Verdict {
        let databaseEnd = max(checkpoint, witness?.offset ?? 0)
        guard databaseEnd <= logEnd else { return .logBehind(databaseEnd: databaseEnd, logEnd: logEnd) }
        guard let witness else { return .nothingWitnessed }
        guard witness.offset >= logStart else { return .witnessArchived(witness) }
        guard logHash == witness.hash else { return .rewritten(witness: witness, logHash: logHash) }
        return .agrees(witness)
    }

    /// What a person reads when the projector refuses a log, or `log verify --against-database` fails: what
    /// happened, and what to do. Nil for a verdict that allows projection.
    public static func refusal(_ verdict: Verdict, node: String, directory: String) -> String? {
        let adopt = "If this log is the one to go on with, adopt it: `rananeeti db adopt-log --data-dir \(directory)` (the database keeps a record of what it had witnessed, and re-sends this log from its start without duplicates). Otherwise put the right log back in place; the projector looks again by itself."
        switch verdict {
        case .agrees, .nothingWitnessed, .witnessArchived:
            return nil
        case .logBehind(let databaseEnd, let logEnd):
            return "The log of node \(node) in \(directory) ends at offset \(logEnd), but the database has projected it up to offset \(databaseEnd): the events at offsets \(logEnd)..<\(databaseEnd) are in the database and not in this log. The log is behind the database (an older copy of the node's volume, or a log cut short), or two nodes share this node id. Projection of this node is paused; nothing was written. \(adopt)"
        case .rewritten(let witness, let logHash):
            let found = logHash.map { "has \($0) there" } ?? "has no batch ending there"
            return "The database witnessed the log of node \(node) with chain hash \(witness.hash) at offset \(witness.offset), but the log in \(directory) \(found): it is not the history the database saw (rewritten, or another log under this node's id). Projection of this node is paused; nothing was written. \(adopt)"
        }
    }
}

/// The projector will not project a log that disagrees with what the database witnessed of it: that would
/// write a history the database never saw, or leave out one it did. ``message`` says which, and what to do.
public struct ProjectorRefusal: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The operator's decision to go on with a log that disagrees with the database's witness.
public enum LogAdoption {
    /// Records the database's view of `node` in `cafe.projector_adoptions`, then points its checkpoint at the
    /// log's start (`logStart`), witnessing the start when it is a recorded one, so that the projector re-sends
    /// the whole log (no row twice: the digest decides). One transaction.
    ///
    /// - Returns: the row as it was before, or nil when the database had none (nothing to adopt).
    public static func adopt(
        node: String, logStart: LogStart, logEnd: UInt64, logHead: ChainHash?, reason: String,
        on connection: PostgresConnection
    ) async throws -> NodeCheckpoint? {
        try await connection.withTransaction { connection in
            guard let before = try await NodeCheckpoint.read(node: node, on: connection) else { return nil }
            try await connection.execute(
                """
                INSERT INTO cafe.projector_adoptions
                    (node_id, next_offset, witness_offset, witness_hash, log_end_offset, log_chain_head, reason)
                SELECT node_id, next_offset, witness_offset, witness_hash, $2, $3, $4
                FROM cafe.projector_checkpoints WHERE node_id = $1
                """,
                [node, Int64(logEnd), logHead?.description, reason])
            let witnessed = logStart.offset > 0 ? logStart : nil
            try await connection.execute(
                """
                UPDATE cafe.projector_checkpoints
                SET next_offset = $2, witness_offset = $3, witness_hash = $4, log_end_offset = $5, updated_at = now()
                WHERE node_id = $1
                """,
                [node, Int64(logStart.offset), witnessed.map { Int64($0.offset) }, witnessed?.chainHash.description, Int64(logEnd)])
            return before
        }
    }
}
