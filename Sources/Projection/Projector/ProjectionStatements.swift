import Orders
import Postgres

/// A reservation event ready to be written, with where it sits in the log.
struct ProjectableEvent: Sendable {
    var offset: UInt64
    /// The event's line as the log holds it, for the dead-letter table.
    var line: ArraySlice<UInt8>
    var appendedAtMillis: Int64
    var event: ReservationEvent
}

/// How the checkpoint moves when a batch commits.
enum CheckpointRule: Sendable {
    /// The usual case: only from `expected`, so that two projectors of one node can never both commit the
    /// same range (the second finds the checkpoint moved and re-reads it).
    case advance(from: UInt64)
    /// A replay from an earlier offset: the checkpoint only ever grows.
    case neverBack
}

/// The checkpoint moved under this projector: another process projects the same node.
struct CheckpointMoved: Error {}

/// The SQL the projector runs. Each function is one transaction (or one statement).
enum ProjectionStatements {
    /// Makes sure the node has a checkpoint row and returns its `next_offset`.
    static func readCheckpoint(node: String, on connection: PostgresConnection, deadline: ContinuousClock.Instant) async throws -> UInt64 {
        try await connection.execute(
            "INSERT INTO cafe.projector_checkpoints (node_id) VALUES ($1) ON CONFLICT (node_id) DO NOTHING",
            [node], deadline: deadline)
        let rows = try await connection.query(
            "SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = $1", [node], deadline: deadline)
        return UInt64(try rows[0].decode(Int64.self, column: 0))
    }

    /// What a commit learned: how many rows were new, and (when asked for, or free) which digests.
    struct CommitOutcome {
        var insertedCount: Int
        /// The digests that were new; nil when not asked for and not known without another query.
        var inserted: Set<String>?
        /// A direct COPY was tried and met a digest already there (see `insertRows`).
        var directCopyConflicted = false
    }

    /// Inserts the events' rows (a digest already present is left alone) and moves the checkpoint to
    /// `end`, in one transaction.
    ///
    /// - Parameter wantOutcomes: learn which digests were new even when some were already there (one more
    ///   indexed query, only in that case). The usual batch is all new, which the row count alone shows.
    static func commit(
        _ events: [ProjectableEvent], end: UInt64, logEnd: UInt64, node: String, rule: CheckpointRule,
        wantOutcomes: Bool, tryDirectCopy: Bool = false, on connection: PostgresConnection,
        deadline: ContinuousClock.Instant
    ) async throws -> CommitOutcome {
        let digests = events.map { $0.event.digest.description }
        let distinct = Set(digests)
        let lastAppendedAt = events.last.flatMap { EventTimestampText.postgres(millis: $0.appendedAtMillis) }
        return try await connection.withTransaction(deadline: deadline) { connection in
            var outcome = CommitOutcome(insertedCount: 0, inserted: [])
            if !events.isEmpty {
                (outcome.insertedCount, outcome.directCopyConflicted) = try await insertRows(
                    of: events, tryDirectCopy: tryDirectCopy, on: connection)
                if outcome.insertedCount == distinct.count {
                    outcome.inserted = distinct
                } else if wantOutcomes {
                    // Rows this transaction inserted carry its transaction id in xmin (low 32 bits). (Only
                    // the careful way gets here, outside any savepoint: see `insertRows`.)
                    let rows = try await connection.query(
                        """
                        SELECT ordrdgst FROM cafe.ordersraw
                        WHERE ordrdgst = ANY($1::bpchar[])
                          AND xmin::text::bigint = pg_current_xact_id()::text::bigint % 4294967296
                        """,
                        [Array(distinct)])
                    outcome.inserted = Set(try rows.map { try $0.decode(String.self, column: 0).trimmingTrailingSpaces })
                } else {
                    outcome.inserted = nil
                }
            }
            try await moveCheckpoint(
                node: node, to: end, logEnd: logEnd, lastAppendedAt: lastAppendedAt, inserted: outcome.insertedCount,
                duplicate: rule.countsDuplicates ? events.count - outcome.insertedCount : 0, deadLettered: 0, rule: rule,
                on: connection)
            return outcome
        }
    }

    /// From this many events on, rows go in through COPY: straight into the table when no digest is there
    /// yet, else into a temporary table first (`insertRows`). The server reads COPY's text format about half
    /// again as fast as array parameters, which is worth the extra round trips; smaller batches go as arrays
    /// in one statement.
    static let copyThreshold = 256
    /// SQLSTATE unique_violation.
    private static let uniqueViolation = "23505"

    /// Inserts the events' rows, leaving alone a digest already present (also when the same digest appears
    /// twice in one batch), and returns how many were new, and whether a direct COPY met a digest already
    /// there. No RETURNING: sending the new rows back costs the server about a fifth of the insert, and the
    /// count usually says it all.
    ///
    /// With `tryDirectCopy`, a large batch first goes straight into `cafe.ordersraw` with COPY, under a
    /// savepoint: a backlog of new events goes in at COPY's own speed (a temporary table and
    /// `INSERT … ON CONFLICT` cost about half again as much). A digest already there makes that COPY fail
    /// as a whole (unique violation): back to the savepoint, and the batch takes the way that leaves
    /// existing rows alone. Any other refusal is the caller's to handle, as on the other way.
    private static func insertRows(
        of events: [ProjectableEvent], tryDirectCopy: Bool, on connection: PostgresConnection
    ) async throws -> (inserted: Int, directCopyConflicted: Bool) {
        if events.count >= copyThreshold {
            var data: [UInt8] = []
            data.reserveCapacity(events.count * 96)
            for projectable in events {
                let reservation = projectable.event.reservation
                CopyText.appendField(projectable.event.digest.description, to: &data)
                data.append(0x09)
                CopyText.appendField(reservation.name, to: &data)
                data.append(0x09)
                CopyText.appendField(String(reservation.people), to: &data)
                data.append(0x09)
                CopyText.appendField(reservation.dateTime.description, to: &data)
                data.append(0x09)
                CopyText.appendField(reservation.notes, to: &data)
                data.append(0x0A)
            }
            var conflicted = false
            if tryDirectCopy {
                try await connection.executeScript("SAVEPOINT projector_direct_copy")
                do {
                    let copied = try await connection.copyIn(
                        "COPY cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt) FROM STDIN", data: data)
                    try await connection.executeScript("RELEASE SAVEPOINT projector_direct_copy")
                    return (copied, false)
                } catch let error as PostgresError where error.sqlState == uniqueViolation {
                    // Released too: a savepoint rolled back to stays open, and rows inserted under it would
                    // carry its subtransaction's id in xmin, not the transaction's (which the outcomes query
                    // below goes by).
                    try await connection.executeScript(
                        "ROLLBACK TO SAVEPOINT projector_direct_copy; RELEASE SAVEPOINT projector_direct_copy")
                    conflicted = true
                }
            }
            // Lives as long as the session; emptied by every commit.
            try await connection.executeScript(
                """
                CREATE TEMPORARY TABLE IF NOT EXISTS projector_input
                    (ordrdgst char(20), ordrname text, ordrppl integer, ordrdttm timestamp(0), ordrtxt text)
                    ON COMMIT DELETE ROWS
                """)
            try await connection.copyIn(
                "COPY projector_input (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt) FROM STDIN", data: data)
            let inserted = try await connection.execute(
                """
                INSERT INTO cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt)
                SELECT ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt FROM projector_input
                ON CONFLICT (ordrdgst) DO NOTHING
                """)
            return (inserted, conflicted)
        }
        var digests: [String] = []
        var names: [String] = []
        var people: [Int] = []
        var times: [String] = []
        var notes: [String] = []
        digests.reserveCapacity(events.count)
        names.reserveCapacity(events.count)
        people.reserveCapacity(events.count)
        times.reserveCapacity(events.count)
        notes.reserveCapacity(events.count)
        for projectable in events {
            let reservation = projectable.event.reservation
            digests.append(projectable.event.digest.description)
            names.append(reservation.name)
            people.append(reservation.people)
            times.append(reservation.dateTime.description)
            notes.append(reservation.notes)
        }
        // One statement for the whole batch: the arrays become rows.
        let inserted = try await connection.execute(
            """
            INSERT INTO cafe.ordersraw (ordrdgst, ordrname, ordrppl, ordrdttm, ordrtxt)
            SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamp[], $5::text[])
            ON CONFLICT (ordrdgst) DO NOTHING
            """,
            [digests, names, people, times, notes])
        return (inserted, false)
    }

    /// Records an event the database refused (or the projector could not read) in `cafe.dead_letters` and
    /// moves the checkpoint past it, in one transaction.
    static func deadLetter(
        offset: UInt64, digest: String?, eventJSON: String, sqlState: String?, reason: String, logEnd: UInt64,
        node: String, rule: CheckpointRule, on connection: PostgresConnection, deadline: ContinuousClock.Instant
    ) async throws {
        try await connection.withTransaction(deadline: deadline) { connection in
            try await connection.execute(
                """
                INSERT INTO cafe.dead_letters (node_id, log_offset, ordrdgst, event_json, sqlstate, error_message)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (node_id, log_offset) DO UPDATE SET
                    attempts = cafe.dead_letters.attempts + 1, last_attempt_at = now(),
                    sqlstate = EXCLUDED.sqlstate, error_message = EXCLUDED.error_message
                """,
                [node, Int64(offset), digest, eventJSON, sqlState, reason])
            try await moveCheckpoint(
                node: node, to: offset + 1, logEnd: logEnd, lastAppendedAt: nil, inserted: 0, duplicate: 0,
                deadLettered: 1, rule: rule, on: connection)
        }
    }

    /// Moves the checkpoint past events that need no row (types other than reservations), or past a poison
    /// event that not even the dead-letter table would take (it was written to the local file instead).
    static func skip(
        to end: UInt64, logEnd: UInt64, node: String, rule: CheckpointRule, on connection: PostgresConnection,
        deadline: ContinuousClock.Instant
    ) async throws {
        try await connection.withTransaction(deadline: deadline) { connection in
            try await moveCheckpoint(
                node: node, to: end, logEnd: logEnd, lastAppendedAt: nil, inserted: 0, duplicate: 0, deadLettered: 0,
                rule: rule, on: connection)
        }
    }

    private static func moveCheckpoint(
        node: String, to end: UInt64, logEnd: UInt64, lastAppendedAt: String?, inserted: Int, duplicate: Int,
        deadLettered: Int, rule: CheckpointRule, on connection: PostgresConnection
    ) async throws {
        let common = """
            log_end_offset = greatest(log_end_offset, $3),
            last_appended_at = coalesce($4::timestamptz, last_appended_at),
            events_inserted = events_inserted + $5,
            events_duplicate = events_duplicate + $6,
            events_dead_lettered = events_dead_lettered + $7,
            updated_at = now()
            """
        let parameters: [any PostgresEncodable] = [node, Int64(end), Int64(logEnd), lastAppendedAt, inserted, duplicate, deadLettered]
        switch rule {
        case .advance(let expected):
            let moved = try await connection.execute(
                "UPDATE cafe.projector_checkpoints SET next_offset = $2, \(common) WHERE node_id = $1 AND next_offset = $8",
                parameters + [Int64(expected)])
            if moved != 1 { throw CheckpointMoved() }
        case .neverBack:
            try await connection.execute(
                "UPDATE cafe.projector_checkpoints SET next_offset = greatest(next_offset, $2), \(common) WHERE node_id = $1",
                parameters)
        }
    }
}

extension CheckpointRule {
    /// A replay re-sends rows that are there on purpose: they are not news, so they are not counted.
    var countsDuplicates: Bool {
        if case .advance = self { return true }
        return false
    }
}

enum EventTimestampText {
    /// A time PostgreSQL reads as `timestamptz`.
    static func postgres(millis: Int64) -> String? {
        EventTimestamp(millisecondsSinceEpoch: millis)?.text
    }
}

/// PostgreSQL's COPY text format: columns split by tabs, rows by line feeds; in a value, backslash, tab,
/// line feed and carriage return are written as `\\`, `\t`, `\n`, `\r`.
enum CopyText {
    static func appendField(_ text: String, to data: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case 0x5C: data.append(0x5C); data.append(0x5C)
            case 0x09: data.append(0x5C); data.append(UInt8(ascii: "t"))
            case 0x0A: data.append(0x5C); data.append(UInt8(ascii: "n"))
            case 0x0D: data.append(0x5C); data.append(UInt8(ascii: "r"))
            default: data.append(byte)
            }
        }
    }
}
