/// Who may cancel a reservation, and so who did.
public enum CancellerRole: String, Sendable, Hashable, CaseIterable {
    /// The guest who booked it.
    case guest
    /// A member of the cafe's staff, on the guest's behalf.
    case staff
}

/// The event of a reservation cancelled: appended to the log like every event, durable before the answer.
///
/// ``encodeRecord()`` writes it as one line of compact JSON, fields in this order:
///
///     {"type":"reservation.cancelled","node":"node-a","digest":"2e401f4cba1d2e90f354","byIssuer":"https://id.example","bySubject":"248289761001","byRole":"guest","reason":"plans changed"}
///
/// The event log puts `"offset"` and `"appendedAt"` (when it was cancelled) in front. `docs/EVENTS.md`
/// documents each field. A cancellation is final: the same reservation (same digest) cannot be booked again.
public struct CancellationEvent: Sendable, Hashable {
    /// The `type` of this event in the log.
    public static let eventType = "reservation.cancelled"

    /// The node that took the cancellation.
    public let node: String
    /// The reservation cancelled.
    public let digest: ReservationDigest
    /// Who cancelled it.
    public let by: GuestIdentity
    /// In which role they did.
    public let role: CancellerRole
    /// Why, in the words of whoever cancelled; empty when they gave none.
    public let reason: String

    /// Creates the event, cleaning and checking `reason` as a guest's text.
    ///
    /// - Throws: ``ReservationValidationError`` (field `.reason`) when the reason is not one line of at most
    ///   200 characters.
    public init(
        node: String, digest: ReservationDigest, by: GuestIdentity, role: CancellerRole, reason: String
    ) throws(ReservationValidationError) {
        switch ReservationRules.reason(reason) {
        case .valid(let clean): self.init(node: node, digest: digest, by: by, role: role, checkedReason: clean)
        case .invalid(let message): throw ReservationValidationError(problems: [.init(field: .reason, message: message)])
        }
    }

    /// Restores an event as it was written (the reason already checked).
    init(node: String, digest: ReservationDigest, by: GuestIdentity, role: CancellerRole, checkedReason: String) {
        self.node = node
        self.digest = digest
        self.by = by
        self.role = role
        self.reason = checkedReason
    }

    /// The event as a log record: a compact JSON object on one line, without the `offset` and `appendedAt`
    /// that the log adds. Written like ``ReservationEvent/encodeRecord()``.
    public func encodeRecord() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(160 + node.utf8.count + by.issuer.utf8.count + by.subject.utf8.count + reason.utf8.count)
        output.append(contentsOf: #"{"type":"reservation.cancelled","node":"#.utf8)
        JSONStringWriter.append(node, to: &output)
        output.append(contentsOf: #","digest":""#.utf8)
        digest.appendHex(to: &output)
        output.append(contentsOf: #"","byIssuer":"#.utf8)
        JSONStringWriter.append(by.issuer, to: &output)
        output.append(contentsOf: #","bySubject":"#.utf8)
        JSONStringWriter.append(by.subject, to: &output)
        output.append(contentsOf: #","byRole":"#.utf8)
        JSONStringWriter.append(role.rawValue, to: &output)
        output.append(contentsOf: #","reason":"#.utf8)
        JSONStringWriter.append(reason, to: &output)
        output.append(UInt8(ascii: "}"))
        return output
    }
}
