/// An event as read back from the log: the log's stamp and what was recorded.
public struct LoggedEvent: Sendable, Hashable {
    /// The event's offset in the log (its sequence number), as stamped by the log.
    public let offset: UInt64
    /// When the log appended it.
    public let appendedAt: EventTimestamp
    /// What happened.
    public let kind: Kind

    /// Creates a logged event, e.g. for a test of code that reads the log.
    ///
    /// - Parameters:
    ///   - offset: the event's offset in the log.
    ///   - appendedAt: when the log appended it.
    ///   - kind: what happened.
    public init(offset: UInt64, appendedAt: EventTimestamp, kind: Kind) {
        self.offset = offset
        self.appendedAt = appendedAt
        self.kind = kind
    }

    /// The kinds of events this version knows, and a place for those it does not.
    public enum Kind: Sendable, Hashable {
        /// `reservation.accepted`, or `reservation.accepted.v2` when it records who booked.
        case reservationAccepted(ReservationEvent)
        /// `reservation.cancelled`.
        case reservationCancelled(CancellationEvent)
        /// An event type this version does not know, written by a newer one. Its other
        /// fields are not interpreted; a reader should stop or skip it knowingly, never
        /// treat it as damage.
        case unknown(type: String)
    }

    /// The event's `type`, e.g. `reservation.accepted`.
    public var type: String {
        switch kind {
        case .reservationAccepted(let event): event.type
        case .reservationCancelled: CancellationEvent.eventType
        case .unknown(let type): type
        }
    }

    /// The reservation event, or nil for another type.
    public var reservationEvent: ReservationEvent? {
        if case .reservationAccepted(let event) = kind { event } else { nil }
    }

    /// The cancellation event, or nil for another type.
    public var cancellationEvent: CancellationEvent? {
        if case .reservationCancelled(let event) = kind { event } else { nil }
    }
}
