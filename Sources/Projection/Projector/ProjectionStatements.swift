import EventLog
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

/// Everything one transaction writes besides the checkpoint: the rows of the events of its range that need one.
///
/// The one place where a batch's rows are gathered (`Projector.write`) and written (`writeRows`): another kind
/// of row (another table) is one more array here, filled there and written in the same transaction, and it
/// then heals a rewind the same way (everything is re-sent from the database's checkpoint, idempotently).
struct ProjectionBatch: Sendable {
    /// Reservations for `cafe.ordersraw` (and, for those a signed-in guest booked, `cafe.reservation_guests`),
    /// in offset order.
    var reservations: [ProjectableEvent] = []
    /// Cancellations for `cafe.cancellations`, in offset order.
    var cancellations: [ProjectableCancellation] = []

    var isEmpty: Bool { reservations.isEmpty && cancellations.isEmpty }

    /// The offsets of everything in it, in order.
    var offsets: [UInt64] { (reservations.map(\.offset) + cancellations.map(\.offset)).sorted() }

    /// The events below `offset` and those from it on.
    func split(at offset: UInt64) -> (below: ProjectionBatch, from: ProjectionBatch) {
        (ProjectionBatch(
            reservations: reservations.filter { $0.offset < offset }, cancellations: cancellations.filter { $0.offset < offset }),
         ProjectionBatch(
            reservations: reservations.filter { $0.offset >= offset }, cancellations: cancellations.filter { $0.offset >= offset }))
    }

    /// The first event in log order (the poison one when the batch is down to one), as the dead-letter table
    /// records it.
    var first: (offset: UInt64, digest: String, line: ArraySlice<UInt8>)? {
        let reservation = reservations.first.map { ($0.offset, $0.event.digest.description, $0.line) }
        let cancellation = cancellations.first.map { ($0.offset, $0.event.digest.description, $0.line) }
        switch (reservation, cancellation) {
        case let (r?, c?): return r.0 <= c.0 ? r : c
        case let (r?, nil): return r
        case let (nil, c): return c
        }
    }

    /// When the batch's last event was appended, in milliseconds since 1970.
    var lastAppendedAtMillis: Int64? {
        [reservations.last?.appendedAtMillis, cancellations.last?.appendedAtMillis].compactMap { $0 }.max()
    }
}

/// A cancellation ready to be written, with where it sits in the log.
struct ProjectableCancellation: Sendable {
    var offset: UInt64
    /// The event's line as the log holds it, for the dead-letter table.
    var line: ArraySlice<UInt8>
    var appendedAtMillis: Int64
    var event: CancellationEvent
}

/// The checkpoint row as the projector reads it when a session opens.
struct CheckpointRow: Sendable {
    var nextOffset: UInt64
    /// The log's chain as the database last witnessed it; nil until a commit stored one.
    var witness: ChainPoint?
}

/// How the checkpoint moves when a batch commits.
enum CheckpointRule: Sendable {
    /// The usual case: only from `expected`, so that two projectors of one node can never both commit the
    /// same range (the second finds the checkpoint moved and re-reads it).
    case advance(from: UInt64)
    /// A replay from an earlier offset: the checkpoint only ever grows.
    case neverBack
}

/// The checkpoint row is not where this projector left it: the database went back in time (a restore, a
/// failover that lost commits), the row vanished, or another process projects the same node. The projector
/// re-reads the row and goes on from there.
struct CheckpointMoved: Error {}

/// The SQL the projector runs. Each function is one transaction (or one statement).
enum ProjectionStatements {
    /// Makes sure the node has a checkpoint row (a row that vanished comes back at 0) and reads it.
    static func readCheckpoint(node: String, on connection: PostgresConnection, deadline: ContinuousClock.Instant) async throws -> CheckpointRow {
        try await connection.execute(
            "INSERT INTO cafe.projector_checkpoints (node_id) VALUES ($1) ON CONFLICT (node_id) DO NOTHING",
            [node], deadline: deadline)
        let rows = try await connection.query(
            "SELECT next_offset, witness_offset, witness_hash FROM cafe.projector_checkpoints WHERE node_id = $1",
            [node], deadline: deadline)
        let (next, witnessOffset, witnessHash) = try rows[0].decode((Int64, Int64?, String?).self)
        return CheckpointRow(nextOffset: UInt64(next), witness: ChainPoint(offset: witnessOffset, hash: witnessHash))
    }

    /// The row's `next_offset` now, or nil when the row is gone: a cheap look for a rewind while idle.
    static func currentCheckpoint(node: String, on connection: PostgresConnection, deadline: ContinuousClock.Instant) async throws -> UInt64? {
        let rows = try await connection.query(
            "SELECT next_offset FROM cafe.projector_checkpoints WHERE node_id = $1", [node], deadline: deadline)
        return try rows.first.map { UInt64(try $0.decode(Int64.self, column: 0)) }
    }

    /// Counts a healed rewind in the node's row (`db status`), if the row still holds what was read.
    static func recordRewind(
        node: String, from: UInt64, to checkpoint: UInt64, on connection: PostgresConnection, deadline: ContinuousClock.Instant
    ) async throws {
        try await connection.execute(
            """
            UPDATE cafe.projector_checkpoints
            SET rewinds_healed = rewinds_healed + 1, last_rewind_at = now(), last_rewind_from = $2, last_rewind_to = $3
            WHERE node_id = $1 AND next_offset = $3
            """,
            [node, Int64(from), Int64(checkpoint)], deadline: deadline)
    }

    /// What a commit learned: how many rows were new, and (when asked for, or free) which digests.
    struct CommitOutcome {
        var insertedCount: Int
        /// The digests that were new; nil when not asked for and not known without another query.
        var inserted: Set<String>?
        /// A direct COPY was tried and met a digest already there (see `insertRows`).
        var directCopyConflicted = false
        /// Cancellations that were new in `cafe.cancellations` (the others were there already).
        var cancellationsInserted = 0
    }

    /// Writes the batch's rows (a digest already present is left alone) and moves the checkpoint to `end`,
    /// witnessing the log's chain at `witness`, in one transaction.
    ///
    /// - Parameter wantOutcomes: learn which digests were new even when some were already there (one more
    ///   indexed query, only in that case). The usual batch is all new, which the row count alone shows.
    /// Who booked each reservation (for those a signed-in guest booked) goes into `cafe.reservation_guests`, and
    /// the cancellations into `cafe.cancellations`, in the same transaction, each once (the first wins).
    static func commit(
        _ batch: ProjectionBatch, end: UInt64, logEnd: UInt64, node: String, rule: CheckpointRule, witness: ChainPoint?,
        wantOutcomes: Bool, tryDirectCopy: Bool = false, on connection: PostgresConnection,
        deadline: ContinuousClock.Instant
    ) async throws -> CommitOutcome {
        let lastAppendedAt = batch.lastAppendedAtMillis.flatMap { EventTimestampText.postgres(millis: $0) }
        return try await connection.withTransaction(deadline: deadline) { connection in
            let outcome = try await writeRows(batch, node: node, wantOutcomes: wantOutcomes, tryDirectCopy: tryDirectCopy, on: connection)
            try await moveCheckpoint(
                node: node, to: end, logEnd: logEnd, lastAppendedAt: lastAppendedAt, inserted: outcome.insertedCount,
                duplicate: rule.countsDuplicates ? batch.reservations.count - outcome.insertedCount : 0, deadLettered: 0, rule: rule,
                witness: witness, on: connection)
            return outcome
        }
    }

    /// Every row a batch writes, inside the caller's transaction. Idempotent: a row already there (the same
    /// digest) is left alone, so a batch sent again after a crash or a rewind changes nothing twice.
    private static func writeRows(
        _ batch: ProjectionBatch, node: String, wantOutcomes: Bool, tryDirectCopy: Bool, on connection: PostgresConnection
    ) async throws -> CommitOutcome {
        var outcome = CommitOutcome(insertedCount: 0, inserted: [])
        if !batch.reservations.isEmpty {
            outcome = try await writeReservations(
                batch.reservations, wantOutcomes: wantOutcomes, tryDirectCopy: tryDirectCopy, on: connection)
            try await insertGuests(of: batch.reservations, node: node, on: connection)
        }
        outcome.cancellationsInserted = try await insertCancellations(batch.cancellations, node: node, on: connection)
        return outcome
    }

    private static func writeReservations(
        _ events: [ProjectableEvent], wantOutcomes: Bool, tryDirectCopy: Bool, on connection: PostgresConnection
    ) async throws -> CommitOutcome {
        let distinct = Set(events.map { $0.event.digest.description })
        var outcome = CommitOutcome(insertedCount: 0, inserted: [])
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
        return outcome
    }

    /// Records who booked the reservations a signed-in guest booked (`reservation.accepted.v2`): the first
    /// guest of a digest stays.
    private static func insertGuests(of events: [ProjectableEvent], node: String, on connection: PostgresConnection)
        async throws
    {
        var digests: [String] = []
        var issuers: [String] = []
        var subjects: [String] = []
        var offsets: [Int64] = []
        var times: [String] = []
        for projectable in events {
            guard let guest = projectable.event.guest,
                let time = EventTimestampText.postgres(millis: projectable.appendedAtMillis)
            else { continue }
            digests.append(projectable.event.digest.description)
            issuers.append(guest.issuer)
            subjects.append(guest.subject)
            offsets.append(Int64(bitPattern: projectable.offset))
            times.append(time)
        }
        guard !digests.isEmpty else { return }
        try await connection.execute(
            """
            INSERT INTO cafe.reservation_guests (ordrdgst, guest_issuer, guest_subject, node_id, log_offset, booked_at)
            SELECT d, i, s, $4, o, t FROM unnest($1::text[], $2::text[], $3::text[], $5::bigint[], $6::timestamptz[])
                AS u(d, i, s, o, t)
            ON CONFLICT (ordrdgst) DO NOTHING
            """,
            [digests, issuers, subjects, node, offsets, times])
    }

    /// Records cancellations (`reservation.cancelled`): the first of a digest stays. Returns how many were new.
    private static func insertCancellations(
        _ cancellations: [ProjectableCancellation], node: String, on connection: PostgresConnection
    ) async throws -> Int {
        guard !cancellations.isEmpty else { return 0 }
        var digests: [String] = []
        var times: [String] = []
        var issuers: [String] = []
        var subjects: [String] = []
        var roles: [String] = []
        var reasons: [String] = []
        var offsets: [Int64] = []
        for cancellation in cancellations {
            guard let time = EventTimestampText.postgres(millis: cancellation.appendedAtMillis) else { continue }
            digests.append(cancellation.event.digest.description)
            times.append(time)
            issuers.append(cancellation.event.by.issuer)
            subjects.append(cancellation.event.by.subject)
            roles.append(cancellation.event.role.rawValue)
            reasons.append(cancellation.event.reason)
            offsets.append(Int64(bitPattern: cancellation.offset))
        }
        return try await connection.execute(
            """
            INSERT INTO cafe.cancellations
                (ordrdgst, cancelled_at, by_issuer, by_subject, by_role, reason, node_id, log_offset)
            SELECT d, t, i, s, r, x, $7, o
            FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $8::bigint[])
                AS u(d, t, i, s, r, x, o)
            ON CONFLICT (ordrdgst) DO NOTHING
            """,
            [digests, times, issuers, subjects, roles, reasons, node, offsets])
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
        node: String, rule: CheckpointRule, witness: ChainPoint?, on connection: PostgresConnection,
        deadline: ContinuousClock.Instant
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
                deadLettered: 1, rule: rule, witness: witness, on: connection)
        }
    }

    /// Moves the checkpoint past events that need no row (types other than reservations), or past a poison
    /// event that not even the dead-letter table would take (it was written to the local file instead).
    static func skip(
        to end: UInt64, logEnd: UInt64, node: String, rule: CheckpointRule, witness: ChainPoint?,
        on connection: PostgresConnection, deadline: ContinuousClock.Instant
    ) async throws {
        try await connection.withTransaction(deadline: deadline) { connection in
            try await moveCheckpoint(
                node: node, to: end, logEnd: logEnd, lastAppendedAt: nil, inserted: 0, duplicate: 0, deadLettered: 0,
                rule: rule, witness: witness, on: connection)
        }
    }

    /// Moves the node's checkpoint to `end` and, when `witness` is further than the row's, witnesses it.
    ///
    /// - Throws: ``CheckpointMoved`` when the row is not where `rule` expects it, or is gone: the database went
    ///   back in time or another process projects this node. The transaction then rolls back.
    private static func moveCheckpoint(
        node: String, to end: UInt64, logEnd: UInt64, lastAppendedAt: String?, inserted: Int, duplicate: Int,
        deadLettered: Int, rule: CheckpointRule, witness: ChainPoint?, on connection: PostgresConnection
    ) async throws {
        // In an UPDATE every expression sees the row as it was, so both CASEs compare with the old witness.
        let common = """
            log_end_offset = greatest(log_end_offset, $3),
            last_appended_at = coalesce($4::timestamptz, last_appended_at),
            events_inserted = events_inserted + $5,
            events_duplicate = events_duplicate + $6,
            events_dead_lettered = events_dead_lettered + $7,
            witness_offset = CASE WHEN $8::bigint > coalesce(witness_offset, -1) THEN $8 ELSE witness_offset END,
            witness_hash = CASE WHEN $8::bigint > coalesce(witness_offset, -1) THEN $9 ELSE witness_hash END,
            updated_at = now()
            """
        let parameters: [any PostgresEncodable] = [
            node, Int64(end), Int64(logEnd), lastAppendedAt, inserted, duplicate, deadLettered,
            witness.map { Int64($0.offset) }, witness?.hash.description,
        ]
        let moved: Int
        switch rule {
        case .advance(let expected):
            moved = try await connection.execute(
                "UPDATE cafe.projector_checkpoints SET next_offset = $2, \(common) WHERE node_id = $1 AND next_offset = $10",
                parameters + [Int64(expected)])
        case .neverBack:
            moved = try await connection.execute(
                "UPDATE cafe.projector_checkpoints SET next_offset = greatest(next_offset, $2), \(common) WHERE node_id = $1",
                parameters)
        }
        if moved != 1 { throw CheckpointMoved() }
    }
}

extension ChainPoint {
    /// A witness as the checkpoint row stores it; nil when the row holds none (or only half of one, which the
    /// schema does not allow).
    init?(offset: Int64?, hash: String?) {
        guard let offset, offset >= 0, let hash, let parsed = ChainHash(hex: hash) else { return nil }
        self.init(offset: UInt64(offset), hash: parsed)
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
