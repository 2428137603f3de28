/// What `log verify` checks in each event line beyond the log's own envelope (`docs/EVENTS.md`): the line
/// decodes as its type requires, and a reservation's stored digest is the one its fields hash to. An event
/// of a type this version does not know passes when its JSON is well formed: it is never damage.
public enum EventAudit {
    /// Why `line` (one stored line, without its line feed) is not a valid event, or nil when it is.
    public static func problem(in line: some Collection<UInt8>) -> String? {
        let event: LoggedEvent
        do {
            event = try ReservationEvent.decode(line: line)
        } catch {
            return "not a valid event: \(error)"
        }
        // Each kind says what else its events must satisfy; a new kind is a new case here.
        switch event.kind {
        case .reservationAccepted(let accepted):
            guard accepted.digestMatchesReservation else {
                return "its digest \(accepted.digest) is not its reservation's, \(accepted.reservation.digest)"
            }
            return nil
        case .reservationCancelled:
            return nil  // the decoder checked every field; a cancellation has no digest of its own to check
        case .unknown(let type) where type == IdempotencyKeyEvent.eventType:
            do {
                _ = try IdempotencyKeyEvent.decode(line: line)
            } catch {
                return "not a valid \(type) event: \(error)"
            }
            return nil
        case .unknown:
            return nil
        }
    }
}
