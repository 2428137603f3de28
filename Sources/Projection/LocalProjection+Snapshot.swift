public import EventLog
import Synchronization
import Orders

extension LocalProjection {
    /// The snapshot kind: the file is `projection.snapshot` in the data directory.
    public static let snapshotKind = "projection"
    /// The payload's format version (`docs/SNAPSHOTS.md`). A change to what the projection keeps (a new state of
    /// a reservation, a new index) changes it; a snapshot of another version is not read but rebuilt from the log.
    public static let snapshotVersion: UInt32 = 2

    /// The projection's state as a snapshot that stands for the log below `offset`, whose chain hash there is
    /// `chainHash`, or nil when it has not read the log that far in order.
    ///
    /// Reservations taken beyond `offset` may be in it too: reading the log after the snapshot applies them again,
    /// which changes nothing.
    public func makeSnapshot(offset: UInt64, chainHash: ChainHash) -> LogSnapshot? {
        let copy: State? = state.withLock { state in state.readBelow >= offset ? state : nil }
        guard let copy else { return nil }
        var writer = SnapshotWriter()
        writer.reserve(copy.entries.count * 96 + copy.keys.count * 64 + 64)
        writer.u64(copy.projectedBelow)
        writer.u64(copy.eventCount)
        writer.u32(UInt32(copy.entries.count))
        // Day by day in (date-time, digest) order, so that loading appends to each day's list in order.
        for day in copy.byDay.keys.sorted() {
            for key in copy.byDay[day]! {
                writer.entry(copy.entries[key.digest]!)
            }
        }
        let liveKeys = copy.keyOrder[copy.keyOrderStart...].filter { copy.keys[$0] != nil }
        writer.u32(UInt32(liveKeys.count))
        for key in liveKeys {
            let record = copy.keys[key]!
            writer.text(key)
            writer.bytes(record.digest.bytes)
            writer.u8(record.created ? 1 : 0)
            writer.i64(record.atMillis)
        }
        writer.u32(UInt32(copy.cancellations.count))
        for (digest, cancellation) in copy.cancellations.sorted(by: { $0.key.description < $1.key.description }) {
            writer.bytes(digest.bytes)
            writer.i64(cancellation.at.millisecondsSinceEpoch)
            writer.text(cancellation.by.issuer)
            writer.text(cancellation.by.subject)
            writer.u8(cancellation.role == .staff ? 1 : 0)
            writer.text(cancellation.reason)
        }
        return LogSnapshot(
            kind: Self.snapshotKind, version: Self.snapshotVersion, offset: offset, chainHash: chainHash,
            createdAtMillis: configuration.clockMillis(), payload: writer.output)
    }

    /// Replaces the projection's state with a snapshot's (one that ``LogSnapshot/load(kind:version:directory:positioning:)``
    /// accepted for this log), then lets go of what has aged out since it was written.
    ///
    /// - Throws: ``SnapshotPayloadError`` when the payload does not decode; the projection is then unchanged
    ///   and should be rebuilt from the log.
    public func load(_ snapshot: LogSnapshot) throws(SnapshotPayloadError) {
        precondition(snapshot.kind == Self.snapshotKind && snapshot.version == Self.snapshotVersion, "a projection snapshot of this version")
        let decoded = snapshot.payload.withUnsafeBytes { raw -> Result<State, SnapshotPayloadError> in
            var reader = SnapshotReader(bytes: raw)
            return Result { () throws(SnapshotPayloadError) in try Self.decode(&reader, offset: snapshot.offset) }
        }
        let loaded = try decoded.get()
        state.withLock { $0 = loaded }
        sweep()
    }

    /// The state in a payload.
    private static func decode(_ reader: inout SnapshotReader, offset: UInt64) throws(SnapshotPayloadError) -> State {
        var loaded = State()
        loaded.projectedBelow = try reader.u64()
        loaded.eventCount = try reader.u64()
        let entryCount = Int(try reader.u32())
        guard entryCount <= reader.bytes.count / 40 else { throw SnapshotPayloadError("more entries than bytes") }
        loaded.entries.reserveCapacity(entryCount)
        for _ in 0..<entryCount {
            let entry = try reader.entry()
            guard loaded.entries[entry.digest] == nil else { throw SnapshotPayloadError("digest \(entry.digest) twice") }
            loaded.entries[entry.digest] = entry
            if let guest = entry.guest { loaded.byGuest[guest, default: []].insert(entry.digest) }
            let key = DayKey(dateTime: entry.reservation.dateTime, digest: entry.digest)
            let day = entry.reservation.dateTime.dayNumber
            if let last = loaded.byDay[day]?.last, !(last < key) { throw SnapshotPayloadError("entries out of order") }
            loaded.byDay[day, default: []].append(key)
        }
        let keyCount = Int(try reader.u32())
        guard keyCount <= reader.bytes.count / 20 else { throw SnapshotPayloadError("more keys than bytes") }
        for _ in 0..<keyCount {
            let key = try reader.text()
            guard IdempotencyKeyEvent.isValidKey(key), loaded.keys[key] == nil else {
                throw SnapshotPayloadError("an idempotency key that is not valid, or twice")
            }
            let digest = ReservationDigest(bytes: try reader.bytes(ReservationDigest.byteCount))
            let created = try reader.u8()
            guard created <= 1 else { throw SnapshotPayloadError("an idempotency key's answer is not 0 or 1") }
            loaded.keys[key] = KeyRecord(digest: digest, created: created == 1, atMillis: try reader.i64())
            loaded.keyOrder.append(key)
        }
        let cancellationCount = Int(try reader.u32())
        guard cancellationCount <= reader.bytes.count / 30 else { throw SnapshotPayloadError("more cancellations than bytes") }
        for _ in 0..<cancellationCount {
            let digest = ReservationDigest(bytes: try reader.bytes(ReservationDigest.byteCount))
            let at = try reader.i64()
            guard let time = EventTimestamp(millisecondsSinceEpoch: at),
                let by = GuestIdentity(issuer: try reader.text(), subject: try reader.text())
            else { throw SnapshotPayloadError("a cancellation's time or canceller is out of range") }
            let role = try reader.u8()
            guard role <= 1, loaded.cancellations[digest] == nil else {
                throw SnapshotPayloadError("a cancellation's role is unknown, or a digest is cancelled twice")
            }
            loaded.cancellations[digest] = ReservationCancellation(
                at: time, by: by, role: role == 1 ? .staff : .guest, reason: try reader.text())
        }
        guard reader.isAtEnd else { throw SnapshotPayloadError("bytes after the last cancellation") }
        loaded.readBelow = offset
        return loaded
    }
}

/// A snapshot payload that passed its checksum but does not decode: written by a program with a bug.
public struct SnapshotPayloadError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { "the snapshot's payload does not decode: \(reason)" }
}

/// Little-endian fields, strings as a u32 length and UTF-8 bytes.
private struct SnapshotWriter {
    var output: [UInt8] = []

    mutating func reserve(_ count: Int) { output.reserveCapacity(count) }
    mutating func u8(_ value: UInt8) { output.append(value) }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { output.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { output.append(contentsOf: $0) } }
    mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
    mutating func bytes(_ value: [UInt8]) { output.append(contentsOf: value) }

    mutating func text(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            u32(UInt32(utf8.count))
            output.append(contentsOf: utf8)
        }
    }

    static let absent = UInt32.max

    mutating func optionalText(_ value: String?) {
        if let value { text(value) } else { u32(Self.absent) }
    }

    mutating func entry(_ entry: LocalProjection.Entry) {
        u64(entry.offset)
        i64(entry.acceptedAtMillis)
        bytes(entry.digest.bytes)
        u8(entry.state.snapshotCode)
        i64(entry.projectedAtMillis ?? Int64.min)
        u32(UInt32(bitPattern: entry.failedAttempts))
        optionalText(entry.lastFailure)
        text(entry.node)
        let reservation = entry.reservation
        text(reservation.name)
        u32(UInt32(reservation.people))
        let dateTime = reservation.dateTime
        u32(UInt32(dateTime.year))
        output.append(contentsOf: [UInt8(dateTime.month), UInt8(dateTime.day), UInt8(dateTime.hour), UInt8(dateTime.minute)])
        text(reservation.notes)
        u8(reservation.testFailures ? 1 : 0)
        optionalText(entry.guest?.issuer)
        optionalText(entry.guest?.subject)
    }
}

/// Reads what ``SnapshotWriter`` wrote, every length checked against the bytes left.
private struct SnapshotReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    var isAtEnd: Bool { position == bytes.count }

    mutating func bytes(_ count: Int) throws(SnapshotPayloadError) -> UnsafeRawBufferPointer {
        guard count >= 0, bytes.count - position >= count else { throw SnapshotPayloadError("it ends early") }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
    }

    mutating func u8() throws(SnapshotPayloadError) -> UInt8 { try bytes(1)[0] }

    mutating func u32() throws(SnapshotPayloadError) -> UInt32 {
        UInt32(littleEndian: try bytes(4).loadUnaligned(as: UInt32.self))
    }

    mutating func u64() throws(SnapshotPayloadError) -> UInt64 {
        UInt64(littleEndian: try bytes(8).loadUnaligned(as: UInt64.self))
    }

    mutating func i64() throws(SnapshotPayloadError) -> Int64 { Int64(bitPattern: try u64()) }

    mutating func text() throws(SnapshotPayloadError) -> String {
        let length = try u32()
        guard length != SnapshotWriter.absent else { throw SnapshotPayloadError("a text is absent where one is required") }
        return String(decoding: try bytes(Int(length)), as: UTF8.self)
    }

    mutating func optionalText() throws(SnapshotPayloadError) -> String? {
        let length = try u32()
        if length == SnapshotWriter.absent { return nil }
        return String(decoding: try bytes(Int(length)), as: UTF8.self)
    }

    mutating func entry() throws(SnapshotPayloadError) -> LocalProjection.Entry {
        let offset = try u64()
        let acceptedAt = try i64()
        let digest = ReservationDigest(bytes: try bytes(ReservationDigest.byteCount))
        guard let state = ReservationState(snapshotCode: try u8()) else { throw SnapshotPayloadError("an unknown state") }
        let projectedAt = try i64()
        let failedAttempts = Int32(bitPattern: try u32())
        let lastFailure = try optionalText()
        let node = try text()
        let name = try text()
        let people = Int(try u32())
        let year = Int(try u32())
        let parts = try bytes(4)
        let notes = try text()
        let testFailures = try u8()
        let guestIssuer = try optionalText()
        let guestSubject = try optionalText()
        var guest: GuestIdentity?
        if guestIssuer != nil || guestSubject != nil {
            guard let issuer = guestIssuer, let subject = guestSubject,
                let identity = GuestIdentity(issuer: issuer, subject: subject)
            else { throw SnapshotPayloadError("a reservation's guest is half there or not valid") }
            guest = identity
        }
        guard
            let dateTime = try? LocalDateTime(
                year: year, month: Int(parts[0]), day: Int(parts[1]), hour: Int(parts[2]), minute: Int(parts[3])),
            testFailures <= 1
        else { throw SnapshotPayloadError("a reservation's date-time or flags are out of range") }
        // Written by this program from events that passed the reservation rules, and checked whole by the
        // snapshot's checksum: not validated again (that would cost more than the rest of loading).
        let reservation = Reservation(
            checkedName: name, people: people, dateTime: dateTime, notes: notes, testFailures: testFailures == 1)
        return LocalProjection.Entry(
            offset: offset, node: node, reservation: reservation, digest: digest, acceptedAtMillis: acceptedAt,
            state: state, projectedAtMillis: projectedAt == Int64.min ? nil : projectedAt,
            failedAttempts: failedAttempts, lastFailure: lastFailure, guest: guest)
    }
}

extension ReservationState {
    var snapshotCode: UInt8 {
        switch self {
        case .pending: 0
        case .confirmed: 1
        case .duplicate: 2
        }
    }

    init?(snapshotCode: UInt8) {
        switch snapshotCode {
        case 0: self = .pending
        case 1: self = .confirmed
        case 2: self = .duplicate
        default: return nil
        }
    }
}
