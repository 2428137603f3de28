/// The event of a reservation accepted by a node: what the log stores for every booking.
///
/// ``encodeRecord()`` writes it as one line of compact JSON, fields in this order:
///
///     {"type":"reservation.accepted","node":"node-a","digest":"2e401f4cba1d2e90f354","name":"Bob","people":2,"datetime":"2020-11-16T20:00","notes":"window seat","testFailures":false}
///
/// and, when a signed-in guest booked it, as `reservation.accepted.v2` with `"guestIssuer"` and
/// `"guestSubject"` after `"testFailures"`.
///
/// The event log puts `"offset"` and `"appendedAt"` in front when it appends the record;
/// ``decode(line:)`` reads such a stamped line back. `docs/EVENTS.md` documents each field.
public struct ReservationEvent: Sendable, Hashable {
    /// The `type` of an event without a guest: a booking taken while nobody was signed in.
    public static let eventType = "reservation.accepted"
    /// The `type` of an event that records who booked: the fields of ``eventType`` and then `guestIssuer` and
    /// `guestSubject`. A new name, because readers of ``eventType`` refuse fields they do not know
    /// (`docs/EVENTS.md`, "Changing the format").
    public static let eventTypeWithGuest = "reservation.accepted.v2"

    /// The node (app server) that accepted the reservation.
    public let node: String
    /// The reservation's digest, computed when it was accepted.
    public let digest: ReservationDigest
    /// The reservation as accepted.
    public let reservation: Reservation
    /// Who booked it, when they were signed in.
    public let guest: GuestIdentity?

    /// Creates the event of `node` accepting `reservation`, computing its digest.
    ///
    /// - Parameters:
    ///   - node: the name of the accepting node, as configured.
    ///   - reservation: the validated reservation.
    ///   - guest: who booked it, when they were signed in; nil otherwise.
    public init(node: String, reservation: Reservation, guest: GuestIdentity? = nil) {
        self.init(node: node, digest: reservation.digest, reservation: reservation, guest: guest)
    }

    /// Restores an event as it was written, keeping the stored digest.
    init(node: String, digest: ReservationDigest, reservation: Reservation, guest: GuestIdentity? = nil) {
        self.node = node
        self.digest = digest
        self.reservation = reservation
        self.guest = guest
    }

    /// The `type` this event is written with.
    public var type: String { guest == nil ? Self.eventType : Self.eventTypeWithGuest }

    /// Whether the stored digest is the one the reservation hashes to.
    ///
    /// Decoding does not check this, as it costs a BLAKE2b per event; `log verify` and
    /// audits should.
    public var digestMatchesReservation: Bool {
        digest == reservation.digest
    }
}

extension ReservationEvent {
    /// The event as a log record: a compact JSON object on one line, without the
    /// `offset` and `appendedAt` that the log adds.
    ///
    /// The bytes start with `{`, end with `}` and hold no raw line break (control
    /// characters are escaped), which is what the log requires of a record. Non-ASCII text
    /// is written as UTF-8.
    public func encodeRecord() -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(160 + node.utf8.count + reservation.name.utf8.count + reservation.notes.utf8.count)
        appendRecord(to: &record)
        return record
    }

    /// Appends the bytes of ``encodeRecord()`` to `output`, for callers that batch records
    /// into one buffer.
    public func appendRecord(to output: inout [UInt8]) {
        // No reserveCapacity here: it reallocates to exactly the size asked for, so calling
        // it for every record appended to a shared buffer would copy the buffer every time.
        output.append(
            contentsOf: guest == nil
                ? #"{"type":"reservation.accepted","node":"#.utf8 : #"{"type":"reservation.accepted.v2","node":"#.utf8)
        JSONStringWriter.append(node, to: &output)
        output.append(contentsOf: #","digest":""#.utf8)
        digest.appendHex(to: &output)
        output.append(contentsOf: #"","name":"#.utf8)
        JSONStringWriter.append(reservation.name, to: &output)
        output.append(contentsOf: #","people":"#.utf8)
        ASCII.appendDecimal(UInt64(reservation.people), to: &output)
        output.append(contentsOf: #","datetime":""#.utf8)
        reservation.dateTime.appendText(to: &output)
        output.append(contentsOf: #"","notes":"#.utf8)
        JSONStringWriter.append(reservation.notes, to: &output)
        output.append(
            contentsOf: reservation.testFailures ? #","testFailures":true"#.utf8 : #","testFailures":false"#.utf8
        )
        if let guest {
            output.append(contentsOf: #","guestIssuer":"#.utf8)
            JSONStringWriter.append(guest.issuer, to: &output)
            output.append(contentsOf: #","guestSubject":"#.utf8)
            JSONStringWriter.append(guest.subject, to: &output)
        }
        output.append(UInt8(ascii: "}"))
    }
}
